"""`cluster.mode: eks`: VPC, EKS control plane, managed nodes and the OIDC provider for IRSA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.clusters.eks_access import grant_admins, kubeconfig_for
from components.clusters.eks_nodes import NodeGroupArgs, node_group
from components.clusters.eks_storage import default_storage
from components.clusters.outputs import (
    ClusterApi,
    ClusterOutputs,
    kubernetes_provider,
    register_cluster_outputs,
)
from components.config import EksAddon, EksClusterConfig, NetworkConfig, NodeGroupConfig
from components.iam import managed_policy_arn, policy_document, service_trust
from components.network import Network, NetworkArgs
from components.workload_identity import (
    ServiceAccountRole,
    ServiceAccountRoleArgs,
    WorkloadIdentity,
)

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# EKS installs vpc-cni, kube-proxy and CoreDNS itself, self-managed, and never upgrades them;
# as EKS add-ons they are adopted (OVERWRITE on create: "Amazon EKS changes the value to the
# Amazon EKS default value", EKS API CreateAddon resolveConflicts) and follow the version
# given here, which a Kubernetes upgrade changes too (EKS add-ons are "not automatically
# upgraded during a control plane upgrade": EKS Best Practices, cluster upgrades). Order, on
# create and on upgrade (an add-on depends on the cluster, so it updates after it): vpc-cni
# and kube-proxy before the nodes, which stay NotReady without a CNI; CoreDNS and the EBS CSI
# controller, Deployments that stay DEGRADED without nodes, after them.
BEFORE_NODES: tuple[EksAddon, ...] = ("vpc-cni", "kube-proxy")
# Deleting an add-on deletes its software from the cluster (EKS API DeleteAddon) unless it is
# preserved. The cluster's own networking and DNS stay until the cluster goes: a destroy may
# run their deletion while workloads still clean up after themselves.
PRESERVED: tuple[EksAddon, ...] = ("vpc-cni", "kube-proxy", "coredns")


@dataclass
class EksClusterArgs:
    cluster: EksClusterConfig
    network: NetworkConfig
    nodes: NodeGroupConfig
    cluster_name: str
    region: str
    admin_cidrs: list[str]
    """The only ranges that reach the public API endpoint."""
    protect: bool
    """Protect stateful resources (the cluster, its secrets key) from deletion."""
    tags: Mapping[str, str]
    """The stack's tags, for what AWS resources the cluster's drivers make (its volumes)."""


class EksCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    def __init__(
        self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:cluster:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        config = args.cluster

        network = Network(
            f"{name}-network",
            NetworkArgs(config=args.network, cluster_name=args.cluster_name),
            child,
        )
        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30 if args.protect else 7,
            opts=stateful,
        )
        aws.kms.Alias(
            f"{name}-secrets",
            name=f"alias/{args.cluster_name}-secrets",
            target_key_id=secrets_key.key_id,
            opts=child,
        )
        cluster_role = self._create_cluster_role(name, args.region, secrets_key, child)
        # Created before the cluster: otherwise EKS creates it with no expiry and a destroy
        # leaves it behind.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=config.log_retention_days,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            version=config.kubernetes_version,
            role_arn=cluster_role.role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=network.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=True,
                public_access_cidrs=args.admin_cidrs,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
            ),
            enabled_cluster_log_types=list(config.log_types),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            opts=pulumi.ResourceOptions.merge(
                stateful,
                pulumi.ResourceOptions(depends_on=[log_group, *cluster_role.permissions]),
            ),
        )
        issuer_url = cluster.identities.apply(_oidc_issuer)
        oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )
        networking = [
            self._addon(f"{name}-{addon}", addon, args, cluster, []) for addon in BEFORE_NODES
        ]
        nodes = node_group(
            name,
            NodeGroupArgs(
                cluster=cluster,
                cluster_name=args.cluster_name,
                config=config,
                nodes=args.nodes,
                region=args.region,
                subnet_ids=network.private_subnet_ids,
                depends_on=[*network.egress_ready, *networking],
            ),
            self,
        )
        coredns = self._addon(f"{name}-coredns", "coredns", args, cluster, [nodes])
        identity = WorkloadIdentity(
            mechanism=config.workload_identity,
            cluster_name=cluster.name,
            oidc_provider_arn=oidc_provider.arn,
            oidc_issuer_url=issuer_url,
            oidc_audience="sts.amazonaws.com",
            # The Pod Identity agent runs as a DaemonSet: active only once nodes exist.
            ready=[
                self._addon(
                    f"{name}-pod-identity-agent", "eks-pod-identity-agent", args, cluster, [nodes]
                )
            ]
            if config.workload_identity == "pod_identity"
            else [],
        )
        # Secret: it uses `aws eks get-token`, so it holds no credential itself, but it names
        # the cluster's endpoint and is treated as sensitive everywhere.
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.data
            ).apply(lambda parts: kubeconfig_for(parts[0], parts[1], parts[2], args.region))
        )
        admins = grant_admins(name, cluster, args.cluster.admin_principal_arns, args.region, self)
        kubernetes = kubernetes_provider(f"{name}-k8s", kubeconfig, self, admins)
        self.outputs = ClusterOutputs(
            name=cluster.name,
            region=args.region,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            egress_cidrs=network.egress_cidrs,
            oidc_provider_arn=oidc_provider.arn,
            oidc_issuer_url=issuer_url,
            exports={"kubeconfig": kubeconfig, "kubernetes_version": config.kubernetes_version},
            kubeconfig=kubeconfig,
            kubernetes=kubernetes,
            # Workloads need cluster DNS, and a destroy must keep it until they are gone: the
            # controllers still call AWS to delete load balancers and records then.
            workloads_ready=[nodes, coredns],
            storage_ready=self._create_storage(
                name, args, cluster, nodes, identity, kubernetes, kubeconfig
            ),
            identity=identity,
            api=ClusterApi(
                arn=cluster.arn,
                endpoint=cluster.endpoint,
                certificate_authority=cluster.certificate_authority.data,
            ),
        )
        register_cluster_outputs(self, self.outputs, kubeconfig=kubeconfig)

    def _create_storage(
        self,
        name: str,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        nodes: aws.eks.NodeGroup,
        identity: WorkloadIdentity,
        kubernetes: pulumi.ProviderResource,
        kubeconfig: pulumi.Input[str],
    ) -> list[pulumi.Resource]:
        """EKS has no volume driver and no default StorageClass: GitLab's Gitaly needs both."""
        role = ServiceAccountRole(
            f"{name}-ebs-csi",
            ServiceAccountRoleArgs(
                namespace="kube-system",
                service_accounts=["ebs-csi-controller-sa"],
                identity=identity,
                managed_policy_arns=[
                    managed_policy_arn(args.region, "service-role/AmazonEBSCSIDriverPolicy")
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        driver = self._addon(
            f"{name}-ebs-csi",
            "aws-ebs-csi-driver",
            args,
            cluster,
            [nodes, *role.ready],
            service_account_role_arn=role.role_arn if identity.mechanism == "irsa" else None,
        )
        return default_storage(name, driver, kubernetes, kubeconfig, args.tags, args.protect, self)

    def _addon(
        self,
        resource_name: str,
        addon: EksAddon,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        depends_on: Sequence[pulumi.Resource],
        service_account_role_arn: pulumi.Input[str] | None = None,
    ) -> aws.eks.Addon:
        """An EKS add-on at an exact version: the configured one, or EKS's default for the
        cluster's Kubernetes version (DescribeAddonVersions, `defaultVersion`; the provider's
        lookup returns it unless most_recent is set)."""
        config = args.cluster
        version: pulumi.Input[str] = config.addon_versions.get(addon) or (
            aws.eks.get_addon_version_output(
                addon_name=addon,
                kubernetes_version=config.kubernetes_version,
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).version
        )
        return aws.eks.Addon(
            resource_name,
            cluster_name=cluster.name,
            addon_name=addon,
            addon_version=version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            preserve=addon in PRESERVED,
            service_account_role_arn=service_account_role_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    @staticmethod
    def _create_cluster_role(
        name: str, region: str, secrets_key: aws.kms.Key, child: pulumi.ResourceOptions
    ) -> iam.Role:
        return iam.role(
            f"{name}-cluster",
            service_trust("eks.amazonaws.com"),
            child,
            managed_policy_arns=[managed_policy_arn(region, p) for p in CLUSTER_POLICIES],
            # The control plane encrypts and decrypts secrets with this key only.
            inline_policy=(
                f"{name}-cluster-secrets-key",
                policy_document(
                    {
                        "Effect": "Allow",
                        "Action": [
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:ListGrants",
                            "kms:DescribeKey",
                        ],
                        "Resource": secrets_key.arn,
                    }
                ),
            ),
        )


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    oidcs = identities[0].oidcs if identities else None
    if not oidcs or not oidcs[0].issuer:
        raise ValueError("EKS returned no OIDC issuer for the cluster")
    return oidcs[0].issuer
