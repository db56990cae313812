"""Argo CD sized for production: what the pinned argo-cd chart renders from the prod stack's
values, by the offline preview's own render (real Helm, the chart cache in CHARTS), checked
object by object; and the dev stack, which stays single and without Redis HA."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from plans import stack_file_config
from upstream import chart_archive, selects, tool

from components.argocd_availability import ZONE
from components.config import ArgoCdConfig
from offline.plan import Plan
from offline.render import render
from offline.sources import Tools

Objects = dict[tuple[str, str], dict[str, Any]]
CONTROLLER = ("StatefulSet", "argocd-application-controller")
REPLICATED = [
    CONTROLLER,
    ("Deployment", "argocd-repo-server"),
    ("Deployment", "argocd-server"),
    ("Deployment", "argocd-applicationset-controller"),
]
REDIS_HA = [("StatefulSet", "argocd-redis-ha-server"), ("Deployment", "argocd-redis-ha-haproxy")]
SINGLE_REDIS = ("Deployment", "argocd-redis")


def rendered_argocd(plan: Plan, charts: Path, cache: Path) -> Objects:
    """The objects the offline preview renders for the plan's Argo CD release, by kind and
    name, after checking that every one of them is valid for the stack's Kubernetes."""
    (argocd,) = [
        s
        for s in render(plan, Tools.find(charts=charts, cache=cache)).sources
        if s.name == "argocd"
    ]
    assert argocd.error is None, argocd.error
    assert argocd.invalid == [], argocd.invalid
    return {(o["kind"], o["metadata"]["name"]): o for o in argocd.objects}


@pytest.fixture(scope="module")
def charts() -> Path:
    tool("helm")
    tool("kubectl")
    archive = chart_archive("argo-cd", "10.1.1")
    if archive.name != "argo-cd-10.1.1.tgz":
        pytest.skip(f"the chart cache has {archive.name}, not the pinned argo-cd-10.1.1")
    return archive.parent


@pytest.fixture(scope="module")
def prod(prod_plan: Plan, charts: Path, tmp_path_factory: pytest.TempPathFactory) -> Objects:
    return rendered_argocd(prod_plan, charts, tmp_path_factory.mktemp("render"))


@pytest.fixture(scope="module")
def dev(dev_plan: Plan, charts: Path, tmp_path_factory: pytest.TempPathFactory) -> Objects:
    return rendered_argocd(dev_plan, charts, tmp_path_factory.mktemp("render"))


def of(objects: Objects, workload: tuple[str, str]) -> dict[str, Any]:
    kind, name = workload
    assert workload in objects, f"argo-cd renders no {kind} {name}"
    return objects[workload]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def env(workload: Mapping[str, Any], name: str) -> Any:
    (container,) = pod_spec(workload)["containers"]
    return next(e for e in container["env"] if e["name"] == name)


def test_prod_runs_two_application_controllers_that_know_they_are_two(prod: Objects) -> None:
    controller = of(prod, CONTROLLER)
    replicas = controller["spec"]["replicas"]
    assert replicas >= 2
    # Each shard's controller divides the clusters by this count (argo-cd high_availability.md).
    assert env(controller, "ARGOCD_CONTROLLER_REPLICAS")["value"] == str(replicas)


def test_prod_controllers_share_the_clusters_round_robin(prod: Objects) -> None:
    params = prod[("ConfigMap", "argocd-cmd-params-cm")]["data"]
    assert params["controller.sharding.algorithm"] == "round-robin"
    reference = env(of(prod, CONTROLLER), "ARGOCD_CONTROLLER_SHARDING_ALGORITHM")["valueFrom"]
    assert reference["configMapKeyRef"]["name"] == "argocd-cmd-params-cm"
    assert reference["configMapKeyRef"]["key"] == "controller.sharding.algorithm"


