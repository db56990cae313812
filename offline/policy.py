"""Run the policy pack against an offline plan the way the Pulumi CLI does.

The pack's `__main__.py` is started as its own process (constructing a `PolicyPack` starts
its analyzer server and prints the port), then called over the Analyzer gRPC protocol:
`GetAnalyzerInfo`, `Configure` with the pack configuration, `Analyze` per resource (with its
provider) and `AnalyzeStack` over the whole dependency graph.

The configuration file is read, reconciled with the pack's defaults and validated against each
rule's `configSchema` as the CLI does with `--policy-pack-config`; the citations below are to
pulumi/pulumi at 1b5949891b (after v3.259.0, the newest source at hand; the project pins the
CLI at 3.272.0), `config.go` being `pkg/resource/analyzer/config.go`.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline.plan import PROJECT_DIR, UNKNOWN, Plan

PACK_DIR = PROJECT_DIR / "policies"
LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
    "remediate": analyzer_pb2.REMEDIATE,
}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


ALL = "all"
"""The file's key for every rule: its enforcement level becomes theirs (config.go:340-348)."""
ENVIRONMENTS = "environments"
"""The file's key for ESC environments the CLI resolves through its backend (config.go:106-122):
not a rule."""


class PolicyPackError(Exception):
    """The pack could not be started or answered out of protocol."""


class PolicyConfigError(PolicyPackError):
    """The pack configuration cannot be applied: the file, or what it says (`config_problems`)."""


@dataclass
class PolicyReport:
    pack: str
    evaluated: int = 0
    """Registered resources: every one the program registers (custom resources and
    components; the stack itself not), each judged by the resource rules and the stack's."""
    custom: int = 0
    """Of those, the custom ones: what the engine creates (the summary's count)."""
    rendered: int = 0
    """The rendered releases and Applications and the objects they render (offline.render:
    one record each), judged by the stack rules only."""
    violations: list[dict[str, str]] = field(default_factory=list)

    @property
    def mandatory(self) -> list[dict[str, str]]:
        return [v for v in self.violations if v["level"] == "mandatory"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "evaluated": self.evaluated,
            "custom": self.custom,
            "rendered": self.rendered,
            "violations": sorted(
                self.violations, key=lambda v: (v["level"], v["policy"], v["urn"], v["message"])
            ),
        }


def verdict(report: PolicyReport, examples: int = 3) -> str:
    """Violations grouped by enforcement level and rule, for people (the JSON has them all)."""
    components = report.evaluated - report.custom
    lines = [
        f"Policy pack {report.pack}: {report.evaluated} resources evaluated (every registered "
        f"one: {report.custom} custom, {components} components), and {report.rendered} "
        "rendered sources and objects by the stack rules"
    ]
    for level in ("mandatory", "advisory"):
        found = [v for v in report.violations if v["level"] == level]
        lines.append(f"  {level}: {len(found)} violation(s)")
        for policy in sorted({v["policy"] for v in found}):
            of_policy = sorted((v for v in found if v["policy"] == policy), key=lambda v: v["urn"])
            lines.append(f"    {policy} ({of_policy[0]['severity']}): {len(of_policy)}")
            for v in of_policy[:examples]:
                where = v["urn"].rsplit("::", 1)[-1] if v["urn"] else "stack"
                lines.append(f"      {where}: {v['message'].splitlines()[-1]}")
            if len(of_policy) > examples:
                lines.append(f"      ... and {len(of_policy) - examples} more")
    return "\n".join(lines)


def load_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: `{policy: "mandatory" | {"enforcementLevel": ..., ...}}`,
    with `"all"` for every rule and `"environments"` (`{}` or an empty file: the pack's
    defaults, config.go:96-99). A file that is missing or not such a mapping is an error; what
    its entries say is checked against the pack (`config_problems`)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PolicyConfigError(f"{path}: no such policy configuration file") from None
    except OSError as error:
        raise PolicyConfigError(f"{path}: cannot be read: {error}") from None
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as error:
        raise PolicyConfigError(f"{path}: cannot be read as JSON: {error}") from None
    if not isinstance(config, dict):
        raise PolicyConfigError(f"{path}: expected a JSON object of rule names")
    return config


@dataclass
class RuleConfig:
    """One entry as the CLI holds it (`plugin.AnalyzerPolicyConfig`): an enforcement level
    (`""`: none given) and the rule's options."""

    level: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


