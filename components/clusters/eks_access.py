"""How people and tools reach an EKS cluster: admin access entries and the kubeconfig."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.iam import partition_of


def grant_admins(
    name: str,
    cluster: aws.eks.Cluster,
    principal_arns: Sequence[str],
    region: str,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """Cluster admin for the configured principals (CI roles, teammates, break-glass):
    without them only the identity that created the cluster can reach it. What talks to the
    cluster depends on them, so a destroy run by one of them keeps its access to the end."""
    child = pulumi.ResourceOptions(parent=parent)
    granted: list[pulumi.Resource] = []
    for i, principal in enumerate(principal_arns):
        entry = aws.eks.AccessEntry(
            f"{name}-admin-{i}",
            cluster_name=cluster.name,
            principal_arn=principal,
            type="STANDARD",
            opts=child,
        )
        association = aws.eks.AccessPolicyAssociation(
            f"{name}-admin-{i}",
            cluster_name=cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=f"arn:{partition_of(region)}:eks::aws:cluster-access-policy/"
            "AmazonEKSClusterAdminPolicy",
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=child,
        )
        granted += [entry, association]
    return granted


def kubeconfig_for(
    cluster_name: str, endpoint: str, certificate_authority: str, region: str
) -> str:
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
