"""Teardown guardrails: each passes the shipped plan and trips on the plan without the edge
(or the step) it holds, and on small fixtures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plans import one
from policy_harness import Resource, analyze_stack, mandatory, plan_resources

from guardrails import teardown
from guardrails._common import HELM_RELEASE
from offline.plan import Plan

COMMAND = "command:local:Command"


def violations(diagnostics: Sequence[Any]) -> list[str]:
    """The violations' own words: after the rule's description, before the remediation."""
    return [m.split("\n", 1)[-1].split(" Remediation: ")[0] for m in mandatory(diagnostics)]


def without(resources: list[Resource], urn: str, *, keep_resource: bool) -> list[Resource]:
    """The plan as if nothing depended on `urn` (and, unless kept, without it)."""
    changed = []
    for r in resources:
        if r.urn == urn and not keep_resource:
            continue
        r.dependencies = [d for d in r.dependencies if d != urn]
        changed.append(r)
    return changed


def test_the_shipped_plans_pass(dev_plan: Plan, prod_plan: Plan) -> None:
    for plan in (dev_plan, prod_plan):
        resources = plan_resources(plan)
        for policy in (
            teardown.load_balancers_gone_before_their_controller,
            teardown.volumes_gone_before_their_driver,
            teardown.buckets_say_what_a_destroy_does,
        ):
            assert violations(analyze_stack(policy, resources)) == [], policy.name


def test_the_plan_without_the_load_balancer_step_trips(dev_plan: Plan) -> None:
    policy = teardown.load_balancers_gone_before_their_controller
    step = one(dev_plan, COMMAND, "-load-balancers-gone")["urn"]
    (message,) = violations(
        analyze_stack(policy, without(plan_resources(dev_plan), step, keep_resource=False))
    )
    assert "Nothing holds gitops-platform-dev-alb on destroy" in message
    unheld = violations(
        analyze_stack(policy, without(plan_resources(dev_plan), step, keep_resource=True))
    )
    names = sorted(m.split(" ")[0] for m in unheld)
    applications = [r["name"] for r in dev_plan.of_type(teardown.APPLICATION)]
    assert applications
    assert set(applications) <= set(names)
    assert {"gitops-platform-dev-gitlab", "gitops-platform-dev-argocd"} <= set(names)
    assert all("does not wait for the destroy-time step" in m for m in unheld)


def test_the_plan_without_the_volume_step_trips(dev_plan: Plan) -> None:
    policy = teardown.volumes_gone_before_their_driver
    step = one(dev_plan, COMMAND, "-volumes-gone")["urn"]
    (message,) = violations(
        analyze_stack(policy, without(plan_resources(dev_plan), step, keep_resource=False))
    )
    assert "Nothing holds gitops-platform-dev-ebs-csi on destroy" in message
    unheld = {
        m.split(" ")[0]
        for m in violations(
            analyze_stack(policy, without(plan_resources(dev_plan), step, keep_resource=True))
        )
    }
    # GitLab's namespace holds Gitaly's claim after `helm uninstall`.
    assert {"gitops-platform-dev-gitlab", "gitops-platform-dev-gitlab-namespace"} <= unheld


def test_an_indirect_edge_counts_and_a_missing_one_is_named() -> None:
    policy = teardown.load_balancers_gone_before_their_controller
    controller = Resource(
        HELM_RELEASE, {"chart": "aws-load-balancer-controller", "values": {}}, name="alb"
    )
    step = Resource(COMMAND, {"delete": "wait"}, name="gone", dependencies=[controller.urn])
    middle = Resource("kubernetes:core/v1:Namespace", {}, name="ns", dependencies=[step.urn])
    ingress = Resource(
        "kubernetes:networking.k8s.io/v1:Ingress", {}, name="web", dependencies=[middle.urn]
    )
    assert violations(analyze_stack(policy, [controller, step, middle, ingress])) == []
    # Ordered through its parent: the engine deletes children before their parent.
    component = Resource("gitops-platform:x:Web", {}, name="web-c", dependencies=[step.urn])
    child = Resource(
        "kubernetes:networking.k8s.io/v1:Ingress", {}, name="child", parent=component.urn
    )
    assert violations(analyze_stack(policy, [controller, step, component, child])) == []
    loose = Resource("kubernetes:core/v1:Service", {"spec": {"type": "LoadBalancer"}}, name="svc")
    internal = Resource("kubernetes:core/v1:Service", {"spec": {"type": "ClusterIP"}}, name="i")
    (message,) = violations(analyze_stack(policy, [controller, step, loose, internal]))
    assert message.startswith("svc may ask for load balancers")
    create_only = Resource(COMMAND, {"create": "x"}, name="c", dependencies=[controller.urn])
    (message,) = violations(analyze_stack(policy, [controller, create_only]))
    assert "Nothing holds alb" in message


def test_volume_rule_applies_to_the_ebs_driver_only() -> None:
    policy = teardown.volumes_gone_before_their_driver
    other = Resource("aws:eks/addon:Addon", {"addonName": "coredns"}, name="coredns")
    gitlab = Resource(HELM_RELEASE, {"chart": "gitlab", "namespace": "gitlab"}, name="gitlab")
    assert violations(analyze_stack(policy, [other, gitlab])) == []
    driver = Resource("aws:eks/addon:Addon", {"addonName": "aws-ebs-csi-driver"}, name="ebs")
    (message,) = violations(analyze_stack(policy, [driver, gitlab]))
    assert "Nothing holds ebs on destroy until its volumes are gone" in message
    step = Resource(COMMAND, {"delete": "wait"}, name="gone", dependencies=[driver.urn])
    (message,) = violations(analyze_stack(policy, [driver, step, gitlab]))
    assert message.startswith("gitlab may hold volumes")


def test_every_bucket_says_what_a_destroy_does() -> None:
    policy = teardown.buckets_say_what_a_destroy_does
    bucket = teardown.BUCKET
    fine = [
        Resource(bucket, {"forceDestroy": True}, name="emptied"),
        Resource(bucket, {"tags": {teardown.RETAINED_TAG: "why"}}, name="kept"),
        Resource(bucket, {}, name="protected", protect=True),
    ]
    assert violations(analyze_stack(policy, fine)) == []
    (message,) = violations(analyze_stack(policy, [Resource(bucket, {"forceDestroy": False})]))
    assert "neither emptied on destroy, nor kept on purpose, nor protected" in message