def config_problems(config: Mapping[str, Any], info: analyzer_pb2.AnalyzerInfo) -> list[str]:
    """Every problem of `config` against the pack (`info`, what its GetAnalyzerInfo answers),
    sorted, as the CLI sorts its validation errors (pkg/engine/update.go:1054-1061): what the
    CLI refuses (an entry that is neither a level nor an object, an unknown enforcement level,
    a malformed `environments`, options that do not fit a rule's `configSchema`), and what it
    would pass on for the pack never to read (a rule or an option the pack does not have, an
    option under `all`). ESC environments are refused too: there is no backend offline to
    resolve them, and the CLI refuses them on a backend without ESC (update.go:962-968)."""
    problems = _parse(config)[1]
    options = {p.name: set(_schema(p)["properties"]) for p in info.policies}
    for name, value in config.items():
        if name == ENVIRONMENTS:
            continue
        given = set(value) - {"enforcementLevel"} if isinstance(value, dict) else set()
        if name == ALL:
            # config.go:341-348 takes its level only; the rest would reach no rule.
            problems += [
                f"all: option {option!r}: `all` sets only every rule's enforcementLevel"
                for option in sorted(given)
            ]
        elif name not in options:
            match = difflib.get_close_matches(name, list(options), n=1)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            problems.append(f"{name!r}: no rule of that name in the pack {info.name}{hint}")
        else:
            for option in sorted(given - options[name]):
                known = ", ".join(sorted(options[name])) or "none"
                problems.append(f"{name}: unknown option {option!r}; the rule's options: {known}")
    problems += _schema_problems(info, reconcile(config, info))
    return sorted(problems)


def reconcile(config: Mapping[str, Any], info: analyzer_pb2.AnalyzerInfo) -> dict[str, RuleConfig]:
    """What the CLI configures the pack with, given the file `config`
    (`ReconcilePolicyPackConfig`, config.go:307-335): every rule at its own level with its
    schema's defaults (config.go:276-302), then the pack's initial config, then the file
    (config.go:316-324): `all` first and a rule's own entry after, so the rule's level wins;
    options replace defaults one by one. What the file gets wrong is left out
    (`config_problems` names it)."""
    result = {
        p.name: RuleConfig(
            LEVEL_NAMES[p.enforcementLevel],
            {
                k: copy.deepcopy(s["default"])
                for k, s in _schema(p)["properties"].items()
                if isinstance(s, dict) and "default" in s
            },
        )
        for p in info.policies
    }
    initial = {
        name: RuleConfig(LEVEL_NAMES[c.enforcementLevel], json_format.MessageToDict(c.properties))
        for name, c in info.initialConfig.items()
    }
    for layer in (initial, _parse(config)[0]):
        # applyConfig, config.go:337-372.
        if ALL in layer and layer[ALL].level:
            for rule in result.values():
                rule.level = layer[ALL].level
        for name, given in layer.items():
            rule = result.setdefault(name, RuleConfig())
            rule.level = given.level or rule.level
            rule.properties.update(given.properties)
    return result


def _parse(config: Mapping[str, Any]) -> tuple[dict[str, RuleConfig], list[str]]:
    """The file's entries as the CLI parses them (`parsePolicyPackConfig`, config.go:93-158),
    and what it would refuse; an entry with neither level nor options changes nothing
    (config.go:147-150)."""
    entries: dict[str, RuleConfig] = {}
    problems: list[str] = []
    for name, value in config.items():
        if name == ENVIRONMENTS:
            problems += _environment_problems(value)
            continue
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        elif not isinstance(value, dict):
            problems.append(
                f"{name}: {value!r}: expected an enforcement level or an object of options"
            )
            continue
        level = value.get("enforcementLevel", "")
        if "enforcementLevel" in value and (not isinstance(level, str) or level not in LEVELS):
            problems.append(
                f"{name}: enforcementLevel {level!r}; expected one of {', '.join(LEVELS)}"
            )
            level = ""
        properties = {k: v for k, v in value.items() if k != "enforcementLevel"}
        if level or properties:
            entries[name] = RuleConfig(level, properties)
    return entries, problems


