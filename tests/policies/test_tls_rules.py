"""TLS guardrails: each fails its bad case, passes its good one, never decides on an unknown
value, and passes every stack this repository ships."""

from __future__ import annotations

import copy
import json
from typing import Any

from plans import stack_file_config
from policy_harness import UNKNOWN, Resource, analyze, mandatory, undecided

from guardrails import REGISTRY, tls
from guardrails._common import HELM_RELEASE

ALB = tls.ALB
NLB = tls.NLB
CERT_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
GOOD_ANNOTATIONS = {
    f"{ALB}/scheme": "internet-facing",
    f"{ALB}/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
    f"{ALB}/ssl-redirect": "443",
    f"{ALB}/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    f"{ALB}/certificate-arn": CERT_ARN,
}
GOOD_SERVICE = {
    "type": "LoadBalancer",
    "loadBalancerSourceRanges": ["192.0.2.0/24"],
    "annotations": {
        f"{NLB}/aws-load-balancer-ssl-cert": CERT_ARN,
        f"{NLB}/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    },
}
SSH_SERVICE = {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/28"]}


def release(values: dict[str, Any], chart: str = "gitlab") -> Resource:
    return Resource(HELM_RELEASE, {"chart": chart, "version": "1.0.0", "values": values})


def ingress(**changes: Any) -> Resource:
    """A GitLab-style release whose Ingress annotations are GOOD_ANNOTATIONS changed."""
    annotations = {k: v for k, v in {**GOOD_ANNOTATIONS, **changes}.items() if v is not None}
    return release({"global": {"ingress": {"class": "alb", "annotations": annotations}}})


def service(changes: dict[str, Any], path: tuple[str, ...] = ("server",)) -> Resource:
    """An Argo CD-style release whose `<path>.service` is GOOD_SERVICE changed."""
    block: dict[str, Any] = {"service": {**copy.deepcopy(GOOD_SERVICE), **changes}}
    for key in reversed(path):
        block = {key: block}
    return release(block, chart="argo-cd")


def test_acm_dns_validation() -> None:
    policy = tls.acm_dns_validation
    good = {"domainName": "example.com", "validationMethod": "DNS"}
    assert mandatory(analyze(policy, Resource(tls.CERTIFICATE, good))) == []
    email = {**good, "validationMethod": "EMAIL"}
    (message,) = mandatory(analyze(policy, Resource(tls.CERTIFICATE, email)))
    assert "validated by 'EMAIL', not DNS" in message
    assert mandatory(analyze(policy, Resource(tls.CERTIFICATE, {"domainName": "example.com"})))
    unknown = {**good, "validationMethod": UNKNOWN}
    assert undecided(analyze(policy, Resource(tls.CERTIFICATE, unknown)))


def test_alb_ingress_https() -> None:
    policy = tls.alb_ingress_https
    assert mandatory(analyze(policy, ingress())) == []
    https_only = ingress(**{f"{ALB}/listen-ports": '[{"HTTPS": 443}]', f"{ALB}/ssl-redirect": None})
    assert mandatory(analyze(policy, https_only)) == []
    (message,) = mandatory(analyze(policy, ingress(**{f"{ALB}/listen-ports": '[{"HTTP": 80}]'})))
    assert "global.ingress.annotations: the ALB does not listen on HTTPS 443" in message
    (message,) = mandatory(analyze(policy, ingress(**{f"{ALB}/listen-ports": None})))
    assert "no valid alb.ingress.kubernetes.io/listen-ports" in message
    (message,) = mandatory(analyze(policy, ingress(**{f"{ALB}/certificate-arn": None})))
    assert "no alb.ingress.kubernetes.io/certificate-arn" in message
    (message,) = mandatory(analyze(policy, ingress(**{f"{ALB}/ssl-redirect": None})))
    assert "HTTP 80 is served without" in message
    (message,) = mandatory(analyze(policy, ingress(**{f"{ALB}/ssl-policy": None})))
    assert "TLS policy None is not one of" in message
    old = ingress(**{f"{ALB}/ssl-policy": "ELBSecurityPolicy-2016-08"})
    (message,) = mandatory(analyze(policy, old))
    assert "'ELBSecurityPolicy-2016-08' is not one of" in message
    assert undecided(analyze(policy, ingress(**{f"{ALB}/listen-ports": UNKNOWN})))
    assert undecided(
        analyze(policy, Resource(HELM_RELEASE, {"chart": "gitlab", "values": UNKNOWN}))
    )


def test_alb_ingress_https_finds_annotations_anywhere_in_the_values() -> None:
    policy = tls.alb_ingress_https
    values = {"server": {"ingress": {"enabled": True, "annotations": {f"{ALB}/scheme": "x"}}}}
    messages = mandatory(analyze(policy, release(values, chart="argo-cd")))
    assert len(messages) == 3
    assert all("\nserver.ingress.annotations: " in m for m in messages)
    assert mandatory(analyze(policy, release({"ingress": {"annotations": {}}}))) == []


def test_alb_ingress_https_takes_the_allowed_policies_from_config() -> None:
    policy = tls.alb_ingress_https
    only_tls13 = {"allowed_tls_policies": ["ELBSecurityPolicy-TLS13-1-3-2021-06"]}
    (message,) = mandatory(analyze(policy, ingress(), only_tls13))
    assert "'ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09' is not one of" in message
    legacy = ingress(**{f"{ALB}/ssl-policy": "ELBSecurityPolicy-TLS-1-2-2017-01"})
    assert (
        mandatory(
            analyze(policy, legacy, {"allowed_tls_policies": ["ELBSecurityPolicy-TLS-1-2-2017-01"]})
        )
        == []
    )
    assert mandatory(analyze(policy, ingress(), {})) == []


def test_loadbalancer_service_restricted_and_tls() -> None:
    policy = tls.loadbalancer_service_restricted_and_tls
    assert mandatory(analyze(policy, service({}))) == []
    (message,) = mandatory(analyze(policy, service({"loadBalancerSourceRanges": ["0.0.0.0/0"]})))
    assert "server.service: the load balancer admits everyone: ['0.0.0.0/0']" in message
    (message,) = mandatory(analyze(policy, service({"loadBalancerSourceRanges": None})))
    assert "no loadBalancerSourceRanges" in message
    (message,) = mandatory(analyze(policy, service({"annotations": {}})))
    assert "does not end TLS" in message
    weak = {f"{NLB}/aws-load-balancer-ssl-cert": CERT_ARN}
    (message,) = mandatory(analyze(policy, service({"annotations": weak})))
    assert "TLS policy None is not one of" in message
    cluster_ip = {"server": {"service": {"type": "ClusterIP"}}}
    assert mandatory(analyze(policy, release(cluster_ip))) == []
    unknown_ranges = service({"loadBalancerSourceRanges": UNKNOWN})
    assert undecided(analyze(policy, unknown_ranges))
    assert undecided(analyze(policy, service({"type": UNKNOWN})))


def test_loadbalancer_service_without_tls_is_only_for_git_over_ssh() -> None:
    policy = tls.loadbalancer_service_restricted_and_tls
    ssh = release({"gitlab": {"gitlab-shell": {"enabled": True, "service": SSH_SERVICE}}})
    assert mandatory(analyze(policy, ssh)) == []
    open_ssh = {**SSH_SERVICE, "loadBalancerSourceRanges": ["::/0"]}
    shell = {"gitlab": {"gitlab-shell": {"service": open_ssh}}}
    (message,) = mandatory(analyze(policy, release(shell)))
    assert "gitlab.gitlab-shell.service: the load balancer admits everyone" in message
    webservice = release({"gitlab": {"webservice": {"service": SSH_SERVICE}}})
    (message,) = mandatory(analyze(policy, webservice))
    assert "gitlab.webservice.service: the load balancer does not end TLS" in message


def test_loadbalancer_service_takes_the_allowed_policies_from_config() -> None:
    policy = tls.loadbalancer_service_restricted_and_tls
    config = {"allowed_tls_policies": ["ELBSecurityPolicy-TLS13-1-3-2021-06"]}
    (message,) = mandatory(analyze(policy, service({}), config))
    assert "'ELBSecurityPolicy-TLS13-1-2-2021-06' is not one of" in message


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"values": {"service": {"type": "LoadBalancer"}}})
    for policy in REGISTRY.of(tls):
        assert analyze(policy, other) == []


KOPS = stack_file_config("kops")
DEV = stack_file_config("dev")
