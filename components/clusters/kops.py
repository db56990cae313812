"""`cluster.mode: kops`: what kOps needs before it can build a cluster, and the command to run.

Two steps (docs/kops.md): `pulumi up` creates the state store, the OIDC discovery bucket, the
identity kOps runs as and (optionally) the VPC, and exports `kops_create_cluster_command`. Once
kOps has built the cluster, `pulumi config set --secret kubeconfig` and a second `pulumi up`
installs everything in-cluster.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.buckets import private_bucket
from components.clusters.outputs import (
    ClusterFoundation,
    ClusterOutputs,
    kubernetes_provider,
    register_cluster_outputs,
)
from components.config import KopsClusterConfig, NetworkConfig, NodeGroupConfig
from components.iam import managed_policy_arn, partition_of, policy_document
from components.network import Network, NetworkArgs
from components.workload_identity import WorkloadIdentity

# The managed policies kOps documents for the identity that runs it (getting_started/aws).
OPERATOR_POLICIES = (
    "AmazonEC2FullAccess",
    "AmazonRoute53FullAccess",
    "AmazonS3FullAccess",
    "IAMFullAccess",
    "AmazonVPCFullAccess",
    "AmazonSQSFullAccess",
    "AmazonEventBridgeFullAccess",
)
DISCOVERY_PREFIX = "discovery"
# kOps' pod identity webhook requests tokens for this audience, and the OIDC provider kOps
# creates trusts it (EKS uses sts.amazonaws.com).
KOPS_TOKEN_AUDIENCE = "amazonaws.com"


@dataclass
class KopsClusterArgs:
    cluster: KopsClusterConfig
    network: NetworkConfig
    nodes: NodeGroupConfig
    cluster_name: str
    region: str
    admin_cidrs: list[str]
    kubeconfig: pulumi.Output[str] | None
    """Set once kOps has built the cluster (step two)."""
    tags: dict[str, str]
    """Passed to kOps as cloud labels so the cluster's own resources carry them too."""
    protect: bool


