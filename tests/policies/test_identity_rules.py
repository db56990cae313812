"""Sign-in and token guardrails: each fails its bad case, passes its good one, never decides
on an unknown value, and passes the stacks this repository ships (the production rule with
the production configuration too)."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gitlab
import pytest
import yaml
from plans import one
from policy_harness import (
    UNKNOWN,
    Resource,
    analyze,
    analyze_stack,
    mandatory,
    plan_decisions,
    plan_resources,
    render_resources,
    undecided,
)
from upstream import chart_archive, helm_template

from guardrails import REGISTRY, identity
from guardrails._common import HELM_RELEASE
from guardrails.argocd import SECRET
from guardrails.gitops import COMMAND
from offline.plan import Plan

PRODUCTION = {"production": True}
ISSUER = "https://gitlab.dev.gitops.example.com"
LITERAL = "gloas-0123456789abcdef0123456789abcdef"
"""A client secret as GitLab hands them out: what no message may repeat."""


def oidc_config(**changes: Any) -> str:
    config = {
        "name": "GitLab",
        "issuer": ISSUER,
        "clientID": "$argocd-sso-gitlab:clientID",
        "clientSecret": "$argocd-sso-gitlab:clientSecret",
        "cliClientID": "$argocd-sso-gitlab:cliClientID",
        "requestedScopes": ["openid", "profile", "email"],
    }
    config.update(changes)
    return yaml.safe_dump({k: v for k, v in config.items() if v is not None}, sort_keys=False)


def argocd_release(cm: dict[str, Any] | None = None, chart: str = "argo-cd") -> Resource:
    values = {"configs": {"cm": {"admin.enabled": False, "oidc.config": oidc_config()}}}
    if cm is not None:
        values["configs"]["cm"] = cm
    return Resource(HELM_RELEASE, {"chart": chart, "version": "10.1.1", "values": values})


def messages(diagnostics: Sequence[Any]) -> list[str]:
    """The violations' own words: after the rule's description, before the remediation."""
    return [m.split("\n", 1)[-1].split(" Remediation: ")[0] for m in mandatory(diagnostics)]


# --- argocd-oidc-secret-not-literal ------------------------------------------------------


def test_oidc_client_secret_as_a_reference_passes() -> None:
    policy = identity.argocd_oidc_secret_not_literal
    assert mandatory(analyze(policy, argocd_release())) == []
    # `$<key>` of argocd-secret is a reference too.
    cm = {"oidc.config": oidc_config(clientSecret="$oidc.gitlab.clientSecret")}
    assert mandatory(analyze(policy, argocd_release(cm))) == []


def test_oidc_without_a_client_secret_passes() -> None:
    # No OIDC at all, or a public client (PKCE) without a secret.
    policy = identity.argocd_oidc_secret_not_literal
    assert mandatory(analyze(policy, argocd_release({"admin.enabled": False}))) == []
    assert mandatory(analyze(policy, argocd_release({"oidc.config": ""}))) == []
    cm = {"oidc.config": oidc_config(clientSecret=None)}
    assert mandatory(analyze(policy, argocd_release(cm))) == []


def test_a_literal_oidc_client_secret_is_refused_without_repeating_it() -> None:
    policy = identity.argocd_oidc_secret_not_literal
    cm = {"oidc.config": oidc_config(clientSecret=LITERAL)}
    (message,) = messages(analyze(policy, argocd_release(cm)))
    assert message == (
        'configs.cm."oidc.config" has a clear-text clientSecret (38 characters), not a '
        "$<secret>:<key> reference: whoever reads argocd-cm, the release's values or the "
        "stack's state has it."
    )
    (full,) = mandatory(analyze(policy, argocd_release(cm)))
    assert LITERAL not in full
    # A number is as literal as a string, and a `$` inside the text is not a reference.
    for literal in (123456, f"x${LITERAL}", "$", "$ spaced out"):
        cm = {"oidc.config": oidc_config(clientSecret=literal)}
        assert messages(analyze(policy, argocd_release(cm))), literal


def test_a_reference_to_a_key_the_release_fills_itself_is_refused() -> None:
    """`$<key>` of argocd-secret whose value configs.secret.extra sets is a Helm value."""
    policy = identity.argocd_oidc_secret_not_literal
    release = argocd_release({"oidc.config": oidc_config(clientSecret="$oidc.clientSecret")})
    assert mandatory(analyze(policy, release)) == []
    release.props["values"]["configs"]["secret"] = {"extra": {"oidc.clientSecret": LITERAL}}
    (message,) = messages(analyze(policy, release))
    assert "which configs.secret.extra sets" in message
    assert LITERAL not in message
    # A reference to another Secret is not argocd-secret's key.
    release.props["values"]["configs"]["cm"]["oidc.config"] = oidc_config()
    assert mandatory(analyze(policy, release)) == []


def test_an_oidc_config_that_is_no_mapping_is_refused() -> None:
    policy = identity.argocd_oidc_secret_not_literal
    for raw in ("clientSecret: [unclosed", "- a list", "just text"):
        (message,) = messages(analyze(policy, argocd_release({"oidc.config": raw})))
        assert "is not a YAML mapping" in message, raw


def test_the_oidc_rule_reads_only_argo_cd_releases() -> None:
    policy = identity.argocd_oidc_secret_not_literal
    cm = {"oidc.config": oidc_config(clientSecret=LITERAL)}
    assert analyze(policy, argocd_release(cm, chart="gitlab")) == []


def test_the_oidc_rule_does_not_decide_on_an_unknown_config() -> None:
    policy = identity.argocd_oidc_secret_not_literal
    assert undecided(analyze(policy, argocd_release({"oidc.config": UNKNOWN})))


# --- rendered-argocd-oidc-secret-not-literal ---------------------------------------------


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


APPLICATION = Resource("kubernetes:argoproj.io/v1alpha1:Application", {}, name="argocd-app")


def rendered_by_application(*objects: dict[str, Any]) -> list[Resource]:
    return [
        APPLICATION,
        *render_resources("argocd", APPLICATION, objects, namespace="argocd", kind="application"),
    ]


def test_a_rendered_argocd_cm_with_a_literal_client_secret_is_refused() -> None:
    policy = identity.rendered_argocd_oidc_secret_not_literal
    good = config_map("argocd-cm", {"oidc.config": oidc_config()})
    assert mandatory(analyze_stack(policy, rendered_by_application(good))) == []
    bad = config_map("argocd-cm", {"oidc.config": oidc_config(clientSecret=LITERAL)})
    (message,) = messages(analyze_stack(policy, rendered_by_application(bad)))
    assert message.startswith(
        "ConfigMap argocd/argocd-cm (rendered by application argocd): oidc.config has a "
        "clear-text clientSecret"
    )
    # Argo CD reads its settings from argocd-cm only.
    other = config_map("my-app-settings", {"oidc.config": oidc_config(clientSecret=LITERAL)})
    assert analyze_stack(policy, rendered_by_application(other)) == []


@pytest.fixture(scope="module")
def dev_argocd(dev_plan: Plan) -> Resource:
    urn = one(dev_plan, HELM_RELEASE, "-argocd")["urn"]
    (release,) = [r for r in plan_resources(dev_plan) if r.urn == urn]
    return release


def rendered_release(release: Resource, client_secret: str | None = None) -> list[Resource]:
    """The dev stack's Argo CD release as the real chart renders it (without its CRDs),
    optionally with another clientSecret in its oidc.config."""
    values = copy.deepcopy(release.props["values"])
    if client_secret is not None:
        cm = values["configs"]["cm"]
        config = yaml.safe_load(cm["oidc.config"])
        cm["oidc.config"] = yaml.safe_dump({**config, "clientSecret": client_secret})
    objects = helm_template(
        chart_archive("argo-cd", "10.1.1"),
        {**values, "crds": {"install": False}},
        "argocd",
        "argocd",
    )
    return render_resources(
        "argocd", release, objects, namespace="argocd", chart="argo-cd", version="10.1.1"
    )


def test_the_dev_stacks_rendered_argocd_cm_refers_to_its_secret(dev_argocd: Resource) -> None:
    policy = identity.rendered_argocd_oidc_secret_not_literal
    rendered = rendered_release(dev_argocd)
    (cm,) = [
        r.props["object"]
        for r in rendered
        if r.props.get("object", {}).get("kind") == "ConfigMap"
        and r.props["object"]["metadata"]["name"] == "argocd-cm"
    ]
    assert yaml.safe_load(cm["data"]["oidc.config"])["clientSecret"].startswith("$")
    assert analyze_stack(policy, [dev_argocd, *rendered]) == []
    literal = rendered_release(dev_argocd, LITERAL)
    (message,) = messages(analyze_stack(policy, [dev_argocd, *literal]))
    assert message.startswith("ConfigMap argocd/argocd-cm (rendered by release argocd)")
    assert LITERAL not in message


# --- argocd-local-admin-off-in-production ------------------------------------------------


def test_the_local_admin_is_judged_only_in_production() -> None:
    policy = identity.argocd_local_admin_off_in_production
    on = argocd_release({"admin.enabled": True})
    assert mandatory(analyze(policy, on)) == []
    assert mandatory(analyze(policy, on, {"production": False})) == []
    assert mandatory(analyze(policy, on, PRODUCTION))


@pytest.mark.parametrize("off", [False, "false", "False", "0", 0])
def test_the_local_admin_off_passes_in_production(off: Any) -> None:
    policy = identity.argocd_local_admin_off_in_production
    assert mandatory(analyze(policy, argocd_release({"admin.enabled": off}), PRODUCTION)) == []


@pytest.mark.parametrize("on", [True, "true", "1", "no", "off"])
def test_the_local_admin_on_is_refused_in_production(on: Any) -> None:
    # Argo CD reads the value with strconv.ParseBool and keeps the admin on when that fails.
    policy = identity.argocd_local_admin_off_in_production
    (message,) = messages(analyze(policy, argocd_release({"admin.enabled": on}), PRODUCTION))
    assert "the local admin is on, and argocd-cm gives no break-glass reason" in message


def test_the_charts_default_keeps_the_local_admin_on() -> None:
    policy = identity.argocd_local_admin_off_in_production
    (message,) = messages(analyze(policy, argocd_release({"exec.enabled": False}), PRODUCTION))
    assert message.startswith('configs.cm."admin.enabled" is not set: the chart\'s default, true')
    assert messages(analyze(policy, argocd_release({"admin.enabled": None}), PRODUCTION))
    values_without_cm = Resource(HELM_RELEASE, {"chart": "argo-cd", "values": {}})
    assert messages(analyze(policy, values_without_cm, PRODUCTION))


def test_a_break_glass_reason_lets_the_local_admin_on() -> None:
    policy = identity.argocd_local_admin_off_in_production
    annotations = {identity.BREAK_GLASS_ANNOTATION: "INC-4711: GitLab is down"}
    glass = {"admin.enabled": True, "annotations": annotations}
    assert mandatory(analyze(policy, argocd_release(glass), PRODUCTION)) == []
    # The reason must say something; another annotation is no reason.
    for annotations in ({identity.BREAK_GLASS_ANNOTATION: "  "}, {"team": "platform"}):
        cm = {"admin.enabled": True, "annotations": annotations}
        assert messages(analyze(policy, argocd_release(cm), PRODUCTION)), annotations


def test_the_violation_says_how_to_break_the_glass() -> None:
    policy = identity.argocd_local_admin_off_in_production
    (message,) = mandatory(analyze(policy, argocd_release({"admin.enabled": True}), PRODUCTION))
    assert "set argocd.sso.break_glass to the reason" in message
    assert "(README, Break-glass)" in message


def test_a_release_that_writes_no_argocd_cm_is_refused_in_production() -> None:
    # Without argocd-cm Argo CD keeps its default: the local admin on.
    policy = identity.argocd_local_admin_off_in_production
    cm = {"create": False, "admin.enabled": False}
    (message,) = messages(analyze(policy, argocd_release(cm), PRODUCTION))
    assert message.startswith("configs.cm.create is false")


def test_the_local_admin_rule_reads_only_argo_cd_releases_and_known_values() -> None:
    policy = identity.argocd_local_admin_off_in_production
    other = argocd_release({"admin.enabled": True}, chart="gitlab")
    assert analyze(policy, other, PRODUCTION) == []
    assert undecided(analyze(policy, argocd_release({"admin.enabled": UNKNOWN}), PRODUCTION))


def test_the_prod_stack_has_its_local_admin_off_and_dev_would_not(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    policy = identity.argocd_local_admin_off_in_production
    assert plan_decisions([policy], prod_plan, PRODUCTION) == []
    ((name, message),) = plan_decisions([policy], dev_plan, PRODUCTION)
    assert name == "gitops-platform-dev-argocd"
    assert 'configs.cm."admin.enabled" is true: the local admin is on' in message


# --- gitlab-tokens-expire-and-rotate -----------------------------------------------------

ROTATION = {"expirationDays": 90, "rotateBeforeDays": 60}


def token(
    type_: str = identity.PROJECT_ACCESS_TOKEN,
    name: str = "argocd",
    scopes: Any = None,
    access_level: str | None = "reporter",
    rotation: Any = ROTATION,
) -> Resource:
    props: dict[str, Any] = {"name": name, "scopes": scopes or ["read_repository"]}
    if access_level is not None and type_ in identity.WITH_ACCESS_LEVEL:
        props["accessLevel"] = access_level
    if rotation is not None:
        props["rotationConfiguration"] = rotation
    return Resource(type_, props, name=name)


@pytest.mark.parametrize("type_", identity.ROTATING_TOKENS)
def test_a_rotating_token_passes(type_: str) -> None:
    assert mandatory(analyze(identity.gitlab_tokens_expire_and_rotate, token(type_))) == []


@pytest.mark.parametrize("type_", identity.ROTATING_TOKENS)
def test_a_token_without_rotation_is_refused(type_: str) -> None:
    policy = identity.gitlab_tokens_expire_and_rotate
    (message,) = messages(analyze(policy, token(type_, rotation=None)))
    assert message == (
        f"The {type_.rsplit(':', 1)[-1]} has no rotationConfiguration: nothing replaces it "
        "before it expires."
    )


@pytest.mark.parametrize(
    ("rotation", "why"),
    [
        ({"expirationDays": 0, "rotateBeforeDays": 0}, "expirationDays is 0, not at least 1"),
        ({"rotateBeforeDays": 7}, "expirationDays is not set, not at least 1"),
        ({"expirationDays": 90, "rotateBeforeDays": 0}, "rotateBeforeDays is 0: not between"),
        ({"expirationDays": 90, "rotateBeforeDays": 90}, "rotateBeforeDays is 90: not between"),
        ({"expirationDays": 30, "rotateBeforeDays": 45}, "rotateBeforeDays is 45: not between"),
        (
            {"expirationDays": 30},
            "rotateBeforeDays is not set: not between 0 and expirationDays (30)",
        ),
    ],
)
def test_a_rotation_that_never_replaces_the_token_in_time_is_refused(
    rotation: dict[str, int], why: str
) -> None:
    policy = identity.gitlab_tokens_expire_and_rotate
    (message,) = messages(analyze(policy, token(rotation=rotation)))
    assert why in message


def test_the_shortest_rotation_passes() -> None:
    rotation = {"expirationDays": 2, "rotateBeforeDays": 1}
    assert (
        mandatory(analyze(identity.gitlab_tokens_expire_and_rotate, token(rotation=rotation))) == []
    )


@pytest.mark.parametrize("type_", identity.UNROTATABLE_TOKENS)
def test_tokens_without_rotation_in_the_provider_are_refused(type_: str) -> None:
    policy = identity.gitlab_tokens_expire_and_rotate
    deploy = Resource(
        type_, {"name": "argocd", "scopes": ["read_repository"], "expiresAt": "2027-01-01"}
    )
    (message,) = messages(analyze(policy, deploy))
    assert message.startswith(f"A {type_.rsplit(':', 1)[-1]} cannot be rotated")


NOT_TOKENS = {
    "gitlab:index/projectJobTokenScope:ProjectJobTokenScope",
    "gitlab:index/projectJobTokenScopes:ProjectJobTokenScopes",
}
"""SDK types named like tokens that issue none (they list which projects' CI job tokens may
reach a project)."""
ISSUED_TOKEN_ATTRIBUTES = ("token", "authentication_token")
SHARED_SECRETS = {"ProjectHook", "GroupHook", "SystemHook", "Provider"}
"""Types whose `token` the stack sets itself (a hook's secret, the provider's credential)
rather than a token GitLab issues; integrations hold third-party tokens."""


def _sdk_tokens() -> dict[str, bool]:
    """Every resource of the provider's SDK that GitLab issues a token for (its type named
    for a token, or a `token` output): whether it takes a rotation."""
    found = {}
    for name in dir(pulumi_gitlab):
        cls = getattr(pulumi_gitlab, name)
        if not (isinstance(cls, type) and issubclass(cls, pulumi.CustomResource)):
            continue
        issued = any(isinstance(getattr(cls, a, None), property) for a in ISSUED_TOKEN_ATTRIBUTES)
        if name in SHARED_SECRETS or name.startswith("ProjectIntegration") or name == "UserAvatar":
            continue
        if ("Token" in name or issued) and cls.pulumi_type not in NOT_TOKENS:
            rotates = "rotation_configuration" in inspect.signature(cls._internal_init).parameters
            found[cls.pulumi_type] = rotates
    return found


def test_the_token_rule_knows_every_token_the_provider_issues() -> None:
    """Derived from the SDK, not from the rule: a token type the provider gains is either
    rotated or refused, never passed unread."""
    tokens = _sdk_tokens()
    assert {t for t, rotates in tokens.items() if rotates} == set(identity.ROTATING_TOKENS)
    assert {t for t, rotates in tokens.items() if not rotates} == set(identity.UNROTATABLE_TOKENS)
    assert "gitlab:index/pipelineTrigger:PipelineTrigger" in tokens


def test_the_token_rule_does_not_decide_on_an_unknown_rotation() -> None:
    policy = identity.gitlab_tokens_expire_and_rotate
    assert undecided(analyze(policy, token(rotation=UNKNOWN)))
    unknown_days = {"expirationDays": UNKNOWN, "rotateBeforeDays": 60}
    assert undecided(analyze(policy, token(rotation=unknown_days)))


def test_every_gitlab_token_the_shipped_stacks_create_is_judged(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    # A token type the rule does not list would pass it unread.
    for plan in (dev_plan, prod_plan):
        tokens = {
            r["type"]
            for r in plan.resources
            if r["type"].startswith("gitlab:") and "Token" in r["type"]
        }
        assert identity.PROJECT_ACCESS_TOKEN in tokens
        assert tokens <= set(identity.GITLAB_TOKENS)


# --- argocd-repo-credentials-read-only ---------------------------------------------------

READ_TOKEN = token()
AUTOMATION = token(identity.GROUP_ACCESS_TOKEN, "automation", ["api"], "owner")
PROJECT = Resource("gitlab:index/project:Project", {"name": "test-stg"}, name="project")


def repository_secret(
    *values_from: Resource,
    waits_for: Sequence[Resource] = (),
    secret_type: str = "repository",
    property_dependencies: bool = True,
) -> Resource:
    """A repository Secret whose stringData comes from `values_from` (its URL from the
    project), and that waits for `waits_for` besides."""
    value_urns = [PROJECT.urn, *(r.urn for r in values_from)]
    return Resource(
        SECRET,
        {
            "metadata": {
                "name": "repo-platform-test-stg",
                "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": secret_type},
            },
            "stringData": {"type": "git", "username": "argocd", "password": "t", "url": "u"},
        },
        name="repository",
        dependencies=[*value_urns, *(r.urn for r in waits_for)],
        property_dependencies={"stringData": value_urns} if property_dependencies else {},
    )


def credentials(secret: Resource, *others: Resource) -> list[str]:
    return messages(
        analyze_stack(identity.argocd_repo_credentials_read_only, [PROJECT, *others, secret])
    )


def test_a_read_repository_reporter_token_in_the_credentials_passes() -> None:
    assert credentials(repository_secret(READ_TOKEN), READ_TOKEN) == []
    for level in ("guest", "planner", "reporter"):
        read = token(access_level=level)
        assert credentials(repository_secret(read), read) == [], level


def test_an_owner_api_token_in_the_credentials_is_refused() -> None:
    assert credentials(repository_secret(AUTOMATION), AUTOMATION) == [
        "Repository Secret repository carries GroupAccessToken automation, whose scopes "
        "['api'] go beyond read_repository.",
        "Repository Secret repository carries GroupAccessToken automation, at access level "
        "'owner', above reporter.",
    ]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (token(scopes=["read_repository", "write_repository"]), "scopes ['write_repository']"),
        (token(scopes=["read_api"]), "scopes ['read_api']"),
        (token(access_level="developer"), "at access level 'developer', above reporter"),
        (token(access_level=None), "with no access level: GitLab's default maintainer"),
        (token(identity.PERSONAL_ACCESS_TOKEN, scopes=["api"]), "PersonalAccessToken argocd"),
        (token(identity.GROUP_DEPLOY_TOKEN, scopes=["read_registry"]), "['read_registry']"),
    ],
)
def test_a_broader_token_in_the_credentials_is_refused(bad: Resource, why: str) -> None:
    (message,) = credentials(repository_secret(bad), bad)
    assert why in message


def test_repo_creds_templates_are_credentials_too() -> None:
    secret = repository_secret(AUTOMATION, secret_type="repo-creds")
    assert len(credentials(secret, AUTOMATION)) == 2


def test_other_secrets_may_carry_broader_tokens() -> None:
    secret = repository_secret(AUTOMATION)
    secret.props = {**secret.props, "metadata": {"name": "ci", "labels": {"app": "ci"}}}
    assert credentials(secret, AUTOMATION) == []


def test_the_credentials_are_judged_by_what_their_values_come_from() -> None:
    # Waiting for the automation token is no carrying it; without property dependencies
    # (an engine that sends none) every dependency counts.
    secret = repository_secret(READ_TOKEN, waits_for=[AUTOMATION])
    assert credentials(secret, READ_TOKEN, AUTOMATION) == []
    secret = repository_secret(READ_TOKEN, waits_for=[AUTOMATION], property_dependencies=False)
    assert len(credentials(secret, READ_TOKEN, AUTOMATION)) == 2


GITLAB_PROVIDER = Resource(identity.GITLAB_PROVIDER, {"baseUrl": "https://g/api/v4"}, name="admin")
BOOTSTRAP_VALUE = Resource("random:index/randomPassword:RandomPassword", {}, name="bootstrap-token")
BOOTSTRAP = Resource(
    COMMAND,
    {"create": "gitlab-rails runner 'user.personal_access_tokens.build(...)'"},
    name="bootstrap-step",
    dependencies=[BOOTSTRAP_VALUE.urn],
)


def test_the_providers_and_the_bootstrap_token_are_refused_in_the_credentials() -> None:
    (message,) = credentials(repository_secret(GITLAB_PROVIDER), GITLAB_PROVIDER)
    assert message == "Repository Secret repository carries the token of the GitLab provider admin."
    (message,) = credentials(repository_secret(BOOTSTRAP), BOOTSTRAP)
    assert message == (
        "Repository Secret repository carries the personal access token bootstrap-step registers."
    )
    # The bootstrap token's value is the generated password the step registers.
    (message,) = credentials(repository_secret(BOOTSTRAP_VALUE), BOOTSTRAP_VALUE, BOOTSTRAP)
    assert message == (
        "Repository Secret repository carries bootstrap-token, the personal access token "
        "bootstrap-step registers."
    )
    # Another generated password is not a token.
    other = Resource("random:index/randomPassword:RandomPassword", {}, name="other")
    assert credentials(repository_secret(other), other, BOOTSTRAP) == []


def test_the_credentials_rule_does_not_decide_on_unknown_scopes() -> None:
    unknown = token(scopes=UNKNOWN)
    diagnostics = analyze_stack(
        identity.argocd_repo_credentials_read_only, [PROJECT, unknown, repository_secret(unknown)]
    )
    assert undecided(diagnostics)


def test_the_dev_stack_with_the_automation_token_in_its_credentials_is_refused(
    dev_plan: Plan,
) -> None:
    # The stack as planned, but the repository Secret's password from the Owner token.
    resources = plan_resources(dev_plan)
    automation = one(dev_plan, identity.GROUP_ACCESS_TOKEN)["urn"]
    read = one(dev_plan, identity.PROJECT_ACCESS_TOKEN, "-gitops-argocd")["urn"]
    (secret,) = [r for r in resources if r.name.endswith("-apps-repository")]
    assert read in secret.property_dependencies["stringData"]
    secret.property_dependencies = {
        "stringData": [
            automation if u == read else u for u in secret.property_dependencies["stringData"]
        ]
    }
    secret.dependencies = [*secret.dependencies, automation]
    diagnostics = analyze_stack(identity.argocd_repo_credentials_read_only, resources)
    assert [m.split(", ")[0] for m in messages(diagnostics)] == [
        "Repository Secret gitops-platform-dev-apps-repository carries GroupAccessToken "
        "gitops-platform-dev-gitops-automation"
    ] * 2


# --- the module ----------------------------------------------------------------------------


def test_the_rules_ignore_other_resource_types() -> None:
    other = Resource(
        "aws:s3/bucket:Bucket", {"values": {"configs": {"cm": {"admin.enabled": True}}}}
    )
    for policy in REGISTRY.of(identity):
        if policy in (
            identity.rendered_argocd_oidc_secret_not_literal,
            identity.argocd_repo_credentials_read_only,
        ):
            continue
        assert analyze(policy, other, PRODUCTION) == []


def test_the_shipped_stacks_pass_as_production_too(dev_plan: Plan, prod_plan: Plan) -> None:
    # The local admin aside (its own test), dev would pass as production.
    others = [
        p for p in REGISTRY.of(identity) if p is not identity.argocd_local_admin_off_in_production
    ]
    assert plan_decisions(others, dev_plan, PRODUCTION) == []
    assert plan_decisions(REGISTRY.of(identity), prod_plan, PRODUCTION) == []
