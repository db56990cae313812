"""What the releases and Applications render to, with the real helm and kubectl, from the
chart cache (CHARTS), and what the offline preview makes of a render that fails."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from plans import plan_for, stack_file_config, with_changes

import offline.__main__ as cli
from offline.plan import Plan
from offline.render import APPLICATION, RELEASE, REPOSITORY_FILE, render
from offline.sources import Tools
from tests.upstream import chart_archive, tool

# The cache this repository's CI has (../shared/charts); the stack's default pins are these.
CACHED = {
    "external-dns": "1.21.1",
    "aws-load-balancer-controller": "3.5.0",
    "argo-cd": "10.1.1",
    "minio": "5.4.0",
}


@pytest.fixture(scope="module")
def charts() -> Path:
    tool("helm")
    tool("kubectl")
    archives = [chart_archive(chart, version) for chart, version in CACHED.items()]
    for archive in archives:
        if archive.name[:-4] not in {f"{c}-{v}" for c, v in CACHED.items()}:
            pytest.skip(f"the chart cache has {archive.name}, not the pinned version")
    return archives[0].parent


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache for the run, shared by the suite's workers (writes are atomic)."""
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's base is a folder of the run's own.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "render-cache"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture
def tools(charts: Path, cache: Path) -> Tools:
    return Tools.find(charts=charts, cache=cache)


def copied(plan: Plan) -> Plan:
    return Plan(
        project=plan.project,
        stack=plan.stack,
        resources=copy.deepcopy(plan.resources),
        outputs=dict(plan.outputs),
    )


def release_of(plan: Plan, chart: str) -> dict[str, Any]:
    return next(r for r in plan.of_type(RELEASE) if r["inputs"]["chart"] == chart)


