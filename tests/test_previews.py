"""Previews per merge request (components/previews.py): the ApplicationSet and its GitLab
pull-request generator, the previews' AppProject, the namespace chart with its quota and
limits, the cap on how many run at once, the generator's token, the configuration, and the
objects against the CRDs the pinned Argo CD chart installs."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import PROJECT, one, plan_for, stack_file_config, with_changes
from policy_harness import Resource, analyze, mandatory, plan_decisions

from components.config import GITOPS_DIR, ConfigError, PreviewsConfig
from components.config.previews import quantity
from components.notifications import SUBSCRIBE
from components.previews import NAMESPACE_CHART, chart_values
from guardrails import REGISTRY, argocd
from offline.plan import PROJECT_DIR, SECRET, Plan
from offline.render import render
from offline.sources import Tools
from offline.validate import validate
from tests.upstream import chart_archive, helm_template, tool

APPLICATION_SET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
TOKEN = "gitlab:index/projectAccessToken:ProjectAccessToken"
SECRET_TYPE = "kubernetes:core/v1:Secret"
QUOTA = "kubernetes:core/v1:ResourceQuota"
FILE = "gitlab:index/repositoryFile:RepositoryFile"
IN_CLUSTER = "https://kubernetes.default.svc"
DEV = stack_file_config("dev")
KUBE = "1.35"
HEAD = "0123456789abcdef0123456789abcdef01234567"


def _dev(**previews: Any) -> Plan:
    return plan_for(with_changes(DEV, previews=previews), stack="dev")


def application_set(plan: Plan) -> dict[str, Any]:
    return one(plan, APPLICATION_SET, "-previews-set")


def generated(plan: Plan, number: int = 12, head: str = HEAD) -> dict[str, Any]:
    """The Application the ApplicationSet makes for merge request `number` at `head`: its
    template with the generator's parameters in place (number, head_sha: argo-cd v3.4.4
    applicationset/generators/pull_request.go:104-110), in the ApplicationSet's namespace."""
    template = json.dumps(application_set(plan)["inputs"]["spec"]["template"])
    template = template.replace("{{.number}}", str(number)).replace("{{.head_sha}}", head)
    assert "{{" not in template, template  # no parameter the generator does not give
    filled = json.loads(template)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {**filled["metadata"], "namespace": "argocd"},
        "spec": filled["spec"],
    }


# --- the ApplicationSet -------------------------------------------------------------------


def test_the_dev_plan_asks_gitlab_for_the_labelled_open_merge_requests(dev_plan: Plan) -> None:
    appset = application_set(dev_plan)
    project = one(dev_plan, "gitlab:index/project:Project")
    assert appset["inputs"]["metadata"] == {"name": "previews", "namespace": "argocd"}
    spec = appset["inputs"]["spec"]
    assert (spec["goTemplate"], spec["goTemplateOptions"]) == (True, ["missingkey=error"])
    (generator,) = spec["generators"]
    assert generator["pullRequest"]["requeueAfterSeconds"] == 60
    gitlab = generator["pullRequest"]["gitlab"]
    assert gitlab == {
        # GitLab's own URL: the client adds /api/v4 (Generators-Pull-Request.md, "api").
        "api": "https://gitlab.dev.gitops.example.com/",
        "project": gitlab["project"],
        "tokenRef": {"secretName": "gitlab-previews", "key": "token"},
        "labels": ["preview"],
        "pullRequestState": "opened",
    }
    assert dev_plan.outputs["gitlab_url"] == "https://gitlab.dev.gitops.example.com"
    # The project's numeric id, as GitLab gives it (the mocks' stand-in): the spec waits for
    # the project, and names the project the token is for.
    assert gitlab["project"].isdigit()
    assert appset["property_dependencies"]["spec"] == [project["urn"]]
    assert gitlab["project"] == one(dev_plan, TOKEN, "-previews-token")["inputs"]["project"]


