"""Edge guardrails: each fails its bad case, passes its good one, and passes every stack this
repository ships."""

from __future__ import annotations

from typing import Any

import pytest
from plans import STACK_VARIANTS
from policy_harness import Resource, analyze_stack, mandatory, plan_decisions

from guardrails import edge
from guardrails._common import HELM_RELEASE
from offline.plan import Plan

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


def test_the_shipped_stacks_pass(dev_plan: Plan, prod_plan: Plan) -> None:
    assert plan_decisions(edge.POLICIES, dev_plan) == []
    assert plan_decisions(edge.POLICIES, prod_plan) == []


@pytest.mark.parametrize("variant", sorted(STACK_VARIANTS))
def test_the_stacks_variants_pass(variant: str) -> None:
    assert plan_decisions(edge.POLICIES, STACK_VARIANTS[variant]()) == []
