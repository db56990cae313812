"""Network guardrails: each fails its bad case, passes its good one, never decides on an
unknown value, and passes the stacks this repository ships."""

from __future__ import annotations

from typing import Any

from plans import STACK_VARIANTS, stack_file_config
from policy_harness import UNKNOWN, Resource, analyze, mandatory, undecided

from guardrails import REGISTRY, network

GOOD_INGRESS = {
    "cidrIpv4": "192.0.2.0/24",
    "description": "HTTPS to GitLab from the office",
    "fromPort": 443,
    "ipProtocol": "tcp",
    "securityGroupId": "sg-1",
    "toPort": 443,
}
WORLD_HTTPS = {**GOOD_INGRESS, "cidrIpv4": "0.0.0.0/0"}


def ingress(name: str = "dev-access-gitlab-443", **changes: Any) -> Resource:
    """GOOD_INGRESS changed; a change to None removes the property. Named like the stack
    names GitLab's rules: GitLab is the public endpoint."""
    props = {k: v for k, v in {**GOOD_INGRESS, **changes}.items() if v is not None}
    return Resource(network.INGRESS_RULE, props, name=name)


def world(port: int, to_port: int | None = None, **changes: Any) -> Resource:
    to = port if to_port is None else to_port
    return ingress(**{"cidrIpv4": "0.0.0.0/0", "fromPort": port, "toPort": to, **changes})


def group(**changes: Any) -> Resource:
    props = {"description": "Load balancer: allowed ranges only", "vpcId": "vpc-1", **changes}
    return Resource(network.SECURITY_GROUP, props)


def test_open_ingress_only_on_public_web_ports() -> None:
    policy = network.no_open_ingress_except_public_web
    assert mandatory(analyze(policy, ingress())) == []
    assert mandatory(analyze(policy, ingress(fromPort=8080, toPort=8080))) == []
    assert mandatory(analyze(policy, world(443))) == []
    assert mandatory(analyze(policy, world(80, cidrIpv4=None, cidrIpv6="::/0"))) == []
    (message,) = mandatory(analyze(policy, world(8080)))
    assert "Ports 8080-8080 are open to ['0.0.0.0/0']; only single ports in [80, 443]" in message
    (message,) = mandatory(analyze(policy, world(80, 443)))
    assert "Ports 80-443 are open" in message
    everything = ingress(
        cidrIpv4=None, cidrIpv6="::/0", ipProtocol="-1", fromPort=None, toPort=None
    )
    (message,) = mandatory(analyze(policy, everything))
    assert "Every protocol and port is open to ['::/0']" in message
    (message,) = mandatory(analyze(policy, world(8, -1, ipProtocol="icmp")))
    assert "Protocol 'icmp' is open" in message
    assert undecided(analyze(policy, ingress(cidrIpv4=UNKNOWN)))
    assert undecided(analyze(policy, world(443, toPort=UNKNOWN)))


def test_open_web_ports_only_on_a_public_endpoint() -> None:
    policy = network.no_open_ingress_except_public_web
    argocd = world(443, name="dev-access-argocd-443-0.0.0.0_0")
    (message,) = mandatory(analyze(policy, argocd))
    assert "is not a public endpoint (['gitlab'])" in message
    config = {"public_endpoints": ["argocd"]}
    assert mandatory(analyze(policy, argocd, config)) == []


def test_open_ingress_reads_inline_and_legacy_rules() -> None:
    policy = network.no_open_ingress_except_public_web
    postgres = {"cidrBlocks": ["0.0.0.0/0"], "fromPort": 5432, "toPort": 5432, "protocol": "tcp"}
    (message,) = mandatory(analyze(policy, group(ingress=[postgres])))
    assert message.split("\n")[-1].startswith("ingress[0]: Ports 5432-5432 are open")
    inside = {**postgres, "cidrBlocks": ["10.0.0.0/16"]}
    assert mandatory(analyze(policy, group(ingress=[inside]))) == []
    assert undecided(analyze(policy, group(ingress=UNKNOWN)))
    legacy = {"type": "ingress", **postgres, "securityGroupId": "sg-1"}
    assert mandatory(analyze(policy, Resource(network.SECURITY_GROUP_RULE, legacy)))
    egress = {**legacy, "type": "egress"}
    assert mandatory(analyze(policy, Resource(network.SECURITY_GROUP_RULE, egress))) == []


