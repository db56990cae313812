"""The offline preview: run the unchanged `__main__.py` under Pulumi's mock runtime.

It needs no credentials, no Pulumi CLI and no network. Every resource registration is
recorded as the engine would receive it (type, name, parent, provider, dependencies, inputs
with camelCase wire names), secrets replaced by a marker, and rendered as a readable summary
and, optionally, as JSON that the same inputs reproduce byte for byte.

`run_plan` records the project's `__main__.py`; `record` records any program callable (a test
can build a single component) under the same runtime. The command line is `python -m offline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import runpy
import sys
import textwrap
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import empty_pb2, json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.stack import run_in_stack

from offline.mocks import PlatformMocks
from offline.references import References
from offline.stack_files import StackSettings

SECRET = "[secret]"
UNKNOWN = "[unknown]"
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[dict[str, str]] = field(default_factory=list)
    invokes: list[dict[str, Any]] = field(default_factory=list)
    """Lookups the program made (zone, VPC, account): offline they always answer; under the
    CLI a missing zone or VPC fails the preview here."""
    policy: dict[str, Any] | None = None
    """A verdict on the plan, written into its JSON when set (the CLI puts the policy pack's
    here)."""
    rendered: dict[str, Any] | None = None
    """What every release and Application renders to, written into its JSON when set
    (offline.render: charts and versions, where from, objects by kind, invalid objects)."""
    exposure: list[dict[str, Any]] | None = None
    """Every endpoint reachable from outside the VPC, with the ranges it admits, written into
    its JSON when set (offline.review)."""
    cost: dict[str, Any] | None = None
    """The estimated monthly cost per component, written into its JSON when set
    (offline.review)."""
    protected: list[dict[str, str]] | None = None
    """The resources with `protect: true`, written into its JSON when set (offline.review)."""
    kept: list[dict[str, str]] | None = None
    """The resources a destroy leaves in place (`retain_on_delete`), written into its JSON
    when set (offline.review)."""
    diff: dict[str, Any] | None = None
    """What the plan changes against an earlier plan (offline.diff), written into its JSON
    when set (the CLI's `--base`)."""
    analyzer_inputs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """Each resource's inputs as the CLI hands them to a policy pack: secrets unwrapped. Only
    the pack sees these, never the JSON or the summary (and offline every secret value is a
    stand-in: generated ones come from the mocks, `secure:` ones are placeholders)."""

    def to_json(self) -> str:
        resources = sorted(self.resources, key=lambda r: r["urn"])
        document = {
            "stack": self.stack,
            "project": self.project,
            "resources": resources,
            "outputs": self.outputs,
            "diagnostics": self.diagnostics,
            "invokes": sorted(self.invokes, key=lambda i: json.dumps(i, sort_keys=True)),
        }
        if self.rendered is not None:
            document["rendered"] = self.rendered
        if self.exposure is not None:
            document["exposure"] = self.exposure
        if self.cost is not None:
            document["cost"] = self.cost
        if self.protected is not None:
            document["protected"] = self.protected
        if self.kept is not None:
            document["kept"] = self.kept
        if self.policy is not None:
            document["policy"] = self.policy
        if self.diff is not None:
            document["diff"] = self.diff
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    def by_urn(self) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.resources}

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.resources if r["type"] == type_), key=lambda r: r["urn"])


def mask(value: Any) -> Any:
    """Turn wire-format property values into plain JSON, every secret replaced by a marker."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_resource_sig:
            return value.get("urn", UNKNOWN)
        if sig is not None:
            return f"[{sig}]"
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    return value


def unwrap(value: Any) -> Any:
    """Wire-format property values as plain JSON, as the engine gives them to analyzers:
    secrets unwrapped to their values, unknowns marked, resource references as URNs."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return unwrap(value.get("value"))
        if sig is not None:
            return mask(value)
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return mask(value)


def _struct(message: Any) -> dict[str, Any]:
    return mask(json_format.MessageToDict(message)) if message is not None else {}


