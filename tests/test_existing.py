"""`cluster.mode: existing`: a cluster built elsewhere, described by config alone."""

from __future__ import annotations

import pulumi
import pytest
from plans import plan_for
from test_config import existing_cluster_config

from offline.plan import SECRET, Plan
from offline.render import kube_version

KUBECONFIG = "apiVersion: v1\nkind: Config\n# canary-7f3a1c kubeconfig body\n"


@pytest.fixture(scope="module")
def existing_plan() -> Plan:
    return plan_for(existing_cluster_config(), secrets={"kubeconfig": KUBECONFIG})


def test_outputs_are_the_configured_cluster(existing_plan: Plan) -> None:
    cluster = existing_cluster_config()["gitops-platform:cluster"]
    assert existing_plan.outputs["cluster_name"] == cluster["name"]
    assert existing_plan.outputs["vpc_id"] == cluster["vpc_id"]
    assert existing_plan.outputs["private_subnet_ids"] == cluster["private_subnet_ids"]
    assert existing_plan.outputs["public_subnet_ids"] == cluster["public_subnet_ids"]
    assert existing_plan.outputs["oidc_provider_arn"] == cluster["oidc_provider_arn"]
    assert existing_plan.outputs["oidc_issuer_url"] == cluster["oidc_issuer_url"]


def test_the_configured_kubernetes_version_is_what_the_preview_renders_for() -> None:
    config = existing_cluster_config()
    config["gitops-platform:cluster"]["kubernetes_version"] = "1.33"
    plan = plan_for(config, secrets={"kubeconfig": KUBECONFIG})
    assert plan.outputs["kubernetes_version"] == "1.33"
    assert kube_version(plan) == "1.33"


def test_nothing_is_built_for_the_cluster_itself(existing_plan: Plan) -> None:
    (component,) = existing_plan.of_type("gitops-platform:cluster:ExistingCluster")
    children = [r["type"] for r in existing_plan.resources if r["parent"] == component["urn"]]
    assert children == ["pulumi:providers:kubernetes"]
    cluster_types = {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
    }
    assert [r["name"] for r in existing_plan.resources if r["type"] in cluster_types] == []


def test_kubernetes_provider_gets_the_kubeconfig_as_a_secret(existing_plan: Plan) -> None:
    (provider,) = existing_plan.of_type("pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert "canary-7f3a1c" not in existing_plan.to_json()


def test_network_and_nodes_are_refused_for_an_existing_cluster() -> None:
    config = existing_cluster_config()
    config["gitops-platform:nodes"] = {"desired_size": 3}
    with pytest.raises(Exception, match="brings its own VPC and nodes"):
        plan_for(config, secrets={"kubeconfig": KUBECONFIG})


@pytest.mark.parametrize(("egress", "warned"), [([], True), (["203.0.113.7/32"], False)])
def test_a_missing_egress_range_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, egress: list[str], warned: bool
) -> None:
    """Argo CD reaches GitLab's public URL to clone and to sign people in: from a network
    the stack did not build, only the configured egress ranges are admitted."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    config = existing_cluster_config()
    config["gitops-platform:access"]["cluster_egress_cidrs"] = egress
    config["gitops-platform:tags"] = {"case": f"egress-warning-{warned}"}  # an uncached plan
    plan_for(config, secrets={"kubeconfig": KUBECONFIG})
    assert any("access.cluster_egress_cidrs is empty" in w for w in warnings) is warned