def test_open_ingress_takes_the_public_ports_from_config() -> None:
    policy = network.no_open_ingress_except_public_web
    config = {"public_web_ports": [8443]}
    assert mandatory(analyze(policy, world(8443), config)) == []
    (message,) = mandatory(analyze(policy, world(443), config))
    assert "only single ports in [8443]" in message


def test_no_open_admin_ports() -> None:
    policy = network.no_open_admin_ports
    assert mandatory(analyze(policy, ingress(fromPort=22, toPort=22))) == []
    assert mandatory(analyze(policy, world(443))) == []
    assert mandatory(analyze(policy, world(8, -1, ipProtocol="icmp"))) == []
    (message,) = mandatory(analyze(policy, world(22)))
    assert "Admin port(s) [22] are open to ['0.0.0.0/0'] (ports 22-22)" in message
    rdp = world(3389, cidrIpv4=None, cidrIpv6="::/0")
    (message,) = mandatory(analyze(policy, rdp))
    assert "Admin port(s) [3389] are open to ['::/0']" in message
    (message,) = mandatory(analyze(policy, world(0, 65535)))
    assert "[22, 3389]" in message
    (message,) = mandatory(analyze(policy, world(0, 0, ipProtocol="-1")))
    assert "All ports (protocol -1) are open" in message
    assert undecided(analyze(policy, ingress(cidrIpv4=None, cidrIpv6=UNKNOWN)))
    assert undecided(analyze(policy, world(22, ipProtocol=UNKNOWN)))


def test_security_group_rule_description() -> None:
    policy = network.security_group_rule_description
    egress = {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1", "securityGroupId": "sg-1"}
    described_egress = {**egress, "description": "Load balancer to its targets"}
    assert mandatory(analyze(policy, ingress())) == []
    assert mandatory(analyze(policy, group())) == []
    assert mandatory(analyze(policy, Resource(network.EGRESS_RULE, described_egress))) == []
    (message,) = mandatory(analyze(policy, Resource(network.EGRESS_RULE, egress)))
    assert "The rule has no description." in message
    (message,) = mandatory(analyze(policy, ingress(description="  ")))
    assert "The rule has no description." in message
    (message,) = mandatory(analyze(policy, group(description=None)))
    assert "The security group has no description." in message
    (message,) = mandatory(analyze(policy, group(egress=[egress])))
    assert "egress[0] has no description." in message
    assert undecided(analyze(policy, ingress(description=UNKNOWN)))


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1"})
    for policy in REGISTRY.of(network):
        assert analyze(policy, other) == []
    world_egress = Resource(network.EGRESS_RULE, {**WORLD_HTTPS, "ipProtocol": "-1"})
    assert analyze(network.no_open_admin_ports, world_egress) == []
    assert analyze(network.no_open_ingress_except_public_web, world_egress) == []


DEV = stack_file_config("dev")


def test_a_public_gitlab_opens_only_the_web_ports() -> None:
    """The variant above is not vacuous: GitLab really is open to everyone, on 80 and 443."""
    rules = STACK_VARIANTS["gitlab-public"]().of_type(network.INGRESS_RULE)
    open_ports = {
        (r["inputs"].get("cidrIpv4") or r["inputs"].get("cidrIpv6"), r["inputs"]["fromPort"])
        for r in rules
        if network.open_cidrs(r["inputs"])
    }
    assert open_ports == {("0.0.0.0/0", 80), ("0.0.0.0/0", 443), ("::/0", 80), ("::/0", 443)}