Observer = Callable[["Plan", dict[str, Any]], None]
"""Called with the plan and each resource as it is recorded (from the monitor's threads)."""


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of what each registration asked the engine."""

    def __init__(
        self, mocks: pulumi.runtime.Mocks, plan: Plan, on_resource: Observer | None = None
    ) -> None:
        super().__init__(mocks)
        self.plan = plan
        self.on_resource = on_resource

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        # The engine marks these outputs secret (e.g. a generated password's `result`); the
        # SDK's mock monitor does not, so do it here or they would flow on in clear.
        for key in request.additionalSecretOutputs:
            if key in response.object.fields:
                value = json_format.MessageToDict(response.object.fields[key])
                response.object.fields[key].struct_value.Clear()
                response.object.fields[key].struct_value.update(
                    {rpc._special_sig_key: rpc._special_secret_sig, "value": value}
                )
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = json_format.MessageToDict(request.object)
        self.plan.analyzer_inputs[response.urn] = unwrap(inputs)
        resource = {
            "urn": response.urn,
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            # A provider reference is "<urn>::<id>".
            "provider": request.provider.rsplit("::", 1)[0] if request.provider else None,
            "custom": request.custom,
            "protect": request.protect,
            "dependencies": sorted(set(request.dependencies)),
            "property_dependencies": {
                prop: sorted(set(deps.urns))
                for prop, deps in sorted(request.propertyDependencies.items())
                if deps.urns
            },
            "inputs": mask(inputs),
            "ignore_changes": sorted(request.ignoreChanges),
            "delete_before_replace": request.deleteBeforeReplace,
            "retain_on_delete": request.retainOnDelete,
            "custom_timeouts": _struct(request.customTimeouts)
            if request.HasField("customTimeouts")
            else {},
        }
        self.plan.resources.append(resource)
        if self.on_resource is not None:
            self.on_resource(self.plan, resource)
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802
        response = super().Invoke(request)  # type: ignore[no-untyped-call]
        invoke = {"token": request.tok, "args": _struct(request.args)}
        if invoke not in self.plan.invokes:
            self.plan.invokes.append(invoke)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.plan.outputs = _struct(request.outputs)
        return empty_pb2.Empty()


class _Diagnostics(logging.Handler):
    def __init__(self, plan: Plan) -> None:
        super().__init__(logging.INFO)
        self.plan = plan

    def emit(self, record: logging.LogRecord) -> None:
        self.plan.diagnostics.append(
            {"severity": record.levelname.lower(), "message": record.getMessage()}
        )


def run_plan(
    settings: StackSettings,
    project_dir: Path = PROJECT_DIR,
    plan: Plan | None = None,
    on_resource: Observer | None = None,
    references: References | None = None,
) -> Plan:
    """Run the program in `project_dir` offline with the given stack settings, recording
    into `plan` (a new one by default; pass one to see what was recorded before an error).
    `on_resource` sees each resource as soon as it is recorded."""

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    if references is None:
        references = References(settings.project, search=[project_dir], project_dir=project_dir)
    return record(settings, program, plan, on_resource, references)


def record(
    settings: StackSettings,
    program: Callable[[], Awaitable[None] | None],
    plan: Plan | None = None,
    on_resource: Observer | None = None,
    references: References | None = None,
) -> Plan:
    """Run `program` (any callable that declares resources; a coroutine it returns is
    awaited) inside a stack under the mock runtime with the given stack settings, recording
    into `plan` as `run_plan` does; StackReferences are answered by `references`."""
    plan = plan or Plan(project=settings.project, stack=settings.stack)
    region = settings.config.get("aws:region") or "us-east-1"
    monitor = RecordingMonitor(PlatformMocks(region, references), plan, on_resource)
    logger = logging.getLogger(f"offline-plan.{settings.stack}")
    logger.propagate = False
    logger.handlers = [_Diagnostics(plan)]
    logger.setLevel(logging.INFO)
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=set(
                monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures  # type: ignore[no-untyped-call]
            ),
            engine=pulumi_mocks.MockEngine(logger),
            project=settings.project,
            stack=settings.stack,
            dry_run=False,
            organization="organization",
            callbacks=None,
            # Each recording tracks its own outputs: one that failed or was cancelled in an
            # earlier recording belongs to a closed event loop.
            outputs=set(),
        )
    )
    pulumi.runtime.set_all_config(dict(settings.config), list(settings.secret_keys))
    pulumi_settings.ROOT.set(None)

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        with _outputs_awaited_once():
            loop.run_until_complete(run_in_stack(program))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        loop.close()
        asyncio.set_event_loop(None)
        if references is not None:
            # Sorted: references are answered in whatever order the event loop runs them.
            plan.diagnostics += [
                {"severity": "info", "message": m} for m in sorted(references.answered)
            ]
    return plan


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's `pulumi.runtime.stack.wait_for_rpcs`, waiting on each output task once.

    The SDK's loop hands every pending output to `asyncio.wait(FIRST_COMPLETED)` and puts
    the unfinished ones back, so each wake-up adds and removes a callback on every pending
    task: with the hundreds of outputs this program keeps pending, that costs about as much
    CPU as all the rest of the program's own work (some 0.5 s of a dev plan). Here each task
    gets one callback into a queue. The order of events is the SDK's: RPCs drained first,
    then every output awaited as it finishes (an output's exception is raised when it
    finishes), repeated until no RPC is left. Written against pulumi 3.272.0's loop; a test
    notices when the SDK's changes.
    """
    rpc_manager = pulumi_settings._get_rpc_manager()
    while True:
        while rpc_manager.rpcs:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    cause = rpc_manager.unhandled_exception.with_traceback(
                        rpc_manager.exception_traceback
                    )
                    raise exn from cause
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            finished: asyncio.Queue[asyncio.Task[Any]] = asyncio.Queue()
            waiting = 0
            while True:
                with pulumi_settings.SETTINGS.lock:
                    tasks = list(pulumi_settings.SETTINGS.outputs)
                    pulumi_settings.SETTINGS.outputs.clear()
                for task in tasks:
                    task.add_done_callback(finished.put_nowait)
                waiting += len(tasks)
                if waiting == 0:
                    break
                await (await finished.get())
                waiting -= 1
                while not finished.empty():
                    await finished.get_nowait()
                    waiting -= 1
        if not rpc_manager.rpcs:
            break


