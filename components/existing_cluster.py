"""`cluster.mode: existing`: a cluster built elsewhere, described entirely by config."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster import ClusterComponent, kubernetes_provider
from components.config import ExistingClusterConfig


@dataclass
class ExistingClusterArgs:
    cluster: ExistingClusterConfig
    region: str
    kubeconfig: pulumi.Output[str]


class ExistingCluster(ClusterComponent):
    def __init__(
        self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:cluster:ExistingCluster", name, None, opts)
        config = args.cluster
        self.cluster_name = pulumi.Output.from_input(config.name)
        self.region = args.region
        self.vpc_id = pulumi.Output.from_input(config.vpc_id)
        self.public_subnet_ids = pulumi.Output.from_input(config.public_subnet_ids)
        self.private_subnet_ids = pulumi.Output.from_input(config.private_subnet_ids)
        self.oidc_provider_arn = pulumi.Output.from_input(config.oidc_provider_arn)
        self.oidc_issuer_url = pulumi.Output.from_input(config.oidc_issuer_url)
        self.oidc_audience = config.oidc_audience
        self.kubeconfig = pulumi.Output.secret(args.kubeconfig)
        self.kubernetes = kubernetes_provider(f"{name}-k8s", self.kubeconfig, self)
        # The cluster already has nodes; nothing here to wait for.
        self.workloads_ready = []
        self._register_cluster_outputs()
