"""`cluster.mode: existing`: a cluster built elsewhere, described entirely by config."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.clusters.outputs import (
    ClusterOutputs,
    kubernetes_provider,
    register_cluster_outputs,
)
from components.config import ExistingClusterConfig
from components.workload_identity import WorkloadIdentity


@dataclass
class ExistingClusterArgs:
    cluster: ExistingClusterConfig
    region: str
    kubeconfig: pulumi.Output[str]


class ExistingCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    def __init__(
        self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:cluster:ExistingCluster", name, None, opts)
        config = args.cluster
        cluster_name = pulumi.Output.from_input(config.name)
        oidc_provider_arn = pulumi.Output.from_input(config.oidc_provider_arn)
        oidc_issuer_url = pulumi.Output.from_input(config.oidc_issuer_url)
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(args.kubeconfig)
        self.outputs = ClusterOutputs(
            name=cluster_name,
            region=args.region,
            vpc_id=pulumi.Output.from_input(config.vpc_id),
            public_subnet_ids=pulumi.Output.from_input(config.public_subnet_ids),
            private_subnet_ids=pulumi.Output.from_input(config.private_subnet_ids),
            # This stack built no network: the egress ranges are configured (access config).
            egress_cidrs=(),
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer_url=oidc_issuer_url,
            exports={"kubernetes_version": config.kubernetes_version},
            kubeconfig=kubeconfig,
            kubernetes=kubernetes_provider(f"{name}-k8s", kubeconfig, self),
            # The cluster already has nodes, DNS and storage; nothing here to wait for.
            workloads_ready=(),
            storage_ready=(),
            identity=WorkloadIdentity.irsa(
                cluster_name, oidc_provider_arn, oidc_issuer_url, config.oidc_audience
            ),
            api=None,
        )
        register_cluster_outputs(self, self.outputs)