def test_each_preview_deploys_its_merge_requests_head_into_its_own_namespace(
    dev_plan: Plan,
) -> None:
    app = generated(dev_plan, number=12)
    clone_url = "https://gitlab.dev.gitops.example.com/platform/test-stg.git"
    assert app["metadata"]["name"] == "preview-12"
    assert app["metadata"]["finalizers"] == [argocd.FINALIZER]
    assert SUBSCRIBE.items() <= app["metadata"]["annotations"].items()
    spec = app["spec"]
    assert spec["project"] == "previews"
    assert spec["destination"] == {"server": IN_CLUSTER, "namespace": "preview-12"}
    content, namespace = spec["sources"]
    assert content == {"repoURL": clone_url, "path": "my-app/overlays/dev", "targetRevision": HEAD}
    # The namespace chart last, from the default branch: its objects win over the merge
    # request's (multiple_sources.md).
    assert (namespace["repoURL"], namespace["path"], namespace["targetRevision"]) == (
        clone_url,
        NAMESPACE_CHART,
        "HEAD",
    )
    assert namespace["helm"] == {"valuesObject": chart_values(PreviewsConfig())}
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert spec["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    preserve = application_set(dev_plan)["inputs"]["spec"]["syncPolicy"]
    assert preserve == {"preserveResourcesOnDeletion": False}


def test_a_generated_preview_passes_the_argo_cd_guardrails(dev_plan: Plan) -> None:
    app = Resource(argocd.APPLICATION, generated(dev_plan))
    for policy in REGISTRY.of(argocd):
        assert mandatory(analyze(policy, app)) == [], policy.name


def test_the_configured_label_path_and_polling_reach_the_application_set() -> None:
    plan = _dev(label="review-app", path="minio", requeue_after_seconds=300, max=2)
    (generator,) = application_set(plan)["inputs"]["spec"]["generators"]
    assert generator["pullRequest"]["gitlab"]["labels"] == ["review-app"]
    assert generator["pullRequest"]["requeueAfterSeconds"] == 300
    assert generated(plan)["spec"]["sources"][0]["path"] == "minio"
    paths = {f["inputs"]["filePath"] for f in plan.of_type(FILE)}
    assert "minio/Chart.yaml" in paths


# --- the previews' project ----------------------------------------------------------------


def test_the_previews_project_admits_exactly_the_preview_namespaces(dev_plan: Plan) -> None:
    project = one(dev_plan, APP_PROJECT, "-previews-project")
    spec = project["inputs"]["spec"]
    assert project["inputs"]["metadata"]["name"] == "previews"
    assert spec["sourceRepos"] == ["https://gitlab.dev.gitops.example.com/platform/test-stg.git"]
    assert spec["destinations"] == [{"server": IN_CLUSTER, "namespace": "preview-*"}]
    assert spec["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": "preview-*"}
    ]
    # Argo CD matches both as globs (app_project_types.go:513; types.go:3634-3650).
    (destination,) = spec["destinations"]
    assert fnmatch.fnmatchcase(generated(dev_plan)["spec"]["destination"]["namespace"], "preview-*")
    for other in ("argocd", "kube-system", "default", "my-app", "minio", "previews"):
        assert not fnmatch.fnmatchcase(other, destination["namespace"]), other
    # The platform's project stays as it was: exact namespaces only.
    platform = one(dev_plan, APP_PROJECT, "-apps-project")["inputs"]["spec"]
    assert all("*" not in d["namespace"] for d in platform["destinations"])


def test_the_wildcard_rule_allows_the_previews_project_and_prod_allows_none(
    dev_plan: Plan,
) -> None:
    rule = argocd.argocd_project_no_wildcards
    assert plan_decisions([rule], dev_plan) == []
    prod_config = json.loads((PROJECT_DIR / "policies" / "config.prod.json").read_text())
    options = prod_config["argocd-project-no-wildcards"]
    ((name, problem),) = plan_decisions([rule], dev_plan, options)
    assert name == "gitops-platform-dev-previews-project"
    assert "A destination's namespace has a wildcard: 'preview-*'." in problem


