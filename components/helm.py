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


def namespace(
    name: str,
    namespace_name: str,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
    labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """A namespace owned by the stack (so a destroy removes it), made after `depends_on`."""
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace_name, labels=dict(labels) if labels else None
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


@dataclass
class HelmReleaseArgs:
    chart: str
    source: ChartConfig
    namespace: str | k8s.core.v1.Namespace
    """A name (its namespace is created unless it is kube-system), or a namespace the caller
    made already, e.g. to put Secrets in it before the release."""
    values: Mapping[str, Any]
    timeout_seconds: int = 600
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    release_name: str | None = None
    """Helm's release name (default: the chart's); charts name their objects after it."""
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the namespace this creates (with a namespace name)."""


def layered(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`overlay` over `base` as Helm layers values files: mappings merge key by key, anything
    else the overlay replaces."""
    merged = dict(base)
    for key, value in overlay.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = layered(below, value)
        else:
            merged[key] = value
    return merged


def helm_release(name: str, args: HelmReleaseArgs, parent: pulumi.Resource) -> k8s.helm.v3.Release:
    """Install `args.chart` at exactly `args.source.version`, waiting at most the timeout."""
    target: pulumi.Input[str]
    if isinstance(args.namespace, k8s.core.v1.Namespace):
        target = args.namespace.metadata.name
    elif args.namespace in SYSTEM_NAMESPACES:
        target = args.namespace
    else:
        target = namespace(
            name, args.namespace, parent, args.depends_on, args.namespace_labels
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
        namespace=target,
        values=dict(args.values),
        timeout=args.timeout_seconds,
        # A failed install or upgrade removes what it created, so the next `up` starts clean.
        cleanup_on_fail=True,
        atomic=True,
        max_history=10,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.depends_on)),
    )