def _environment_problems(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        # config.go:108-120.
        return [f"environments: {value!r}: expected an array of ESC environment names"]
    if not value:
        return []  # nothing to resolve (update.go:962)
    return [
        f"environments: {', '.join(value)}: ESC environments are resolved by the CLI's backend, "
        "and the offline preview has none; preview with a file without them (--policy-config)"
    ]


def _schema(policy: analyzer_pb2.PolicyInfo) -> dict[str, Any]:
    """The JSON schema the CLI validates a rule's options with (`convertSchema`,
    config.go:263-273): an object of the rule's properties, none other refused."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": _integral(json_format.MessageToDict(policy.configSchema.properties)),
    }
    if policy.configSchema.required:
        schema["required"] = list(policy.configSchema.required)
    return schema


def _integral(value: Any) -> Any:
    """Whole numbers as ints again (a Struct holds every number as a double), so that the
    messages say `minimum of 0`, not `0.0`; JSON schema takes them as the same number."""
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _schema_problems(
    info: analyzer_pb2.AnalyzerInfo, reconciled: Mapping[str, RuleConfig]
) -> list[str]:
    """Each rule's reconciled options against its schema, every error of every rule, as
    `validatePolicyPackConfig` does (config.go:183-228) with gojsonschema v1.2.0, whose
    default draft, Hybrid, takes the keywords of drafts 4 to 7 (schemaLoader.go,
    `NewSchemaLoader`) and which checks formats (validation.go, `validateString`)."""
    problems = []
    for policy in info.policies:
        schema = _schema(policy)
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as invalid:
            problems.append(f"{policy.name}: the rule's configSchema is invalid: {invalid.message}")
            continue
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for error in validator.iter_errors(reconciled[policy.name].properties):
            where = ".".join(map(str, error.absolute_path))
            problems.append(f"{policy.name}: {where + ': ' if where else ''}{error.message}")
    return problems


def run_policy_pack(
    plan: Plan, config: Mapping[str, Any], pack_dir: Path = PACK_DIR
) -> PolicyReport:
    """The pack's verdict on a recorded plan: `Analyze` per resource, then `AnalyzeStack`."""
    with Analysis(lambda: config, pack_dir) as analysis:
        return analysis.report(plan)


class Analysis:
    """One run of the pack, started on construction, so that its start-up (a Python process
    importing the rules) and its per-resource analysis overlap with the program that is
    still declaring resources, as under the CLI: `add` hands it each resource as it is
    recorded (a `run_plan` observer; from any thread), `report` analyses whatever it was not
    handed yet and then the whole stack. A pack that fails to start, or a configuration that
    cannot be read, is raised by `report`."""

    def __init__(self, config: Callable[[], Mapping[str, Any]], pack_dir: Path = PACK_DIR) -> None:
        self._config = config
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._handed: set[str] = set()
        self._seen: dict[str, Mapping[str, Any]] = {}
        self._found: dict[str, list[dict[str, str]]] = {}
        self._plan: Plan | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._channel: grpc.Channel | None = None
        self._name = ""
        self._started = threading.Event()
        self._config_problems: list[str] = []
        self._error: BaseException | None = None
        self._process = subprocess.Popen(
            [sys.executable, "__main__.py"],
            cwd=pack_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._worker = threading.Thread(target=self._work, name="policy-pack", daemon=True)
        self._worker.start()

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def config_problems(self, timeout: float = 60) -> list[str]:
        """Every problem of the pack configuration (`config_problems`), once the pack has
        said what it has; a pack that failed to start is raised by `report`."""
        self._started.wait(timeout)
        return list(self._config_problems)

    def add(self, plan: Plan, resource: dict[str, Any]) -> None:
        """Analyse `resource` of `plan` as soon as the pack is ready."""
        self._plan = plan
        self._handed.add(resource["urn"])
        self._queue.put(resource)

    def report(self, plan: Plan, rendered: Sequence[Mapping[str, Any]] = ()) -> PolicyReport:
        """The verdict on `plan`; `rendered` (offline.render's `analyzer_resources`) joins
        the stack analysis only: what the releases and Applications render to."""
        self._plan = plan
        resources = sorted(plan.resources, key=lambda r: r["urn"])
        for resource in resources:
            if resource["urn"] not in self._handed:
                self.add(plan, resource)
        self._queue.put(None)
        self._worker.join()
        if self._error is not None:
            raise self._error
        assert self._stub is not None
        report = PolicyReport(pack=self._name)
        for resource in resources:
            report.violations += self._found[resource["urn"]]
        by_urn = plan.by_urn()
        stack = self._stub.AnalyzeStack(
            analyzer_pb2.AnalyzeStackRequest(
                resources=[
                    analyzer_pb2.AnalyzerResource(
                        **_fields(r, plan, by_urn),
                        parent=r["parent"] or "",
                        dependencies=r["dependencies"],
                        propertyDependencies={
                            k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                            for k, v in r["property_dependencies"].items()
                        },
                    )
                    for r in [*resources, *rendered]
                ]
            )
        )
        report.violations += _violations(stack)
        report.evaluated = len(resources)
        report.custom = sum(1 for r in resources if r["custom"])
        report.rendered = len(rendered)
        return report

    def close(self) -> None:
        """Stop the pack. The worker then ends at once: its queue is closed, and the pack's
        pipe and port go away with the process."""
        self._queue.put(None)
        self._process.kill()
        self._process.wait()
        if self._channel is not None:
            self._channel.close()
        self._worker.join(timeout=5)
        if not self._worker.is_alive():
            for stream in (self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()

    def _work(self) -> None:
        try:
            self._start()
            assert self._stub is not None
            while (resource := self._queue.get()) is not None:
                assert self._plan is not None
                self._seen[resource["urn"]] = resource
                if resource["provider"] and resource["provider"] not in self._seen:
                    # Handed in URN order (by `report`): the provider may come later.
                    self._seen.update((r["urn"], r) for r in list(self._plan.resources))
                response = self._stub.Analyze(
                    analyzer_pb2.AnalyzeRequest(**_fields(resource, self._plan, self._seen))
                )
                self._found[resource["urn"]] = _violations(response)
        except BaseException as error:  # raised again by report()
            self._error = error
            self._started.set()

    def _start(self) -> None:
        assert self._process.stdout is not None
        port = self._process.stdout.readline().strip()
        if not port.isdigit():
            error = self._process.stderr.read() if self._process.stderr else ""
            raise PolicyPackError(f"the policy pack did not start: {port!r} {error[-2000:]}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self._channel).result(timeout=30)
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())
        self._name = info.name
        config = self._config()
        self._config_problems = config_problems(config, info)
        self._started.set()
        if self._config_problems:
            raise PolicyConfigError("\n".join(self._config_problems))
        # Every rule, and `all` as an entry of its own, as the CLI sends them
        # (pkg/resource/plugin/analyzer_plugin.go:612-641).
        reconciled = reconcile(config, info)
        self._stub.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(
                policyConfig={
                    name: analyzer_pb2.PolicyConfig(
                        enforcementLevel=LEVELS[rule.level], properties=_struct(rule.properties)
                    )
                    for name, rule in reconciled.items()
                }
            )
        )


def _wire(value: Any) -> Any:
    """Plan values back into wire form: the offline plan's unknown marker becomes the engine's
    unknown sentinel. Secrets arrive unwrapped (`Plan.analyzer_inputs`), as the CLI hands
    them to packs."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if value == UNKNOWN:
        return rpc.UNKNOWN
    return value


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_wire(dict(value)), struct_pb2.Struct())


def _fields(
    resource: Mapping[str, Any], plan: Plan, by_urn: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What the CLI sends about a resource, in both per-resource and stack analysis
    (`by_urn` holds at least its provider)."""
    return {
        "type": resource["type"],
        "properties": _struct(_inputs(resource, plan)),
        "urn": resource["urn"],
        "name": resource["name"],
        "options": _options(resource),
        "provider": _provider(by_urn.get(resource["provider"] or ""), plan),
    }


def _inputs(resource: Mapping[str, Any], plan: Plan) -> Mapping[str, Any]:
    inputs: Mapping[str, Any] = plan.analyzer_inputs.get(resource["urn"], resource["inputs"])
    return inputs


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(resource["protect"]),
        ignoreChanges=resource["ignore_changes"],
        deleteBeforeReplace=bool(resource["delete_before_replace"]),
        parent=resource["parent"] or "",
    )


def _provider(
    resource: Mapping[str, Any] | None, plan: Plan
) -> analyzer_pb2.AnalyzerProviderResource | None:
    if resource is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=resource["type"],
        properties=_struct(_inputs(resource, plan)),
        urn=resource["urn"],
        name=resource["name"],
    )


def _violations(response: analyzer_pb2.AnalyzeResponse) -> list[dict[str, str]]:
    return [
        {
            "policy": d.policyName,
            "level": LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            "severity": SEVERITY_NAMES.get(d.severity, "unspecified"),
            "urn": d.urn,
            "message": d.message,
        }
        for d in response.diagnostics
    ]
