"""The orphan audit's state, and the finders that go by tags alone.

After a destroy the stack has no state to ask, so resources are attributed by what their
creators tag them with: Pulumi's default tags (the identity tags, project and stack), and the
tags the controllers in the cluster put on what they create, which name the cluster. Each
finder lists one service (every list call paginated) and keeps what matches; a resource found
by several is one finding with every reason. ops/orphans_ec2.py and ops/orphans_dns.py hold
the EC2 and Route 53 finders; ops/orphans.py runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
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
        self.by_cluster = scope.cluster_mode == "eks"
        """Whether what carries the cluster's name is the stack's: only when the stack made
        the cluster. A kOps or existing cluster is made and deleted outside the stack, and
        other teams' resources carry its name: then only the identity tags count."""
        self._clients: dict[tuple[str, str], Client] = {}
        if not self.by_cluster:
            self.notes.append(
                f"cluster.mode is {scope.cluster_mode}: the cluster {scope.cluster_name} is "
                "not the stack's, so resources are attributed by the stack's identity tags "
                "and VPCs only, never by the cluster's name"
            )

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
        if not self.by_cluster:
            return reasons
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
        tags = tags_of(audit, client, "list_role_tags", RoleName=role["RoleName"])
        audit.add_if_attributed(role["Arn"], tags, GLOBAL)
    for policy in audit.pages(client, "list_policies", "Policies", Scope="Local"):
        tags = tags_of(audit, client, "list_policy_tags", PolicyArn=policy["Arn"])
        audit.add_if_attributed(policy["Arn"], tags, GLOBAL)
    # ListOpenIDConnectProviders has no pagination: one call returns every provider.
    for provider in client.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        arn = provider["Arn"]
        tags = tags_of(
            audit, client, "list_open_id_connect_provider_tags", OpenIDConnectProviderArn=arn
        )
        audit.add_if_attributed(arn, tags, GLOBAL)


def tags_of(audit: Audit, client: Client, operation: str, **params: Any) -> dict[str, str]:
    """Every page of an IAM ListXTags call; none when the resource was deleted since it was
    listed (another team's role, between ListRoles and ListRoleTags)."""
    try:
        return tag_dict(list(audit.pages(client, operation, "Tags", **params)))
    except ClientError as error:
        if not_found(error):
            return {}
        raise


def eks_clusters(audit: Audit) -> None:
    """The EKS cluster, by its name (unique in a region, and only when the stack made it) or
    its tags. GetResources lists EKS clusters too, but not in moto, and lags deletions: what
    EKS no longer lists is dropped."""
    eks = audit.client("eks")
    listed = set()
    for name in audit.pages(eks, "list_clusters", "clusters"):
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except ClientError as error:
            if not_found(error):
                continue  # deleted since it was listed
            raise
        listed.add(name)
        tags = dict(cluster.get("tags") or {})
        reasons = audit.reasons(tags)
        if audit.by_cluster and name == audit.scope.cluster_name:
            reasons.append(f"EKS cluster named {name}")
        if reasons:
            audit.add(Finding("eks:cluster", cluster["arn"], audit.region, reasons, tags))
    # A cluster's node groups, add-ons and access entries (`<type>/<cluster>/...` in their
    # ARNs) go with it: those of a cluster EKS no longer lists are gone too.
    for ident, finding in list(audit.found.items()):
        if finding.kind.startswith("eks:") and eks_cluster_of(ident) not in listed:
            del audit.found[ident]


def eks_cluster_of(arn: str) -> str:
    """`arn:aws:eks:<region>:<account>:cluster/<name>` or `.../nodegroup/<name>/...` ->
    `<name>`."""
    return arn.split(":", 5)[5].split("/")[1]


def auto_scaling_groups(audit: Audit) -> None:
    """Auto Scaling groups with the identity tags or the cluster's tag (EKS managed node
    groups make theirs). GetResources returns none: "GetResources ... aren't supported at this
    time and return an empty response" for Auto Scaling groups
    (https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html)."""
    client = audit.client("autoscaling")
    searches = [[{"Name": f"tag:{k}", "Values": [v]} for k, v in audit.identity.items()]]
    if audit.by_cluster:
        key = K8S_CLUSTER_TAG_PREFIX + audit.scope.cluster_name
        searches.append([{"Name": "tag-key", "Values": [key]}])
    seen = set()
    for filters in searches:
        for group in audit.pages(
            client, "describe_auto_scaling_groups", "AutoScalingGroups", Filters=filters
        ):
            arn = group["AutoScalingGroupARN"]
            if arn in seen:
                continue
            seen.add(arn)
            tags = {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
            if not (reasons := audit.reasons(tags)):
                continue
            # No deleter: the group of an EKS managed node group goes when the node group is
            # deleted; deleting it alone would leave EKS a broken node group.
            detail = {
                "by_hand": "delete the EKS node group that made it, or the group itself "
                "(aws autoscaling delete-auto-scaling-group --force-delete)"
            }
            notes = [f"{len(group.get('Instances', []))} instance(s)"]
            audit.add(Finding(kind_of(arn), arn, audit.region, reasons, tags, detail, notes))


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
            elif finding.kind in STILL_THERE:
                service, call, parameter, value = STILL_THERE[finding.kind]
                client = audit.client(service, finding.region)
                answer = getattr(client, call)(**{parameter: value(ident)})
                # Some answer a missing id with an empty list instead of an error.
                if not any(v for k, v in answer.items() if isinstance(v, list)) and any(
                    isinstance(v, list) for v in answer.values()
                ):
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


def _name_after_colon(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _name_after_slash(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _listed(arn: str) -> list[str]:
    return [_name_after_slash(arn)]


def _whole(arn: str) -> str:
    return arn


STILL_THERE: dict[str, tuple[str, str, str, Callable[[str], Any]]] = {
    "rds:db": ("rds", "describe_db_instances", "DBInstanceIdentifier", _name_after_colon),
    "rds:cluster": ("rds", "describe_db_clusters", "DBClusterIdentifier", _name_after_colon),
    "rds:subgrp": ("rds", "describe_db_subnet_groups", "DBSubnetGroupName", _name_after_colon),
    "elasticache:replicationgroup": (
        "elasticache",
        "describe_replication_groups",
        "ReplicationGroupId",
        _name_after_colon,
    ),
    "elasticache:cluster": (
        "elasticache",
        "describe_cache_clusters",
        "CacheClusterId",
        _name_after_colon,
    ),
    "elasticache:subnetgroup": (
        "elasticache",
        "describe_cache_subnet_groups",
        "CacheSubnetGroupName",
        _name_after_colon,
    ),
    "ec2:launch-template": ("ec2", "describe_launch_templates", "LaunchTemplateIds", _listed),
    "acm:certificate": ("acm", "describe_certificate", "CertificateArn", _whole),
}
"""Kinds the tagging API lists that are looked up by the name or id their ARN ends in
(`arn:aws:rds:<region>:<account>:db:<name>`, `...:launch-template/lt-...`) or by the ARN: a
not-found error means gone (RDS, ElastiCache, EC2 and ACM API References: DBInstanceNotFound,
CacheClusterNotFound, InvalidLaunchTemplateId.NotFound, ResourceNotFoundException, ...)."""


def schedule(finding: Finding, note: str) -> None:
    if finding.status is Status.LEFT_OVER:
        finding.status = Status.SCHEDULED
    finding.notes.insert(0, note)


def day(when: Any) -> str:
    return when.strftime("%Y-%m-%d") if hasattr(when, "strftime") else str(when)