@contextlib.contextmanager
def _outputs_awaited_once() -> Iterator[None]:
    """`_wait_for_rpcs` in place of the SDK's for the duration of one recording."""
    original = pulumi_stack.wait_for_rpcs
    pulumi_stack.wait_for_rpcs = _wait_for_rpcs
    try:
        yield
    finally:
        pulumi_stack.wait_for_rpcs = original


STACK_LABEL = "(stack)"
"""The group of the resources no component holds (the providers, for one)."""


def component_labels(plan: Plan) -> dict[str, str]:
    """Each resource's top-level component as the summary names it (`<type>  <name>`), or
    STACK_LABEL for a custom resource no component holds, by URN."""
    by_urn = plan.by_urn()

    def top(resource: dict[str, Any]) -> str:
        while resource["parent"] in by_urn:
            resource = by_urn[resource["parent"]]
        return f"{resource['type']}  {resource['name']}" if not resource["custom"] else STACK_LABEL

    return {r["urn"]: top(r) for r in plan.resources}


def summary(plan: Plan, width: int = 100) -> str:
    """A review-friendly rendering: the resources per component and type, by name, and the
    outputs, masked."""
    labels = component_labels(plan)
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for resource in plan.resources:
        if resource["custom"]:
            groups[labels[resource["urn"]]][resource["type"]].append(resource["name"])
    custom = [r for r in plan.resources if r["custom"]]
    providers = sum(1 for r in custom if r["type"].startswith("pulumi:providers:"))
    components = len(plan.resources) - len(custom)
    header = (
        f"Offline preview of {plan.project}/{plan.stack} (mock values, no cloud calls): "
        f"{len(custom)} custom resources, what the engine creates ({providers} of them "
        f"providers), in {components} component resources, which only group them. The "
        f"policy pack checks all {len(plan.resources)} one by one; its stack analysis also "
        "sees what every release and Application renders to."
    )
    lines = [*textwrap.wrap(header, width), ""]
    for group in sorted(groups):
        types = groups[group]
        lines.append(f"{group}  ({sum(len(names) for names in types.values())})")
        for type_, names in sorted(types.items()):
            lines += textwrap.wrap(
                ", ".join(sorted(names)),
                width,
                initial_indent=f"    {type_}  {len(names)}: ",
                subsequent_indent=" " * 8,
                break_on_hyphens=False,
                break_long_words=False,
            )
    if plan.invokes:
        lines += [
            "",
            "Lookups (answered by the offline mocks; the real preview asks AWS and the machine):",
        ]
        lines += sorted(
            f"    {i['token']} {json.dumps(i['args'], sort_keys=True)}" for i in plan.invokes
        )
    lines += ["", "Outputs:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in sorted(plan.outputs.items())]
    if plan.diagnostics:
        lines += ["", "Diagnostics:"]
        lines += [f"    {d['severity']}: {d['message']}" for d in plan.diagnostics]
    return "\n".join(lines)