# --- the namespace chart ------------------------------------------------------------------


def _committed(plan: Plan, folder: str) -> dict[str, str]:
    return {
        f["inputs"]["filePath"]: f["inputs"]["content"]
        for f in plan.of_type(FILE)
        if f["inputs"]["filePath"].startswith(f"{folder}/")
    }


def test_the_namespace_chart_and_the_preview_path_are_committed(dev_plan: Plan) -> None:
    chart = _committed(dev_plan, NAMESPACE_CHART)
    on_disk = {
        p.relative_to(GITOPS_DIR).as_posix(): p.read_text()
        for p in (GITOPS_DIR / NAMESPACE_CHART).rglob("*")
        if p.is_file()
    }
    assert chart == on_disk
    assert {"preview-namespace/Chart.yaml", "preview-namespace/templates/namespace.yaml"} <= set(
        chart
    )
    assert "my-app/overlays/dev/kustomization.yaml" in _committed(dev_plan, "my-app")


def test_the_committed_chart_renders_the_namespace_its_quota_and_its_limits(
    tmp_path: Path,
) -> None:
    tool("helm")
    previews = {
        "pod_security": "baseline",
        "quota": {"requests_cpu": "1500m", "limits_memory": "3Gi", "pods": 7},
        "limits": {"default_cpu": "300m", "max_memory": "768Mi"},
    }
    plan = _dev(**previews)
    for path, content in _committed(plan, NAMESPACE_CHART).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    # With the values the plan's ApplicationSet gives it, into the preview's namespace as
    # Argo CD renders it (helm template --namespace <destination>).
    values = generated(plan, number=31)["spec"]["sources"][1]["helm"]["valuesObject"]
    objects = helm_template(tmp_path / NAMESPACE_CHART, values, "preview-31", "preview-31")
    by_kind = {o["kind"]: o for o in objects}
    assert sorted(by_kind) == ["LimitRange", "Namespace", "ResourceQuota"]
    assert len(objects) == 3
    namespace = by_kind["Namespace"]
    assert namespace["metadata"]["name"] == "preview-31"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    quota = by_kind["ResourceQuota"]
    assert quota["metadata"]["namespace"] == "preview-31"
    assert quota["spec"]["hard"] == {
        "requests.cpu": "1500m",
        "requests.memory": "1Gi",
        "limits.cpu": "2",
        "limits.memory": "3Gi",
        "pods": "7",
    }
    (limits,) = by_kind["LimitRange"]["spec"]["limits"]
    assert by_kind["LimitRange"]["metadata"]["namespace"] == "preview-31"
    assert limits == {
        "type": "Container",
        "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
        "default": {"cpu": "300m", "memory": "256Mi"},
        "max": {"cpu": "1", "memory": "768Mi"},
    }
    assert validate(objects, KUBE, {}) == []


def test_the_chart_refuses_to_render_without_its_values(tmp_path: Path) -> None:
    tool("helm")
    chart = tmp_path / NAMESPACE_CHART
    for path in (GITOPS_DIR / NAMESPACE_CHART).rglob("*"):
        if path.is_file():
            target = chart / path.relative_to(GITOPS_DIR / NAMESPACE_CHART)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    (chart / "values.yaml").write_text("{}\n")
    with pytest.raises(AssertionError, match=r"quota\.requestsCpu|limits\.defaultRequestCpu"):
        helm_template(chart, {"podSecurity": "restricted", "quota": {}, "limits": {}}, "p", "p")


def test_the_charts_defaults_are_the_configs() -> None:
    defaults = yaml.safe_load((GITOPS_DIR / NAMESPACE_CHART / "values.yaml").read_text())
    assert defaults == chart_values(PreviewsConfig())


# --- the cap ------------------------------------------------------------------------------


