"""Signing in to Argo CD with GitLab: the OAuth applications, the OIDC configuration Argo CD
reads, and the roles GitLab groups get (GitLab's two-factor requirement:
components/gitlab_settings.py).

Argo CD's own OIDC client (no Dex) talks to GitLab's OpenID Connect provider:
- The web UI uses a confidential OAuth application (its secret in a Kubernetes Secret);
  `argocd login --sso` uses a second, non-confidential one (`cliClientID`): the CLI runs the
  authorization-code flow with PKCE itself and has no secret (argo-cd v3.4.4
  cmd/argocd/commands/login.go, oauth2Login; util/settings/settings.go, OIDCConfig
  `cliClientID`), listening on localhost:8085 (the CLI's `--sso-port` default).
- Every string of `oidc.config` that starts with `$` is replaced by a key of a Secret in
  Argo CD's namespace labelled `app.kubernetes.io/part-of: argocd`, `$<secret>:<key>`
  (util/settings/settings.go, oidcConfig → ReplaceMapSecrets; getSecrets with
  partOfArgoCDSelector), so neither the client id nor the secret is a Helm value and Argo CD
  installs without waiting for GitLab.
- GitLab offers no `groups` scope: Argo CD's default `requestedScopes` (openid, profile,
  email, groups) would be refused, so the scopes are GitLab's `openid profile email`.
- Groups: GitLab's ID token carries `groups_direct`, the groups a user is a direct member of;
  `groups` (direct or through an ancestor group) only comes from the userinfo endpoint (GitLab
  docs, integration/openid_connect_provider, "Shared information"). Argo CD's
  `enableUserInfoGroups` reads userinfo with the access token it cached at the web UI's
  callback, which a CLI session never leaves, so every CLI call would fail (argo-cd v3.4.4
  util/oidc/oidc.go, GetUserInfo: "no accessToken for ..."). Instead RBAC reads
  `groups_direct` and binds each configured group's role to the group and to each of its
  ancestors, whose members are members of it in GitLab: the same roles as `groups` would
  give, for the web UI and the CLI alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gitlab as gitlab
import pulumi_kubernetes as k8s
import yaml

from components.config import GroupRole
from components.gitlab_tokens import secret

SECRET_NAME = "argocd-sso-gitlab"
CLIENT_ID, CLIENT_SECRET, CLI_CLIENT_ID = "clientID", "clientSecret", "cliClientID"
PART_OF_ARGOCD = {"app.kubernetes.io/part-of": "argocd"}
SCOPES = ["openid", "profile", "email"]
GROUPS_CLAIM = "groups_direct"
REFRESH_BEFORE_EXPIRY = "5m"
CALLBACK_PATH = "/auth/callback"
"""Argo CD's OIDC callback (argo-cd v3.4.4 common/common.go, CallbackEndpoint)."""
CLI_CALLBACK = "http://localhost:8085/auth/callback"
BREAK_GLASS_ANNOTATION = "gitops-platform.io/break-glass"
PROJECT_ROLE = "deployer"
BUILT_IN_ROLES = {"admin": "role:admin", "readonly": "role:readonly"}


def reference(key: str) -> str:
    """`key` of the sign-in Secret, as Argo CD's settings refer to it."""
    return f"${SECRET_NAME}:{key}"


def oidc_config(issuer: str) -> str:
    """argocd-cm `oidc.config`: a YAML document (the chart copies it verbatim)."""
    return yaml.safe_dump(
        {
            "name": "GitLab",
            "issuer": issuer,
            "clientID": reference(CLIENT_ID),
            "clientSecret": reference(CLIENT_SECRET),
            "cliClientID": reference(CLI_CLIENT_ID),
            "requestedScopes": SCOPES,
            # argocd-server renews a web session on a request this close to the ID token's
            # expiry (argo-cd v3.4.4 server/server.go getClaims → util/oidc/oidc.go
            # CheckAndRefreshToken; 0, the default, never renews), by refreshing the cached
            # OAuth token once it too is this close to its expiry (GetTokenSourceFromCache,
            # ReuseTokenSourceWithExpiry). GitLab's access tokens live 2 hours, so with ID
            # tokens as long (id_token_lifetime_seconds, 7200) an active user is not signed
            # out. The CLI renews its own (pkg/apiclient/apiclient.go refreshAuthToken).
            "refreshTokenThreshold": REFRESH_BEFORE_EXPIRY,
        },
        sort_keys=False,
    )


