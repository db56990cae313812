"""The AWS Load Balancer Controller: ALBs for Ingresses (class `alb`), NLBs for Services.

Everything that later creates an Ingress or a LoadBalancer Service depends on `release`: the
controller's webhook rejects such objects while it is not ready, and on destroy they must be
deleted while the controller still runs, or their load balancers are left behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.clusters.outputs import ClusterOutputs
from components.config import ChartConfig
from components.controller import ControllerArgs, controller
from components.iam import Statement, partition_of, policy_document
from components.teardown import load_balancers_gone

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
INGRESS_CLASS = "alb"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"

Condition = dict[str, dict[str, str | list[str]]]


@dataclass
class LoadBalancerControllerArgs:
    chart: ChartConfig
    cluster: ClusterOutputs
    tags: Mapping[str, str]
    """The stack's tags: the controller puts them on every AWS resource it makes."""


class LoadBalancerController(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]
    ingress_class: str = INGRESS_CLASS
    publishers_wait_for: list[pulumi.Resource]
    """What anything asking for a load balancer must depend on: the release, and the
    destroy-time step that holds the controller until every load balancer is gone."""

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops-platform:edge:LoadBalancerController", name, None, opts)
        cluster = args.cluster
        installed = controller(
            name,
            ControllerArgs(
                chart="aws-load-balancer-controller",
                source=args.chart,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                cluster=cluster,
                policy=policy_document(*controller_statements(partition_of(cluster.region))),
                values={
                    # Set explicitly: with IMDSv2 and a hop limit of 1 the controller cannot
                    # discover them from the instance metadata.
                    "clusterName": cluster.name,
                    "region": cluster.region,
                    "vpcId": cluster.vpc_id,
                    "replicaCount": 2,
                    "ingressClass": INGRESS_CLASS,
                    "createIngressClassResource": True,
                    # On every load balancer, target group and security group it makes
                    # (chart values.yaml `defaultTags` → `--default-tags`), so that
                    # `make orphans` finds one left behind by the stack's tags too.
                    "defaultTags": {**args.tags, "managed-by": "aws-load-balancer-controller"},
                },
            ),
            self,
        )
        self.role_arn = installed.role.role_arn
        self.release = installed.release
        gone = load_balancers_gone(name, self.release, cluster.kubeconfig, self)
        self.publishers_wait_for = [self.release, gone]
        self.register_outputs({"role_arn": self.role_arn})


def controller_statements(partition: str) -> list[Statement]:
    """The IAM policy the controller documents (docs/install/iam_policy.json, v2.13 to v3.x):
    16 statements, 80 actions. Mutations are limited to resources tagged for a cluster."""
    elb = f"arn:{partition}:elasticloadbalancing:*:*:"
    security_groups = f"arn:{partition}:ec2:*:*:security-group/*"
    load_balancers = [
        f"{elb}targetgroup/*/*",
        f"{elb}loadbalancer/net/*/*",
        f"{elb}loadbalancer/app/*/*",
    ]
    tagged: Condition = {"Null": {f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
    tagging_new: Condition = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}}
    retagging: Condition = {
        "Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true", f"aws:ResourceTag/{CLUSTER_TAG}": "false"}
    }
    return [
        _allow(
            ["iam:CreateServiceLinkedRole"],
            condition={
                "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}
            },
        ),
        _allow(
            [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcPeeringConnections",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeTags",
                "ec2:GetCoipPoolUsage",
                "ec2:DescribeCoipPools",
                "ec2:GetSecurityGroupsForVpc",
                "ec2:DescribeIpamPools",
                "ec2:DescribeRouteTables",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeListenerCertificates",
                "elasticloadbalancing:DescribeSSLPolicies",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTrustStores",
                "elasticloadbalancing:DescribeListenerAttributes",
                "elasticloadbalancing:DescribeCapacityReservation",
            ]
        ),
        _allow(
            [
                "cognito-idp:DescribeUserPoolClient",
                "acm:ListCertificates",
                "acm:DescribeCertificate",
                "iam:ListServerCertificates",
                "iam:GetServerCertificate",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
                "shield:GetSubscriptionState",
                "shield:DescribeProtection",
                "shield:CreateProtection",
                "shield:DeleteProtection",
            ]
        ),
        _allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
        _allow(["ec2:CreateSecurityGroup"]),
        _allow(
            ["ec2:CreateTags"],
            security_groups,
            {
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                **tagging_new,
            },
        ),
        _allow(["ec2:CreateTags", "ec2:DeleteTags"], security_groups, retagging),
        _allow(
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            condition=tagged,
        ),
        _allow(
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            condition=tagging_new,
        ),
        _allow(
            [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
            ]
        ),
        _allow(
            ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            load_balancers,
            retagging,
        ),
        _allow(
            ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            [
                f"{elb}listener/net/*/*/*",
                f"{elb}listener/app/*/*/*",
                f"{elb}listener-rule/net/*/*/*",
                f"{elb}listener-rule/app/*/*/*",
            ],
        ),
        _allow(
            [
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:ModifyCapacityReservation",
                "elasticloadbalancing:ModifyIpPools",
            ],
            condition=tagged,
        ),
        _allow(
            ["elasticloadbalancing:AddTags"],
            load_balancers,
            {
                "StringEquals": {
                    "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]
                },
                **tagging_new,
            },
        ),
        _allow(
            ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            f"{elb}targetgroup/*/*",
        ),
        _allow(
            [
                "elasticloadbalancing:SetWebAcl",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:SetRulePriorities",
            ]
        ),
    ]


def _allow(
    actions: list[str],
    resource: str | list[str] = "*",
    condition: Condition | None = None,
) -> Statement:
    statement: Statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement
