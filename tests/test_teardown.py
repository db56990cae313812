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


def test_the_scope_reads_stack_files_with_secrets(tmp_path: Path) -> None:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    for key in ("kubeconfig", "gitlab_token"):
        document["config"][f"{PROJECT}:{key}"] = {"secure": "v1:abc"}
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    assert scope_of("dev", stack_file=stack_file) == scope_of("dev")


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


def test_a_kept_bucket_keeps_its_settings(dev_plan: Plan) -> None:
    kept = {b["urn"] for b in dev_plan.of_type(BUCKET) if b["retain_on_delete"]}
    children = [
        r
        for r in dev_plan.resources
        if r["type"].startswith("aws:s3/bucket")
        and r["type"] != BUCKET
        and r["parent"]
        and any(r["name"] == b["name"] for b in dev_plan.of_type(BUCKET) if b["urn"] in kept)
    ]
    assert {r["type"] for r in children} >= {
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    }
    assert all(r["retain_on_delete"] for r in children)


def test_production_volumes_outlive_their_claims(prod_plan: Plan, dev_plan: Plan) -> None:
    storage = one(prod_plan, "kubernetes:storage.k8s.io/v1:StorageClass")["inputs"]
    assert storage["reclaimPolicy"] == "Retain"
    assert f"{RETAINED_TAG}=production" in storage["parameters"].values()
    dev = one(dev_plan, "kubernetes:storage.k8s.io/v1:StorageClass")["inputs"]
    assert dev["reclaimPolicy"] == "Delete"
    assert not any(RETAINED_TAG in v for v in dev["parameters"].values())


def test_what_talks_to_the_cluster_keeps_its_access_until_it_is_gone() -> None:
    dev = stack_file_config("dev")
    ci = "arn:aws:iam::123456789012:role/gitlab-ci-deployer"
    cluster = {**dev[f"{PROJECT}:cluster"], "admin_principal_arns": [ci]}
    plan = plan_for(with_changes(dev, cluster=cluster), stack="dev")
    provider = one(plan, "pulumi:providers:kubernetes", "-k8s")
    granted = {
        r["urn"]
        for r in plan.resources
        if r["type"]
        in (
            "aws:eks/accessEntry:AccessEntry",
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        )
    }
    assert len(granted) == 2
    assert granted <= set(provider["dependencies"])


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


def with_tags(tmp_path: Path, tags: dict[str, str]) -> Path:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    document["config"][f"{PROJECT}:tags"] = tags
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    return stack_file


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cost-centre", "a,b", "AWS tag characters"),
        ("cost-centre", "{{ .PVCName }}", "AWS tag characters"),
        ("cost-centre", "aws:thing", "'aws:' prefix"),
        ("cost-centre", "team: a", "no ': '"),
        ("cost-centre", "team:", "trailing ':'"),
        ("a=b", "x", "no '=' in a tag key"),
        ("elbv2.k8s.aws/cluster", "x", "reserved"),
        ("kubernetes.io/cluster/x", "owned", "reserved"),
        ("gitops-platform/retained-on-destroy", "x", "reserved"),
        ("CSIVolumeName", "x", "reserved"),
    ],
)
def test_tags_the_controllers_cannot_carry_are_refused(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        scope_of("dev", stack_file=with_tags(tmp_path, {key: value}))
    (problem,) = error.value.problems
    assert "tags" in problem
    assert expected in problem


def test_tags_are_counted_and_fine_ones_pass(tmp_path: Path) -> None:
    fine = {"cost-centre": "R&D".replace("&", "+"), "team": "platform team @ example.org"}
    assert scope_of("dev", stack_file=with_tags(tmp_path, fine)).tags["team"] == fine["team"]
    with pytest.raises(ConfigError) as error:
        scope_of("dev", stack_file=with_tags(tmp_path, {f"t{i}": "x" for i in range(36)}))
    (problem,) = error.value.problems
    assert "at most 35" in problem


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


def claim(
    cluster: Cluster,
    namespace: str,
    name: str,
    storage_class: str = "gp3",
    driver: str = "ebs.csi.aws.com",
) -> None:
    cluster.add("persistentvolumeclaims", name, namespace, spec={"storageClassName": storage_class})
    cluster.add(
        "persistentvolumes",
        f"pvc-{name}",
        spec={
            "storageClassName": storage_class,
            "csi": {"driver": driver},
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": namespace, "name": name},
        },
        status={"phase": "Bound"},
    )


def volume(cluster: Cluster, name: str, claim: str, policy: str, phase: str) -> None:
    namespace, claim_name = claim.split("/")
    cluster.add(
        "persistentvolumes",
        name,
        spec={
            "storageClassName": "gp3",
            "csi": {"driver": "ebs.csi.aws.com"},
            "persistentVolumeReclaimPolicy": policy,
            "claimRef": {"namespace": namespace, "name": claim_name},
        },
        status={"phase": phase},
    )


def test_volumes_left_by_statefulsets_are_deleted_and_waited_for(
    dev_plan: Plan, tmp_path: Path
) -> None:
    cluster = Cluster(volume_delay=2)
    claim(cluster, "minio", "data-minio-0")
    claim(cluster, "shared", "files", storage_class="efs", driver="efs.csi.aws.com")
    volume(cluster, "pvc-kept", "minio/data", "Retain", "Released")
    with serving(cluster, tmp_path) as kubeconfig:
        done = run_step(dev_plan, "-volumes-gone", kubeconfig)
    assert done.returncode == 0, done.stderr
    assert "PersistentVolumes of the EBS CSI driver (ebs.csi.aws.com): none left" in done.stdout
    assert "kept (reclaim policy Retain): pvc-kept of minio/data" in done.stdout
    # Only the stack's own StorageClass's claims are deleted; another driver's stay.
    assert cluster.deleted == ["persistentvolumeclaims minio/data-minio-0"]
    assert sorted(cluster.names("persistentvolumes")) == ["pvc-files", "pvc-kept"]


def test_a_volume_that_stays_stops_the_destroy_and_is_named(dev_plan: Plan, tmp_path: Path) -> None:
    cluster = Cluster()
    volume(cluster, "pvc-failed", "gitlab/repo-data-gitlab-gitaly-0", "Delete", "Failed")
    # Another StorageClass of the same driver: its claim is not the stack's to delete, but
    # its volume would outlive the driver, so it is waited for.
    claim(cluster, "apps", "cache", storage_class="io2")
    with serving(cluster, tmp_path) as kubeconfig:
        stuck = run_step(dev_plan, "-volumes-gone", kubeconfig, timeout=1)
    assert stuck.returncode == 1
    assert "PersistentVolume pvc-failed of gitlab/repo-data-gitlab-gitaly-0 (Failed)" in (
        stuck.stderr
    )
    assert "PersistentVolume pvc-cache of apps/cache (Bound)" in stuck.stderr
    assert "delete its EBS volume (spec.csi.volumeHandle)" in stuck.stderr
    assert cluster.deleted == []


LOAD_BALANCER_KINDS = ("ingresses.", "services", "targetgroupbindings.", "gateways.")


def held(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(
        line for line in result.stderr.splitlines() if line.startswith(LOAD_BALANCER_KINDS)
    )


def test_load_balancers_are_waited_for_by_finalizer_and_nothing_is_deleted(
    dev_plan: Plan, tmp_path: Path
) -> None:
    cluster = Cluster()
    held_by = {"finalizers": ["ingress.k8s.aws/resources"]}
    grouped = {"finalizers": ["example.com/x", "group.ingress.k8s.aws/gitops-platform-dev"]}
    cluster.add("ingresses", "gitlab-webservice", "gitlab", metadata_extra=grouped)
    cluster.add("ingresses", "implicit", "web", metadata_extra=held_by)
    cluster.add("ingresses", "nginx", "web", spec={"ingressClassName": "nginx"})
    nlb = {"finalizers": ["service.k8s.aws/resources"]}
    cluster.add("services", "argocd-server", "argocd", metadata_extra=nlb)
    classic = {"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}
    cluster.add("services", "legacy", "web", metadata_extra=classic)
    # Another controller's LoadBalancer Service holds nothing of this one's.
    cluster.add("services", "metallb", "web", spec={"type": "LoadBalancer"})
    tgb = {"finalizers": ["elbv2.k8s.aws/resources"]}
    cluster.add("targetgroupbindings", "k8s-argocd-tgb", "argocd", metadata_extra=tgb)
    cluster.add("gateways", "edge", "web", metadata_extra={"finalizers": ["gateway.k8s.aws/alb"]})
    with serving(cluster, tmp_path) as kubeconfig:
        stuck = run_step(dev_plan, "-load-balancers-gone", kubeconfig, timeout=1)
    assert stuck.returncode == 1
    # Without the Gateway API's CRDs, Gateways are not asked for.
    assert held(stuck) == [
        "ingresses.networking.k8s.io gitlab/gitlab-webservice",
        "ingresses.networking.k8s.io web/implicit",
        "services argocd/argocd-server",
        "services web/legacy",
        "targetgroupbindings.elbv2.k8s.aws argocd/k8s-argocd-tgb",
    ]
    assert cluster.deleted == []
    cluster.gateway_api = True
    with serving(cluster, tmp_path) as kubeconfig:
        stuck = run_step(dev_plan, "-load-balancers-gone", kubeconfig, timeout=1)
    assert "gateways.gateway.networking.k8s.io web/edge" in held(stuck)
    empty = Cluster(gateway_api=True)
    empty.add("ingresses", "nginx", "web", spec={"ingressClassName": "nginx"})
    empty.add("services", "metallb", "web", spec={"type": "LoadBalancer"})
    with serving(empty, tmp_path) as kubeconfig:
        done = run_step(dev_plan, "-load-balancers-gone", kubeconfig)
    assert done.returncode == 0, done.stderr


def test_an_unreadable_cluster_is_tried_again_then_reported(dev_plan: Plan, tmp_path: Path) -> None:
    for step in ("-load-balancers-gone", "-volumes-gone"):
        flaky = Cluster(failing_lists=2)
        with serving(flaky, tmp_path) as kubeconfig:
            recovered = run_step(dev_plan, step, kubeconfig)
        assert recovered.returncode == 0, recovered.stderr
        down = Cluster(failing_lists=10_000)
        with serving(down, tmp_path) as kubeconfig:
            failed = run_step(dev_plan, step, kubeconfig, timeout=1)
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
