"""The whole stack's configuration: `PlatformConfig` and its secrets, `PlatformSecrets`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pydantic import Field

from components.config.argocd import ArgoCdConfig, GroupRole
from components.config.charts import ChartsConfig
from components.config.cluster import ClusterConfig, NetworkConfig, NodeGroupConfig
from components.config.edge import AccessConfig, DnsConfig, TlsConfig
from components.config.fleet import FleetConfig
from components.config.gitlab import GitLabConfig
from components.config.gitops import DEFAULT_APPLICATIONS, ApplicationConfig, GitOpsConfig
from components.config.previews import PreviewsConfig
from components.config.values import DnsLabel, DnsName, Region, TagKey, TagValue, _Strict


class PlatformConfig(_Strict):
    """Everything a stack is configured with, validated. Secrets live in `PlatformSecrets`."""

    project: str
    stack: str
    region: Region = Field(description="From `aws:region`.")
    environment: DnsLabel = Field(description="Environment name used in names and tags.")
    production: bool = Field(
        default=False,
        description="Production stack: stricter checks, stateful resources protected.",
    )
    owner: TagValue = Field(description="Team that owns the stack (the `owner` tag).")
    domain: DnsName = Field(description="Public DNS zone; GitLab and Argo CD live under it.")
    network: NetworkConfig | None = Field(
        default=None, description="The VPC and zones; required unless cluster.mode is existing."
    )
    cluster: ClusterConfig
    nodes: NodeGroupConfig | None = Field(
        default=None,
        description="Worker nodes of an eks or kops cluster (defaults apply); not for existing.",
    )
    access: AccessConfig
    dns: DnsConfig = DnsConfig()
    tls: TlsConfig = TlsConfig()
    gitlab: GitLabConfig = GitLabConfig()
    argocd: ArgoCdConfig = ArgoCdConfig()
    charts: ChartsConfig = ChartsConfig()
    gitops: GitOpsConfig = GitOpsConfig()
    applications: list[ApplicationConfig] = Field(
        default=DEFAULT_APPLICATIONS,
        description="Argo CD Applications deployed from the GitOps repository.",
    )
    previews: PreviewsConfig = PreviewsConfig()
    fleet: FleetConfig = FleetConfig()
    tags: dict[TagKey, TagValue] = Field(
        default={},
        # AWS allows 50 tags per resource; the stack adds 6 of its own and the EBS CSI
        # driver about 8 more to a volume (aws-ebs-csi-driver v1.64.0 docs/tagging.md).
        max_length=35,
        description="Extra tags on every AWS resource (35 at most; the platform's own tags "
        "win over extra tags of the same key).",
    )

    def argocd_local_admin(self) -> bool:
        """Whether Argo CD's local admin is on: for a break-glass reason, where set, else
        without sign-in by GitLab, else by default outside production."""
        sso = self.argocd.sso
        if sso.break_glass or not sso.enabled:
            return True
        return sso.local_admin if sso.local_admin is not None else not self.production

    def argocd_group_roles(self) -> list[GroupRole]:
        """The GitLab groups and their Argo CD roles: by default the GitOps group as admin."""
        groups = self.argocd.sso.groups
        return (
            list(groups)
            if groups is not None
            else [GroupRole(group=self.gitops.group, role="admin")]
        )

    def previews_enabled(self) -> bool:
        """Whether the stack makes previews per merge request: as set, else outside
        production only."""
        given = self.previews.enabled
        return given if given is not None else not self.production

    def gitlab_two_factor(self) -> str:
        """Who must use two-factor authentication in GitLab (default: everyone in production)."""
        given = self.gitlab.two_factor
        return given if given is not None else ("everyone" if self.production else "off")

    def published_hosts(self) -> list[str]:
        """The DNS names the stack's load balancers are published under (by ExternalDNS):
        GitLab's, its container registry's (the chart's default `registry.<domain>`, from its
        own Ingress: https://docs.gitlab.com/charts/charts/globals/ `hosts.registry.name`),
        git over SSH's, and Argo CD's."""
        gitlab = f"{self.gitlab.hostname}.{self.domain}"
        ssh = [f"{self.gitlab.hostname}-ssh.{self.domain}"] if self.gitlab.ssh == "nlb" else []
        registry = f"registry.{self.domain}"
        return [gitlab, registry, *ssh, f"{self.argocd.hostname}.{self.domain}"]


@dataclass(frozen=True)
class PlatformSecrets:
    """Secret configuration, kept as Pulumi secret Outputs end to end."""

    kubeconfig: pulumi.Output[str] | None
    gitlab_token: pulumi.Output[str] | None
    """A GitLab administrator's access token (scope api) to use instead of bootstrapping one."""


SECRET_KEYS = ("kubeconfig", "gitlab_token")
"""Top-level keys that hold secrets; they stay Pulumi secrets and never enter the model."""
_RUNTIME_FIELDS = ("project", "stack", "region")
"""Fields the Pulumi runtime fills in (`aws:region` among them), not keys of the stack file."""
CONFIG_KEYS = tuple(k for k in PlatformConfig.model_fields if k not in _RUNTIME_FIELDS)
"""Top-level keys a stack file may set in the project's namespace, besides `SECRET_KEYS`."""
