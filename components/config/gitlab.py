"""GitLab: where it is served, git over SSH, its size, and its database and cache."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo

from components.config.values import AdminCidr, DnsLabel, _matching, _Strict, across


def _kept_in_production(value: str, info: ValidationInfo) -> str:
    if (info.context or {}).get("production") and value != "keep":
        raise ValueError(
            "expected 'keep' in a production stack, whose buckets are protected and kept; to "
            "delete them, set production: false and run `pulumi up` first (README, Destroying "
            "a stack)"
        )
    return value


class GitLabConfig(_Strict):
    """GitLab: where it is served, git over SSH, and its size."""

    hostname: DnsLabel = Field(default="gitlab", description="Served at `<hostname>.<domain>`.")
    ssh: Literal["disabled", "nlb"] = Field(
        default="disabled",
        description="Git over SSH: off, or through its own NLB limited to `ssh_cidrs` "
        "(an ALB cannot carry SSH).",
    )
    ssh_cidrs: list[AdminCidr] = Field(
        default=[], description="Ranges allowed to reach git over SSH (required with ssh: nlb)."
    )
    admin_area: Literal["admins", "everyone"] = Field(
        default="admins",
        description="Who reaches GitLab's admin area (`/admin`): only `access.admin_cidrs` "
        "(the ALB answers 403 to everyone else), or everyone the GitLab security group admits.",
    )
    webservice_replicas: int = Field(
        default=2, ge=1, le=20, description="Minimum web/API pods (maximum: twice that)."
    )
    sidekiq_replicas: int = Field(
        default=1, ge=1, le=20, description="Minimum background-job pods (maximum: twice that)."
    )
    gitlab_shell_replicas: int = Field(
        default=2, ge=1, le=10, description="Minimum gitlab-shell pods (with ssh: nlb)."
    )
    registry_replicas: int = Field(
        default=2, ge=1, le=10, description="Minimum container registry pods."
    )
    registry_metadata: Literal["database", "legacy"] = Field(
        default="database",
        description="Where the container registry keeps its metadata: `database` (its own "
        "database on GitLab's RDS instance, created by the stack; GitLab's choice for new "
        "registries) or `legacy` (in the bucket, deprecated; for a registry that already "
        "holds images until they are imported: README, GitLab).",
    )
    database_instance_class: Annotated[
        str,
        _matching(
            re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$"), "an RDS class such as 'db.t4g.medium'"
        ),
    ] = Field(default="db.t4g.medium", description="RDS instance class of GitLab's database.")
    database_storage_gib: int = Field(
        default=50, ge=20, le=65536, description="RDS storage (grows automatically up to 4x)."
    )
    buckets_on_destroy: Annotated[
        Literal["keep", "delete"], AfterValidator(_kept_in_production)
    ] = Field(
        default="keep",
        description="What `pulumi destroy` does with GitLab's buckets (repositories' LFS "
        "objects, artifacts, uploads, packages, the registry, backups): `keep` them, tagged "
        "`gitops-platform/retained-on-destroy` (the stack forgets them; `make orphans` reports "
        "them as kept), or `delete` them with every object version. Run `pulumi up` after "
        "changing it, before the destroy. Production stacks keep them.",
    )
    cache_node_type: Annotated[
        str,
        _matching(
            re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$"), "a node type such as 'cache.t4g.small'"
        ),
    ] = Field(default="cache.t4g.small", description="ElastiCache node type of GitLab's Redis.")

    two_factor: Literal["off", "admins", "everyone"] | None = Field(
        default=None,
        description="Who must sign in to GitLab with two-factor authentication: nobody, "
        "administrators, or every user. Default: `everyone` in production stacks, `off` "
        "elsewhere.",
    )
    two_factor_grace_period_hours: int = Field(
        default=48,
        ge=0,
        le=8760,
        description="How long a user may still sign in without having set up two-factor "
        "authentication once it is required.",
    )

    @across("ssh", "ssh_cidrs", at="ssh_cidrs")
    def _ssh_has_ranges(self) -> None:
        if self.ssh == "nlb" and not self.ssh_cidrs:
            raise ValueError("expected ssh_cidrs (at least one range) when ssh is 'nlb'")
        if self.ssh == "disabled" and self.ssh_cidrs:
            raise ValueError("ssh_cidrs is set but ssh is 'disabled'")