class KopsCluster(pulumi.ComponentResource):
    outputs: ClusterFoundation
    """A `ClusterOutputs` once a kubeconfig is configured (step two)."""

    def __init__(
        self, name: str, args: KopsClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:cluster:KopsCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.cluster

        state = private_bucket(f"{name}-kops-state", self, versioned=True, protect=args.protect)
        # Never protected: it only holds documents kOps publishes again.
        discovery = private_bucket(
            f"{name}-kops-oidc", self, versioned=False, protect=False, block_public_access=False
        )
        self._publish_discovery_documents(f"{name}-kops-oidc", discovery, child)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        operator = self._create_operator_role(name, args, account.account_id, child)

        egress_ready: list[pulumi.Resource] = []
        egress_cidrs: list[pulumi.Output[str]] = []
        if config.create_vpc:
            network = Network(
                f"{name}-network",
                NetworkArgs(config=args.network, cluster_name=args.cluster_name),
                child,
            )
            vpc_id = network.vpc_id
            public_subnet_ids = network.public_subnet_ids
            private_subnet_ids = network.private_subnet_ids
            egress_ready = network.egress_ready
            egress_cidrs = network.egress_cidrs
        else:
            assert config.vpc_id is not None  # validated: required without create_vpc
            vpc_id = pulumi.Output.from_input(config.vpc_id)
            public_subnet_ids = pulumi.Output.from_input(config.public_subnet_ids)
            private_subnet_ids = pulumi.Output.from_input(config.private_subnet_ids)

        # kOps publishes the discovery documents under <store>/<cluster name>, and its issuer
        # is that folder's virtual-hosted S3 URL; kOps also creates the IAM OIDC provider.
        issuer_host_path = pulumi.Output.concat(
            discovery.bucket,
            f".s3.{args.region}.amazonaws.com/{DISCOVERY_PREFIX}/{args.cluster_name}",
        )
        cluster_name = pulumi.Output.from_input(args.cluster_name)
        oidc_issuer_url = pulumi.Output.concat("https://", issuer_host_path)
        oidc_provider_arn = pulumi.Output.concat(
            f"arn:{partition_of(args.region)}:iam::",
            account.account_id,
            ":oidc-provider/",
            issuer_host_path,
        )
        state_store = pulumi.Output.concat("s3://", state.bucket)
        discovery_store = pulumi.Output.concat("s3://", discovery.bucket, f"/{DISCOVERY_PREFIX}")
        create_command = pulumi.Output.all(
            state_store, discovery_store, vpc_id, private_subnet_ids, public_subnet_ids
        ).apply(lambda values: _create_cluster_command(args, *values))
        foundation = ClusterFoundation(
            name=cluster_name,
            region=args.region,
            vpc_id=vpc_id,
            public_subnet_ids=public_subnet_ids,
            private_subnet_ids=private_subnet_ids,
            egress_cidrs=egress_cidrs,
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer_url=oidc_issuer_url,
            exports={
                "kops_state_store": state_store,
                "kops_discovery_store": discovery_store,
                "kops_operator_role_arn": operator.arn,
                "kops_create_cluster_command": create_command,
                "kubernetes_version": config.kubernetes_version,
            },
        )
        self.outputs = foundation
        if args.kubeconfig is not None:
            kubeconfig: pulumi.Output[str] = pulumi.Output.secret(args.kubeconfig)
            self.outputs = ClusterOutputs(
                **vars(foundation),
                kubeconfig=kubeconfig,
                kubernetes=kubernetes_provider(f"{name}-k8s", kubeconfig, self),
                # kOps builds the nodes; by the time a kubeconfig is configured they exist.
                # What runs on them needs the way out that this stack built, also while it is
                # being destroyed.
                workloads_ready=egress_ready,
                # kOps clusters bring their own volume driver and StorageClass.
                storage_ready=(),
                identity=WorkloadIdentity.irsa(
                    cluster_name, oidc_provider_arn, oidc_issuer_url, KOPS_TOKEN_AUDIENCE
                ),
                api=None,
            )
        register_cluster_outputs(
            self,
            self.outputs,
            state_store=state_store,
            discovery_store=discovery_store,
            operator_role_arn=operator.arn,
            kops_create_cluster_command=create_command,
        )

    @staticmethod
    def _publish_discovery_documents(
        name: str, bucket: aws.s3.Bucket, child: pulumi.ResourceOptions
    ) -> None:
        """AWS STS must read the OIDC discovery documents anonymously, and only those: the
        bucket is public by policy for two object keys under the prefix, ACLs stay off."""
        access = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            ignore_public_acls=True,
            block_public_policy=False,
            restrict_public_buckets=False,
            opts=child,
        )
        documents = [
            pulumi.Output.concat(
                bucket.arn, f"/{DISCOVERY_PREFIX}/*/.well-known/openid-configuration"
            ),
            pulumi.Output.concat(bucket.arn, f"/{DISCOVERY_PREFIX}/*/openid/v1/jwks"),
        ]
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=policy_document(
                {
                    "Sid": "PublicOidcDiscovery",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "s3:GetObject",
                    "Resource": documents,
                }
            ),
            # S3 rejects a public policy until the public access block allows it.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[access])),
        )

    @staticmethod
    def _create_operator_role(
        name: str,
        args: KopsClusterArgs,
        account_id: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> aws.iam.Role:
        # Default: anyone in this account whose own IAM permissions allow assuming the role.
        principals: list[pulumi.Input[str]] = list(args.cluster.operator_arns) or [
            pulumi.Output.concat(f"arn:{partition_of(args.region)}:iam::", account_id, ":root")
        ]
        return iam.role(
            f"{name}-kops-operator",
            policy_document(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": principals},
                    "Action": "sts:AssumeRole",
                }
            ),
            child,
            managed_policy_arns=[managed_policy_arn(args.region, p) for p in OPERATOR_POLICIES],
            description="The identity kOps runs as (assume it before running kops)",
            max_session_duration=3600,
        ).role


def _create_cluster_command(
    args: KopsClusterArgs,
    state_store: str,
    discovery_store: str,
    vpc_id: str,
    private_subnet_ids: list[str],
    public_subnet_ids: list[str],
) -> str:
    """The `kops create cluster` invocation for what this stack created: private topology in
    the stack's subnets, API limited to the admin ranges, IRSA through the discovery store."""
    config = args.cluster
    zones = ",".join(args.network.availability_zones)
    # etcd needs an odd number of control-plane members: one, or three across zones.
    count = 3 if len(args.network.availability_zones) >= 3 else 1
    control_plane_zones = ",".join(args.network.availability_zones[:count])
    labels = ",".join(f"{k}={v}" for k, v in sorted(args.tags.items()))
    flags = [
        ("--name", args.cluster_name),
        ("--state", state_store),
        ("--cloud", "aws"),
        ("--zones", zones),
        ("--control-plane-zones", control_plane_zones),
        ("--network-id", vpc_id),
        ("--subnets", ",".join(private_subnet_ids)),
        ("--utility-subnets", ",".join(public_subnet_ids)),
        ("--topology", "private"),
        ("--dns", "none"),
        ("--kubernetes-version", config.kubernetes_version),
        ("--control-plane-size", config.control_plane_size),
        ("--node-size", ",".join(args.nodes.instance_types)),
        ("--node-count", str(args.nodes.desired_size)),
        ("--admin-access", ",".join(args.admin_cidrs)),
        ("--discovery-store", discovery_store),
        ("--cloud-labels", labels),
        # IRSA for pods: kOps' pod identity webhook injects the role of annotated service
        # accounts; it needs cert-manager.
        ("--set", "spec.podIdentityWebhook.enabled=true"),
        ("--set", "spec.certManager.enabled=true"),
    ]
    return "kops create cluster " + " ".join(
        f"{flag}={shlex.quote(value)}" for flag, value in flags
    )