def subjects(group: str) -> list[str]:
    """The group and its ancestors: whose members are members of `group` in GitLab."""
    parts = group.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def rbac(group_roles: Sequence[GroupRole], default_role: str) -> dict[str, str]:
    """argocd-rbac-cm: the built-in roles of the configured groups, read from
    `groups_direct`. (`deployer` is the AppProject's role: `project_roles`.)"""
    lines = sorted(
        {
            f"g, {subject}, {BUILT_IN_ROLES[entry.role]}"
            for entry in group_roles
            if entry.role in BUILT_IN_ROLES
            for subject in subjects(entry.group)
        }
    )
    return {
        "policy.default": BUILT_IN_ROLES.get(default_role, ""),
        "policy.csv": "".join(f"{line}\n" for line in lines),
        "scopes": f"[{GROUPS_CLAIM}]",
    }


def project_roles(project: str, group_roles: Sequence[GroupRole]) -> list[dict[str, object]]:
    """The AppProject's `deployer` role (see and sync its applications), held by the groups
    configured as `deployer` and their ancestors (argo-cd v3.4.4
    docs/operator-manual/project.yaml, `roles`); none when no group is."""
    groups = sorted(
        {s for entry in group_roles if entry.role == PROJECT_ROLE for s in subjects(entry.group)}
    )
    if not groups:
        return []
    subject = f"proj:{project}:{PROJECT_ROLE}"
    return [
        {
            "name": PROJECT_ROLE,
            "description": "Sees and syncs the platform's applications",
            "policies": [
                f"p, {subject}, applications, {action}, {project}/*, allow"
                for action in ("get", "sync")
            ],
            "groups": groups,
        }
    ]


@dataclass
class SignInArgs:
    argocd_url: str
    admin: gitlab.Provider
    """GitLab's API as an administrator: the applications are instance-wide."""
    renewal: pulumi.Input[str]
    """The renewal period: the web application (and so its secret) is replaced in each."""
    argocd_namespace: str
    argocd: Sequence[pulumi.Resource]
    """The Argo CD release: its namespace holds the Secret."""


class SignIn(pulumi.ComponentResource):
    """GitLab's side of signing in: Argo CD's OAuth applications and the Secret Argo CD reads
    them from."""

    def __init__(
        self, name: str, args: SignInArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:SignIn", name, None, opts)
        on_gitlab = pulumi.ResourceOptions(parent=self, provider=args.admin)
        # Instance-wide (no owner group): created by an administrator. Its name carries the
        # renewal period, so each period replaces it and its secret (create first, then
        # delete: sessions of the old one end).
        web = gitlab.Application(
            f"{name}-argocd",
            name=pulumi.Output.concat("Argo CD (", args.renewal, ")"),
            redirect_url=f"{args.argocd_url}{CALLBACK_PATH}",
            scopes=SCOPES,
            confidential=True,
            opts=on_gitlab,
        )
        cli = gitlab.Application(
            f"{name}-argocd-cli",
            name="Argo CD CLI",
            redirect_url=CLI_CALLBACK,
            scopes=SCOPES,
            confidential=False,
            opts=on_gitlab,
        )
        k8s.core.v1.Secret(
            f"{name}-argocd-sso",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRET_NAME, namespace=args.argocd_namespace, labels=PART_OF_ARGOCD
            ),
            string_data={
                CLIENT_ID: web.application_id,
                CLIENT_SECRET: secret(web.secret),
                CLI_CLIENT_ID: cli.application_id,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.argocd)),
        )
        self.register_outputs({})
