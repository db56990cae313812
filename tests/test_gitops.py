"""GitOps wiring: the seeded GitLab project, Argo CD's credentials, and the Applications."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import component_plans as components
import pytest
import yaml
from component_plans import component_plan
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes
from upstream import chart_archive, helm_template, kustomize

from components.applications import MINIO_ROOT_SECRET
from components.config import DEFAULT_APPLICATIONS, GITOPS_DIR, ConfigError
from components.gitlab_tokens import REGISTER_TOKEN, REVOKE_TOKEN, renewal_period
from components.gitops_repository import repository_content
from offline import mocks
from offline.plan import PROJECT_DIR, SECRET, Plan

DEV = stack_file_config("dev")
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
FILE = "gitlab:index/repositoryFile:RepositoryFile"
RELEASE = "kubernetes:helm.sh/v3:Release"


def application(plan: Plan, name: str) -> dict[str, Any]:
    (found,) = [a for a in plan.of_type(APPLICATION) if a["inputs"]["metadata"]["name"] == name]
    return found


def repository_secret(plan: Plan) -> dict[str, Any]:
    (found,) = [
        s
        for s in plan.of_type("kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"].get("labels", {}).get("argocd.argoproj.io/secret-type")
        == "repository"
    ]
    return found


# --- the repository content -----------------------------------------------------------------


# Two real tags of a real public image (docker.io/nginxinc/nginx-unprivileged), one per overlay.
IMAGE = "docker.io/nginxinc/nginx-unprivileged"


@pytest.mark.parametrize(
    ("folder", "replicas", "image"),
    [
        ("my-app/base", 1, f"{IMAGE}:1.28.0"),
        ("my-app/overlays/dev", 2, f"{IMAGE}:1.28.2"),
        ("my-app/overlays/ops", 4, f"{IMAGE}:1.28.0"),
    ],
)
def test_kustomize_overlays_patch_only_what_differs(folder: str, replicas: int, image: str) -> None:
    (deployment,) = kustomize(GITOPS_DIR / folder)
    assert deployment["spec"]["replicas"] == replicas
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image
    assert container["ports"] == [{"containerPort": 8080}]
    assert container["readinessProbe"]["httpGet"]["port"] == 8080


def test_minio_chart_depends_on_the_configured_minio_chart() -> None:
    chart = yaml.safe_load((GITOPS_DIR / "minio" / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    (dependency,) = chart["dependencies"]
    from components.config import GitOpsConfig

    default = GitOpsConfig().minio_chart
    assert (dependency["repository"], dependency["version"]) == (
        default.repository,
        default.version,
    )


def test_minio_values_sit_under_the_dependency_and_hold_no_credentials() -> None:
    values = yaml.safe_load((GITOPS_DIR / "minio" / "values-minio.yaml").read_text())
    assert list(values) == ["minio"]
    assert values["minio"]["existingSecret"] == MINIO_ROOT_SECRET
    assert values["minio"]["users"] == []  # no default console user with a known password
    text = (GITOPS_DIR / "minio" / "values-minio.yaml").read_text()
    assert "rootPassword:" not in text
    assert "rootUser:" not in text


def test_a_configured_minio_source_is_what_gets_committed() -> None:
    gitops = {
        "minio_chart": {"repository": "oci://registry.example.com/charts", "version": "1.2.3"}
    }
    plan = component_plan(components.gitops, with_changes(DEV, gitops=gitops))
    (chart_file,) = [f for f in plan.of_type(FILE) if f["inputs"]["filePath"] == "minio/Chart.yaml"]
    (dependency,) = yaml.safe_load(chart_file["inputs"]["content"])["dependencies"]
    assert dependency == {
        "name": "minio",
        "version": "1.2.3",
        "repository": "oci://registry.example.com/charts",
    }


def test_the_folders_the_stack_deploys_are_committed_to_main(dev_plan: Plan) -> None:
    # dev's applications: minio, my-app/overlays/dev; its previews: my-app/overlays/dev and
    # the preview-namespace chart.
    deployed = ("minio", "my-app", "preview-namespace")
    on_disk = {
        p.relative_to(GITOPS_DIR).as_posix()
        for p in GITOPS_DIR.rglob("*")
        if p.is_file()
        and (p.parent == GITOPS_DIR or p.relative_to(GITOPS_DIR).parts[0] in deployed)
    }
    files = dev_plan.of_type(FILE)
    assert {f["inputs"]["filePath"] for f in files} == on_disk
    assert {
        "README.md",
        "my-app/base/kustomization.yaml",
        "my-app/overlays/ops/kustomization.yaml",
    } <= on_disk
    assert {f["inputs"]["branch"] for f in files} == {"main"}
    from components.config import GitOpsConfig

    content = repository_content(
        GitOpsConfig().minio_chart,
        DEFAULT_APPLICATIONS,
        ["my-app/overlays/dev", "preview-namespace"],
    )
    for committed in files:
        assert committed["inputs"]["content"] == content[committed["inputs"]["filePath"]]


def test_a_folder_no_application_of_the_stack_deploys_is_not_committed() -> None:
    only_my_app = [{"name": "my-app", "path": "my-app/overlays/dev", "namespace": "my-app"}]
    plan = plan_for(with_changes(stack_file_config("dev"), applications=only_my_app))
    paths = {f["inputs"]["filePath"] for f in plan.of_type(FILE)}
    assert {"README.md", "my-app/base/kustomization.yaml"} <= paths
    assert [p for p in paths if p.startswith("minio/")] == []


# --- the GitLab side ------------------------------------------------------------------------


def test_group_and_project_are_private_with_main_as_default_branch(dev_plan: Plan) -> None:
    group = one(dev_plan, "gitlab:index/group:Group")
    project = one(dev_plan, "gitlab:index/project:Project")
    assert group["inputs"]["visibilityLevel"] == "private"
    assert (project["inputs"]["path"], project["inputs"]["visibilityLevel"]) == (
        "test-stg",
        "private",
    )
    assert project["inputs"]["defaultBranch"] == "main"
    assert project["property_dependencies"]["namespaceId"] == [group["urn"]]


def test_argo_cd_reads_with_a_read_only_rotating_project_token(dev_plan: Plan) -> None:
    token = one(dev_plan, "gitlab:index/projectAccessToken:ProjectAccessToken", "-gitops-argocd")
    assert token["inputs"]["scopes"] == ["read_repository"]
    assert token["inputs"]["accessLevel"] == "reporter"
    assert token["inputs"]["rotationConfiguration"] == {
        "expirationDays": 90,
        "rotateBeforeDays": 60,
    }
    assert token["property_dependencies"]["project"] == [
        one(dev_plan, "gitlab:index/project:Project")["urn"]
    ]
    assert dev_plan.of_type("gitlab:index/projectDeployToken:ProjectDeployToken") == []


def test_root_token_does_only_what_needs_an_administrator(dev_plan: Plan) -> None:
    """The group, the access tokens and the instance-wide settings and applications use
    root's token; the project and its files the group's own Owner token."""
    admin, automation = sorted(
        dev_plan.of_type("pulumi:providers:gitlab"), key=lambda p: p["urn"].endswith("automation")
    )
    assert admin["urn"].endswith("-gitops-gitlab")
    assert automation["urn"].endswith("-automation")
    token = one(dev_plan, "gitlab:index/groupAccessToken:GroupAccessToken")
    assert (token["inputs"]["scopes"], token["inputs"]["accessLevel"]) == (["api"], "owner")
    assert automation["inputs"]["token"] == SECRET
    assert depends_on(automation, token)
    by_provider: dict[str, set[str]] = {}
    for resource in dev_plan.resources:
        if resource["type"].startswith("gitlab:index/"):
            kind = resource["type"].rsplit(":", 1)[-1]
            by_provider.setdefault(resource["provider"], set()).add(kind)
    assert by_provider == {
        admin["urn"]: {
            "Group",
            "GroupAccessToken",
            "ProjectAccessToken",
            "Application",
            "ApplicationSettings",
        },
        automation["urn"]: {"Project", "RepositoryFile", "ProjectHook", "ProjectLabel"},
    }


def test_gitlab_is_driven_with_a_bootstrapped_token(dev_plan: Plan) -> None:
    registration = one(dev_plan, "command:local:Command", "-gitops-token")
    provider = one(dev_plan, "pulumi:providers:gitlab", "-gitops-gitlab")
    assert provider["inputs"]["baseUrl"] == "https://gitlab.dev.gitops.example.com/api/v4"
    assert provider["inputs"]["token"] == SECRET
    assert depends_on(provider, registration)
    assert depends_on(registration, one(dev_plan, RELEASE, "-gitlab"))
    assert registration["inputs"]["environment"]["GITLAB_TOKEN"] == SECRET
    assert "gitlab-rails runner" in registration["inputs"]["create"]
    assert "scopes: [:api]" in registration["inputs"]["create"]
    assert "expires = 90.days.from_now" in registration["inputs"]["create"]
    # Re-running the step (a new kubeconfig, a new expiry) renews the same token instead of
    # colliding with GitLab's unique token digests; tokens belong to an organization.
    assert "PersonalAccessToken.find_by_token(value)" in registration["inputs"]["create"]
    assert "Organizations::Organization.default_organization" in registration["inputs"]["create"]
    assert "|| echo 'warning: could not revoke" in registration["inputs"]["delete"]
    # Everything on the GitLab side goes through that provider or the one whose token it
    # creates, so it waits for the token.
    automation = one(dev_plan, "pulumi:providers:gitlab", "-gitops-automation")
    assert depends_on(automation, one(dev_plan, "gitlab:index/groupAccessToken:GroupAccessToken"))
    on_gitlab = [r for r in dev_plan.resources if r["type"].startswith("gitlab:")]
    assert on_gitlab
    assert {r["provider"] for r in on_gitlab} == {provider["urn"], automation["urn"]}


def test_gitlab_is_used_only_once_it_answers_from_outside(dev_plan: Plan) -> None:
    provider = one(dev_plan, "pulumi:providers:gitlab", "-gitops-gitlab")
    reachable = one(dev_plan, "command:local:Command", "-gitlab-reachable")
    assert depends_on(provider, reachable)
    assert depends_on(reachable, one(dev_plan, RELEASE, "-gitlab"))
    assert "https://gitlab.dev.gitops.example.com/users/sign_in" in reachable["inputs"]["create"]


# --- the bootstrap token's renewal -----------------------------------------------------------


def token_value(plan: Plan) -> dict[str, Any]:
    return one(plan, "random:index/randomPassword:RandomPassword", "-gitops-token")


def token_step(plan: Plan) -> dict[str, Any]:
    return one(plan, "command:local:Command", "-gitops-token")


def test_the_token_is_renewed_by_the_calendar_not_only_when_its_value_changes(
    dev_plan: Plan,
) -> None:
    # Offline the machine's date is the mocks' 2026-01-01: 20454 days after 1970-01-01, in
    # the 30-day period that starts on day 20430, 2025-12-08.
    period = "renewal 2025-12-08, every 30 days"
    assert token_value(dev_plan)["inputs"]["keepers"] == {"renewal": period}
    assert period in token_step(dev_plan)["inputs"]["triggers"]
    assert {"token": "command:local:run", "args": {"command": "date -u +%Y-%m-%d"}} in (
        dev_plan.invokes
    )


def test_a_new_period_makes_a_new_token_and_runs_the_step_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def plan_on(day: str) -> Plan:
        monkeypatch.setattr(mocks, "OFFLINE_NOW", f"{day}T12:00:00Z")
        return component_plan(components.gitops, DEV, stack=f"dev-on-{day}")

    same, later = plan_on("2026-01-06"), plan_on("2026-01-07")  # day 20460 starts a period
    assert token_value(same)["inputs"]["keepers"] == {
        "renewal": "renewal 2025-12-08, every 30 days"
    }
    assert token_value(later)["inputs"]["keepers"] == {
        "renewal": "renewal 2026-01-07, every 30 days"
    }
    assert token_step(same)["inputs"]["triggers"] != token_step(later)["inputs"]["triggers"]


@pytest.mark.parametrize("every", [1, 7, 30, 45])
def test_every_token_is_renewed_within_one_period_of_its_registration(every: int) -> None:
    start = date(2026, 1, 1)
    for offset in range(2 * every):
        registered = start + timedelta(days=offset)
        period = renewal_period(registered.isoformat(), every)
        renewals = [
            d
            for d in range(1, every + 1)
            if renewal_period((registered + timedelta(days=d)).isoformat(), every) != period
        ]
        assert renewals, (registered, every)  # a later period starts within `every` days


def test_the_old_token_is_revoked_not_deleted() -> None:
    assert "delete_all" not in REGISTER_TOKEN
    assert ".active.where(name: '{name}').each(&:revoke!)" in REGISTER_TOKEN
    assert "each(&:revoke!)" in REVOKE_TOKEN


def test_the_documented_recovery_commands_name_the_tokens(dev_plan: Plan) -> None:
    """Each `grep -o` of docs/gitops.md picks exactly its token out of the URN listing:
    root's token value, then the group's and Argo CD's access tokens, then the previews'."""
    doc = (PROJECT_DIR / "docs" / "gitops.md").read_text()
    patterns = re.findall(r"grep -o '([^']+)'", doc)
    listing = "\n".join(f"    URN: {r['urn']}" for r in dev_plan.resources)
    found = [
        subprocess.run(
            ["grep", "-o", pattern], input=listing, capture_output=True, text=True, check=True
        ).stdout.split()
        for pattern in patterns
    ]
    assert found == [
        [token_value(dev_plan)["urn"]],
        [one(dev_plan, "gitlab:index/groupAccessToken:GroupAccessToken")["urn"]],
        [
            one(dev_plan, "gitlab:index/projectAccessToken:ProjectAccessToken", "-gitops-argocd")[
                "urn"
            ]
        ],
        [
            one(dev_plan, "gitlab:index/projectAccessToken:ProjectAccessToken", "-previews-token")[
                "urn"
            ]
        ],
    ]


def test_renewal_must_leave_the_token_half_its_life() -> None:
    with pytest.raises(ConfigError, match=r"token_renewal_days \(60\) at most half"):
        plan_for(with_changes(DEV, gitops={"token_renewal_days": 60}), stack="dev")


def test_a_user_supplied_token_skips_the_bootstrap() -> None:
    plan = plan_for(DEV, stack="dev", secrets={"gitlab_token": "glpat-user-supplied-canary"})
    commands = {c["name"] for c in plan.of_type("command:local:Command")}
    assert "gitops-platform-dev-gitops-gitlab-reachable" in commands
    assert not [c for c in commands if c.endswith("-gitops-token")]
    assert not [
        r
        for r in plan.of_type("random:index/randomPassword:RandomPassword")
        if r["name"].endswith("-gitops-token")
    ]
    assert one(plan, "pulumi:providers:gitlab", "-gitops-gitlab")["inputs"]["token"] == SECRET
    assert "glpat-user-supplied-canary" not in plan.to_json()


# --- the Argo CD side -----------------------------------------------------------------------


def test_repository_secret_points_at_the_dot_git_url_with_secret_credentials(
    dev_plan: Plan,
) -> None:
    secret = repository_secret(dev_plan)
    assert secret["inputs"]["metadata"]["namespace"] == "argocd"
    assert secret["inputs"]["stringData"] == SECRET
    url = dev_plan.outputs["gitops_repository_url"]
    assert url == "https://gitlab.dev.gitops.example.com/platform/test-stg.git"
    assert depends_on(
        secret,
        one(dev_plan, "gitlab:index/projectAccessToken:ProjectAccessToken", "-gitops-argocd"),
    )


def test_app_project_admits_this_repository_and_the_apps_namespaces_only(dev_plan: Plan) -> None:
    project = one(dev_plan, "kubernetes:argoproj.io/v1alpha1:AppProject", "-apps-project")
    spec = project["inputs"]["spec"]
    assert spec["sourceRepos"] == [dev_plan.outputs["gitops_repository_url"]]
    assert {d["namespace"] for d in spec["destinations"]} == {"minio", "my-app"}
    assert "*" not in json.dumps(spec)


def test_minio_application_is_the_seeds_plus_automated_sync(dev_plan: Plan) -> None:
    app = application(dev_plan, "minio-helm")["inputs"]
    assert app["metadata"]["namespace"] == "argocd"
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    spec = app["spec"]
    assert spec["destination"] == {"namespace": "minio", "server": "https://kubernetes.default.svc"}
    assert spec["project"] == "platform"
    assert spec["source"] == {
        "repoURL": dev_plan.outputs["gitops_repository_url"],
        "path": "minio",
        "targetRevision": "HEAD",
        "helm": {"valueFiles": ["values-minio.yaml"]},
    }
    assert spec["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert spec["syncPolicy"]["retry"]["limit"] >= 1


def test_my_app_deploys_the_dev_overlay_with_kustomize(dev_plan: Plan) -> None:
    spec = application(dev_plan, "my-app")["inputs"]["spec"]
    assert spec["source"]["path"] == "my-app/overlays/dev"
    assert "helm" not in spec["source"]


def test_prod_deploys_the_ops_overlay(prod_plan: Plan) -> None:
    spec = application(prod_plan, "my-app")["inputs"]["spec"]
    assert spec["source"]["path"] == "my-app/overlays/ops"
    assert application(prod_plan, "minio-helm")["inputs"]["spec"]["source"]["path"] == "minio"


@pytest.mark.parametrize("name", ["minio-helm", "my-app"])
def test_applications_wait_for_argocd_credentials_and_content(dev_plan: Plan, name: str) -> None:
    app = application(dev_plan, name)
    assert depends_on(app, one(dev_plan, "kubernetes:storage.k8s.io/v1:StorageClass"))
    assert depends_on(app, one(dev_plan, RELEASE, "-argocd"))
    assert depends_on(app, repository_secret(dev_plan))
    assert all(depends_on(app, f) for f in dev_plan.of_type(FILE))


def test_minio_credentials_are_generated_into_the_secret_its_values_name(dev_plan: Plan) -> None:
    (secret,) = [
        s
        for s in dev_plan.of_type("kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"]["name"] == MINIO_ROOT_SECRET
    ]
    assert secret["inputs"]["metadata"]["namespace"] == "minio"
    assert secret["inputs"]["stringData"] == SECRET
    assert depends_on(application(dev_plan, "minio-helm"), secret)
    assert dev_plan.outputs["minio_root_password"] == SECRET


def test_no_token_or_password_appears_in_the_plan(dev_plan: Plan) -> None:
    text = dev_plan.to_json()
    assert "offline-deploy-token-" not in text
    assert "offline-password-" not in text


def test_sync_policy_is_configurable() -> None:
    apps = [
        {
            "name": "minio-helm",
            "path": "minio",
            "namespace": "minio",
            "value_files": ["values-minio.yaml"],
            "sync": {"automated": False},
        }
    ]
    plan = component_plan(components.gitops, with_changes(DEV, applications=apps))
    assert "automated" not in application(plan, "minio-helm")["inputs"]["spec"]["syncPolicy"]
    assert [a["inputs"]["metadata"]["name"] for a in plan.of_type(APPLICATION)] == ["minio-helm"]


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ({"name": "x", "path": "nowhere", "namespace": "x"}, "expected a folder of gitops/"),
        (
            {"name": "x", "path": "minio", "namespace": "default"},
            "expected an application namespace",
        ),
        ({"name": "X_bad", "path": "minio", "namespace": "x"}, "expected a DNS label"),
        (
            {"name": "x", "path": "minio", "namespace": "x", "value_files": ["values-minoi.yaml"]},
            "value_files[0] = 'values-minoi.yaml': expected a file of gitops/minio: "
            "['Chart.yaml', 'values-minio.yaml']",
        ),
        (
            {"name": "x", "path": "my-app/base", "namespace": "x", "value_files": ["v.yaml"]},
            'value_files = ["v.yaml"]: gitops/my-app/base is a Kustomize folder: it takes no '
            "value files",
        ),
        (
            {"name": "x", "path": "my-app", "namespace": "x"},
            "path = 'my-app': expected a Helm chart (Chart.yaml) or a kustomization in "
            "gitops/my-app",
        ),
    ],
)
def test_bad_applications_are_refused_with_the_key(app: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=re.escape(message)) as raised:
        plan_for(with_changes(DEV, applications=[app]), stack="dev")
    assert f"{PROJECT}:applications[0]." in str(raised.value)


def test_application_names_must_be_unique() -> None:
    app = {"name": "same", "path": "minio", "namespace": "minio"}
    with pytest.raises(Exception, match="names must be unique; repeated: \\['same'\\]"):
        plan_for(with_changes(DEV, applications=[app, app]), stack="dev")


def test_minio_renders_one_recreated_pod_from_the_stacks_secret(tmp_path: Path) -> None:
    # The chart folder as committed, with its dependency from the chart cache, rendered by
    # the real helm with the Application's value file.
    chart = tmp_path / "minio"
    shutil.copytree(GITOPS_DIR / "minio", chart)
    (dependency,) = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    archive = chart_archive(dependency["name"], dependency["version"])
    if archive.name != f"minio-{dependency['version']}.tgz":
        pytest.skip(f"the cache has {archive.name}, not the pinned minio {dependency['version']}")
    (chart / "charts").mkdir()
    shutil.copy(archive, chart / "charts")
    values = yaml.safe_load((chart / "values-minio.yaml").read_text())
    objects = helm_template(chart, values, "minio-helm", "minio")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"] == {"memory": "512Mi"}
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {MINIO_ROOT_SECRET}
    assert not [o for o in objects if o["kind"] == "Secret"]  # no credential of the chart's own
