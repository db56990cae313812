"""The cluster switch: one `cluster.mode`, three ways to get a cluster, the same outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.config import (
    EksClusterConfig,
    ExistingClusterConfig,
    KopsClusterConfig,
    PlatformConfig,
    PlatformSecrets,
)
from components.naming import Naming
from components.workload_identity import WorkloadIdentity


class ClusterComponent(pulumi.ComponentResource):
    """What every cluster mode hands to the rest of the stack."""

    cluster_name: pulumi.Output[str]
    region: str
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    oidc_audience: str = "sts.amazonaws.com"
    """The `aud` of service-account tokens that IAM trusts for this cluster."""
    kubernetes: k8s.Provider | None
    """None while a kOps cluster does not exist yet (step one of the kOps flow)."""
    kubeconfig: pulumi.Output[str] | None
    """Secret; what `kubernetes` connects with (for steps that run kubectl)."""
    workloads_ready: list[pulumi.Resource]
    """What in-cluster workloads must wait for: nodes to schedule pods on."""
    egress_cidrs: Sequence[pulumi.Input[str]] = ()
    """Where the cluster's outbound traffic comes from (the NAT gateways, /32), when this
    stack built the network; Argo CD reaches GitLab's load balancer from there."""
    storage_ready: Sequence[pulumi.Resource] = ()
    """What workloads with persistent volumes must wait for (a CSI driver, a default
    StorageClass); kOps and existing clusters bring their own."""
    identity_mechanism: Literal["irsa", "pod_identity"] = "irsa"
    identity_ready: Sequence[pulumi.Resource] = ()
    """What must exist before service accounts can use their roles."""

    def workload_identity(self) -> WorkloadIdentity:
        """How this cluster's service accounts get AWS roles."""
        return WorkloadIdentity(
            mechanism=self.identity_mechanism,
            cluster_name=self.cluster_name,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer_url=self.oidc_issuer_url,
            oidc_audience=self.oidc_audience,
            ready=list(self.identity_ready),
        )

    def extra_outputs(self) -> dict[str, pulumi.Input[object]]:
        """Stack outputs particular to this cluster mode."""
        return {}

    def _register_cluster_outputs(self, **extra: pulumi.Input[object]) -> None:
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "region": self.region,
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer_url": self.oidc_issuer_url,
                **extra,
            }
        )


def kubernetes_provider(
    name: str, kubeconfig: pulumi.Input[str], parent: pulumi.Resource
) -> k8s.Provider:
    return k8s.Provider(
        name,
        kubeconfig=pulumi.Output.secret(kubeconfig),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def create_cluster(
    naming: Naming,
    config: PlatformConfig,
    secrets: PlatformSecrets,
    opts: pulumi.ResourceOptions,
) -> ClusterComponent:
    # Imported here: each mode's module imports ClusterComponent from this one.
    if isinstance(config.cluster, EksClusterConfig):
        from components.eks_cluster import EksCluster, EksClusterArgs

        # Validated: eks and kops modes always have network and nodes.
        assert config.network is not None
        assert config.nodes is not None
        return EksCluster(
            naming.prefix,
            EksClusterArgs(
                cluster=config.cluster,
                network=config.network,
                nodes=config.nodes,
                cluster_name=config.cluster.name or naming.prefix,
                region=config.region,
                admin_cidrs=config.access.admin_cidrs,
                protect=config.production,
            ),
            opts,
        )
    if isinstance(config.cluster, KopsClusterConfig):
        from components.kops_cluster import KopsCluster, KopsClusterArgs

        assert config.network is not None
        assert config.nodes is not None
        return KopsCluster(
            naming.prefix,
            KopsClusterArgs(
                cluster=config.cluster,
                network=config.network,
                nodes=config.nodes,
                cluster_name=config.cluster.name or f"{config.stack}.k8s.local",
                region=config.region,
                admin_cidrs=config.access.admin_cidrs,
                kubeconfig=secrets.kubeconfig,
                tags=naming.tags,
                protect=config.production,
            ),
            opts,
        )
    if isinstance(config.cluster, ExistingClusterConfig):
        from components.existing_cluster import ExistingCluster, ExistingClusterArgs

        assert secrets.kubeconfig is not None  # validated: existing mode requires it
        return ExistingCluster(
            naming.prefix,
            ExistingClusterArgs(
                cluster=config.cluster, region=config.region, kubeconfig=secrets.kubeconfig
            ),
            opts,
        )
    raise TypeError(f"unhandled cluster mode {config.cluster!r}")
