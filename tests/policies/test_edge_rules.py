"""Edge guardrails: each fails its bad case, passes its good one, and passes every stack this
repository ships."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import Resource, analyze_stack, mandatory

from guardrails import edge
from guardrails._common import HELM_RELEASE

ALB = "alb.ingress.kubernetes.io"
NLB = "service.beta.kubernetes.io"
GATE = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}


def namespace(name: str, labels: dict[str, str] | None = None) -> Resource:
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return Resource(edge.NAMESPACE, {"metadata": metadata}, name=f"{name}-namespace")


def release(namespace_name: str, values: dict[str, Any]) -> Resource:
    props = {"chart": "x", "version": "1.0.0", "namespace": namespace_name, "values": values}
    return Resource(HELM_RELEASE, props, name=f"{namespace_name}-release")


ALB_IP = {"ingress": {"annotations": {f"{ALB}/target-type": "ip"}}}
NLB_IP = {"service": {"annotations": {f"{NLB}/aws-load-balancer-nlb-target-type": "ip"}}}


@pytest.mark.parametrize("values", [ALB_IP, NLB_IP], ids=["alb", "nlb"])
def test_ip_targets_need_a_labelled_namespace(values: dict[str, Any]) -> None:
    policy = edge.load_balancer_targets_have_readiness_gates
    good = [namespace("gitlab", GATE), release("gitlab", values)]
    assert mandatory(analyze_stack(policy, good)) == []
    for labels in (None, {}, {"elbv2.k8s.aws/pod-readiness-gate-inject": "disabled"}):
        bad = [namespace("gitlab", labels), release("gitlab", values)]
        (message,) = mandatory(analyze_stack(policy, bad))
        assert "namespace 'gitlab', which lacks the label" in message, labels
    (message,) = mandatory(analyze_stack(policy, [release("gitlab", values)]))
    assert "which the stack does not create" in message


def test_ingress_objects_are_judged_by_their_own_namespace() -> None:
    policy = edge.load_balancer_targets_have_readiness_gates
    ingress = Resource(
        edge.INGRESS,
        {"metadata": {"namespace": "gitlab", "annotations": {f"{ALB}/target-type": "ip"}}},
        name="admin-area",
    )
    assert mandatory(analyze_stack(policy, [namespace("gitlab", GATE), ingress])) == []
    (message,) = mandatory(analyze_stack(policy, [namespace("gitlab"), ingress]))
    assert "admin-area puts load-balancer targets in namespace 'gitlab'" in message


def test_instance_targets_and_other_releases_need_no_gate() -> None:
    policy = edge.load_balancer_targets_have_readiness_gates
    instance = {"ingress": {"annotations": {f"{ALB}/target-type": "instance"}}}
    plain = [namespace("web"), release("web", instance), release("kube-system", {"x": 1})]
    assert mandatory(analyze_stack(policy, plain)) == []


# --- DNS records gone before ExternalDNS ----------------------------------------------------

EXTERNAL_DNS = Resource(
    HELM_RELEASE,
    {"chart": "external-dns", "version": "1.21.1", "values": {"policy": "sync"}},
    name="external-dns",
)


def wait(
    delete: str | None = "wait for the records", deps: list[Resource] | None = None
) -> Resource:
    props = {"delete": delete} if delete else {"create": "true"}
    deps = [EXTERNAL_DNS] if deps is None else deps
    return Resource(edge.COMMAND, props, name="records-gone", dependencies=[d.urn for d in deps])


def publisher(deps: list[Resource]) -> Resource:
    values = {"global": {"ingress": {"annotations": {f"{ALB}/scheme": "internet-facing"}}}}
    props = {"chart": "gitlab", "version": "10.4.1", "namespace": "gitlab", "values": values}
    return Resource(HELM_RELEASE, props, name="gitlab", dependencies=[d.urn for d in deps])


def test_publishers_wait_for_the_step_that_holds_externaldns() -> None:
    policy = edge.dns_records_gone_before_externaldns
    step = wait()
    good = [EXTERNAL_DNS, step, publisher([EXTERNAL_DNS, step])]
    assert mandatory(analyze_stack(policy, good)) == []
    (message,) = mandatory(analyze_stack(policy, [EXTERNAL_DNS, step, publisher([EXTERNAL_DNS])]))
    assert "gitlab publishes DNS records but does not wait for the destroy-time step" in message
    ingress = Resource(edge.INGRESS, {"metadata": {"name": "admin"}}, name="admin-area")
    (message,) = mandatory(analyze_stack(policy, [EXTERNAL_DNS, step, ingress]))
    assert "admin-area publishes DNS records" in message


def test_externaldns_with_sync_needs_a_destroy_time_step() -> None:
    policy = edge.dns_records_gone_before_externaldns
    for resources in (
        [EXTERNAL_DNS, publisher([EXTERNAL_DNS])],
        [EXTERNAL_DNS, wait(delete=None), publisher([EXTERNAL_DNS])],
        [EXTERNAL_DNS, wait(deps=[]), publisher([EXTERNAL_DNS])],
    ):
        (message,) = mandatory(analyze_stack(policy, resources))
        assert "Nothing holds external-dns on destroy until its records are gone" in message


def test_externaldns_that_never_deletes_needs_no_wait() -> None:
    policy = edge.dns_records_gone_before_externaldns
    for values in ({"policy": "upsert-only"}, {}):  # {}: the chart's default, upsert-only
        keeps = Resource(HELM_RELEASE, {"chart": "external-dns", "values": values}, name="x")
        assert mandatory(analyze_stack(policy, [keeps, publisher([keeps])])) == []
