"""The one way this stack installs a Helm chart: an exact version, a bounded wait, a cleanup.

Each release gets its own namespace resource (unless it goes to kube-system), so a destroy
removes the namespace too; Helm's `create_namespace` would leave it behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import ChartConfig

SYSTEM_NAMESPACES = ("kube-system",)


@dataclass
class HelmReleaseArgs:
    chart: str
    source: ChartConfig
    namespace: str
    values: Mapping[str, Any]
    timeout_seconds: int = 600
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    release_name: str | None = None
    """Helm's release name (default: the chart's); charts name their objects after it."""


def helm_release(name: str, args: HelmReleaseArgs, parent: pulumi.Resource) -> k8s.helm.v3.Release:
    """Install `args.chart` at exactly `args.source.version`, waiting at most the timeout."""
    namespace: pulumi.Input[str] = args.namespace
    if args.namespace not in SYSTEM_NAMESPACES:
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.depends_on)),
        ).metadata.name
    oci = args.source.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=args.release_name or args.chart,
        chart=f"{args.source.repository.rstrip('/')}/{args.chart}" if oci else args.chart,
        repository_opts=None
        if oci
        else k8s.helm.v3.RepositoryOptsArgs(repo=args.source.repository),
        version=args.source.version,
        namespace=namespace,
        values=dict(args.values),
        timeout=args.timeout_seconds,
        # A failed install or upgrade removes what it created, so the next `up` starts clean.
        cleanup_on_fail=True,
        atomic=True,
        max_history=10,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.depends_on)),
    )
