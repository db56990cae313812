"""TLS at the edge: certificates that renew themselves, and load balancers that only speak
HTTPS/TLS with a modern policy, to the ranges they are meant for.

The load balancers are asked for in Helm values (Ingress annotations, LoadBalancer Services),
so these rules search a release's whole values tree: a value unknown anywhere in it makes them
undecided, since it could be an annotation map or a Service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from guardrails._common import HELM_RELEASE, helm_values, is_open_to_all, resource_rule

CERTIFICATE = "aws:acm/certificate:Certificate"
ALB = "alb.ingress.kubernetes.io"
"""The AWS Load Balancer Controller's Ingress annotations (an ALB per Ingress group)."""
NLB = "service.beta.kubernetes.io"
"""Its LoadBalancer Service annotations (an NLB per Service)."""
ALB_LISTEN_PORTS = f"{ALB}/listen-ports"
ALB_CERTIFICATE_ARN = f"{ALB}/certificate-arn"
ALB_SSL_REDIRECT = f"{ALB}/ssl-redirect"
ALB_SSL_POLICY = f"{ALB}/ssl-policy"
NLB_SSL_CERT = f"{NLB}/aws-load-balancer-ssl-cert"
NLB_SSL_POLICY = f"{NLB}/aws-load-balancer-ssl-negotiation-policy"
DEFAULT_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
)
TLS_POLICIES = PolicyConfigSchema(
    properties={
        "allowed_tls_policies": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "default": list(DEFAULT_TLS_POLICIES),
        }
    },
)
# git over SSH cannot end TLS at the load balancer: its Service is the one without a certificate.
SSH_SERVICE = "gitlab-shell"

Path = tuple[str, ...]


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every mapping in a values tree, with the keys (and list indexes) leading to it."""
    if isinstance(value, Mapping):
        yield path, value
        for key in value:
            yield from walk(value[key], (*path, str(key)))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            yield from walk(item, (*path, str(index)))


def dotted(path: Path) -> str:
    return ".".join(path) or "(values)"


def allowed_tls_policies(args: ResourceValidationArgs) -> list[str]:
    configured = args.get_config().get("allowed_tls_policies")
    return list(DEFAULT_TLS_POLICIES if configured is None else configured)


def listen_ports(annotation: Any) -> list[tuple[str, Any]] | None:
    """`[{"HTTP": 80}, {"HTTPS": 443}]` as (protocol, port) pairs; None if it is not that."""
    if not isinstance(annotation, str):
        return None
    try:
        entries = json.loads(annotation)
    except json.JSONDecodeError:
        return None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return None
    return [(str(protocol).upper(), port) for e in entries for protocol, port in e.items()]


@resource_rule(
    "acm-dns-validation",
    "ACM certificates are validated through DNS, so ACM renews them without anyone acting.",
    types=[CERTIFICATE],
    remediation="Set validationMethod: DNS and publish the validation records in the zone.",
    severity=Severity.MEDIUM,
)
def acm_dns_validation(args: ResourceValidationArgs) -> Iterator[str]:
    method = args.props.get("validationMethod")
    if method != "DNS":
        yield f"The certificate is validated by {method!r}, not DNS."


@resource_rule(
    "alb-ingress-https",
    "Ingresses on an ALB listen on HTTPS 443 with a certificate and an allowed TLS policy, and "
    "redirect HTTP to HTTPS.",
    types=[HELM_RELEASE],
    remediation=f'Annotate the Ingress with {ALB_LISTEN_PORTS} including {{"HTTPS": 443}}, '
    f"{ALB_CERTIFICATE_ARN}, {ALB_SSL_POLICY} from allowed_tls_policies and, with HTTP 80, "
    f"{ALB_SSL_REDIRECT}: '443' (components.alb.shared_alb_annotations does all of it).",
    config_schema=TLS_POLICIES,
)
def alb_ingress_https(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = allowed_tls_policies(args)
    for path, block in walk(helm_values(args)):
        if not any(str(key).startswith(f"{ALB}/") for key in block):
            continue
        where = dotted(path)
        ports = listen_ports(block.get(ALB_LISTEN_PORTS))
        if ports is None:
            yield f"{where}: no valid {ALB_LISTEN_PORTS} (the ALB would listen on HTTP only)."
            ports = []
        elif ("HTTPS", 443) not in ports:
            yield f"{where}: the ALB does not listen on HTTPS 443 ({ports})."
        if not block.get(ALB_CERTIFICATE_ARN):
            yield f"{where}: no {ALB_CERTIFICATE_ARN}."
        if ("HTTP", 80) in ports and block.get(ALB_SSL_REDIRECT) != "443":
            yield f"{where}: HTTP 80 is served without {ALB_SSL_REDIRECT}: '443'."
        policy = block.get(ALB_SSL_POLICY)
        if policy not in allowed:
            yield f"{where}: TLS policy {policy!r} is not one of {allowed}."


@resource_rule(
    "loadbalancer-service-restricted-and-tls",
    "LoadBalancer Services admit only listed ranges, never the whole internet, and end TLS with "
    "a certificate and an allowed policy (git over SSH excepted).",
    types=[HELM_RELEASE],
    remediation="Set loadBalancerSourceRanges to specific ranges and annotate the Service with "
    f"{NLB_SSL_CERT} and {NLB_SSL_POLICY} (components.alb.tls_nlb_annotations).",
    severity=Severity.CRITICAL,
    config_schema=TLS_POLICIES,
)
def loadbalancer_service_restricted_and_tls(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = allowed_tls_policies(args)
    for path, block in walk(helm_values(args)):
        if block.get("type") != "LoadBalancer":
            continue
        where = dotted(path)
        ranges = block.get("loadBalancerSourceRanges")
        if not ranges:
            yield f"{where}: the load balancer admits everyone (no loadBalancerSourceRanges)."
        elif any(is_open_to_all(r) for r in ranges):
            yield f"{where}: the load balancer admits everyone: {list(ranges)}."
        annotations = block.get("annotations") or {}
        if not annotations.get(NLB_SSL_CERT):
            if SSH_SERVICE not in path:
                yield f"{where}: the load balancer does not end TLS (no ssl-cert annotation)."
            continue
        policy = annotations.get(NLB_SSL_POLICY)
        if policy not in allowed:
            yield f"{where}: TLS policy {policy!r} is not one of {allowed}."
