"""The cluster switch: one `cluster.mode`, three ways to get a cluster, one record out.

`create_cluster` returns the mode's `ClusterOutputs`, or only its `ClusterFoundation` while a
kOps cluster does not exist yet (kOps step one).
"""

from __future__ import annotations

import pulumi

from components.clusters.eks import EksCluster, EksClusterArgs
from components.clusters.existing import ExistingCluster, ExistingClusterArgs
from components.clusters.kops import KopsCluster, KopsClusterArgs
from components.clusters.outputs import ClusterFoundation, ClusterOutputs
from components.config import (
    EksClusterConfig,
    ExistingClusterConfig,
    KopsClusterConfig,
    PlatformConfig,
    PlatformSecrets,
)
from components.naming import Naming

__all__ = ["ClusterFoundation", "ClusterOutputs", "cluster_name", "create_cluster"]


def cluster_name(config: PlatformConfig, naming: Naming) -> str:
    """The cluster's name: the configured one, else `<project>-<stack>` (EKS) or
    `<stack>.k8s.local` (kOps, gossip DNS). The controllers tag what they make with it."""
    mode = config.cluster
    if isinstance(mode, EksClusterConfig):
        return mode.name or naming.prefix
    if isinstance(mode, KopsClusterConfig):
        return mode.name or f"{config.stack}.k8s.local"
    return mode.name


def create_cluster(
    naming: Naming,
    config: PlatformConfig,
    secrets: PlatformSecrets,
    opts: pulumi.ResourceOptions,
) -> ClusterFoundation:
    mode = config.cluster
    if isinstance(mode, EksClusterConfig):
        # Validated: eks and kops modes always have network and nodes.
        assert config.network is not None
        assert config.nodes is not None
        return EksCluster(
            naming.prefix,
            EksClusterArgs(
                cluster=mode,
                network=config.network,
                nodes=config.nodes,
                cluster_name=cluster_name(config, naming),
                region=config.region,
                admin_cidrs=config.access.admin_cidrs,
                protect=config.production,
                tags=naming.tags,
            ),
            opts,
        ).outputs
    if isinstance(mode, KopsClusterConfig):
        assert config.network is not None
        assert config.nodes is not None
        return KopsCluster(
            naming.prefix,
            KopsClusterArgs(
                cluster=mode,
                network=config.network,
                nodes=config.nodes,
                cluster_name=cluster_name(config, naming),
                region=config.region,
                admin_cidrs=config.access.admin_cidrs,
                kubeconfig=secrets.kubeconfig,
                tags=naming.tags,
                protect=config.production,
            ),
            opts,
        ).outputs
    if isinstance(mode, ExistingClusterConfig):
        assert secrets.kubeconfig is not None  # validated: existing mode requires it
        return ExistingCluster(
            naming.prefix,
            ExistingClusterArgs(cluster=mode, region=config.region, kubeconfig=secrets.kubeconfig),
            opts,
        ).outputs
    raise TypeError(f"unhandled cluster mode {mode!r}")
