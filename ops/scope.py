"""What identifies one stack's resources in AWS and on the internet, from its stack file alone.

After a destroy the stack has no outputs left, so the orphan audit cannot ask Pulumi which
resources were its own; the names and tags below are derived from the configuration exactly
as the program derives them (components/naming.py, components/clusters/__init__.py), and
tests/test_teardown.py (`test_the_scope_names_what_the_plan_names`) holds the two together
against the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.clusters import cluster_name
from components.config import PlatformConfig
from components.config.loader import ConfigError, validate
from components.naming import Naming
from offline.stack_files import load_stack, platform_raw

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackScope:
    project: str
    stack: str
    region: str
    production: bool
    tags: dict[str, str]
    """The stack's default tags: every AWS resource Pulumi makes carries them
    (components/providers.py), and so do the load balancer controller's and the EBS volumes
    of the stack's StorageClass (components/teardown.py)."""
    cluster_name: str
    """What the controllers tag their resources with: `elbv2.k8s.aws/cluster`,
    `kubernetes.io/cluster/<name>`."""
    cluster_mode: str
    """`eks`: the stack created the cluster, so what carries its name is the stack's; `kops`,
    `existing`: the cluster is made (and deleted) outside the stack, and its name says nothing
    about who owns a resource."""
    txt_owner_id: str
    """ExternalDNS's `--txt-owner-id`: its TXT ownership records name it."""
    domain: str
    zone_created: bool
    """True when the stack creates the hosted zone for `domain` (dns.create_zone); else the
    zone is someone else's and only the records ExternalDNS made are the stack's."""
    gitlab_host: str
    argocd_host: str
    published_hosts: tuple[str, ...]
    config: PlatformConfig

    @property
    def identity_tags(self) -> dict[str, str]:
        """The tags that single out this stack's resources: project and stack (the other
        default tags, owner and environment, are shared with other stacks)."""
        return {"project": self.tags["project"], "stack": self.tags["stack"]}


def scope_of(
    stack: str, project_dir: Path = PROJECT_DIR, stack_file: Path | None = None
) -> StackScope:
    """The scope of `stack` (from `Pulumi.<stack>.yaml`, or `stack_file`); raises ConfigError
    with every problem when the configuration does not validate."""
    settings = load_stack(project_dir, stack, stack_file)
    raw = platform_raw(settings)
    config, problems = validate(raw, settings.project)
    if config is None:
        raise ConfigError(stack, problems)
    naming = Naming.for_stack(config)
    return StackScope(
        project=config.project,
        stack=config.stack,
        region=config.region,
        production=config.production,
        tags=dict(naming.tags),
        cluster_name=cluster_name(config, naming),
        cluster_mode=config.cluster.mode,
        txt_owner_id=naming.prefix,
        domain=config.domain,
        zone_created=config.dns.create_zone,
        gitlab_host=f"{config.gitlab.hostname}.{config.domain}",
        argocd_host=f"{config.argocd.hostname}.{config.domain}",
        published_hosts=tuple(config.published_hosts()),
        config=config,
    )
