"""The orphan audit's state, and the finders that go by tags alone.

After a destroy the stack has no state to ask, so resources are attributed by what their
creators tag them with: Pulumi's default tags (the identity tags, project and stack), and the
tags the controllers in the cluster put on what they create, which name the cluster. Each
finder lists one service (every list call paginated) and keeps what matches; a resource found
by several is one finding with every reason. ops/orphans_ec2.py and ops/orphans_dns.py hold
the EC2 and Route 53 finders; ops/orphans.py runs them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ops.orphans_report import GLOBAL, RETAINED_TAG, Finding, Status, kind_of, log_group_name
from ops.scope import StackScope

# aws-load-balancer-controller v3.5.0 pkg/shared_constants/tag_keys.go (TagKeyK8sCluster): on
# every load balancer, target group and security group the controller creates.
ELBV2_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# Kubernetes' cluster ownership tag (value `owned` or `shared`): the AWS cloud provider, kOps
# and the EBS CSI driver (with --k8s-tag-cluster-id) set it.
K8S_CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
# The legacy form, which kOps sets (aws-ebs-csi-driver v1.64.0 pkg/driver/constants.go,
# KubernetesClusterTag: "for backward compatibility with in-tree volume plugin").
KOPS_CLUSTER_TAG = "KubernetesCluster"
# amazon-vpc-cni-k8s v1.23.0 pkg/awsutils/awsutils.go (buildENITags): the ENIs the CNI creates
# carry node.k8s.amazonaws.com/instance_id and, when CLUSTER_NAME is set, this.
CNI_CLUSTER_TAG = "cluster.k8s.amazonaws.com/name"
# aws-ebs-csi-driver v1.64.0 docs/tagging.md: with --k8s-tag-cluster-id the driver names the
# cluster on its volumes; its `ebs.csi.aws.com/cluster=true` names none.
EBS_CSI_CLUSTER_NAME_TAG = "ebs.csi.aws.com/cluster-name"

Client = Any
"""A boto3 client (boto3 ships no type information)."""


def tag_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """`[{"Key": k, "Value": v}]`, as most services give tags, as a mapping."""
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def not_found(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return "NotFound" in code or code.startswith("NoSuch")


class Audit:
    """What one audit has found so far, and the clients and rules the finders share."""

    def __init__(
        self,
        session: boto3.session.Session,
        scope: StackScope,
        account: str,
        page_size: int | None = None,
    ) -> None:
        self.session = session
        self.scope = scope
        self.account = account
        self.region = scope.region
        self.partition: str = session.get_partition_for_region(scope.region)
        self.pagination = {"PageSize": page_size} if page_size else {}
        """Passed to every paginator; None keeps each API's default page size."""
        self.found: dict[str, Finding] = {}
        self.notes: list[str] = []
        self.identity = scope.identity_tags
        self.identity_reason = "tags " + ", ".join(f"{k}={v}" for k, v in self.identity.items())
        self._clients: dict[tuple[str, str], Client] = {}

    def client(self, service: str, region: str | None = None) -> Client:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service,
                region_name=key[1],
                config=Config(retries={"mode": "standard", "max_attempts": 10}),
            )
        return self._clients[key]

    def pages(self, client: Client, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item under `key` of every page of `operation` (a boto3 paginator)."""
        paginator = client.get_paginator(operation)
        for page in paginator.paginate(**params, PaginationConfig=self.pagination):
            yield from page.get(key) or []

    def add(self, finding: Finding) -> None:
        if finding.id in self.found:
            self.found[finding.id].merge(finding)
        else:
            self.found[finding.id] = finding

    def has_identity(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(k) == v for k, v in self.identity.items())

    def reasons(self, tags: Mapping[str, str]) -> list[str]:
        """The rules that attribute a resource with these tags to the stack."""
        cluster = self.scope.cluster_name
        reasons = [self.identity_reason] if self.has_identity(tags) else []
        for key in (ELBV2_CLUSTER_TAG, KOPS_CLUSTER_TAG, CNI_CLUSTER_TAG, EBS_CSI_CLUSTER_NAME_TAG):
            if tags.get(key) == cluster:
                reasons.append(f"tag {key}={cluster}")
        if (ownership := tags.get(K8S_CLUSTER_TAG_PREFIX + cluster)) is not None:
            reasons.append(f"tag {K8S_CLUSTER_TAG_PREFIX}{cluster}={ownership}")
        return reasons

    def add_if_attributed(
        self, arn: str, tags: dict[str, str], region: str | None = None, **detail: Any
    ) -> None:
        if reasons := self.reasons(tags):
            self.add(Finding(kind_of(arn), arn, region or self.region, reasons, tags, detail))


def tagged(audit: Audit) -> None:
    """Everything with the identity tags in the stack's region. GetResources covers every
    taggable resource type except IAM users and roles (AWS Resource Groups Tagging API
    Reference, "Services that support the Resource Groups Tagging API"), in the region it is
    called in: IAM and Route 53, which are global, are listed from their own APIs. (moto
    5.2.5's tagging backend, moto/core/resource_tagging.py, has neither, nor EKS; S3 buckets
    it lists from every region, AWS from the region called.)"""
    tagging = audit.client("resourcegroupstaggingapi")
    filters = [{"Key": k, "Values": [v]} for k, v in audit.identity.items()]
    for item in audit.pages(tagging, "get_resources", "ResourceTagMappingList", TagFilters=filters):
        arn = item["ResourceARN"]
        region = arn.split(":")[3] or audit.region  # S3's ARNs have none: see classify()
        tags = tag_dict(item.get("Tags"))
        audit.add(Finding(kind_of(arn), arn, region, [audit.identity_reason], tags))


def iam(audit: Audit) -> None:
    """Roles, customer managed policies and OIDC providers with the identity tags. ListRoles
    and ListPolicies return no tags (IAM API Reference), so each is asked for its own."""
    client = audit.client("iam")
    for role in audit.pages(client, "list_roles", "Roles"):
        tags = audit.pages(client, "list_role_tags", "Tags", RoleName=role["RoleName"])
        audit.add_if_attributed(role["Arn"], tag_dict(tags), GLOBAL)
    for policy in audit.pages(client, "list_policies", "Policies", Scope="Local"):
        tags = audit.pages(client, "list_policy_tags", "Tags", PolicyArn=policy["Arn"])
        audit.add_if_attributed(policy["Arn"], tag_dict(tags), GLOBAL)
    # ListOpenIDConnectProviders has no pagination: one call returns every provider.
    for provider in client.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        arn = provider["Arn"]
        tags = audit.pages(
            client, "list_open_id_connect_provider_tags", "Tags", OpenIDConnectProviderArn=arn
        )
        audit.add_if_attributed(arn, tag_dict(tags), GLOBAL)


def eks_clusters(audit: Audit) -> None:
    """The EKS cluster, by its name (unique in a region) or its tags. GetResources lists EKS
    clusters too, but not in moto, and the name is proof enough."""
    eks = audit.client("eks")
    for name in audit.pages(eks, "list_clusters", "clusters"):
        cluster = eks.describe_cluster(name=name)["cluster"]
        tags = dict(cluster.get("tags") or {})
        reasons = audit.reasons(tags)
        if name == audit.scope.cluster_name:
            reasons.append(f"EKS cluster named {name}")
        if reasons:
            audit.add(Finding("eks:cluster", cluster["arn"], audit.region, reasons, tags))


def load_balancers(audit: Audit) -> None:
    """The load balancer controller's load balancers and target groups (and any with the
    identity tags); classic load balancers, which the AWS cloud provider makes for Services
    the controller does not take, by `kubernetes.io/cluster/<name>`. Both DescribeTags take
    at most 20 resources a call (Elastic Load Balancing API References)."""
    elbv2 = audit.client("elbv2")
    arns = [
        lb["LoadBalancerArn"]
        for lb in audit.pages(elbv2, "describe_load_balancers", "LoadBalancers")
    ]
    arns += [
        tg["TargetGroupArn"] for tg in audit.pages(elbv2, "describe_target_groups", "TargetGroups")
    ]
    for batch in chunks(arns, 20):
        for description in elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
            audit.add_if_attributed(description["ResourceArn"], tag_dict(description["Tags"]))
    elb = audit.client("elb")
    names = [
        lb["LoadBalancerName"]
        for lb in audit.pages(elb, "describe_load_balancers", "LoadBalancerDescriptions")
    ]
    prefix = f"arn:{audit.partition}:elasticloadbalancing:{audit.region}:{audit.account}"
    for batch in chunks(names, 20):
        for description in elb.describe_tags(LoadBalancerNames=batch)["TagDescriptions"]:
            name = description["LoadBalancerName"]
            arn = f"{prefix}:loadbalancer/{name}"
            audit.add_if_attributed(arn, tag_dict(description.get("Tags")), classic=name)
            arns.append(arn)
    # What the tagging API listed and Elastic Load Balancing no longer has is gone: the
    # tagging API lags deletions.
    listed = set(arns)
    for ident, finding in list(audit.found.items()):
        if finding.kind.startswith("elasticloadbalancing:") and ident not in listed:
            del audit.found[ident]


def classify(audit: Audit) -> None:
    """Kept by design (the retained tag), scheduled for deletion (KMS keys pending deletion,
    secrets deleted within their recovery window), or left over; the region S3 keeps each
    bucket in; and what the tagging API still lists but its service no longer has (the
    tagging API lags deletions) dropped."""
    for ident, finding in list(audit.found.items()):
        if (reason := finding.tags.get(RETAINED_TAG)) is not None:
            finding.status = Status.KEPT
            finding.notes.insert(0, f"kept by design: {reason[:200]}")
        try:
            if finding.kind == "kms:key":
                kms = audit.client("kms", finding.region)
                key = kms.describe_key(KeyId=ident)["KeyMetadata"]
                if key["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
                    schedule(finding, f"deletion scheduled for {day(key.get('DeletionDate'))}")
            elif finding.kind == "secretsmanager:secret":
                secrets = audit.client("secretsmanager", finding.region)
                if deleted := secrets.describe_secret(SecretId=ident).get("DeletedDate"):
                    schedule(finding, f"deleted {day(deleted)}, in its recovery window")
            elif finding.kind == "logs:log-group":
                name = log_group_name(ident)
                logs = audit.client("logs", finding.region)
                listed = audit.pages(
                    logs, "describe_log_groups", "logGroups", logGroupNamePrefix=name
                )
                if not any(group["logGroupName"] == name for group in listed):
                    del audit.found[ident]
            elif finding.kind == "s3:bucket":
                bucket = ident.split(":::", 1)[1]
                location = audit.client("s3").get_bucket_location(Bucket=bucket)
                # No constraint is us-east-1, EU the old name of eu-west-1 (S3 API Reference).
                constraint = location.get("LocationConstraint") or "us-east-1"
                finding.region = "eu-west-1" if constraint == "EU" else constraint
        except ClientError as error:
            if not not_found(error):
                raise
            del audit.found[ident]  # listed by the tagging API, which lags deletions


def schedule(finding: Finding, note: str) -> None:
    if finding.status is Status.LEFT_OVER:
        finding.status = Status.SCHEDULED
    finding.notes.insert(0, note)


def day(when: Any) -> str:
    return when.strftime("%Y-%m-%d") if hasattr(when, "strftime") else str(when)
