"""Feed guardrails the way the Pulumi CLI does: protobuf requests into the policy pack's own
analyzer servicer (the code behind its gRPC server), so properties arrive camelCased,
read-only, with secrets unwrapped and unknown values that raise when read."""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import Policy, _PolicyAnalyzerServicer

from offline.plan import PROJECT_DIR
from offline.render import fill_namespaces, pack_resources
from offline.sources import Source

sys.path.insert(0, str(PROJECT_DIR / "policies"))

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's "unknown during preview"
MANDATORY = analyzer_pb2.MANDATORY
ADVISORY = analyzer_pb2.ADVISORY


@dataclass
class Resource:
    type: str
    props: dict[str, Any]
    name: str = "r"
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """The URNs each input depends on, as the CLI and the offline preview send stack rules."""
    protect: bool = False
    plan_urn: str = ""
    """The URN an offline plan gave it (the dependencies of plan resources name these)."""
    provider: Resource | None = None
    """Its explicit provider, which the CLI sends along (rules read default tags there)."""

    @property
    def urn(self) -> str:
        return self.plan_urn or f"urn:pulumi:test::gitops-platform::{self.type}::{self.name}"


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def _servicer(policy: Policy, config: dict[str, Any] | None) -> _PolicyAnalyzerServicer:
    servicer = _PolicyAnalyzerServicer(
        "test-pack", "0.0.1", [policy], EnforcementLevel.MANDATORY, None
    )
    if config is not None:
        servicer.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(
                policyConfig={
                    policy.name: analyzer_pb2.PolicyConfig(
                        enforcementLevel=MANDATORY, properties=_struct(config)
                    )
                }
            ),
            None,
        )
    return servicer


def analyze(
    policy: Policy, resource: Resource, config: dict[str, Any] | None = None
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    """The diagnostics the pack returns for one resource."""
    provider = resource.provider
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=_struct(resource.props),
        urn=resource.urn,
        name=resource.name,
        options=analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect),
        provider=None
        if provider is None
        else analyzer_pb2.AnalyzerProviderResource(
            type=provider.type,
            urn=provider.urn,
            name=provider.name,
            properties=_struct(provider.props),
        ),
    )
    return list(_servicer(policy, config).Analyze(request, None).diagnostics)


def analyze_stack(
    policy: Policy, resources: Sequence[Resource], config: dict[str, Any] | None = None
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(r.props),
                urn=r.urn,
                name=r.name,
                parent=r.parent,
                dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items()
                },
                options=analyzer_pb2.AnalyzerResourceOptions(protect=r.protect),
            )
            for r in resources
        ]
    )
    return list(_servicer(policy, config).AnalyzeStack(request, None).diagnostics)


def mandatory(diagnostics: Sequence[analyzer_pb2.AnalyzeDiagnostic]) -> list[str]:
    return [d.message for d in diagnostics if d.enforcementLevel == MANDATORY]


def undecided(diagnostics: Sequence[analyzer_pb2.AnalyzeDiagnostic]) -> bool:
    """The pack declined to decide (a value was unknown): no violation, only the advisory
    "can't run during preview" note."""
    return bool(diagnostics) and all(
        d.enforcementLevel == ADVISORY and "during preview" in d.message for d in diagnostics
    )


def plan_resources(plan: Any) -> list[Resource]:
    """An offline plan's resources as the CLI hands them to packs: inputs with secrets
    unwrapped, each with its parent, dependencies (of each input, too) and explicit
    provider."""

    def resource(r: dict[str, Any], provider: Resource | None = None) -> Resource:
        return Resource(
            r["type"],
            plan.analyzer_inputs.get(r["urn"], r["inputs"]) or {},
            name=r["name"],
            parent=r["parent"] or "",
            dependencies=r["dependencies"],
            property_dependencies=r["property_dependencies"],
            protect=r["protect"],
            plan_urn=r["urn"],
            provider=provider,
        )

    by_urn = plan.by_urn()
    return [
        resource(r, resource(by_urn[r["provider"]]) if r["provider"] in by_urn else None)
        for r in plan.resources
    ]


def plan_decisions(
    policies: Sequence[Policy], plan: Any, config: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Every diagnostic these rules give on an offline plan, by resource name: resource rules
    on each resource, stack rules on the whole plan. Inputs as the CLI hands them to packs
    (secrets unwrapped)."""
    resources = plan_resources(plan)
    names = {r.urn: r.name for r in resources}
    return [
        (resource.name, diagnostic.message)
        for resource in resources
        for policy in policies
        for diagnostic in analyze(policy, resource, config)
    ] + [
        (names.get(diagnostic.urn, diagnostic.urn), diagnostic.message)
        for policy in policies
        for diagnostic in analyze_stack(policy, resources, config)
    ]


def render_resources(
    source: str,
    deployer: Resource,
    objects: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    kind: Literal["release", "application"] = "release",
    chart: str | None = None,
    version: str | None = None,
    origin: str | None = None,
    reason: str | None = None,
) -> list[Resource]:
    """What the offline preview adds to the stack analysis for one rendered source, made by
    its own code (offline/render.py): a Source and one Object per rendered object, children
    of the release or Application `deployer`, namespaces filled in as Helm and Argo CD apply
    them, CustomResourceDefinitions without their schemas."""
    rendered = Source(
        kind, source, deployer.urn, namespace, chart, version, origin, reason,
        objects=copy.deepcopy([dict(o) for o in objects]),
    )  # fmt: skip
    fill_namespaces([rendered])
    return [
        Resource(r["type"], r["inputs"], name=r["name"], parent=r["parent"], plan_urn=r["urn"])
        for r in pack_resources(rendered, f"urn:pulumi:test::gitops-platform::{deployer.type}$")
    ]


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `document` with the `/`-separated `path` set to `value` (None removes it)."""
    result = copy.deepcopy(document)
    *parents, last = path.split("/")
    block = result
    for key in parents:
        block = block.setdefault(key, {})
    if value is None:
        block.pop(last, None)
    else:
        block[last] = value
    return result
