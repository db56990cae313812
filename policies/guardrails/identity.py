"""Who signs in, and with what: Argo CD's OIDC client secret kept out of its settings, its
local admin off in production but for break-glass, and the GitLab tokens the stack creates
expiring, rotating, and (in Argo CD's repository credentials) only able to read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

import yaml
from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from guardrails._common import (
    ARGOCD_CHART,
    HELM_RELEASE,
    chart_of,
    dig,
    helm_values,
    listed,
    rendered_objects,
    resource_rule,
    stack_rule,
)
from guardrails.argocd import REPOSITORY_SECRET_TYPES, SECRET, SECRET_TYPE_LABEL
from guardrails.gitops import COMMAND, PERSONAL_ACCESS_TOKENS
from guardrails.graph import PRODUCTION
from guardrails.rendered import GO_TRUE

BREAK_GLASS_ANNOTATION = "gitops-platform.io/break-glass"
"""The annotation on argocd-cm whose value is why the local admin is on (a ticket, say)."""
ARGOCD_CM = "argocd-cm"
"""The ConfigMap Argo CD reads its settings from, by this name."""
OIDC_CONFIG = "oidc.config"
ADMIN_ENABLED = "admin.enabled"
CLIENT_SECRET = "clientSecret"
SECRET_REFERENCE = re.compile(r"^\$(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?:)?[-._a-zA-Z0-9]+$")
"""`$<secret>:<key>` (a key of a Secret labelled app.kubernetes.io/part-of: argocd in Argo
CD's namespace) or `$<key>` (of argocd-secret): a Secret's name is a DNS subdomain, a key
letters, digits, `-`, `_` and `.`."""
GO_FALSE = ("0", "f", "F", "false", "FALSE", "False")
"""What Go's strconv.ParseBool reads as false."""
ARGO_CD = "argo-cd v3.4.4"
ARGOCD_CHART_VALUES = "argo-cd chart 10.1.1 values.yaml"

PROJECT_ACCESS_TOKEN = "gitlab:index/projectAccessToken:ProjectAccessToken"
GROUP_ACCESS_TOKEN = "gitlab:index/groupAccessToken:GroupAccessToken"
PERSONAL_ACCESS_TOKEN = "gitlab:index/personalAccessToken:PersonalAccessToken"
GROUP_SERVICE_ACCOUNT_TOKEN = (
    "gitlab:index/groupServiceAccountAccessToken:GroupServiceAccountAccessToken"
)
PROJECT_SERVICE_ACCOUNT_TOKEN = (
    "gitlab:index/projectServiceAccountAccessToken:ProjectServiceAccountAccessToken"
)
PROJECT_DEPLOY_TOKEN = "gitlab:index/projectDeployToken:ProjectDeployToken"
GROUP_DEPLOY_TOKEN = "gitlab:index/groupDeployToken:GroupDeployToken"
USER_IMPERSONATION_TOKEN = "gitlab:index/userImpersonationToken:UserImpersonationToken"
ROTATING_TOKENS = (
    PROJECT_ACCESS_TOKEN,
    GROUP_ACCESS_TOKEN,
    PERSONAL_ACCESS_TOKEN,
    GROUP_SERVICE_ACCOUNT_TOKEN,
    PROJECT_SERVICE_ACCOUNT_TOKEN,
)
"""The GitLab tokens the provider can rotate: they take a `rotation_configuration`."""
UNROTATABLE_TOKENS = (
    PROJECT_DEPLOY_TOKEN,
    GROUP_DEPLOY_TOKEN,
    USER_IMPERSONATION_TOKEN,
    "gitlab:index/clusterAgentToken:ClusterAgentToken",
    "gitlab:index/pipelineTrigger:PipelineTrigger",
    "gitlab:index/runnerControllerToken:RunnerControllerToken",
    "gitlab:index/userRunner:UserRunner",
)
"""The tokens GitLab issues that the provider cannot rotate: no `rotation_configuration`
(pulumi-gitlab 10.4.0; a pipeline trigger's and a runner's `token` included)."""
GITLAB_TOKENS = (*ROTATING_TOKENS, *UNROTATABLE_TOKENS)
WITH_ACCESS_LEVEL = (PROJECT_ACCESS_TOKEN, GROUP_ACCESS_TOKEN)
"""The tokens that carry a role of their own (`access_level`, default `maintainer`)."""
GITLAB_PROVIDER = "pulumi:providers:gitlab"
RANDOM_VALUES = (
    "random:index/randomPassword:RandomPassword",
    "random:index/randomString:RandomString",
)
"""What a step that registers a token may be handed as the token's value."""
READ_ONLY_SCOPES = frozenset({"read_repository"})
READ_ONLY_ACCESS_LEVELS = ("guest", "planner", "reporter")
"""The roles below Developer: they cannot push (GitLab docs, user/permissions)."""
SECRET_VALUES = ("data", "stringData")
"""Where a Secret's values are: what its credentials come from is what these depend on."""
BREAK_GLASS = (
    "To turn the local admin on for break-glass, set argocd.sso.break_glass to the reason "
    f"(a ticket, say) and run pulumi up: the reason is recorded on argocd-cm as "
    f"{BREAK_GLASS_ANNOTATION}, which this rule accepts; clear it and run pulumi up again "
    "when done (README, Break-glass)."
)


def _short(resource_type: str) -> str:
    """`gitlab:index/projectAccessToken:ProjectAccessToken` as `ProjectAccessToken`."""
    return resource_type.rsplit(":", 1)[-1]


def oidc_secret_problem(raw: Any) -> str | None:
    """What is wrong with argocd-cm's `oidc.config` (as a string, or parsed) for its client
    secret, or None: absent, empty, or a `$` reference is fine. Never quotes the secret."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError:
            raw = None
    if not isinstance(raw, Mapping):
        return (
            "is not a YAML mapping: Argo CD ignores it (invalid oidc config), and whether it "
            "holds a clear-text client secret cannot be told."
        )
    secret = raw.get(CLIENT_SECRET)
    if secret is None or secret == "":
        return None
    if isinstance(secret, str) and SECRET_REFERENCE.match(secret):
        return None
    return (
        f"has a clear-text {CLIENT_SECRET} ({len(str(secret))} characters), not a "
        "$<secret>:<key> reference: whoever reads argocd-cm, the release's values or the "
        "stack's state has it."
    )


@resource_rule(
    "argocd-oidc-secret-not-literal",
    "Argo CD's OIDC client secret is never written into its settings: in an argo-cd release's "
    f'configs.cm."{OIDC_CONFIG}" (a YAML document the chart copies into argocd-cm), '
    f"{CLIENT_SECRET} is a `$<secret>:<key>` reference to a Secret labelled "
    "app.kubernetes.io/part-of: argocd in Argo CD's namespace, or `$<key>` of argocd-secret. "
    "Argo CD replaces every string of oidc.config that starts with `$` by that key's value as "
    f"it reads its settings ({ARGO_CD} util/settings/settings.go:1818-1843, oidcConfig → "
    "ReplaceMapSecrets; :2299-2314, ReplaceStringSecret; :1614-1622, the `<secret>:<key>` "
    "names); anything else is used as written, and is as readable as argocd-cm is.",
    types=[HELM_RELEASE],
    remediation="Put the client secret in a Secret in Argo CD's namespace labelled "
    "app.kubernetes.io/part-of: argocd and set clientSecret to $<that Secret>:<key> "
    "(components/sign_in.py writes $argocd-sso-gitlab:clientSecret).",
    severity=Severity.CRITICAL,
)
def argocd_oidc_secret_not_literal(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != ARGOCD_CHART:
        return
    values = helm_values(args)
    raw = dig(values, "configs", "cm", OIDC_CONFIG)
    problem = oidc_secret_problem(raw)
    if problem:
        yield f'configs.cm."{OIDC_CONFIG}" {problem}'
        return
    # `$<key>` of argocd-secret, which the chart fills from configs.secret.extra: a value
    # of the release, so as readable as a literal would be.
    extra = dig(values, "configs", "secret", "extra")
    config = yaml.safe_load(raw) if isinstance(raw, str) and raw else None
    secret = config.get(CLIENT_SECRET) if isinstance(config, Mapping) else None
    if isinstance(secret, str) and ":" not in secret and isinstance(extra, Mapping):
        key = secret[1:]
        if key in extra:
            yield (
                f'configs.cm."{OIDC_CONFIG}" refers its {CLIENT_SECRET} to argocd-secret\'s '
                f"{key!r}, which configs.secret.extra sets: the secret is a value of the "
                "release."
            )


@stack_rule(
    "rendered-argocd-oidc-secret-not-literal",
    f"The rule argocd-oidc-secret-not-literal, held on what is rendered: every {ARGOCD_CM} "
    f"ConfigMap a release or Application renders has no clear-text {CLIENT_SECRET} in its "
    f"{OIDC_CONFIG}, only a `$<secret>:<key>` or `$<key>` reference ({ARGO_CD} "
    "util/settings/settings.go:2299-2314, ReplaceStringSecret). Only the offline preview "
    "renders; under `pulumi preview` the rule has nothing to judge.",
    remediation="Set clientSecret in oidc.config to $<secret>:<key> of a Secret labelled "
    "app.kubernetes.io/part-of: argocd in Argo CD's namespace (components/sign_in.py).",
    severity=Severity.CRITICAL,
)
def rendered_argocd_oidc_secret_not_literal(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    for config_map in rendered_objects(args):
        if config_map.kind != "ConfigMap" or config_map.name != ARGOCD_CM:
            continue
        problem = oidc_secret_problem(dig(config_map.object, "data", OIDC_CONFIG))
        if problem:
            yield f"{config_map}: {OIDC_CONFIG} {problem}", config_map.urn


def _shown(value: Any) -> str:
    """A value as a values file would spell it (`true`, `"yes"`, `90` for the 90.0 that JSON
    numbers arrive as); `not set` for None."""
    if value is None:
        return "not set"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool | int | float | str):
        return json.dumps(value)
    return repr(value)


def _go_bool(value: Any) -> bool | None:
    """`value` as the chart writes it into argocd-cm (its text) read by Go's
    strconv.ParseBool; None where that fails."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON numbers arrive as floats; Helm prints 0 as "0"
    text = str(value)
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    return None


@resource_rule(
    "argocd-local-admin-off-in-production",
    "In a production stack Argo CD's local `admin` account is off, and people sign in with "
    f'GitLab: an argo-cd release sets configs.cm."{ADMIN_ENABLED}" to false. Argo CD keeps '
    "the account on unless argocd-cm says false as strconv.ParseBool reads it "
    f"({ARGO_CD} util/settings/accounts.go:198,215-220), and the chart's default is true "
    f"({ARGOCD_CHART_VALUES}:212, `admin.enabled: true`). Break-glass is the exception: the "
    f"account may be on while argocd-cm carries the annotation {BREAK_GLASS_ANNOTATION} "
    "with the reason (configs.cm.annotations).",
    types=[HELM_RELEASE],
    remediation="Leave argocd.sso.local_admin unset (off in production) or false, with "
    f"argocd.sso.enabled. {BREAK_GLASS}",
    config_schema=PRODUCTION,
)
def argocd_local_admin_off_in_production(args: ResourceValidationArgs) -> Iterator[str]:
    if not args.get_config().get("production") or chart_of(args) != ARGOCD_CHART:
        return
    cm = dig(helm_values(args), "configs", "cm")
    cm = cm if isinstance(cm, Mapping) else {}
    if cm.get("create") is False:
        yield (
            "configs.cm.create is false: the release writes no argocd-cm, and without one "
            "Argo CD keeps its local admin on."
        )
        return
    reason = dig(cm, "annotations", BREAK_GLASS_ANNOTATION)
    if isinstance(reason, str) and reason.strip():
        return
    enabled = cm.get(ADMIN_ENABLED)
    if enabled is None:
        yield (
            f'configs.cm."{ADMIN_ENABLED}" is not set: the chart\'s default, true, keeps the '
            "local admin on, and argocd-cm gives no break-glass reason."
        )
    elif _go_bool(enabled) is not False:
        yield (
            f'configs.cm."{ADMIN_ENABLED}" is {_shown(enabled)}: the local admin is on, and '
            f"argocd-cm gives no break-glass reason ({BREAK_GLASS_ANNOTATION})."
        )


def _days(value: Any) -> TypeGuard[float]:
    """A number of days (JSON numbers arrive as floats; true is no number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@resource_rule(
    "gitlab-tokens-expire-and-rotate",
    "Every GitLab token the stack creates expires and is replaced before it does: access, "
    "personal and service account tokens have a rotation_configuration, with "
    "expiration_days at least 1 and rotate_before_days between 0 and expiration_days "
    "(pulumi-gitlab 10.4.0 ProjectAccessToken and the other access tokens: `expires_at` "
    '"is automatically set when `rotation_configuration` is used", and the token is '
    "replaced rotate_before_days before it expires, by the next `pulumi up`). Deploy, "
    "impersonation, cluster agent, runner and pipeline trigger tokens are refused: the "
    "provider offers them no rotation.",
    types=GITLAB_TOKENS,
    remediation="Give the token rotation_configuration=(expiration_days=N, "
    "rotate_before_days=M) with 0 < M < N (components/gitlab_tokens.py, rotation); instead "
    "of a deploy token, a project access token with scope read_repository and role reporter.",
)
def gitlab_tokens_expire_and_rotate(args: ResourceValidationArgs) -> Iterator[str]:
    kind = _short(args.resource_type)
    if args.resource_type in UNROTATABLE_TOKENS:
        yield (
            f"A {kind} cannot be rotated (it has no rotation_configuration): it lives until "
            "its expires_at, or for ever without one."
        )
        return
    rotation = args.props.get("rotationConfiguration")
    if not isinstance(rotation, Mapping):
        yield f"The {kind} has no rotationConfiguration: nothing replaces it before it expires."
        return
    days = rotation.get("expirationDays")
    before = rotation.get("rotateBeforeDays")
    if not _days(days) or days < 1:
        yield f"rotationConfiguration.expirationDays is {_shown(days)}, not at least 1 day."
    elif not _days(before) or not 0 < before < days:
        yield (
            f"rotationConfiguration.rotateBeforeDays is {_shown(before)}: not between 0 and "
            f"expirationDays ({_shown(days)}), so the token is never replaced before it expires."
        )


def _value_sources(secret: PolicyResource) -> list[PolicyResource]:
    """What a Secret's values come from: the resources its data and stringData depend on
    (the CLI and the offline preview send stack rules each property's dependencies), or
    every resource it depends on when none were sent."""
    if not secret.property_dependencies:
        sources = list(secret.dependencies)
    else:
        sources = [d for key in SECRET_VALUES for d in secret.property_dependencies.get(key) or []]
    return list({d.urn: d for d in sources}.values())


def _registers_token(resource: PolicyResource) -> bool:
    """A step that registers a GitLab personal access token (the bootstrap token's)."""
    if resource.resource_type != COMMAND:
        return False
    scripts = (resource.props.get("create"), resource.props.get("update"))
    return any(isinstance(s, str) and PERSONAL_ACCESS_TOKENS in s for s in scripts)


def _broader_than_read(token: PolicyResource) -> Iterator[str]:
    kind = _short(token.resource_type)
    scopes = sorted({str(scope) for scope in listed(token.props.get("scopes"))} - READ_ONLY_SCOPES)
    if scopes:
        yield f"{kind} {token.name}, whose scopes {scopes} go beyond read_repository"
    if token.resource_type in WITH_ACCESS_LEVEL:
        level = token.props.get("accessLevel")
        if level is None:
            yield f"{kind} {token.name}, with no access level: GitLab's default maintainer"
        elif level not in READ_ONLY_ACCESS_LEVELS:
            yield f"{kind} {token.name}, at access level {level!r}, above reporter"


@stack_rule(
    "argocd-repo-credentials-read-only",
    "Argo CD's repository credentials carry no token that can do more than read the "
    "repository: every GitLab token a Secret labelled argocd.argoproj.io/secret-type: "
    "repository or repo-creds takes its values from has only the scope read_repository "
    "and, as a project or group access token, a role below Developer (guest, planner, "
    "reporter; pulumi-gitlab 10.4.0 ProjectAccessToken/GroupAccessToken `access_level`, "
    '"Default is `maintainer`"). Nor does it take the GitLab provider\'s token or the '
    "bootstrap token a step registers for root (scope api). The rule goes by what the "
    "Secret's data and stringData depend on, not by their values, which are secrets.",
    remediation="Give Argo CD a project access token with scopes [read_repository] and "
    "access_level reporter (components/gitops_repository.py, the `argocd` token) and put "
    "only it in the repository Secret.",
    severity=Severity.CRITICAL,
)
def argocd_repo_credentials_read_only(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    registering = [r for r in args.resources if _registers_token(r)]
    registered = {
        d.urn: step
        for step in registering
        for d in step.dependencies
        if d.resource_type in RANDOM_VALUES
    }
    for secret in args.resources:
        if secret.resource_type != SECRET:
            continue
        labels = dig(secret.props, "metadata", "labels") or {}
        if labels.get(SECRET_TYPE_LABEL) not in REPOSITORY_SECRET_TYPES:
            continue
        carried: list[str] = []
        for source in _value_sources(secret):
            if source.resource_type in GITLAB_TOKENS:
                carried += _broader_than_read(source)
            elif source.resource_type == GITLAB_PROVIDER:
                carried.append(f"the token of the GitLab provider {source.name}")
            elif _registers_token(source):
                carried.append(f"the personal access token {source.name} registers")
            elif source.urn in registered:
                step = registered[source.urn]
                carried.append(f"{source.name}, the personal access token {step.name} registers")
        for what in carried:
            yield f"Repository Secret {secret.name} carries {what}.", secret.urn
