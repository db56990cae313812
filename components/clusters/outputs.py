"""What a cluster hands to the rest of the stack: one typed record per stage.

Every cluster mode builds its record completely in its constructor. `ClusterFoundation` is
the AWS side (network, identity provider); `ClusterOutputs` adds what in-cluster components
need (a Kubernetes provider, what to wait for, how service accounts get AWS roles). A kOps
cluster that kOps has not built yet (step one, docs/kops.md) has a foundation only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.workload_identity import WorkloadIdentity


@dataclass(frozen=True)
class ClusterFoundation:
    name: pulumi.Output[str]
    region: str
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    egress_cidrs: Sequence[pulumi.Input[str]]
    """Where the cluster's outbound traffic comes from (the NAT gateways, /32) when this stack
    built the network, else empty; Argo CD reaches GitLab's load balancer from there."""
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    exports: Mapping[str, pulumi.Input[object]]
    """Stack outputs particular to this cluster mode."""


@dataclass(frozen=True)
class ClusterOutputs(ClusterFoundation):
    kubeconfig: pulumi.Output[str]
    """Secret; what `kubernetes` connects with (for steps that run kubectl)."""
    kubernetes: k8s.Provider
    workloads_ready: Sequence[pulumi.Resource]
    """What in-cluster workloads must wait for: nodes to schedule pods on, cluster DNS."""
    storage_ready: Sequence[pulumi.Resource]
    """What workloads with persistent volumes must wait for (a CSI driver, a default
    StorageClass); kOps and existing clusters bring their own."""
    identity: WorkloadIdentity
    """How this cluster's service accounts get AWS roles (IRSA or Pod Identity)."""
    api: ClusterApi | None
    """The API server as EKS describes it; None where the stack did not make the cluster
    (kOps, existing: what a fleet spoke needs, components/fleet.py)."""


@dataclass(frozen=True)
class ClusterApi:
    """What a client outside the cluster needs to reach its API server."""

    arn: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    """Base64 PEM, as EKS returns it (`certificateAuthority.data`)."""


def kubernetes_provider(
    name: str,
    kubeconfig: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.Provider:
    """The provider every in-cluster resource uses; `depends_on`: what grants access (a
    destroy deletes it only after everything that used the provider)."""
    return k8s.Provider(
        name,
        kubeconfig=pulumi.Output.secret(kubeconfig),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def register_cluster_outputs(
    component: pulumi.ComponentResource,
    cluster: ClusterFoundation,
    **extra: pulumi.Input[object],
) -> None:
    """The component's own outputs: the foundation's values and the mode's own."""
    component.register_outputs(
        {
            "cluster_name": cluster.name,
            "region": cluster.region,
            "vpc_id": cluster.vpc_id,
            "public_subnet_ids": cluster.public_subnet_ids,
            "private_subnet_ids": cluster.private_subnet_ids,
            "oidc_provider_arn": cluster.oidc_provider_arn,
            "oidc_issuer_url": cluster.oidc_issuer_url,
            **extra,
        }
    )
