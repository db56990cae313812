"""Network: what the internet may reach, and that every firewall rule says why it exists.

Ingress arrives three ways: standalone `SecurityGroupIngressRule`s (what this stack uses), the
older `SecurityGroupRule` with `type: ingress`, and inline `ingress` blocks on a
`SecurityGroup`. The rules read all three alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from guardrails._common import is_open_to_all, resource_rule

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS_TYPES = [INGRESS_RULE, SECURITY_GROUP_RULE, SECURITY_GROUP]

DEFAULT_PUBLIC_WEB_PORTS = (80, 443)
DEFAULT_PUBLIC_ENDPOINTS = ("gitlab",)
ADMIN_PORTS = (22, 3389)
ALL_PROTOCOLS = ("-1", "all")
PORT_PROTOCOLS = ("tcp", "6", "udp", "17")
NO_PORT_PROTOCOLS = ("icmp", "1", "icmpv6", "58")

Ingress = tuple[str, Mapping[str, Any], str]
"""Where the permission is (for messages), its properties, the name of its protocol property."""


def ingress_permissions(args: ResourceValidationArgs) -> Iterator[Ingress]:
    if args.resource_type == INGRESS_RULE:
        yield "", args.props, "ipProtocol"
    elif args.resource_type == SECURITY_GROUP_RULE:
        if args.props.get("type") == "ingress":
            yield "", args.props, "protocol"
    elif args.resource_type == SECURITY_GROUP:
        for i, permission in enumerate(args.props.get("ingress") or []):
            yield f"ingress[{i}]: ", permission, "protocol"


def open_cidrs(permission: Mapping[str, Any]) -> list[str]:
    """The permission's sources that are the whole internet (0.0.0.0/0, ::/0)."""
    cidrs = [
        permission.get("cidrIpv4"),
        permission.get("cidrIpv6"),
        *(permission.get("cidrBlocks") or []),
        *(permission.get("ipv6CidrBlocks") or []),
    ]
    return [str(c) for c in cidrs if c is not None and is_open_to_all(c)]


def protocol_of(permission: Mapping[str, Any], key: str) -> str:
    return str(permission.get(key, "")).lower()


def port_range(permission: Mapping[str, Any], protocol: str) -> tuple[int, int]:
    """Every port for protocol -1, and where a port bound is missing."""
    if protocol in ALL_PROTOCOLS:
        return 0, 65535
    low, high = permission.get("fromPort"), permission.get("toPort")
    return int(0 if low is None else low), int(65535 if high is None else high)


@resource_rule(
    "no-open-ingress-except-public-web",
    "Only the public web ports (80 and 443 by default) of a public endpoint (GitLab, by "
    "default) may be open to 0.0.0.0/0 or ::/0.",
    types=INGRESS_TYPES,
    remediation="Allow only listed ranges (access.admin_cidrs), or put the service behind the "
    "load balancer on 443.",
    severity=Severity.HIGH,
    config_schema=PolicyConfigSchema(
        properties={
            "public_web_ports": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                "default": list(DEFAULT_PUBLIC_WEB_PORTS),
            },
            "public_endpoints": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(DEFAULT_PUBLIC_ENDPOINTS),
            },
        }
    ),
)
def no_open_ingress_except_public_web(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.get_config()
    public = sorted({int(p) for p in config.get("public_web_ports", DEFAULT_PUBLIC_WEB_PORTS)})
    endpoints = list(config.get("public_endpoints", DEFAULT_PUBLIC_ENDPOINTS))
    # Rules and groups are named after the endpoint they front (`...-access-gitlab-443-...`).
    endpoint = f"-{args.name}-"
    is_public_endpoint = any(f"-{e}-" in endpoint for e in endpoints)
    for where, permission, key in ingress_permissions(args):
        cidrs = open_cidrs(permission)
        if not cidrs:
            continue
        protocol = protocol_of(permission, key)
        if protocol in ALL_PROTOCOLS:
            yield f"{where}Every protocol and port is open to {cidrs}."
        elif protocol not in PORT_PROTOCOLS:
            yield f"{where}Protocol {protocol!r} is open to {cidrs}."
        else:
            low, high = port_range(permission, protocol)
            if low != high or low not in public:
                yield (
                    f"{where}Ports {low}-{high} are open to {cidrs}; only single ports in "
                    f"{public} may be."
                )
            elif not is_public_endpoint:
                yield (
                    f"{where}Port {low} is open to {cidrs}, but {args.name} is not a public "
                    f"endpoint ({endpoints})."
                )


@resource_rule(
    "no-open-admin-ports",
    "SSH (22), RDP (3389) and 'all ports' are never open to 0.0.0.0/0 or ::/0.",
    types=INGRESS_TYPES,
    remediation="Reach nodes through SSM Session Manager or from access.admin_cidrs only.",
    severity=Severity.CRITICAL,
)
def no_open_admin_ports(args: ResourceValidationArgs) -> Iterator[str]:
    for where, permission, key in ingress_permissions(args):
        cidrs = open_cidrs(permission)
        if not cidrs:
            continue
        protocol = protocol_of(permission, key)
        if protocol in ALL_PROTOCOLS:
            yield f"{where}All ports (protocol {protocol}) are open to {cidrs}."
            continue
        if protocol in NO_PORT_PROTOCOLS:
            continue
        low, high = port_range(permission, protocol)
        exposed = [p for p in ADMIN_PORTS if low <= p <= high]
        if exposed:
            yield f"{where}Admin port(s) {exposed} are open to {cidrs} (ports {low}-{high})."


def described(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


@resource_rule(
    "security-group-rule-description",
    "Every security group and every ingress/egress rule says what it is for.",
    types=[SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE, EGRESS_RULE],
    remediation="Set description (who talks to what, and why).",
    severity=Severity.LOW,
)
def security_group_rule_description(args: ResourceValidationArgs) -> Iterator[str]:
    kind = "security group" if args.resource_type == SECURITY_GROUP else "rule"
    if not described(args.props.get("description")):
        yield f"The {kind} has no description."
    if args.resource_type == SECURITY_GROUP:
        for direction in ("ingress", "egress"):
            for i, permission in enumerate(args.props.get(direction) or []):
                if not described(permission.get("description")):
                    yield f"{direction}[{i}] has no description."