@pytest.fixture
def helm_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command the renderer runs."""
    runs: list[list[str]] = []
    real = subprocess.run

    def counting(command: list[str], **kwargs: Any) -> Any:
        runs.append(command)
        return real(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    return runs


def test_dev_renders_every_release_but_gitlab_and_every_application(
    dev_plan: Plan, tools: Tools
) -> None:
    result = render(dev_plan, tools)
    by_name = {s.name: s for s in result.sources}
    assert result.kube_version == "1.35"
    for name in ("external-dns", "aws-load-balancer-controller", "argocd", "minio-helm", "my-app"):
        source = by_name[name]
        assert source.reason is None, name
        assert source.error is None, name
        assert source.origin, name
        assert source.objects, name
        assert source.invalid == [], (name, source.invalid)
    assert "gitlab 10.4.1 is not in the chart cache" in str(by_name["gitlab"].reason)
    assert result.stack_objects["Namespace"] == len(
        dev_plan.of_type("kubernetes:core/v1:Namespace")
    )
    assert result.stack_invalid == []
    assert result.problems(["argo-cd", "aws-load-balancer-controller", "minio-helm"]) == []
    # What the charts make of the stack's values, not the values themselves.
    argocd = {(o["kind"], o["metadata"]["name"]): o for o in by_name["argocd"].objects}
    server = argocd[("Service", "argocd-server")]
    assert server["spec"]["type"] == "LoadBalancer"
    assert server["metadata"]["namespace"] == "argocd"  # filled in, as Helm applies it
    assert ("CustomResourceDefinition", "applications.argoproj.io") in argocd


def test_applications_with_every_sync_option_validate_against_the_argo_cd_crds(
    tools: Tools,
) -> None:
    """Every sync option and every ignoreDifferences field, in the Applications the stack
    creates, checked against the Application CRD the pinned argo-cd chart renders."""
    ignored = [
        {
            "group": "apps",
            "kind": "Deployment",
            "name": "minio",
            "namespace": "minio",
            "json_pointers": ["/spec/replicas"],
            "jq_path_expressions": [".spec.template.metadata.annotations"],
            "managed_fields_managers": ["kube-controller-manager"],
        },
        {"kind": "ConfigMap", "jq_path_expressions": ['.data["config.yaml"]']},
    ]
    every = {
        "prune_last": True,
        "apply_out_of_sync_only": True,
        "validate": False,
        "respect_ignore_differences": True,
        "ignore_differences": ignored,
    }
    apps = [
        {
            "name": "minio-helm",
            "path": "minio",
            "namespace": "minio",
            "value_files": ["values-minio.yaml"],
            "sync": {**every, "server_side_apply": True, "create_namespace": False},
        },
        {
            "name": "my-app",
            "path": "my-app/overlays/dev",
            "namespace": "my-app",
            "sync": {**every, "replace": True, "automated": False},
        },
    ]
    plan = plan_for(with_changes(stack_file_config("dev"), applications=apps), stack="dev")
    specs = {
        a["inputs"]["metadata"]["name"]: a["inputs"]["spec"] for a in plan.of_type(APPLICATION)
    }
    assert len(specs["minio-helm"]["syncPolicy"]["syncOptions"]) == 5
    assert len(specs["my-app"]["syncPolicy"]["syncOptions"]) == 6
    assert all(len(spec["ignoreDifferences"]) == 2 for spec in specs.values())
    result = render(plan, tools)
    assert result.stack_objects["Application"] == 2
    assert result.stack_unchecked == []
    assert result.stack_invalid == []
    assert result.problems(["argo-cd", "minio-helm", "my-app"]) == []


def test_required_renders_name_what_cannot_render(dev_plan: Plan, tools: Tools) -> None:
    result = render(dev_plan, tools)
    problems = result.problems(["all"])
    assert problems == [
        "release gitlab (gitlab 10.4.1) must render: chart gitlab 10.4.1 is not in the chart "
        f"cache {tools.charts} (`make charts` pulls it; needs the network)"
    ]
    (unknown,) = result.problems(["argocd", "argo-cdd"])
    assert unknown.startswith("required render 'argo-cdd': no release or Application")


def test_a_release_waits_for_the_api_versions_the_releases_below_it_install(
    dev_plan: Plan, tools: Tools, helm_runs: list[list[str]]
) -> None:
    plan = copied(dev_plan)
    # A values change makes argo-cd render again (the rest comes from the cache).
    release_of(plan, "argo-cd")["inputs"]["values"]["global"]["revisionHistoryLimit"] = 4
    render(plan, tools, check=False)
    (argocd,) = [run for run in helm_runs if "argocd" in run and "template" in run]
    asked = {argocd[i + 1] for i, arg in enumerate(argocd) if arg == "--api-versions"}
    # The LB controller's CRDs (crds/crds.yaml in its chart) exist before Argo CD installs.
    assert {"elbv2.k8s.aws/v1beta1", "elbv2.k8s.aws/v1beta1/TargetGroupBinding"} <= asked
    external_dns = release_of(plan, "external-dns")
    assert external_dns["urn"] not in " ".join(argocd)


def test_an_unchanged_release_costs_no_render_and_a_changed_one_renders_alone(
    dev_plan: Plan, tools: Tools, helm_runs: list[list[str]]
) -> None:
    render(dev_plan, tools)
    helm_runs.clear()
    again = render(dev_plan, tools)
    assert helm_runs == []
    plan = copied(dev_plan)
    release_of(plan, "external-dns")["inputs"]["values"]["triggerLoopOnEvent"] = False
    changed = render(plan, tools)
    assert len(helm_runs) == 1
    assert "external-dns" in helm_runs[0]
    before, after = (
        next(s for s in r.sources if s.name == "external-dns") for r in (again, changed)
    )
    args = [
        c["args"]
        for o in after.objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert before.key != after.key
    assert not any("--events" in a for a in args[0])


def test_applications_render_what_the_stack_commits(dev_plan: Plan, tools: Tools) -> None:
    plan = copied(dev_plan)
    committed = next(
        r
        for r in plan.of_type(REPOSITORY_FILE)
        if r["inputs"]["filePath"] == "my-app/overlays/dev/deployment-patch.yaml"
    )
    committed["inputs"]["content"] = committed["inputs"]["content"].replace(
        "replicas:", "minReadySeconds: 7\n  replicas:"
    )
    my_app = next(s for s in render(plan, tools).sources if s.name == "my-app")
    (deployment,) = my_app.objects
    assert deployment["spec"]["minReadySeconds"] == 7
    assert deployment["metadata"]["namespace"] == "my-app"  # Argo CD's destination


@pytest.mark.parametrize(
    ("chart", "path", "value", "message"),
    [
        # external-dns 1.21.1 values.schema.json: policy is sync, upsert-only or create-only.
        (
            "external-dns",
            ("policy",),
            "delete-everything",
            "release external-dns (external-dns 1.21.1): ",
        ),
        # argo-cd 10.1.1 has no values schema: Helm renders `replicas: two` without a word.
        (
            "argo-cd",
            ("server", "replicas"),
            "two",
            "release argocd: Deployment argocd/argocd-server: spec.replicas",
        ),
    ],
    ids=["helm-refuses-a-value", "a-value-renders-an-invalid-object"],
)
def test_a_values_mistake_fails_the_plan_naming_the_release(
    dev_plan: Plan,
    charts: Path,
    monkeypatch: pytest.MonkeyPatch,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    chart: str,
    path: tuple[str, ...],
    value: str,
    message: str,
) -> None:
    plan = copied(dev_plan)
    values = release_of(plan, chart)["inputs"]["values"]
    for key in path[:-1]:
        values = values[key]
    values[path[-1]] = value
    status = run_cli(plan, charts, cache, monkeypatch)
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert path[-1] in err


def run_cli(plan: Plan, charts: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """`python -m offline` on `plan` (instead of the one the stack records)."""
    monkeypatch.setattr(cli, "run_plan", lambda *_, **__: plan)
    monkeypatch.setenv("RENDER_CACHE", str(cache))
    return cli.main(["--stack", "dev", "--no-policy", "--charts", str(charts)])


def test_the_plan_json_says_what_rendered(dev_commands: Any, charts: Path) -> None:
    make, _ = dev_commands
    rendered = json.loads(make.json)["rendered"]
    assert rendered["kubeVersion"] == "1.35"
    releases, applications = rendered["releases"], rendered["applications"]
    assert releases["gitlab"]["from"] is None
    assert "not in the chart cache" in (releases["gitlab"]["notRendered"])
    for entry in [*(releases[n] for n in ("argocd", "external-dns")), *applications.values()]:
        assert entry["from"]
        assert entry["objects"]
        assert entry["invalid"] == []
    assert releases["argocd"]["objects"]["CustomResourceDefinition"] == 3
    assert "release argocd (argo-cd 10.1.1): " in make.stdout


def test_custom_resources_whose_crd_did_not_render_are_listed_not_checked(
    dev_plan: Plan, charts: Path, cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "external-dns-1.21.1.tgz").symlink_to(charts / "external-dns-1.21.1.tgz")
    result = render(dev_plan, Tools.find(charts=tmp_path, cache=cache))
    assert result.stack_invalid == []
    assert sorted(result.stack_unchecked) == [
        f"{kind} argocd/{name}: not checked: no rendered chart defines "
        f"argoproj.io/v1alpha1/{kind}, and 4 did not render"
        for kind, name in [
            ("AppProject", "platform"),
            ("AppProject", "previews"),
            ("Application", "minio-helm"),
            ("Application", "my-app"),
            ("ApplicationSet", "previews"),
        ]
    ]
    assert result.problems() == []
    # With Argo CD rendered, its CRDs check them (the dev test above: none invalid).
    assert render(dev_plan, Tools.find(charts=charts, cache=cache)).stack_unchecked == []


def test_a_failed_render_is_not_cached(
    dev_plan: Plan, tools: Tools, helm_runs: list[list[str]]
) -> None:
    plan = copied(dev_plan)
    release_of(plan, "external-dns")["inputs"]["values"]["policy"] = "delete-everything"
    for _ in range(2):
        (failed,) = [s for s in render(plan, tools, check=False).sources if s.error]
        assert failed.name == "external-dns"
    assert sum("external-dns" in " ".join(run) for run in helm_runs) == 2


def committed(plan: Plan, path: str, content: str) -> None:
    """Add a file to what the stack commits to the GitOps repository."""
    template = plan.of_type(REPOSITORY_FILE)[0]
    plan.resources.append(
        {
            **copy.deepcopy(template),
            "urn": f"{template['urn']}-{path}",
            "inputs": {**template["inputs"], "filePath": path, "content": content},
        }
    )


def application(plan: Plan, name: str, source: dict[str, Any]) -> None:
    """Add an Application deploying `source` (like the shipped ones) to `plan`."""
    template = next(r for r in plan.of_type(APPLICATION) if r["name"].endswith("my-app"))
    app = copy.deepcopy(template)
    app["urn"], app["name"] = f"{template['urn']}-{name}", name
    app["inputs"]["metadata"]["name"] = name
    app["inputs"]["spec"]["source"] = {**app["inputs"]["spec"]["source"], **source}
    plan.resources.append(app)


CHART = "apiVersion: v2\nname: tiny\nversion: 0.1.0\n"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata: {{a: b}}\n"
TEST_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: tiny-test
  annotations: {"helm.sh/hook": test}
spec:
  containers: [{name: t, image: "busybox:latest"}]
"""
CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tiny, namespace: somewhere}
rules: []
"""


def test_applications_render_as_argo_cd_applies_them(dev_plan: Plan, tools: Tools) -> None:
    plan = copied(dev_plan)
    committed(plan, "tiny/Chart.yaml", CHART)
    committed(plan, "tiny/templates/config.yaml", CONFIG_MAP.format(name="one"))
    committed(plan, "tiny/templates/again.yaml", CONFIG_MAP.format(name="one"))
    committed(plan, "tiny/templates/test.yaml", TEST_POD)
    committed(plan, "tiny/templates/role.yaml", CLUSTER_ROLE)
    committed(plan, "both/Chart.yaml", CHART)
    committed(plan, "both/kustomization.yaml", "resources: [config.yaml]\n")
    committed(plan, "both/config.yaml", CONFIG_MAP.format(name="from-kustomize"))
    for name in ("tiny-a", "tiny-b"):  # the same folder, rendered at the same time
        application(plan, name, {"path": "tiny"})
    application(plan, "skips", {"path": "tiny", "helm": {"skipCrds": True}})
    application(plan, "both", {"path": "both"})
    sources = {s.name: s for s in render(plan, tools).sources}
    for name in ("tiny-a", "tiny-b"):
        objects = sorted(
            (o["kind"], o["metadata"].get("namespace") or "") for o in sources[name].objects
        )
        # The test hook is not applied, the duplicate ConfigMap counts once, and the
        # cluster-scoped ClusterRole loses the namespace its template gave it.
        assert objects == [("ClusterRole", ""), ("ConfigMap", "my-app")], name
    assert sources["skips"].reason == (
        "spec.source.helm.skipCrds not applied by the offline render"
    )
    assert sources["both"].origin == "gitops/both (kustomize)"


def test_a_helm_source_on_a_kustomize_folder_is_not_rendered_as_kustomize(
    dev_plan: Plan, tools: Tools
) -> None:
    # Argo CD renders a source with a `helm` field as a chart (ExplicitType), and fails.
    plan = copied(dev_plan)
    application(plan, "odd", {"path": "my-app/base", "helm": {"valueFiles": ["v.yaml"]}})
    (odd,) = [s for s in render(plan, tools).sources if s.name == "odd"]
    assert odd.reason == "path 'my-app/base' holds no Chart.yaml for its spec.source.helm"


def test_custom_resources_of_crds_from_outside_the_stack_are_listed_not_checked(
    dev_plan: Plan, tools: Tools
) -> None:
    plan = copied(dev_plan)
    namespace = next(r for r in plan.of_type("kubernetes:core/v1:Namespace"))
    policy = copy.deepcopy(namespace)
    policy["urn"] += "-sgp"
    policy["type"] = "kubernetes:vpcresources.k8s.aws/v1beta1:SecurityGroupPolicy"
    policy["inputs"] = {
        "apiVersion": "vpcresources.k8s.aws/v1beta1",
        "kind": "SecurityGroupPolicy",
        "metadata": {"name": "pods", "namespace": "my-app"},
        "spec": {"anything": True},
    }
    plan.resources.append(policy)
    result = render(plan, tools)
    assert result.stack_invalid == []
    (note,) = [n for n in result.stack_unchecked if "SecurityGroupPolicy" in n]
    assert note.startswith("SecurityGroupPolicy my-app/pods: not checked: no rendered chart")
