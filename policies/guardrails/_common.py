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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
