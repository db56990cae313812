"""Signing in to Argo CD with GitLab: the OAuth applications, the OIDC configuration and its
Secret, roles from GitLab groups, the local admin, and GitLab's two-factor requirement."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml
from plans import depends_on, one, plan_for, stack_file_config, with_changes
from upstream import chart_archive, helm_template

from components.config import ConfigError, GroupRole
from components.sign_in import PART_OF_ARGOCD, SECRET_NAME, rbac, subjects
from offline.plan import PROJECT_DIR, SECRET, Plan

DEV = stack_file_config("dev")
PROD = stack_file_config("prod")
RELEASE = "kubernetes:helm.sh/v3:Release"
APPLICATION = "gitlab:index/application:Application"
SETTINGS = "gitlab:index/applicationSettings:ApplicationSettings"
APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"


def argocd_values(plan: Plan) -> dict[str, Any]:
    values: dict[str, Any] = one(plan, RELEASE, "-argocd")["inputs"]["values"]
    return values


def oidc(plan: Plan) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(argocd_values(plan)["configs"]["cm"]["oidc.config"])
    return config


def dev_with(**argocd_sso: Any) -> Plan:
    return plan_for(with_changes(DEV, argocd={"sso": argocd_sso}), stack="dev")


# --- GitLab's side ----------------------------------------------------------------------


def test_gitlab_has_a_confidential_application_for_the_web_ui_and_a_public_one_for_the_cli(
    dev_plan: Plan,
) -> None:
    web = one(dev_plan, APPLICATION, "-sign-in-argocd")["inputs"]
    cli = one(dev_plan, APPLICATION, "-sign-in-argocd-cli")["inputs"]
    assert web["redirectUrl"] == "https://argocd.dev.gitops.example.com/auth/callback"
    assert web["confidential"] is True
    assert cli["redirectUrl"] == "http://localhost:8085/auth/callback"
    assert cli["confidential"] is False
    assert web["scopes"] == cli["scopes"] == ["openid", "profile", "email"]
    # Replaced, with its secret, in each renewal period.
    assert web["name"].startswith("Argo CD (renewal ")


def test_the_applications_are_made_with_roots_token(dev_plan: Plan) -> None:
    admin = one(dev_plan, "pulumi:providers:gitlab", "-gitops-gitlab")
    for application in dev_plan.of_type(APPLICATION):
        assert application["provider"] == admin["urn"]


def test_argo_cd_reads_the_client_from_a_labelled_secret_it_can_resolve(dev_plan: Plan) -> None:
    secret = one(dev_plan, "kubernetes:core/v1:Secret", "-sign-in-argocd-sso")
    metadata = secret["inputs"]["metadata"]
    assert (metadata["name"], metadata["namespace"]) == (SECRET_NAME, "argocd")
    assert metadata["labels"] == PART_OF_ARGOCD
    assert secret["inputs"]["stringData"] == SECRET
    assert depends_on(secret, one(dev_plan, RELEASE, "-argocd"))
    for application in dev_plan.of_type(APPLICATION):
        assert depends_on(secret, application)
    assert "offline-oauth-secret" not in dev_plan.to_json()


def test_argo_cd_does_not_wait_for_gitlab(dev_plan: Plan) -> None:
    release = one(dev_plan, RELEASE, "-argocd")
    assert not depends_on(release, one(dev_plan, RELEASE, "-gitlab"))
    assert not any(depends_on(release, a) for a in dev_plan.of_type(APPLICATION))


def test_two_factor_is_required_of_everyone_in_production_and_of_nobody_in_dev(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    def required(plan: Plan) -> tuple[bool, bool, int]:
        inputs = one(plan, SETTINGS)["inputs"]
        return (
            inputs["requireTwoFactorAuthentication"],
            inputs["requireAdminTwoFactorAuthentication"],
            inputs["twoFactorGracePeriod"],
        )

    assert required(dev_plan) == (False, False, 48)
    assert required(prod_plan) == (True, True, 48)
    admins = plan_for(with_changes(DEV, gitlab={"two_factor": "admins"}), stack="dev")
    assert required(admins) == (False, True, 48)


def test_gitlab_issues_id_tokens_that_outlive_an_argo_cd_request(dev_plan: Plan) -> None:
    gitlab = one(dev_plan, RELEASE, "-gitlab")["inputs"]["values"]
    assert gitlab["global"]["appConfig"]["oidcProvider"] == {"openidIdTokenExpireInSeconds": 7200}


# --- Argo CD's side ---------------------------------------------------------------------


def test_argo_cd_signs_in_with_gitlab_by_reference_only(dev_plan: Plan) -> None:
    config = oidc(dev_plan)
    assert config["issuer"] == dev_plan.outputs["gitlab_url"]
    assert config["clientID"] == f"${SECRET_NAME}:clientID"
    assert config["clientSecret"] == f"${SECRET_NAME}:clientSecret"
    assert config["cliClientID"] == f"${SECRET_NAME}:cliClientID"
    # GitLab has no `groups` scope, which Argo CD would request by default.
    assert config["requestedScopes"] == ["openid", "profile", "email"]
    # An active web session is renewed before GitLab's ID token expires.
    assert config["refreshTokenThreshold"] == "5m"
    assert argocd_values(dev_plan)["dex"] == {"enabled": False}
    assert dev_plan.outputs["argocd_login_command"] == (
        "argocd login argocd.dev.gitops.example.com --sso"
    )


def test_the_gitops_group_is_admin_and_everyone_else_reads(dev_plan: Plan) -> None:
    assert argocd_values(dev_plan)["configs"]["rbac"] == {
        "policy.csv": "g, platform, role:admin\n",
        "policy.default": "role:readonly",
        "scopes": "[groups_direct]",
    }
    spec = one(dev_plan, APP_PROJECT, "-apps-project")["inputs"]["spec"]
    assert "roles" not in spec


def test_a_subgroups_role_reaches_the_members_of_its_ancestors() -> None:
    assert subjects("a/b/c") == ["a/b/c", "a/b", "a"]
    policy = rbac([GroupRole(group="ops/sre", role="admin")], "none")
    assert policy["policy.csv"] == "g, ops, role:admin\ng, ops/sre, role:admin\n"
    assert policy["policy.default"] == ""


def test_deployers_hold_the_projects_role() -> None:
    plan = dev_with(
        groups=[
            {"group": "platform", "role": "admin"},
            {"group": "platform/developers", "role": "deployer"},
            {"group": "platform/audit/readers", "role": "readonly"},
        ],
        default_role="none",
    )
    rbac_values = argocd_values(plan)["configs"]["rbac"]
    assert rbac_values["policy.csv"] == (
        "g, platform, role:admin\n"
        "g, platform, role:readonly\n"
        "g, platform/audit, role:readonly\n"
        "g, platform/audit/readers, role:readonly\n"
    )
    assert rbac_values["policy.default"] == ""
    (role,) = one(plan, APP_PROJECT, "-apps-project")["inputs"]["spec"]["roles"]
    assert role["name"] == "deployer"
    assert role["groups"] == ["platform", "platform/developers"]
    assert role["policies"] == [
        "p, proj:platform:deployer, applications, get, platform/*, allow",
        "p, proj:platform:deployer, applications, sync, platform/*, allow",
    ]
    # The stack makes the groups under the GitOps group (parents first), with the group's
    # own token: their paths are its, so nobody else can register them.
    automation = one(plan, "pulumi:providers:gitlab", "-gitops-automation")
    root = one(plan, "gitlab:index/group:Group", "-gitops-group")
    made = {
        g["inputs"]["name"]: g for g in plan.of_type("gitlab:index/group:Group") if g is not root
    }
    assert sorted(made) == ["audit", "developers", "readers"]
    assert all(g["provider"] == automation["urn"] for g in made.values())
    assert made["developers"]["property_dependencies"]["parentId"] == [root["urn"]]
    assert made["readers"]["property_dependencies"]["parentId"] == [made["audit"]["urn"]]
    assert {g["inputs"]["visibilityLevel"] for g in made.values()} == {"private"}


def test_the_local_admin_is_off_in_production_and_on_in_dev(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    assert argocd_values(dev_plan)["configs"]["cm"]["admin.enabled"] is True
    assert argocd_values(prod_plan)["configs"]["cm"]["admin.enabled"] is False
    assert "annotations" not in argocd_values(prod_plan)["configs"]["cm"]
    off = dev_with(local_admin=False)
    assert argocd_values(off)["configs"]["cm"]["admin.enabled"] is False


def test_break_glass_turns_the_local_admin_on_and_says_why() -> None:
    reason = "INC-42: GitLab is down"
    plan = plan_for(with_changes(PROD, argocd={"sso": {"break_glass": reason}}), stack="prod")
    cm = argocd_values(plan)["configs"]["cm"]
    assert cm["admin.enabled"] is True
    assert cm["annotations"] == {"gitops-platform.io/break-glass": reason}


def test_without_sso_argo_cd_keeps_its_local_admin_and_gitlab_gets_no_application() -> None:
    plan = dev_with(enabled=False)
    cm = argocd_values(plan)["configs"]["cm"]
    assert "oidc.config" not in cm
    assert cm["admin.enabled"] is True
    assert plan.of_type(APPLICATION) == []
    assert [s for s in plan.of_type("kubernetes:core/v1:Secret") if "sso" in s["name"]] == []
    assert plan.outputs["argocd_login_command"].endswith("--username admin")
    assert plan.of_type(SETTINGS)  # two-factor is GitLab's own, with or without SSO


@pytest.mark.parametrize(
    ("sso", "expected"),
    [
        (
            {"groups": [{"group": "admin", "role": "readonly"}]},
            "argocd.sso.groups[0].group = 'admin': expected a group other than 'admin'",
        ),
        (
            {"groups": [{"group": "a", "role": "admin"}, {"group": "a", "role": "readonly"}]},
            "expected each group once, got ['a'] more than once",
        ),
        (
            {"groups": [{"group": "a", "role": "owner"}]},
            "argocd.sso.groups[0].role = 'owner'",
        ),
        (
            {"enabled": False, "local_admin": False},
            "argocd.sso.local_admin = false: expected local_admin on (or sso.enabled)",
        ),
        ({"id_token_lifetime_seconds": 60}, "argocd.sso.id_token_lifetime_seconds = 60"),
        (
            {"groups": [{"group": "ops", "role": "admin"}]},
            "argocd.sso.groups[0].group = 'ops': expected the GitOps group 'platform' or a "
            "group under it",
        ),
        (
            {"groups": [{"group": "platformx/a", "role": "admin"}]},
            "argocd.sso.groups[0].group = 'platformx/a': expected the GitOps group",
        ),
    ],
)
def test_bad_sign_in_settings_are_refused_naming_the_key(
    sso: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        plan_for(with_changes(DEV, argocd={"sso": sso}), stack="dev")
    assert expected in str(error.value)


# --- what the pinned chart makes of it -------------------------------------------------


def test_the_rendered_config_maps_carry_the_sign_in(prod_plan: Plan) -> None:
    """Real Helm renders the pinned argo-cd chart with the prod values: argocd-cm holds the
    OIDC configuration and the disabled admin, argocd-rbac-cm the roles, and no rendered
    object holds the client secret."""
    objects = helm_template(
        chart_archive("argo-cd", "10.1.1"), argocd_values(prod_plan), "argocd", "argocd"
    )
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    cm, rbac_cm = maps["argocd-cm"]["data"], maps["argocd-rbac-cm"]["data"]
    assert cm["admin.enabled"] == "false"
    config = yaml.safe_load(cm["oidc.config"])
    assert config["issuer"] == "https://gitlab.gitops.example.com"
    assert config["clientSecret"] == f"${SECRET_NAME}:clientSecret"
    assert rbac_cm["policy.csv"] == "g, platform, role:admin\n"
    assert rbac_cm["scopes"] == "[groups_direct]"
    assert rbac_cm["policy.default"] == "role:readonly"
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert all("clientSecret" not in yaml.safe_dump(s) for s in secrets)
    assert "dex" not in {o["metadata"]["name"].rsplit("-", 1)[-1] for o in objects}


def test_the_readmes_urn_patterns_pick_exactly_their_resource(prod_plan: Plan) -> None:
    """Each `grep -o` of the README (the admin password to replace, the release break-glass
    targets) picks exactly one URN out of `pulumi stack --show-urns`."""
    readme = (PROJECT_DIR / "README.md").read_text()
    listing = "\n".join(f"    URN: {r['urn']}" for r in prod_plan.resources)
    expected = {
        "argocd-admin$": one(prod_plan, "random:index/randomPassword:RandomPassword", "-admin"),
        "-argocd$": one(prod_plan, RELEASE, "-argocd"),
    }
    patterns = re.findall(r"grep -o '([^']+)'", readme)
    assert {p for p in patterns if p.endswith(tuple(expected))} == set(patterns)
    for pattern in patterns:
        found = subprocess.run(
            ["grep", "-o", pattern], input=listing, capture_output=True, text=True, check=True
        ).stdout.split()
        (resource,) = [r for suffix, r in expected.items() if pattern.endswith(suffix)]
        assert found == [resource["urn"]], pattern