@pytest.mark.parametrize("workload", REPLICATED[1:], ids=lambda w: w[1])
def test_prod_runs_at_least_two_of_every_argo_cd_service(
    prod: Objects, workload: tuple[str, str]
) -> None:
    assert of(prod, workload)["spec"]["replicas"] >= 2, workload


def test_prod_applicationset_controllers_elect_a_leader(prod: Objects) -> None:
    params = prod[("ConfigMap", "argocd-cmd-params-cm")]["data"]
    assert params["applicationsetcontroller.enable.leader.election"] == "true"


def test_prod_redis_is_redis_ha_behind_haproxy_not_the_single_redis(prod: Objects) -> None:
    for workload in REDIS_HA:
        assert of(prod, workload)["spec"]["replicas"] >= 3, workload
    assert SINGLE_REDIS not in prod
    # Argo CD's services talk to HAProxy, which follows Sentinel's master.
    params = prod[("ConfigMap", "argocd-cmd-params-cm")]["data"]
    assert params["redis.server"] == "argocd-redis-ha-haproxy:6379"


@pytest.mark.parametrize("workload", REPLICATED + REDIS_HA, ids=lambda w: w[1])
def test_prod_a_disruption_budget_keeps_all_but_one_pod_of_each(
    prod: Objects, workload: tuple[str, str]
) -> None:
    labels = pod_labels(of(prod, workload))
    budgets = [
        o
        for (kind, _), o in prod.items()
        if kind == "PodDisruptionBudget" and selects(o["spec"]["selector"], labels)
    ]
    assert budgets, f"no PodDisruptionBudget selects the pods of {workload}"
    for budget in budgets:
        assert budget["spec"].get("maxUnavailable") == 1, budget["metadata"]["name"]


@pytest.mark.parametrize("workload", REPLICATED + REDIS_HA, ids=lambda w: w[1])
def test_prod_spreads_each_workloads_pods_over_the_zones(
    prod: Objects, workload: tuple[str, str]
) -> None:
    pods = of(prod, workload)
    spread = [
        c for c in pod_spec(pods).get("topologySpreadConstraints") or [] if c["topologyKey"] == ZONE
    ]
    assert spread, f"{workload} has no topologySpreadConstraint on {ZONE}"
    for constraint in spread:
        assert constraint["maxSkew"] == 1
        # Soft, so that a zone outage in a two-zone cluster leaves no replica Pending.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        # Counted among the workload's own pods.
        assert selects(constraint["labelSelector"], pod_labels(pods)), workload


def test_prod_redis_ha_needs_no_more_nodes_than_prod_has(prod: Objects) -> None:
    """Redis and HAProxy pods each want a node of their own (required anti-affinity)."""
    nodes = stack_file_config("prod")["gitops-platform:nodes"]["min_size"]
    for workload in REDIS_HA:
        pods = of(prod, workload)
        anti = pod_spec(pods)["affinity"]["podAntiAffinity"]
        (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert pods["spec"]["replicas"] <= nodes, workload


def test_dev_stays_single_without_redis_ha(dev: Objects) -> None:
    """The switch is production's: dev runs one pod of each and the single Redis."""
    for workload in REPLICATED:
        assert of(dev, workload)["spec"]["replicas"] == 1, workload
        assert "topologySpreadConstraints" not in pod_spec(of(dev, workload)), workload
    assert of(dev, SINGLE_REDIS)["spec"]["replicas"] == 1
    assert not any(kind == "PodDisruptionBudget" for kind, _ in dev)
    assert not any("redis-ha" in name for _, name in dev)
    params = dev[("ConfigMap", "argocd-cmd-params-cm")]["data"]
    assert "controller.sharding.algorithm" not in params


def test_a_production_stack_may_not_run_a_single_argo_cd_server() -> None:
    for key in ("server_replicas", "repo_server_replicas"):
        with pytest.raises(ValueError, match="at least 2 in a production stack"):
            ArgoCdConfig.model_validate({key: 1}, context={"production": True})
        assert getattr(ArgoCdConfig.model_validate({key: 1}), key) == 1
