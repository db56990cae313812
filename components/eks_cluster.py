"""`cluster.mode: eks`: VPC, EKS control plane, managed nodes and the OIDC provider for IRSA."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import ClusterComponent, kubernetes_provider
from components.config import EksAddon, EksClusterConfig, NetworkConfig, NodeGroupConfig
from components.iam import managed_policy_arn, partition_of, policy_document, service_trust
from components.network import Network, NetworkArgs
from components.workload_identity import ServiceAccountRole, ServiceAccountRoleArgs

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
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


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


class EksCluster(ClusterComponent):
    kubeconfig: pulumi.Output[str]
    """Secret: uses `aws eks get-token`, so it holds no credential itself, but it names the
    cluster's endpoint and is treated as sensitive everywhere."""

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
                pulumi.ResourceOptions(depends_on=[log_group, *cluster_role.attachments]),
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
        nodes = self._create_node_group(name, args, cluster, network, networking, child)
        coredns = self._addon(f"{name}-coredns", "coredns", args, cluster, [nodes])

        self.cluster_name = cluster.name
        self.region = args.region
        self.vpc_id = network.vpc_id
        self.egress_cidrs = network.egress_cidrs
        self.public_subnet_ids = network.public_subnet_ids
        self.private_subnet_ids = network.private_subnet_ids
        self.oidc_provider_arn = oidc_provider.arn
        self.oidc_issuer_url = issuer_url
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.data
            ).apply(lambda parts: _kubeconfig(parts[0], parts[1], parts[2], args.region))
        )
        self.kubernetes = kubernetes_provider(f"{name}-k8s", self.kubeconfig, self)
        # Workloads need cluster DNS, and a destroy must keep it until they are gone: the
        # controllers still call AWS to delete load balancers and records then.
        self.workloads_ready = [nodes, coredns]
        if config.workload_identity == "pod_identity":
            self.identity_mechanism = "pod_identity"
            # The agent runs as a DaemonSet, so it becomes active only once nodes exist.
            self.identity_ready = [
                self._addon(
                    f"{name}-pod-identity-agent", "eks-pod-identity-agent", args, cluster, [nodes]
                )
            ]
        self.storage_ready = self._create_storage(name, args, cluster, nodes, child)
        self._grant_admins(name, args, cluster, child)
        self._register_cluster_outputs(kubeconfig=self.kubeconfig)

    def _create_storage(
        self,
        name: str,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        nodes: aws.eks.NodeGroup,
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """EKS has no volume driver and no default StorageClass: GitLab's Gitaly needs both."""
        role = ServiceAccountRole(
            f"{name}-ebs-csi",
            ServiceAccountRoleArgs(
                namespace="kube-system",
                service_accounts=["ebs-csi-controller-sa"],
                identity=self.workload_identity(),
                managed_policy_arns=[
                    managed_policy_arn(args.region, "service-role/AmazonEBSCSIDriverPolicy")
                ],
            ),
            child,
        )
        driver = self._addon(
            f"{name}-ebs-csi",
            "aws-ebs-csi-driver",
            args,
            cluster,
            [nodes, *role.ready],
            service_account_role_arn=role.role_arn if self.identity_mechanism == "irsa" else None,
        )
        default_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gp3",
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer",
            reclaim_policy="Delete",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.kubernetes, depends_on=[driver]),
        )
        return [driver, default_class]

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
    def _grant_admins(
        name: str, args: EksClusterArgs, cluster: aws.eks.Cluster, child: pulumi.ResourceOptions
    ) -> None:
        """Cluster admin for the configured principals (CI roles, teammates, break-glass):
        without them only the identity that created the cluster can reach it."""
        for i, principal in enumerate(args.cluster.admin_principal_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition_of(args.region)}:eks::aws:cluster-access-policy/"
                "AmazonEKSClusterAdminPolicy",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )

    def extra_outputs(self) -> dict[str, pulumi.Input[object]]:
        return {"kubeconfig": self.kubeconfig}

    @staticmethod
    def _create_cluster_role(
        name: str, region: str, secrets_key: aws.kms.Key, child: pulumi.ResourceOptions
    ) -> _Role:
        role = aws.iam.Role(
            f"{name}-cluster", assume_role_policy=service_trust("eks.amazonaws.com"), opts=child
        )
        attachments: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(region, policy),
                opts=child,
            )
            for policy in CLUSTER_POLICIES
        ]
        # The control plane encrypts and decrypts secrets with this key only.
        attachments.append(
            aws.iam.RolePolicy(
                f"{name}-cluster-secrets-key",
                role=role.name,
                policy=policy_document(
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
                opts=child,
            )
        )
        return _Role(role, attachments)

    @staticmethod
    def _create_node_group(
        name: str,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        network: Network,
        networking: Sequence[pulumi.Resource],
        child: pulumi.ResourceOptions,
    ) -> aws.eks.NodeGroup:
        nodes = args.nodes
        role = aws.iam.Role(
            f"{name}-nodes", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(args.region, policy),
                opts=child,
            )
            for policy in NODE_POLICIES
        ]
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            description=f"Nodes of EKS cluster {args.cluster_name}",
            # IMDSv2 only, one hop: pods cannot borrow the node's role; they use IRSA.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    # Bottlerocket keeps containers on its data volume; AL2023 on the root one.
                    device_name="/dev/xvdb"
                    if args.cluster.ami_type.startswith("BOTTLEROCKET")
                    else "/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=nodes.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            update_default_version=True,
            opts=child,
        )
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=network.private_subnet_ids,
            ami_type=args.cluster.ami_type,
            instance_types=nodes.instance_types,
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=nodes.min_size,
                desired_size=nodes.desired_size,
                max_size=nodes.max_size,
            ),
            # Nodes follow the control plane's version on upgrades.
            version=cluster.version,
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id,
                version=launch_template.latest_version.apply(str),
            ),
            # Nodes need their policies to join, their way out to pull images and reach AWS
            # APIs, and the CNI to become Ready; a destroy removes the nodes (after everything
            # running on them) first.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[*attachments, *network.egress_ready, *networking]
                ),
            ),
        )


@dataclass
class _Role:
    role: aws.iam.Role
    attachments: list[pulumi.Resource]


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    oidcs = identities[0].oidcs if identities else None
    if not oidcs or not oidcs[0].issuer:
        raise ValueError("EKS returned no OIDC issuer for the cluster")
    return oidcs[0].issuer


def _kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (short-lived tokens)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {
                        "server": endpoint,
                        "certificate-authority-data": certificate_authority,
                    },
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )
