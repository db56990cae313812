"""An EKS cluster's managed node group: its role, its launch template, its scaling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import EksClusterConfig, NodeGroupConfig
from components.iam import managed_policy_arn, service_trust

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


@dataclass
class NodeGroupArgs:
    cluster: aws.eks.Cluster
    cluster_name: str
    config: EksClusterConfig
    nodes: NodeGroupConfig
    region: str
    subnet_ids: pulumi.Input[Sequence[str]]
    """The private subnets."""
    depends_on: Sequence[pulumi.Resource]
    """The nodes' way out (to pull images and reach AWS APIs) and the CNI add-on (without
    which nodes stay NotReady)."""


def node_group(name: str, args: NodeGroupArgs, parent: pulumi.Resource) -> aws.eks.NodeGroup:
    child = pulumi.ResourceOptions(parent=parent)
    nodes = args.nodes
    role = iam.role(
        f"{name}-nodes",
        service_trust("ec2.amazonaws.com"),
        child,
        managed_policy_arns=[managed_policy_arn(args.region, p) for p in NODE_POLICIES],
    )
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
                if args.config.ami_type.startswith("BOTTLEROCKET")
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
        cluster_name=args.cluster.name,
        node_role_arn=role.role.arn,
        subnet_ids=args.subnet_ids,
        ami_type=args.config.ami_type,
        instance_types=nodes.instance_types,
        capacity_type="ON_DEMAND",
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=nodes.min_size,
            desired_size=nodes.desired_size,
            max_size=nodes.max_size,
        ),
        # Nodes follow the control plane's version on upgrades.
        version=args.cluster.version,
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=launch_template.id,
            version=launch_template.latest_version.apply(str),
        ),
        # Nodes need their policies to join; a destroy removes the nodes (after everything
        # running on them) first.
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[*role.permissions, *args.depends_on]
        ),
    )
