"""The reviewer's sections of the offline preview: what is reachable from outside the VPC and
from where, what the stack costs a month, and which resources are protected."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from datetime import date
from typing import Any

import pytest
from conftest import CommandRun
from plans import PROJECT, STACK_VARIANTS, plan_for, stack_file_config, with_changes

from offline.cost import PRICES, Prices, estimate, gib
from offline.deployed import Deployed, Manifest
from offline.plan import Plan, summary
from offline.render import RELEASE, render
from offline.review import Review, review
from offline.sources import Tools
from tests.upstream import chart_archive, tool

ADMINS = ["192.0.2.0/24"]
USERS = ["198.51.100.0/24"]
HOURS = 730
EXPOSURE_KEYS = {"component", "kind", "endpoint", "ports", "cidrs", "from"}
ITEM_KEYS = {"component", "item", "quantity", "unit", "unit_price", "monthly", "note"}
EU = json.loads(PRICES.read_text())["regions"]["eu-west-1"]


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """helm, kubectl and the pinned charts from CHARTS; skipped without them."""
    tool("helm")
    tool("kubectl")
    archive = chart_archive("argo-cd", "10.1.1")
    if archive.name != "argo-cd-10.1.1.tgz":
        pytest.skip(f"the chart cache has {archive.name}, not the pinned argo-cd 10.1.1")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "render-cache"
    shared.mkdir(exist_ok=True)
    return Tools.find(charts=archive.parent, cache=shared)


def dev_with(**changes: Any) -> Plan:
    """The dev stack with project keys replaced."""
    return plan_for(with_changes(stack_file_config("dev"), **changes), stack="dev")


def rendered(plan: Plan, tools: Tools) -> Review:
    return review(plan, render(plan, tools, check=False))


def entries(found: Review, kind: str, endpoint: str) -> list[dict[str, Any]]:
    return [e for e in found.exposure if e["kind"] == kind and e["endpoint"] == endpoint]


def one_entry(found: Review, kind: str, endpoint: str, port: int) -> dict[str, Any]:
    (entry,) = [e for e in entries(found, kind, endpoint) if port in e["ports"]]
    return entry


def item(found: Review, name: str) -> dict[str, Any]:
    (match,) = [i for i in found.cost["items"] if i["item"] == name]
    return match


def with_release_values(plan: Plan, chart: str, change: Any) -> Plan:
    """A copy of `plan` whose `chart` release has its values changed by `change(values)`."""
    changed = Plan(plan.project, plan.stack, copy.deepcopy(plan.resources), dict(plan.outputs))
    (release,) = [r for r in changed.of_type(RELEASE) if str(r["inputs"]["chart"]).endswith(chart)]
    change(release["inputs"]["values"])
    return changed


# Exposure


def test_dev_argocd_is_an_nlb_on_443_for_the_admin_ranges_read_from_its_render(
    dev_plan: Plan, tools: Tools
) -> None:
    argocd = entries(rendered(dev_plan, tools), "nlb", "argocd.dev.gitops.example.com")
    assert [(e["ports"], e["cidrs"]) for e in argocd] == [([443], ADMINS)]
    # The Service listens on 80 too; its security group admits 443 only.
    assert argocd[0]["from"].startswith("rendered Service argocd/argocd-server (release argocd)")
    assert "security group gitops-platform-dev-access-argocd" in argocd[0]["from"]


def test_dev_gitlab_admits_its_users_and_the_admin_area_only_the_admins(dev_plan: Plan) -> None:
    found = review(dev_plan, None)
    gitlab = "gitlab.dev.gitops.example.com"
    assert one_entry(found, "alb", gitlab, 80)["cidrs"] == sorted(ADMINS + USERS)
    https = one_entry(found, "alb", gitlab, 443)
    # The cluster's NAT address reaches GitLab too: Argo CD clones from it.
    nat = [
        r["inputs"]["cidrIpv4"]
        for r in dev_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-cluster-egress-" in r["name"]
    ]
    assert nat
    assert https["cidrs"] == sorted(ADMINS + USERS + nat)
    assert https["from"].startswith("values of release gitlab (not rendered)")
    admin = one_entry(found, "alb", f"{gitlab} /admin /admin/*", 443)
    assert admin["cidrs"] == ADMINS
    assert "Ingress gitlab/gitlab-admin-area (the stack's own)" in admin["from"]
    # The chart's registry is on the same ALB, with the same ranges.
    assert (
        one_entry(found, "alb", "registry.dev.gitops.example.com", 443)["cidrs"] == https["cidrs"]
    )


def test_the_admin_ranges_decide_who_reaches_argocd_gitlab_and_the_eks_api() -> None:
    config = stack_file_config("dev")
    access = {**config[f"{PROJECT}:access"], "admin_cidrs": ["203.0.113.0/24"]}
    found = review(plan_for(with_changes(config, access=access), stack="dev"), None)
    assert one_entry(found, "nlb", "argocd.dev.gitops.example.com", 443)["cidrs"] == [
        "203.0.113.0/24"
    ]
    assert one_entry(found, "eks-api", "EKS API of gitops-platform-dev (public endpoint)", 443)[
        "cidrs"
    ] == ["203.0.113.0/24"]
    assert one_entry(found, "alb", "gitlab.dev.gitops.example.com", 80)["cidrs"] == sorted(
        ["203.0.113.0/24", *USERS]
    )
    assert all("192.0.2.0/24" not in e["cidrs"] for e in found.exposure)


def test_prod_exposes_gitlab_and_its_registry_on_the_alb_and_argocd_on_an_nlb(
    prod_plan: Plan, tools: Tools
) -> None:
    found = rendered(prod_plan, tools)
    assert sorted({(e["kind"], e["endpoint"]) for e in found.exposure}) == [
        ("alb", "gitlab.gitops.example.com"),
        ("alb", "gitlab.gitops.example.com /admin /admin/*"),
        ("alb", "registry.gitops.example.com"),
        ("eks-api", "EKS API of gitops-platform-prod (public endpoint)"),
        ("nlb", "argocd.gitops.example.com"),
    ]
    assert one_entry(found, "nlb", "argocd.gitops.example.com", 443)["cidrs"] == ADMINS
    https = one_entry(found, "alb", "gitlab.gitops.example.com", 443)["cidrs"]
    # Three zones, three NAT gateways, three addresses beside the configured ranges.
    assert sorted(set(https) - set(ADMINS + USERS)) == sorted(c for c in https if c.endswith("/32"))
    assert len(https) == 5
    assert [b.name for b in found.load_balancers] == [
        "ALB of IngressGroup gitops-platform-prod",
        "NLB of Service argocd/argocd-server",
    ]


def test_argocd_on_the_shared_alb_is_reached_past_the_redirect_by_the_admins_only(
    tools: Tools,
) -> None:
    found = rendered(dev_with(argocd={"exposure": "ingress"}), tools)
    host = "argocd.dev.gitops.example.com"
    https = one_entry(found, "alb", host, 443)
    assert https["cidrs"] == ADMINS
    assert https["from"].startswith("rendered Ingress argocd/argocd-server (release argocd)")
    assert "source-ip condition" in https["from"]
    assert https["component"] == "gitops-platform:gitops:ArgoCd  gitops-platform-dev-argocd"
    # Port 80 of the shared ALB only redirects, for everyone its security group admits.
    http = one_entry(found, "alb", host, 80)
    assert http["cidrs"] == sorted(ADMINS + USERS)
    assert "redirect to HTTPS" in http["from"]
    assert entries(found, "nlb", host) == []


def test_git_over_ssh_is_an_nlb_on_22_for_the_ssh_ranges_from_the_values() -> None:
    found = review(dev_with(gitlab={"ssh": "nlb", "ssh_cidrs": ["203.0.113.0/28"]}), None)
    (ssh,) = entries(found, "nlb", "gitlab-ssh.dev.gitops.example.com")
    assert (ssh["ports"], ssh["cidrs"]) == ([22], ["203.0.113.0/28"])
    assert ssh["from"].startswith("values of release gitlab (not rendered)")


@pytest.mark.parametrize(
    "variant", ["dev", "argocd-ingress"], ids=["loadbalancer", "argocd-ingress"]
)
def test_argocds_values_model_finds_what_its_render_finds(variant: str, tools: Tools) -> None:
    plan = (
        plan_for(stack_file_config("dev"), stack="dev")
        if variant == "dev"
        else dev_with(argocd={"exposure": "ingress"})
    )

    def argocd(found: Review) -> list[tuple[Any, ...]]:
        return [
            (e["kind"], e["endpoint"], e["ports"], e["cidrs"])
            for e in found.exposure
            if "argocd" in e["endpoint"]
        ]

    from_render, from_values = rendered(plan, tools), review(plan, None)
    assert argocd(from_values) == argocd(from_render) != []
    assert all(
        e["from"].startswith("values of release argocd (not rendered)")
        for e in from_values.exposure
        if "argocd" in e["endpoint"]
    )


def test_the_eks_api_is_exposure_only_while_its_public_endpoint_is_on(dev_plan: Plan) -> None:
    plan = Plan(dev_plan.project, dev_plan.stack, copy.deepcopy(dev_plan.resources))
    (cluster,) = plan.of_type("aws:eks/cluster:Cluster")
    endpoint = "EKS API of gitops-platform-dev (public endpoint)"
    assert entries(review(plan, None), "eks-api", endpoint) != []
    # Unset, the public endpoint is on (the EKS API's default).
    del cluster["inputs"]["vpcConfig"]["endpointPublicAccess"]
    assert entries(review(plan, None), "eks-api", endpoint) != []
    del cluster["inputs"]["vpcConfig"]["publicAccessCidrs"]
    # Without ranges EKS admits everyone (its API's default).
    assert one_entry(review(plan, None), "eks-api", endpoint, 443)["cidrs"] == ["0.0.0.0/0"]
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = False
    assert entries(review(plan, None), "eks-api", endpoint) == []


def test_an_internal_load_balancer_is_not_exposure_but_still_costs(dev_plan: Plan) -> None:
    def internal(values: dict[str, Any]) -> None:
        annotations = values["server"]["service"]["annotations"]
        annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] = "internal"

    found = review(with_release_values(dev_plan, "argo-cd", internal), None)
    assert entries(found, "nlb", "argocd.dev.gitops.example.com") == []
    assert item(found, "NLB of Service argocd/argocd-server")["monthly"] == round(
        EU["nlb_hour"]["price"] * HOURS, 2
    )
    assert "Not exposure (internal or not modelled): NLB of Service argocd/argocd-server" in (
        found.summary()
    )


@pytest.mark.parametrize("scheme", ["internal", None], ids=["internal", "controller-default"])
def test_an_internal_alb_is_not_exposure(scheme: str | None) -> None:
    # Without the admin area's own Ingress, the chart's Ingresses are the whole group.
    plan = dev_with(gitlab={"admin_area": "everyone"})
    key = "alb.ingress.kubernetes.io/scheme"

    def internal(values: dict[str, Any]) -> None:
        annotations = values["global"]["ingress"]["annotations"]
        if scheme is None:
            del annotations[key]  # the controller's --default-load-balancer-scheme: internal
        else:
            annotations[key] = scheme

    assert entries(review(plan, None), "alb", "gitlab.dev.gitops.example.com") != []
    found = review(with_release_values(plan, "gitlab", internal), None)
    assert [e for e in found.exposure if e["kind"] == "alb"] == []
    (alb,) = [b for b in found.load_balancers if b.kind == "alb"]
    assert alb.scheme == "internal"


def test_a_load_balancer_with_neither_security_groups_nor_ranges_admits_everyone(
    dev_plan: Plan,
) -> None:
    def open_to_all(values: dict[str, Any]) -> None:
        service = values["server"]["service"]
        del service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-security-groups"]
        del service["loadBalancerSourceRanges"]

    found = review(with_release_values(dev_plan, "argo-cd", open_to_all), None)
    argocd = entries(found, "nlb", "argocd.dev.gitops.example.com")
    # Without its security group, the NLB's own group opens every listener.
    assert [(e["ports"], e["cidrs"]) for e in argocd] == [([80, 443], ["0.0.0.0/0"])]


def test_exposure_entries_have_the_documented_shape_and_order(dev_plan: Plan) -> None:
    found = review(dev_plan, None).exposure
    assert found
    assert all(set(e) == EXPOSURE_KEYS for e in found)
    assert found == sorted(found, key=lambda e: (e["kind"], e["endpoint"], e["ports"]))
    for e in found:
        assert e["ports"] == sorted(e["ports"])
        assert e["cidrs"] == sorted(e["cidrs"])


# Cost


def test_dev_costs_its_control_plane_nodes_nat_load_balancers_and_data_stores(
    dev_plan: Plan, tools: Tools
) -> None:
    cost = rendered(dev_plan, tools).cost
    assert (cost["estimate"], cost["currency"], cost["region"]) == (True, "USD", "eu-west-1")
    assert cost["prices"]["file"] == "offline/prices.json"
    assert cost["prices"]["date"] == EU["recorded"]
    assert all(set(i) == ITEM_KEYS for i in cost["items"])
    monthly = {i["item"]: i["monthly"] for i in cost["items"]}
    ec2 = EU["ec2_instance_hour"]["m6i.xlarge"]["price"]
    assert monthly["EKS control plane gitops-platform-dev"] == 73.0
    assert monthly["nodes gitops-platform-dev-nodes"] == round(2 * ec2 * HOURS, 2)
    assert monthly["root volumes of nodes gitops-platform-dev-nodes"] == round(
        2 * 40 * EU["ebs_gb_month"]["gp3"]["price"], 2
    )
    assert monthly["NAT gateways"] == round(EU["nat_gateway_hour"]["price"] * HOURS, 2)
    assert monthly["ALB of IngressGroup gitops-platform-dev"] == round(
        EU["alb_hour"]["price"] * HOURS, 2
    )
    assert monthly["RDS postgres gitops-platform-dev-gitlab-data-postgres"] == round(
        EU["rds_instance_hour"]["postgres"]["db.t4g.medium"]["price"] * HOURS, 2
    )
    assert monthly["ElastiCache redis gitops-platform-dev-gitlab-data-redis"] == round(
        EU["elasticache_node_hour"]["cache.t4g.small"]["price"] * HOURS, 2
    )
    # MinIO's claim, rendered from its Application, on the stack's default gp3 class.
    minio = item(rendered(dev_plan, tools), "PVC minio/minio-helm (application minio-helm)")
    assert (minio["quantity"], minio["unit"]) == (10, "GB (gp3)")
    assert minio["component"] == "gitops-platform:gitops:Applications  gitops-platform-dev-apps"
    assert cost["total"] == round(sum(cost["by_component"].values()), 2)
    assert cost["total"] == round(sum(i["monthly"] or 0 for i in cost["items"]), 2)


@pytest.mark.parametrize("version", ["1.35", "1.33"])
def test_the_control_plane_is_priced_in_standard_support_and_says_extended_is_not_applied(
    version: str,
) -> None:
    cluster = {**stack_file_config("dev")[f"{PROJECT}:cluster"], "kubernetes_version": version}
    found = review(dev_with(cluster=cluster), None)
    control_plane = item(found, "EKS control plane gitops-platform-dev")
    assert control_plane["unit_price"] == EU["eks_cluster_hour"]["price"] * HOURS
    assert control_plane["note"].startswith(
        f"Kubernetes {version} at the standard-support rate; extended support's, charged once "
        "a version is 14 months past its EKS release, not applied; "
    )


def test_one_more_node_costs_exactly_one_node_and_its_root_volume() -> None:
    config = stack_file_config("dev")
    nodes = config[f"{PROJECT}:nodes"]
    before = review(plan_for(config, stack="dev"), None).cost
    after = review(
        plan_for(with_changes(config, nodes={**nodes, "desired_size": 3}), stack="dev"), None
    ).cost

    def monthly(cost: dict[str, Any], name: str) -> float:
        (found,) = [i["monthly"] for i in cost["items"] if i["item"] == name]
        return float(found)

    node = EU["ec2_instance_hour"]["m6i.xlarge"]["price"] * HOURS
    disk = nodes["disk_size_gib"] * EU["ebs_gb_month"]["gp3"]["price"]
    name = "gitops-platform-dev-nodes"
    assert monthly(after, f"nodes {name}") - monthly(before, f"nodes {name}") == pytest.approx(
        node, abs=0.01
    )
    assert monthly(after, f"root volumes of nodes {name}") - monthly(
        before, f"root volumes of nodes {name}"
    ) == pytest.approx(disk, abs=0.01)
    assert after["total"] - before["total"] == pytest.approx(node + disk, abs=0.02)


def test_an_instance_type_without_a_price_is_listed_as_unpriced_never_as_zero() -> None:
    config = stack_file_config("dev")
    nodes = {**config[f"{PROJECT}:nodes"], "instance_types": ["c7gn.16xlarge"]}
    found = review(plan_for(with_changes(config, nodes=nodes), stack="dev"), None)
    nodes_item = item(found, "nodes gitops-platform-dev-nodes")
    assert (nodes_item["unit_price"], nodes_item["monthly"]) == (None, None)
    assert "no price for c7gn.16xlarge instance in eu-west-1" in nodes_item["note"]
    assert "nodes gitops-platform-dev-nodes" in found.cost["unpriced"]
    priced = sum(i["monthly"] or 0 for i in found.cost["items"])
    assert found.cost["total"] == round(priced, 2)
    assert "nodes gitops-platform-dev-nodes: 2 x c7gn.16xlarge instance: no price" in (
        found.summary()
    )


def test_a_region_the_table_lacks_prices_nothing_and_says_so(dev_plan: Plan) -> None:
    found = review(dev_plan, None)
    cost = estimate(dev_plan, found.seen, found.load_balancers, Prices("ap-south-2"))
    assert cost["region"] == "ap-south-2"
    assert all(i["monthly"] is None for i in cost["items"])
    assert cost["unpriced"] == [i["item"] for i in cost["items"]]
    assert cost["prices"]["date"] is None
    # The total and the components' sums are of no item: not a figure to read as $0.
    assert cost["complete"] is False
    assert (cost["total"], set(cost["by_component"].values())) == (0, {0})
    assert cost["by_component_unpriced"] == {
        c: [i["item"] for i in cost["items"] if i["component"] == c] for c in cost["by_component"]
    }
    text = dataclasses.replace(found, cost=cost).summary()
    assert "$0.00" not in text
    for component in cost["by_component"]:
        assert f"    {component}  no price\n" in text
    assert f"    Total: no price (no item has a price): {'; '.join(cost['unpriced'])}\n" in text


def test_a_kops_stack_in_a_region_without_prices_has_no_total() -> None:
    plan = STACK_VARIANTS["kops"]()
    assert plan.outputs["region"] == "ap-northeast-2"
    found = review(plan, None)
    (nat,) = found.cost["items"]  # the cluster and its nodes are kOps', not the plan's
    assert (nat["item"], nat["monthly"]) == ("NAT gateways", None)
    assert found.cost["complete"] is False
    assert found.cost["by_component_unpriced"] == {nat["component"]: ["NAT gateways"]}
    text = found.summary()
    assert f"    {nat['component']}  no price\n" in text
    assert "    Total: no price (no item has a price): NAT gateways\n" in text
    assert "$0.00" not in text


def test_a_plan_whose_every_item_has_a_price_is_complete_and_its_total_says_so(
    dev_plan: Plan,
) -> None:
    found = review(dev_plan, None)
    # As if every release had rendered and claimed no volume.
    cost = estimate(dev_plan, Deployed([], [], []), found.load_balancers, Prices("eu-west-1"))
    assert cost["complete"] is True
    assert (cost["unpriced"], cost["by_component_unpriced"]) == ([], {})
    text = dataclasses.replace(found, cost=cost).summary()
    assert f"    Total ${cost['total']:,.2f}\n" in text
    assert "no price" not in text
    assert "priced items" not in text


def test_a_total_with_unpriced_items_says_it_is_of_the_priced_items_and_lists_them() -> None:
    config = stack_file_config("dev")
    nodes = {**config[f"{PROJECT}:nodes"], "instance_types": ["m7i.xlarge"]}
    found = review(plan_for(with_changes(config, nodes=nodes), stack="dev"), None)
    cost = found.cost
    cluster = "gitops-platform:cluster:EksCluster  gitops-platform-dev"
    assert cost["complete"] is False
    assert cost["by_component_unpriced"][cluster] == ["nodes gitops-platform-dev-nodes"]
    priced = [i["monthly"] for i in cost["items"] if i["component"] == cluster and i["monthly"]]
    assert cost["by_component"][cluster] == round(sum(priced), 2)
    lines = found.summary().splitlines()
    count = len(cost["unpriced"])
    assert (
        f"    Total of the priced items ${cost['total']:,.2f}; {count} items have no price: "
        + "; ".join(cost["unpriced"])
    ) in lines
    assert (
        f"    {cluster}  ${cost['by_component'][cluster]:,.2f} of the priced items; "
        "1 item has no price"
    ) in lines
    # Nothing rendered: the volumes of external-dns are its only item.
    assert (
        "    gitops-platform:dns:ExternalDns  gitops-platform-dev-external-dns  no price" in lines
    )


def test_a_multi_az_database_is_billed_twice_instance_and_storage(prod_plan: Plan) -> None:
    found = review(prod_plan, None)
    instance = item(found, "RDS postgres gitops-platform-prod-gitlab-data-postgres")
    storage = item(found, "RDS storage gitops-platform-prod-gitlab-data-postgres")
    assert (instance["quantity"], instance["unit"]) == (2, "db.m7g.large instance")
    assert (storage["quantity"], storage["unit"]) == (200, "GB (gp3)")
    assert "Multi-AZ" in instance["note"]
    redis = item(found, "ElastiCache redis gitops-platform-prod-gitlab-data-redis")
    assert (redis["quantity"], redis["unit"]) == (2, "cache.m7g.large node")


def test_what_did_not_render_has_unknown_volumes_listed_unpriced(dev_plan: Plan) -> None:
    found = review(dev_plan, None)
    assert "volumes of release gitlab" in found.cost["unpriced"]
    assert "volumes of application minio-helm" in found.cost["unpriced"]
    gitlab = item(found, "volumes of release gitlab")
    assert gitlab["monthly"] is None
    assert "not rendered" in gitlab["note"]


def test_statefulset_claim_templates_count_once_per_replica(dev_plan: Plan) -> None:
    component = "gitops-platform:gitops:Applications  gitops-platform-dev-apps"
    gp3 = {
        "kind": "StorageClass",
        "metadata": {
            "name": "gp3",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3"},
    }
    database = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": 3,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"resources": {"requests": {"storage": "8Gi"}}},
                }
            ],
        },
    }
    seen = Deployed(
        [
            Manifest(gp3, component, "StorageClass gp3 (the stack's own)"),
            Manifest(database, component, "rendered StatefulSet shop/db", "application shop"),
        ],
        [],
        [],
    )
    cost = estimate(dev_plan, seen, [], Prices("eu-west-1"))
    (claims,) = [i for i in cost["items"] if i["item"].startswith("PVC shop/data-db-*")]
    assert (claims["quantity"], claims["unit"]) == (24, "GB (gp3)")
    assert claims["monthly"] == round(24 * EU["ebs_gb_month"]["gp3"]["price"], 2)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("10Gi", 10), ("500Mi", 1), ("1.5Ti", 1536), ("1G", 1), ("20G", 19), ("x", None)],
)
def test_storage_requests_are_whole_gib_rounded_up(quantity: str, expected: int | None) -> None:
    assert gib(quantity) == expected


def test_the_price_table_says_for_every_figure_where_it_comes_from() -> None:
    table = json.loads(PRICES.read_text())
    assert table["hours_per_month"] == HOURS
    assert {"eu-west-1", "us-east-1"} <= set(table["regions"])

    def figures(node: Any, path: str = "") -> dict[str, dict[str, Any]]:
        if isinstance(node, dict) and "price" in node:
            return {path: node}
        if isinstance(node, dict):
            return {
                k: v for key, val in node.items() for k, v in figures(val, f"{path}/{key}").items()
            }
        return {}

    shapes = set()
    for region, prices in table["regions"].items():
        date.fromisoformat(prices["recorded"])
        found = figures({k: v for k, v in prices.items() if k != "recorded"})
        shapes.add(frozenset(found))
        for path, entry in found.items():
            where = f"{region}{path}"
            assert isinstance(entry["price"], float | int), where
            assert entry["price"] > 0, where
            assert isinstance(entry["confirmed"], bool), where
            assert re.match(r"^https://\S+$", entry["source"]), where
            assert entry["confirmed"] or "not confirmed" in entry["note"], where
    # Every figure one region has, the other has too.
    assert len(shapes) == 1


# Protected resources and the summary


def test_prod_lists_its_protected_stateful_resources_by_urn(
    prod_plan: Plan, dev_plan: Plan
) -> None:
    protected = review(prod_plan, None).protected
    assert protected == sorted(protected, key=lambda p: p["urn"])
    assert all(set(p) == {"type", "name", "urn"} for p in protected)
    types = {p["type"] for p in protected}
    assert {
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:s3/bucket:Bucket",
    } <= types
    assert len(protected) == sum(1 for r in prod_plan.resources if r["protect"])
    assert review(dev_plan, None).protected == []


def test_the_review_lists_what_a_destroy_keeps(dev_plan: Plan, prod_plan: Plan) -> None:
    for plan in (dev_plan, prod_plan):
        kept = review(plan, None).kept
        assert kept == sorted(kept, key=lambda p: p["urn"])
        retained = [r for r in plan.resources if r["retain_on_delete"]]
        assert len(kept) == len(retained) > 0
        assert "aws:s3/bucket:Bucket" in {p["type"] for p in kept}
    text = review(dev_plan, None).summary()
    assert "Kept by a destroy (" in text
    assert "gitops-platform-dev-gitlab-data-backups" in text.split("Kept by a destroy")[1]


def test_the_summary_lists_each_components_resources_by_name(dev_plan: Plan) -> None:
    text = summary(dev_plan)
    gitlab = text.split("gitops-platform:gitops:GitLab  gitops-platform-dev-gitlab")[1]
    assert "aws:rds/instance:Instance  1: gitops-platform-dev-gitlab-data-postgres" in gitlab
    custom = [r for r in dev_plan.resources if r["custom"]]
    header = " ".join(text.split("\n\n")[0].split())
    assert f"{len(custom)} custom resources, what the engine creates" in header
    assert f"in {len(dev_plan.resources) - len(custom)} component resources" in header
    assert f"checks all {len(dev_plan.resources)} one by one" in header
    for resource in custom:
        assert resource["name"] in text, resource["name"]


def test_the_review_is_printed_as_an_estimate_and_written_into_the_plan_json(
    dev_commands: tuple[CommandRun, CommandRun],
) -> None:
    make, _ = dev_commands
    document = json.loads(make.json)
    assert document["exposure"]
    assert document["protected"] == []
    assert document["cost"]["total"] > 0
    assert "estimate, USD, list prices, no traffic, no taxes" in make.stdout
    assert "Exposure (reachable from outside the VPC" in make.stdout


def test_a_plan_without_a_review_writes_no_review_keys(dev_plan: Plan) -> None:
    document = json.loads(Plan(dev_plan.project, dev_plan.stack, dev_plan.resources).to_json())
    assert not {"exposure", "cost", "protected", "kept"} & set(document)
    plan = Plan(dev_plan.project, dev_plan.stack, dev_plan.resources)
    review(plan, None).record(plan)
    assert {"exposure", "cost", "protected", "kept"} <= set(json.loads(plan.to_json()))
