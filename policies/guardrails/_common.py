"""How a guardrail is written: a plain function that yields violation messages.

`resource_rule` turns such a function into a `ResourceValidationPolicy` that only looks at
the listed resource types and appends the remediation to every message. Properties arrive as
the engine delivers them: camelCase names, read-only mappings, and values that are unknown
during a preview - reading one raises `UnknownValueError`, which the analyzer reports as "can't
run during preview" instead of a decision. Rules must not catch it.

Both decorators register the rule they make (`guardrails._registry.REGISTRY`): defining a rule
is what puts it in the pack.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from guardrails._registry import REGISTRY, Registry

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
OPEN_TO_ALL = ("0.0.0.0/0", "::/0")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
RENDER_SOURCE = "gitops-platform:render:Source"
"""What the offline preview rendered for one Helm release or Application (offline/render.py):
`kind` (release | application), `name`, `namespace`, `chart`, `version`, `origin`,
`reason` (why it was not rendered, or None), `objects`, `gitops` (deployed from `gitops/`). Its
parent is the release or Application. Only stack analysis sees these, and only offline: the
Pulumi CLI hands packs the release, not its objects."""
RENDER_OBJECT = "gitops-platform:render:Object"
"""One object a Source rendered: `source` (the Source's name) and `object` (the manifest, its
namespace filled in for namespaced kinds); same parent as its Source. Objects of the kinds in
RENDERED_IN_FULL arrive whole, every other one as its apiVersion, kind and metadata only."""
RENDERED_IN_FULL = frozenset(
    {
        "ConfigMap",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "Ingress",
        "IngressClass",
        "IngressClassParams",
        "Job",
        "Namespace",
        "Pod",
        "ReplicaSet",
        "Service",
        "StatefulSet",
    }
)
"""The rendered kinds whose spec and data the rules read: a rule that needs another kind's
must add it here (and to offline.render.IN_FULL)."""
# The charts of the platform's releases, as `chart_of` names them.
GITLAB_CHART = "gitlab"
ARGOCD_CHART = "argo-cd"
EXTERNAL_DNS_CHART = "external-dns"
LB_CONTROLLER_CHART = "aws-load-balancer-controller"
HIDDEN = "[secret]"
"""The offline preview's stand-in for a value the plan hides (the CLI sends secrets unwrapped)."""
KOPS_OIDC_SUFFIX = "-kops-oidc"
"""How the kOps OIDC discovery bucket's resources are named: public to STS by design, and
rebuilt by kOps at will."""

ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str]]]
"""Yields (message, urn of the offending resource)."""


def _definition(check: Callable[..., Any]) -> str:
    return f"{check.__module__}.{check.__qualname__}"


def resource_rule(
    name: str,
    description: str,
    *,
    types: Sequence[str],
    remediation: str,
    severity: Severity = Severity.HIGH,
    level: EnforcementLevel = MANDATORY,
    config_schema: PolicyConfigSchema | None = None,
    registry: Registry = REGISTRY,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    def make(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in types:
                return
            for message in check(args):
                report_violation(f"{message} Remediation: {remediation}", args.urn)

        policy = ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            config_schema=config_schema,
            severity=severity,
            remediation_steps=remediation,
        )
        return registry.add(policy, module=check.__module__, definition=_definition(check))

    return make


def stack_rule(
    name: str,
    description: str,
    *,
    remediation: str,
    severity: Severity = Severity.HIGH,
    level: EnforcementLevel = MANDATORY,
    config_schema: PolicyConfigSchema | None = None,
    registry: Registry = REGISTRY,
) -> Callable[[StackCheck], StackValidationPolicy]:
    def make(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            for message, urn in check(args):
                report_violation(f"{message} Remediation: {remediation}", urn)

        policy = StackValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            config_schema=config_schema,
            severity=severity,
            remediation_steps=remediation,
        )
        return registry.add(policy, module=check.__module__, definition=_definition(check))

    return make


def dig(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing (not where it is unknown:
    reading an unknown value still raises)."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, Sequence) or isinstance(value, str) or step >= len(value):
                return None
        elif not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def as_json(value: Any) -> Any:
    """Provider configuration and IAM documents travel as JSON text."""
    return json.loads(value) if isinstance(value, str) else value


def is_open_to_all(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def listed(value: Any) -> list[Any]:
    """IAM lets Action/Resource be one string or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def helm_values(args: ResourceValidationArgs) -> Mapping[str, Any]:
    values = args.props.get("values")
    return values if isinstance(values, Mapping) else {}


def chart_of(args: ResourceValidationArgs | PolicyResource) -> str:
    """The chart a Helm release installs (`gitlab`, `argo-cd`, ...), without repository; for
    one resource's validation or for a resource of a stack validation."""
    return str(args.props.get("chart", "")).rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Rendered:
    """One rendered object, with the Source that rendered it."""

    object: Mapping[str, Any]
    """The manifest as rendered: apiVersion, kind, metadata, spec, data..."""
    resource: PolicyResource
    """Its `RENDER_OBJECT` resource."""
    source: PolicyResource | None
    """Its `RENDER_SOURCE` resource (None if the preview sent the object without one)."""

    @property
    def kind(self) -> str:
        return str(self.object.get("kind", ""))

    @property
    def name(self) -> str:
        return str(dig(self.object, "metadata", "name") or "")

    @property
    def namespace(self) -> str | None:
        """None for cluster-scoped kinds: the preview fills it in for every namespaced one."""
        namespace = dig(self.object, "metadata", "namespace")
        return None if namespace is None else str(namespace)

    @property
    def source_name(self) -> str:
        return str(self.resource.props.get("source", ""))

    @property
    def urn(self) -> str:
        """Where a violation is reported: the release or Application that deploys the object
        (its Source's parent), which the plan and the CLI know."""
        parent = self.resource.parent
        return parent.urn if parent is not None else self.resource.urn

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        kind = self.source.props.get("kind") if self.source is not None else None
        return f"{self.kind} {where} (rendered by {kind or 'source'} {self.source_name})"


def render_sources(args: StackValidationArgs) -> list[PolicyResource]:
    """The stack's `RENDER_SOURCE` resources: what the offline preview rendered, or tried to."""
    return [r for r in args.resources if r.resource_type == RENDER_SOURCE]


def rendered_objects(args: StackValidationArgs) -> Iterator[Rendered]:
    """Every rendered object of the stack with its Source, in the order the preview sent
    them. A `List` (several objects in one document, as the load balancer controller's chart
    ships its IngressClass and IngressClassParams) counts as its items, which is what Helm
    applies (helm v3.20.2, the one pulumi-kubernetes' Release embeds, pkg/kube/client.go:336-341,
    newBuilder: Flatten())."""
    sources = {(_parent_urn(s), s.props.get("name")): s for s in render_sources(args)}
    for resource in args.resources:
        if resource.resource_type != RENDER_OBJECT:
            continue
        source = sources.get((_parent_urn(resource), resource.props.get("source")))
        body = resource.props.get("object")
        if not isinstance(body, Mapping):
            continue
        for item in _items(body):
            yield Rendered(item, resource, source)


def _parent_urn(resource: PolicyResource) -> str:
    return resource.parent.urn if resource.parent is not None else ""


def _items(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if body.get("kind") == "List" and isinstance(body.get("items"), Sequence):
        for item in body["items"]:
            if isinstance(item, Mapping):
                yield from _items(item)
    else:
        yield body