def test_a_quota_caps_the_applications_in_argocd_at_the_stacks_own_plus_max(
    dev_plan: Plan,
) -> None:
    own = [a for a in dev_plan.of_type(APPLICATION)]
    assert len(own) == 2
    quota = one(dev_plan, QUOTA, "-previews-quota")
    assert quota["inputs"]["metadata"]["namespace"] == "argocd"
    assert quota["inputs"]["spec"]["hard"] == {"count/applications.argoproj.io": "7"}
    # The cap exists before any preview can be made.
    assert quota["urn"] in application_set(dev_plan)["dependencies"]
    two = one(_dev(max=2), QUOTA, "-previews-quota")
    assert two["inputs"]["spec"]["hard"] == {"count/applications.argoproj.io": "4"}
    one_app = [{"name": "my-app", "path": "my-app/overlays/dev", "namespace": "my-app"}]
    fewer = plan_for(with_changes(DEV, applications=one_app), stack="dev")
    assert one(fewer, QUOTA, "-previews-quota")["inputs"]["spec"]["hard"] == {
        "count/applications.argoproj.io": "6"
    }


def test_nothing_else_the_stack_commits_or_creates_makes_applications(dev_plan: Plan) -> None:
    # Only the stack's own Applications and the previews' ApplicationSet: no other resource
    # of the stack, and no committed manifest (an app of apps), makes Applications in argocd.
    kinds = {r["type"] for r in dev_plan.resources if r["type"].startswith("kubernetes:argoproj")}
    assert kinds == {APPLICATION, APP_PROJECT, APPLICATION_SET}
    assert len(dev_plan.of_type(APPLICATION_SET)) == 1
    files = dev_plan.of_type(FILE)
    assert files
    for committed in files:
        content = committed["inputs"]["content"]
        assert not re.search(r"^kind:\s*Application(Set)?\b", content, re.M), committed["name"]


# --- the generator's token ----------------------------------------------------------------


def test_the_generator_reads_the_api_with_a_rotating_reporter_token(dev_plan: Plan) -> None:
    token = one(dev_plan, TOKEN, "-previews-token")
    project = one(dev_plan, "gitlab:index/project:Project")
    assert token["inputs"]["scopes"] == ["read_api"]
    assert token["inputs"]["accessLevel"] == "reporter"
    assert token["inputs"]["rotationConfiguration"] == {
        "expirationDays": 90,
        "rotateBeforeDays": 60,
    }
    assert token["property_dependencies"]["project"] == [project["urn"]]
    # Made as root (the `admin` provider): a bot cannot create access tokens.
    assert token["provider"].endswith("::gitops-platform-dev-gitops-gitlab")
    secret = one(dev_plan, SECRET_TYPE, "-previews-token")
    assert secret["inputs"]["metadata"] == {
        "name": "gitlab-previews",
        "namespace": "argocd",
        "labels": {"argocd.argoproj.io/secret-type": "scm-creds"},
    }
    assert secret["inputs"]["stringData"] == SECRET
    assert secret["property_dependencies"]["stringData"] == [token["urn"]]
    value = dev_plan.analyzer_inputs[secret["urn"]]["stringData"]
    assert value == {"token": value["token"]}
    assert value["token"].startswith("offline-access-token-")


def test_the_token_rule_holds_the_previews_token(dev_plan: Plan) -> None:
    from guardrails import identity

    rule = identity.gitlab_tokens_expire_and_rotate
    assert [d for d in plan_decisions([rule], dev_plan) if "previews" in d[0]] == []
    plan = copy.deepcopy(dev_plan)
    token = one(plan, TOKEN, "-previews-token")
    del plan.analyzer_inputs[token["urn"]]["rotationConfiguration"]
    assert [d for d in plan_decisions([rule], plan) if "previews" in d[0]]


# --- previews off -------------------------------------------------------------------------


def _previews_resources(plan: Plan) -> list[str]:
    return sorted(
        f"{r['type']} {r['name']}"
        for r in plan.resources
        if "previews" in r["name"] or r["type"] in (APPLICATION_SET, QUOTA)
    )


