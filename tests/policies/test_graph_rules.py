"""Stack guardrails over the dependency graph: each fails its bad graph, passes its good one."""

from __future__ import annotations

from collections.abc import Sequence

from policy_harness import Resource, analyze_stack, mandatory

from guardrails import graph

RELEASE = "kubernetes:helm.sh/v3:Release"


def release(
    name: str, chart: str, values: dict | None = None, deps: Sequence[Resource] = ()
) -> Resource:
    return Resource(
        RELEASE,
        {"chart": chart, "version": "1.0.0", "values": values or {}},
        name=name,
        dependencies=[d.urn for d in deps],
    )


CONTROLLER = release("alb", "aws-load-balancer-controller")
ARGOCD = release("argocd", "argo-cd")
REPOSITORY = Resource(
    "kubernetes:core/v1:Secret",
    {"metadata": {"labels": {"argocd.argoproj.io/secret-type": "repository"}}},
    name="repo",
)


def application(deps: list[Resource]) -> Resource:
    return Resource(
        graph.APPLICATION,
        {"metadata": {"name": "app"}},
        name="app",
        dependencies=[d.urn for d in deps],
    )


def test_applications_wait_for_argocd_and_credentials() -> None:
    policy = graph.applications_wait_for_argocd
    good = [ARGOCD, REPOSITORY, application([ARGOCD, REPOSITORY])]
    assert mandatory(analyze_stack(policy, good)) == []
    bad = [ARGOCD, REPOSITORY, application([REPOSITORY])]
    (message,) = mandatory(analyze_stack(policy, bad))
    assert "does not wait for the Argo CD release" in message


def test_load_balancers_wait_for_controller() -> None:
    policy = graph.load_balancers_wait_for_controller
    ingress = {
        "global": {
            "ingress": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}
        }
    }
    good = [CONTROLLER, release("gitlab", "gitlab", ingress, [CONTROLLER])]
    assert mandatory(analyze_stack(policy, good)) == []
    service = {"server": {"service": {"type": "LoadBalancer"}}}
    bad = [CONTROLLER, release("argocd", "argo-cd", service)]
    (message,) = mandatory(analyze_stack(policy, bad))
    assert "argocd creates load balancers" in message
    # Lists inside values arrive as read-only sequences; they are searched too.
    listed = {"extraObjects": [{"kind": "Service", "type": "LoadBalancer"}]}
    assert mandatory(analyze_stack(policy, [CONTROLLER, release("extra", "x", listed)]))
    # A release that creates none need not wait.
    assert mandatory(analyze_stack(policy, [CONTROLLER, release("x", "x", {"a": 1})])) == []


def test_releases_wait_for_their_roles() -> None:
    policy = graph.releases_wait_for_their_roles
    role = Resource("aws:iam/role:Role", {}, name="role")
    permissions = Resource(
        "aws:iam/rolePolicy:RolePolicy", {}, name="perm", dependencies=[role.urn]
    )
    annotated = {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}}}
    good = [role, permissions, release("dns", "external-dns", annotated, [role, permissions])]
    assert mandatory(analyze_stack(policy, good)) == []
    without_permissions = [role, permissions, release("dns", "external-dns", annotated, [role])]
    (message,) = mandatory(analyze_stack(policy, without_permissions))
    assert "permissions of role" in message
    without_role = [role, permissions, release("dns", "external-dns", annotated)]
    assert "waits for no role" in mandatory(analyze_stack(policy, without_role))[0]


def test_stateful_resources_protected_in_production_only() -> None:
    policy = graph.stateful_resources_protected
    database = Resource("aws:rds/instance:Instance", {}, name="db")
    discovery = Resource("aws:s3/bucket:Bucket", {}, name="x-kops-oidc")
    assert mandatory(analyze_stack(policy, [database], {"production": False})) == []
    (message,) = mandatory(analyze_stack(policy, [database, discovery], {"production": True}))
    assert "aws:rds/instance:Instance db is not protected" in message
    protected = Resource("aws:rds/instance:Instance", {}, name="db", protect=True)
    assert mandatory(analyze_stack(policy, [protected], {"production": True})) == []


def test_production_highly_available() -> None:
    policy = graph.production_highly_available
    private = [
        Resource(
            "aws:ec2/subnet:Subnet",
            {"tags": {"kubernetes.io/role/internal-elb": "1"}},
            name=f"p{i}",
        )
        for i in range(2)
    ]
    nat = [Resource("aws:ec2/natGateway:NatGateway", {}, name=f"n{i}") for i in range(2)]
    database = Resource("aws:rds/instance:Instance", {"multiAz": True}, name="db")
    cache = Resource(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"automaticFailoverEnabled": True},
        name="cache",
    )
    good = [*private, *nat, database, cache]
    assert mandatory(analyze_stack(policy, good, {"production": True})) == []
    single = [*private, nat[0], Resource("aws:rds/instance:Instance", {}, name="db"), cache]
    messages = mandatory(analyze_stack(policy, single, {"production": True}))
    assert len(messages) == 2
    assert mandatory(analyze_stack(policy, single, {"production": False})) == []
