"""Argo CD: its controller tuning, how it is exposed, its size, and how people sign in."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from components.config.gitops import GroupPath
from components.config.values import DnsLabel, _matching, _Strict, across

_DURATION = re.compile(r"^[1-9]\d*(s|m|h)$")
Duration = Annotated[str, _matching(_DURATION, "a duration such as '120s', '5m' or '1h'")]


HA_REPLICAS = 2
"""The fewest pods of each Argo CD service in a production stack, which runs Argo CD highly
available (components/argocd.py, docs/sizing.md)."""


def _highly_available_in_production(value: int | None, info: ValidationInfo) -> int | None:
    if value is not None and value < HA_REPLICAS and (info.context or {}).get("production"):
        raise ValueError(
            f"expected at least {HA_REPLICAS} in a production stack, where Argo CD runs highly "
            "available (or leave it unset)"
        )
    return value


Replicas = Annotated[
    int | None, Field(ge=1, le=10), AfterValidator(_highly_available_in_production)
]

ArgoCdRole = Literal["admin", "readonly", "deployer"]
BUILT_IN_SUBJECT = "admin"
"""Argo CD's built-in policy binds the subject `admin` to role:admin (argo-cd v3.4.4
assets/builtin-policy.csv, `g, admin, role:admin`): a group of that name would be admin."""


class GroupRole(_Strict):
    """The Argo CD role a GitLab group's members get."""

    group: GroupPath = Field(description="The group's full path, such as 'platform/developers'.")
    role: ArgoCdRole = Field(
        description="`admin` (role:admin), `readonly` (role:readonly), or `deployer` (sees and "
        "syncs the platform project's applications: the AppProject's role)."
    )

    @field_validator("group")
    @classmethod
    def _not_built_in(cls, group: str) -> str:
        if group == BUILT_IN_SUBJECT:
            raise ValueError(
                "expected a group other than 'admin': Argo CD's built-in policy makes the "
                "subject 'admin' role:admin whatever this maps it to"
            )
        return group


class SsoConfig(_Strict):
    """Signing in to Argo CD with GitLab accounts, and who gets which role."""

    enabled: bool = Field(
        default=True,
        description="Argo CD signs people in with GitLab (OIDC; an OAuth application the "
        "stack creates in GitLab).",
    )
    groups: list[GroupRole] | None = Field(
        default=None,
        description="GitLab groups (the GitOps group or groups under it, which the stack "
        "creates) and the role their members get, at any membership level; members of a group "
        "are members of its subgroups too, as in GitLab. Default: the GitOps group "
        "(`gitops.group`) as `admin`.",
    )
    default_role: Literal["readonly", "none"] = Field(
        default="readonly", description="The role of everyone else who signs in."
    )
    local_admin: bool | None = Field(
        default=None,
        description="Argo CD's local `admin` account. Default: off in production stacks, on "
        "elsewhere. Off needs `enabled`.",
    )
    break_glass: str = Field(
        default="",
        max_length=200,
        description="Break-glass: a reason (such as a ticket) turns the local admin on, "
        "whatever `local_admin` says, and is recorded on argocd-cm (README, Break-glass).",
    )
    id_token_lifetime_seconds: int = Field(
        default=7200,
        ge=120,
        le=43200,
        description="Lifetime of the ID tokens GitLab issues, to every OIDC client of the "
        "instance (GitLab's default is 120 s). Argo CD renews an active web session when "
        "GitLab's access token (2 hours) is 5 minutes from expiry, so below 7200 a web "
        "session ends at this lifetime and signs in again through GitLab. A removed group "
        "membership takes effect at most this long after.",
    )

    @across("enabled", "local_admin", at="local_admin")
    def _someone_can_sign_in(self) -> None:
        if self.local_admin is False and not self.enabled:
            raise ValueError("expected local_admin on (or sso.enabled): nobody could sign in")

    @across("groups", at="groups")
    def _groups_once(self) -> None:
        paths = [entry.group for entry in self.groups or []]
        twice = sorted({path for path in paths if paths.count(path) > 1})
        if twice:
            raise ValueError(f"expected each group once, got {twice} more than once")


class ArgoCdConfig(_Strict):
    """Argo CD: its controller tuning, how it is exposed, and its size. The tuning keys are
    argocd-cmd-params-cm's (argo-cd docs/operator-manual/argocd-cmd-params-cm.yaml)."""

    exposure: Literal["loadbalancer", "ingress"] = Field(
        default="loadbalancer",
        description="`loadbalancer`: its own NLB, TLS ending there, for the UI and the CLI's "
        "gRPC; `ingress`: on the shared ALB with GitLab.",
    )
    hostname: DnsLabel = Field(default="argocd", description="Served at `<hostname>.<domain>`.")
    status_processors: int = Field(
        default=20,
        ge=1,
        le=500,
        description="controller.status.processors: application status processors.",
    )
    operation_processors: int = Field(
        default=10,
        ge=1,
        le=500,
        description="controller.operation.processors: application sync processors.",
    )
    self_heal_timeout_seconds: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="controller.self.heal.timeout.seconds: time between self-heal attempts.",
    )
    repo_server_timeout_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="controller.repo.server.timeout.seconds: timeout of calls to the repo server.",
    )
    reconciliation_timeout: Duration = Field(
        default="120s", description="How often applications are compared with Git."
    )
    server_replicas: Replicas = Field(
        default=None,
        description=f"argocd-server pods. Default: {HA_REPLICAS} in production stacks (at least "
        f"{HA_REPLICAS} there: Argo CD runs highly available), 1 elsewhere.",
    )
    repo_server_replicas: Replicas = Field(
        default=None,
        description=f"argocd-repo-server pods. Default: {HA_REPLICAS} in production stacks (at "
        f"least {HA_REPLICAS} there), 1 elsewhere.",
    )
    sso: SsoConfig = Field(
        default=SsoConfig(), description="Signing in with GitLab, roles, the local admin."
    )
