"""The edge in motion: load balancers that only send traffic to pods that are registered, and
DNS records that are gone before the controller that deletes them is.

These rules follow what the AWS Load Balancer Controller and ExternalDNS do on their own, out
of the plan's sight; each description names the upstream behaviour it rests on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from guardrails._common import (
    EXTERNAL_DNS_CHART,
    HELM_RELEASE,
    LB_CONTROLLER_CHART,
    chart_of,
    stack_rule,
)
from guardrails.graph import creates_load_balancers, releases_of, waits_for
from guardrails.tls import ALB, NLB, walk

NAMESPACE = "kubernetes:core/v1:Namespace"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
COMMAND = "command:local:Command"
EXTERNAL_DNS_DEFAULT_POLICY = "upsert-only"  # the chart's (external-dns 1.21.1 values.yaml)
CONTROLLER_CHARTS = (LB_CONTROLLER_CHART, EXTERNAL_DNS_CHART)
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
READINESS_GATE_ENABLED = "enabled"
IP_TARGETS = ((f"{ALB}/target-type", "ip"), (f"{NLB}/aws-load-balancer-nlb-target-type", "ip"))


def _targets_pods_by_ip(tree: Any) -> bool:
    """Some annotation map in `tree` asks the controller for a load balancer with pods (by IP)
    as its targets."""
    return any(block.get(key) == value for _, block in walk(tree) for key, value in IP_TARGETS)


def _namespace_of(resource: PolicyResource) -> Any:
    if resource.resource_type == HELM_RELEASE:
        return resource.props.get("namespace")
    return (resource.props.get("metadata") or {}).get("namespace")


def _load_balancer_sources(resource: PolicyResource) -> Any:
    if resource.resource_type == HELM_RELEASE:
        return resource.props.get("values")
    return (resource.props.get("metadata") or {}).get("annotations")


@stack_rule(
    "load-balancer-targets-have-readiness-gates",
    "Pods that are load-balancer targets by IP live in a namespace labelled "
    f"{READINESS_GATE_LABEL}: {READINESS_GATE_ENABLED}, so the controller's webhook gives each "
    "new pod a readiness gate that holds until the target group reports it healthy. Without it a "
    "rollout stops old pods before the new ones are registered, and clients get 502s "
    "(aws-load-balancer-controller v3.5.0 docs/deploy/pod_readiness_gate.md).",
    remediation=f"Create the namespace in the stack with the label {READINESS_GATE_LABEL}: "
    f"{READINESS_GATE_ENABLED} (components.alb.TARGETS_READINESS_GATE).",
    severity=Severity.MEDIUM,
)
def load_balancer_targets_have_readiness_gates(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    labels_by_namespace: dict[Any, Mapping[str, Any]] = {}
    for resource in args.resources:
        if resource.resource_type == NAMESPACE:
            metadata = resource.props.get("metadata") or {}
            labels_by_namespace[metadata.get("name")] = metadata.get("labels") or {}
    for resource in args.resources:
        if resource.resource_type not in (HELM_RELEASE, INGRESS, SERVICE):
            continue
        if not _targets_pods_by_ip(_load_balancer_sources(resource)):
            continue
        namespace = _namespace_of(resource)
        labels = labels_by_namespace.get(namespace)
        if labels is None:
            yield (
                f"{resource.name} puts load-balancer targets in namespace {namespace!r}, which "
                "the stack does not create, so nothing labels it for readiness gates.",
                resource.urn,
            )
        elif labels.get(READINESS_GATE_LABEL) != READINESS_GATE_ENABLED:
            yield (
                f"{resource.name} puts load-balancer targets in namespace {namespace!r}, which "
                f"lacks the label {READINESS_GATE_LABEL}: {READINESS_GATE_ENABLED}.",
                resource.urn,
            )


def _publishers(args: StackValidationArgs) -> list[PolicyResource]:
    """What ExternalDNS publishes records for: Ingresses and LoadBalancer Services, made by
    Helm releases or directly (its `ingress` and `service` sources)."""
    found = []
    for resource in args.resources:
        if resource.resource_type == HELM_RELEASE:
            if chart_of(resource) not in CONTROLLER_CHARTS and creates_load_balancers(resource):
                found.append(resource)
        elif resource.resource_type == INGRESS or (
            resource.resource_type == SERVICE
            and (resource.props.get("spec") or {}).get("type") == "LoadBalancer"
        ):
            found.append(resource)
    return found


@stack_rule(
    "dns-records-gone-before-externaldns",
    "With policy sync, a destroy removes ExternalDNS only after its records are gone: a "
    "destroy-time step (a Command whose delete waits for them) depends on the ExternalDNS "
    "release, and everything it publishes for depends on that step. ExternalDNS deletes "
    "records only in its own loop after an Ingress or Service is gone (external-dns v0.21.0 "
    "controller/execute.go, --events), so removing it right after them leaves the records "
    "behind.",
    remediation="Make publishers depend on ExternalDns.publishers_wait_for "
    "(components/external_dns.py).",
)
def dns_records_gone_before_externaldns(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    for external_dns in releases_of(args, EXTERNAL_DNS_CHART):
        values = external_dns.props.get("values") or {}
        if values.get("policy", EXTERNAL_DNS_DEFAULT_POLICY) != "sync":
            continue
        waits = [
            r
            for r in args.resources
            if r.resource_type == COMMAND and r.props.get("delete") and waits_for(r, [external_dns])
        ]
        if not waits:
            message = f"Nothing holds {external_dns.name} on destroy until its records are gone."
            yield message, external_dns.urn
            continue
        for publisher in _publishers(args):
            if not waits_for(publisher, waits):
                message = (
                    f"{publisher.name} publishes DNS records but does not wait for the "
                    "destroy-time step that holds ExternalDNS until they are gone."
                )
                yield message, publisher.urn