def test_previews_off_makes_none_of_it(prod_plan: Plan) -> None:
    off = _dev(enabled=False)
    assert _previews_resources(off) == []
    assert _committed(off, NAMESPACE_CHART) == {}
    assert [r["name"] for r in off.of_type(APP_PROJECT)] == ["gitops-platform-dev-apps-project"]
    assert not [t for t in off.of_type(TOKEN) if t["name"].endswith("-previews-token")]
    # Production: off unless asked for.
    assert _previews_resources(prod_plan) == []
    assert _committed(prod_plan, NAMESPACE_CHART) == {}
    prod = stack_file_config("prod")
    on = plan_for(with_changes(prod, previews={"enabled": True}), stack="prod")
    assert len(_previews_resources(on)) == 7


# --- the configuration --------------------------------------------------------------------


def _problems(**previews: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plan_for(with_changes(DEV, previews=previews))
    return raised.value.problems


@pytest.mark.parametrize(
    ("previews", "problem"),
    [
        (
            {"path": "my-app/overlays/nope"},
            f"{PROJECT}:previews.path = 'my-app/overlays/nope': expected a folder of gitops/",
        ),
        (
            {"path": "my-app"},
            f"{PROJECT}:previews.path = 'my-app': expected a Helm chart (Chart.yaml) or a "
            "kustomization in gitops/my-app",
        ),
        (
            {"path": "../elsewhere"},
            f"{PROJECT}:previews.path = '../elsewhere': expected a relative",
        ),
        ({"label": "Any"}, f"{PROJECT}:previews.label = 'Any': expected a label other than 'Any'"),
        ({"label": "a,b"}, f"{PROJECT}:previews.label = 'a,b': expected a GitLab label name"),
        ({"max": 0}, f"{PROJECT}:previews.max = 0: expected a number >= 1"),
        (
            {"requeue_after_seconds": 1},
            f"{PROJECT}:previews.requeue_after_seconds = 1: expected a number >= 10",
        ),
        (
            {"quota": {"requests_memory": "4Gi"}},
            f"{PROJECT}:previews.quota.requests_memory = '4Gi': expected requests_memory (4Gi) "
            "at most limits_memory (2Gi)",
        ),
        (
            {"quota": {"limits_cpu": "two"}},
            f"{PROJECT}:previews.quota.limits_cpu = 'two': expected a CPU quantity",
        ),
        (
            {"limits": {"default_memory": "2Gi"}},
            f"{PROJECT}:previews.limits.default_memory = '2Gi': expected default_memory (2Gi) "
            "at most max_memory (1Gi)",
        ),
        (
            {"limits": {"max_cpu": "4"}},
            f'{PROJECT}:previews.limits = {{"max_cpu": "4"}}: expected limits.max_cpu (4) at '
            "most quota.limits_cpu (2)",
        ),
        ({"maxx": 3}, f"{PROJECT}:previews.maxx = 3: unknown key"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else "",
)
def test_a_previews_mistake_names_its_key(previews: dict[str, Any], problem: str) -> None:
    (found,) = _problems(**previews)
    assert found.startswith(problem), found


def test_quantities_compare_as_kubernetes_reads_them() -> None:
    assert quantity("1500m") == Decimal("1.5")
    assert quantity("2") == 2
    assert quantity("512Mi") == 512 * 1024**2
    assert quantity("1Gi") > quantity("1000Mi") > quantity("1G")
    assert (quantity("1k"), quantity("2Ki")) == (1000, 2048)
    # 1025Mi is more than 1Gi: the memory check sees it.
    (found,) = _problems(quota={"requests_memory": "1025Mi", "limits_memory": "1Gi"})
    assert "expected requests_memory (1025Mi) at most limits_memory (1Gi)" in found
    assert _dev(quota={"requests_memory": "1024Mi", "limits_memory": "1Gi"})


def test_the_default_preview_path_is_a_kustomization_of_gitops() -> None:
    path = PreviewsConfig().path
    assert (GITOPS_DIR / path / "kustomization.yaml").is_file()


# --- against the CRDs the pinned chart installs -------------------------------------------


def test_the_application_set_project_and_a_preview_validate_against_argo_cds_crds(
    dev_plan: Plan, argo_cd_crds: Any
) -> None:
    objects = [
        application_set(dev_plan)["inputs"],
        one(dev_plan, APP_PROJECT, "-previews-project")["inputs"],
        generated(dev_plan),
    ]
    assert {("argoproj.io/v1alpha1", o["kind"]) for o in objects} <= set(argo_cd_crds)
    assert validate(objects, KUBE, argo_cd_crds) == []
    broken = copy.deepcopy(objects[0])
    broken["spec"]["generators"][0]["pullRequest"]["gitlab"]["label"] = ["preview"]
    broken["spec"]["template"]["spec"]["source"] = {"repoURL": 3}
    assert sorted(f"{i.field}: {i.message}" for i in validate([broken], KUBE, argo_cd_crds)) == [
        "spec.generators[0].pullRequest.gitlab.label: unknown field 'label' (the API server "
        "drops it)",
        "spec.template.spec.source.repoURL: expected string, got integer",
    ]


def test_the_offline_preview_checks_the_application_set_not_skips_it(
    dev_plan: Plan, tmp_path: Path
) -> None:
    tool("helm")
    tool("kubectl")
    charts = chart_archive("argo-cd", "10.1.1").parent
    tools = Tools.find(charts=charts, cache=tmp_path)
    result = render(dev_plan, tools)
    assert not [n for n in result.stack_unchecked if "ApplicationSet" in n or "previews" in n]
    assert result.stack_objects["ApplicationSet"] == 1
    assert result.stack_objects["ResourceQuota"] == 1
    assert result.stack_invalid == []
    # Nothing the charts and Applications render makes Applications either.
    assert [
        (s.name, o["metadata"]["name"])
        for s in result.sources
        for o in s.objects
        if o.get("kind") in ("Application", "ApplicationSet")
    ] == []
    plan = Plan(
        project=dev_plan.project,
        stack=dev_plan.stack,
        resources=copy.deepcopy(dev_plan.resources),
        outputs=dict(dev_plan.outputs),
    )
    appset = application_set(plan)
    appset["inputs"]["spec"]["generators"][0]["pullRequest"]["requeueAfterSeconds"] = "soon"
    (invalid,) = render(plan, tools).stack_invalid
    assert invalid.startswith("ApplicationSet argocd/previews: spec.generators[0].pullRequest")


def test_make_charts_pulls_what_the_previews_path_depends_on() -> None:
    # `make charts` reads the Chart.yaml files the stack commits: a previews path no
    # application deploys counts too.
    from offline.stack_files import settings_from_config
    from tools.charts import stack_pins

    one_app = [{"name": "my-app", "path": "my-app/overlays/dev", "namespace": "my-app"}]
    config = with_changes(DEV, applications=one_app, previews={"path": "minio"})
    where = {where for _, where in stack_pins(settings_from_config(PROJECT, "dev", config))}
    assert "gitops/minio/Chart.yaml" in where
    off = with_changes(config, previews={"path": "minio", "enabled": False})
    assert "gitops/minio/Chart.yaml" not in {
        where for _, where in stack_pins(settings_from_config(PROJECT, "dev", off))
    }


def test_gitlab_has_the_label_a_merge_request_takes_for_a_preview(dev_plan: Plan) -> None:
    label = one(dev_plan, "gitlab:index/projectLabel:ProjectLabel", "-previews-label")
    set_spec = one(dev_plan, APPLICATION_SET)["inputs"]["spec"]
    (generator,) = set_spec["generators"]
    assert generator["pullRequest"]["gitlab"]["labels"] == [label["inputs"]["name"]]
    project = one(dev_plan, "gitlab:index/project:Project")
    assert label["property_dependencies"]["project"] == [project["urn"]]
    automation = one(dev_plan, "pulumi:providers:gitlab", "-gitops-automation")
    assert label["provider"] == automation["urn"]
