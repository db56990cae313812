"""Teardown: the destroy-time steps hold each controller until what it made is gone, and the
steps' scripts do what they say when run with the real kubectl against a cluster."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_kube_api import Cluster, serving
from plans import PROJECT, one, plan_for, stack_file_config, with_changes

from components.config import ConfigError
from components.teardown import RETAINED_TAG
from offline.plan import PROJECT_DIR, Plan
from ops.scope import scope_of

COMMAND = "command:local:Command"
RELEASE = "kubernetes:helm.sh/v3:Release"
BUCKET = "aws:s3/bucket:Bucket"
KUBECTL_DIR = PROJECT_DIR / ".venv" / "bin"


def upstream(plan: Plan, resource: dict[str, Any]) -> set[str]:
    """Every URN `resource` depends on, directly or through others."""
    by_urn = plan.by_urn()
    found: set[str] = set()
    todo = list(resource["dependencies"])
    while todo:
        urn = todo.pop()
        if urn not in found:
            found.add(urn)
            todo += by_urn[urn]["dependencies"] if urn in by_urn else []
    return found


# --- the plan -------------------------------------------------------------------------------


def test_each_controller_is_held_until_what_it_made_is_gone(dev_plan: Plan) -> None:
    load_balancers = one(dev_plan, COMMAND, "-load-balancers-gone")
    volumes = one(dev_plan, COMMAND, "-volumes-gone")
    controller = one(dev_plan, RELEASE, "-alb")
    driver = one(dev_plan, "aws:eks/addon:Addon", "-ebs-csi")
    storage_class = one(dev_plan, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert controller["urn"] in load_balancers["dependencies"]
    assert {driver["urn"], storage_class["urn"]} <= set(volumes["dependencies"])
    for step in (load_balancers, volumes):
        assert step["inputs"]["delete"]
        assert not step["inputs"].get("create")
    holders = [
        one(dev_plan, RELEASE, "-gitlab"),
        one(dev_plan, RELEASE, "-argocd"),
        *dev_plan.of_type("kubernetes:argoproj.io/v1alpha1:Application"),
        *dev_plan.of_type("kubernetes:argoproj.io/v1alpha1:ApplicationSet"),
    ]
    assert len(holders) > 3
    for holder in holders:
        assert {load_balancers["urn"], volumes["urn"]} <= upstream(dev_plan, holder), holder["name"]


def test_the_controllers_tag_what_they_make_with_the_stack(dev_plan: Plan) -> None:
    tags = scope_of("dev").tags
    values = one(dev_plan, RELEASE, "-alb")["inputs"]["values"]
    assert values["defaultTags"] == {**tags, "managed-by": "aws-load-balancer-controller"}
    parameters = one(dev_plan, "kubernetes:storage.k8s.io/v1:StorageClass")["inputs"]["parameters"]
    tagged = dict(
        value.split("=", 1) for key, value in parameters.items() if key.startswith("tagSpec")
    )
    assert tagged == {**tags, "managed-by": "aws-ebs-csi-driver"}
    assert sorted(k for k in parameters if k.startswith("tagSpec")) == sorted(
        f"tagSpecification_{i}" for i in range(1, len(tags) + 1)
    )


def test_the_scope_names_what_the_plan_names(dev_plan: Plan) -> None:
    scope = scope_of("dev")
    cluster = one(dev_plan, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["name"] == scope.cluster_name
    values = one(dev_plan, RELEASE, "-external-dns")["inputs"]["values"]
    assert values["txtOwnerId"] == scope.txt_owner_id
    provider = one(dev_plan, "pulumi:providers:aws")
    assert json.loads(provider["inputs"]["defaultTags"])["tags"] == scope.tags


def test_dev_keeps_gitlabs_buckets_unless_told_to_delete_them(dev_plan: Plan) -> None:
    buckets = [b for b in dev_plan.of_type(BUCKET) if "-gitlab-data-" in b["name"]]
    assert len(buckets) >= 5
    for bucket in buckets:
        assert bucket["retain_on_delete"] is True
        assert bucket["inputs"]["forceDestroy"] is False
        assert bucket["inputs"]["tags"] == {RETAINED_TAG: "gitlab.buckets_on_destroy=keep"}
    dev = stack_file_config("dev")
    gitlab = {**dev.get(f"{PROJECT}:gitlab", {}), "buckets_on_destroy": "delete"}
    deleting = plan_for(with_changes(dev, gitlab=gitlab), stack="dev")
    for bucket in (b for b in deleting.of_type(BUCKET) if "-gitlab-data-" in b["name"]):
        assert bucket["retain_on_delete"] is False
        assert bucket["inputs"]["forceDestroy"] is True
        assert RETAINED_TAG not in (bucket["inputs"].get("tags") or {})


def test_production_keeps_and_protects_gitlabs_buckets(prod_plan: Plan) -> None:
    buckets = [b for b in prod_plan.of_type(BUCKET) if "-gitlab-data-" in b["name"]]
    assert buckets
    for bucket in buckets:
        assert (bucket["protect"], bucket["retain_on_delete"]) == (True, True)
        assert bucket["inputs"]["tags"] == {RETAINED_TAG: "production"}


def test_production_refuses_to_delete_its_buckets(tmp_path: Path) -> None:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    document["config"][f"{PROJECT}:gitlab"]["buckets_on_destroy"] = "delete"
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as error:
        scope_of("prod", stack_file=stack_file)
    (problem,) = error.value.problems
    assert "gitlab.buckets_on_destroy" in problem
    assert "'delete'" in problem
    assert "expected 'keep' in a production stack" in problem


@pytest.mark.parametrize("value", ["a,b", "{{ .PVCName }}", "x;y", "aws:thing"])
def test_tags_the_controllers_cannot_carry_are_refused(tmp_path: Path, value: str) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
        + f"  gitops-platform:tags:\n    cost-centre: {value!r}\n"
    )
    with pytest.raises(ConfigError) as error:
        scope_of("dev", stack_file=stack_file)
    (problem,) = error.value.problems
    assert "tags.cost-centre" in problem
    assert "expected" in problem


# --- the scripts, with the real kubectl ------------------------------------------------------


def run_step(
    plan: Plan, suffix: str, kubeconfig: Path, timeout: int = 5
) -> subprocess.CompletedProcess[str]:
    step = one(plan, COMMAND, suffix)
    environment = {
        **step["inputs"]["environment"],
        "KUBECONFIG_CONTENT": kubeconfig.read_text(),
        "TIMEOUT_SECONDS": str(timeout),
        "POLL_SECONDS": "0.2",
        "PATH": f"{KUBECTL_DIR}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(kubeconfig.parent),
    }
    # pulumi-command runs a local command with `sh -c` (provider/pkg/provider/local/
    # commandOutputs.go).
    return subprocess.run(
        ["sh", "-c", step["inputs"]["delete"]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def claim(cluster: Cluster, namespace: str, name: str, storage_class: str = "gp3") -> None:
    cluster.add("persistentvolumeclaims", name, namespace, spec={"storageClassName": storage_class})
    cluster.add(
        "persistentvolumes",
        f"pvc-{name}",
        spec={
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": namespace, "name": name},
        },
        status={"phase": "Bound"},
    )


def test_volumes_left_by_statefulsets_are_deleted_and_waited_for(
    dev_plan: Plan, tmp_path: Path
) -> None:
    cluster = Cluster(volume_delay=2)
    claim(cluster, "minio", "data-minio-0")
    claim(cluster, "other", "scratch", storage_class="someone-elses")
    with serving(cluster, tmp_path) as kubeconfig:
        done = run_step(dev_plan, "-volumes-gone", kubeconfig)
    assert done.returncode == 0, done.stderr
    assert "PersistentVolumes of StorageClass gp3: none left" in done.stdout
    assert cluster.deleted == ["persistentvolumeclaims minio/data-minio-0"]
    assert cluster.names("persistentvolumes") == ["pvc-scratch"]


def test_a_volume_that_stays_stops_the_destroy_and_is_named(dev_plan: Plan, tmp_path: Path) -> None:
    cluster = Cluster()
    cluster.add(
        "persistentvolumes",
        "pvc-stuck",
        spec={
            "storageClassName": "gp3",
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "gitlab", "name": "repo-data-gitlab-gitaly-0"},
        },
        status={"phase": "Released"},
    )
    cluster.add(
        "persistentvolumes",
        "pvc-kept",
        spec={
            "storageClassName": "gp3",
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "minio", "name": "data"},
        },
    )
    with serving(cluster, tmp_path) as kubeconfig:
        stuck = run_step(dev_plan, "-volumes-gone", kubeconfig, timeout=1)
    assert stuck.returncode == 1
    assert "PersistentVolume pvc-stuck of gitlab/repo-data-gitlab-gitaly-0 (Released)" in (
        stuck.stderr
    )
    assert "pvc-kept" not in stuck.stderr
    assert "kept (reclaim policy Retain): pvc-kept of minio/data" in stuck.stdout


def test_load_balancers_are_waited_for_and_nothing_is_deleted(
    dev_plan: Plan, tmp_path: Path
) -> None:
    cluster = Cluster()
    cluster.add("ingresses", "gitlab-webservice", "gitlab", spec={"ingressClassName": "alb"})
    cluster.add("ingresses", "legacy", "web", {"kubernetes.io/ingress.class": "alb"})
    cluster.add("ingresses", "other-class", "web", spec={"ingressClassName": "nginx"})
    cluster.add("services", "argocd-server", "argocd", spec={"type": "LoadBalancer"})
    cluster.add("services", "plain", "argocd", spec={"type": "ClusterIP"})
    cluster.add("targetgroupbindings", "k8s-argocd-tgb", "argocd", spec={})
    with serving(cluster, tmp_path) as kubeconfig:
        stuck = run_step(dev_plan, "-load-balancers-gone", kubeconfig, timeout=1)
    assert stuck.returncode == 1
    left = [
        line
        for line in stuck.stderr.splitlines()
        if line.split(" ")[0] in ("Ingress", "Service", "TargetGroupBinding")
    ]
    assert sorted(left) == [
        "Ingress gitlab/gitlab-webservice",
        "Ingress web/legacy",
        "Service argocd/argocd-server",
        "TargetGroupBinding argocd/k8s-argocd-tgb",
    ]
    assert cluster.deleted == []
    empty = Cluster()
    empty.add("ingresses", "other-class", "web", spec={"ingressClassName": "nginx"})
    with serving(empty, tmp_path) as kubeconfig:
        done = run_step(dev_plan, "-load-balancers-gone", kubeconfig)
    assert done.returncode == 0, done.stderr


def test_an_unreadable_cluster_is_tried_again_then_reported(dev_plan: Plan, tmp_path: Path) -> None:
    flaky = Cluster(failing_lists=2)
    with serving(flaky, tmp_path) as kubeconfig:
        recovered = run_step(dev_plan, "-load-balancers-gone", kubeconfig)
    assert recovered.returncode == 0, recovered.stderr
    down = Cluster(failing_lists=10_000)
    with serving(down, tmp_path) as kubeconfig:
        failed = run_step(dev_plan, "-load-balancers-gone", kubeconfig, timeout=1)
    assert failed.returncode == 1
    assert "(the cluster could not be read:" in failed.stderr


# --- the destroy's critical path (make bench) -------------------------------------------------


def test_the_destroy_path_runs_from_dependents_to_what_they_depend_on(dev_plan: Plan) -> None:
    from bench.bench import destroy_path

    plan = {"resources": dev_plan.resources}
    estimate, serial, chain = destroy_path(plan)
    assert 0 < estimate < serial
    names = [name for _, name, _ in chain]
    by_key = {(r["type"], r["name"]): r for r in dev_plan.resources}
    steps = [by_key[(type_, name)] for type_, name, _ in chain]
    for dependent, then in itertools.pairwise(steps):
        # `then` is deleted after `dependent` because `dependent` depends on it.
        needs = {*dependent["dependencies"], dependent["provider"]}
        for urns in dependent["property_dependencies"].values():
            needs |= set(urns)
        assert then["urn"] in needs, (dependent["name"], then["name"])
    assert names.index("gitops-platform-dev-external-dns-records-gone") < names.index(
        "gitops-platform-dev-external-dns"
    )
    assert names[-1] == "gitops-platform-dev-aws"
