"""The EC2 finders: security groups, volumes and network interfaces by the cluster's tags and
the stack's VPCs; and every EC2 finding described (a volume's state and PVC, an interface's
owner, a group's name).

Resources the tagging API found are looked up in EC2 too: it lags deletions (a terminated
instance may still be listed), and what EC2 says decides whether `--delete` may remove them
or they must be deleted by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ops.orphans_audit import (
    CNI_CLUSTER_TAG,
    ELBV2_CLUSTER_TAG,
    K8S_CLUSTER_TAG_PREFIX,
    KOPS_CLUSTER_TAG,
    Audit,
    tag_dict,
)
from ops.orphans_report import Finding

# aws-ebs-csi-driver v1.64.0 docs/tagging.md: on every volume the driver creates, naming no
# cluster; pkg/cloud/cloud.go (VolumeNameTagKey: the PV's name); pkg/driver/constants.go
# (PVCNameTag, PVCNamespaceTag: set when the external provisioner runs with
# --extra-create-metadata).
EBS_CSI_TAG = "ebs.csi.aws.com/cluster"
CSI_VOLUME_NAME_TAG = "CSIVolumeName"
PVC_NAMESPACE_TAG = "kubernetes.io/created-for/pvc/namespace"
PVC_NAME_TAG = "kubernetes.io/created-for/pvc/name"

Filters = list[dict[str, Any]]

# operation, result key, the filter naming the id, the id's key
LOOKUPS = {
    "ec2:volume": ("describe_volumes", "Volumes", "volume-id", "VolumeId"),
    "ec2:security-group": ("describe_security_groups", "SecurityGroups", "group-id", "GroupId"),
    "ec2:network-interface": (
        "describe_network_interfaces",
        "NetworkInterfaces",
        "network-interface-id",
        "NetworkInterfaceId",
    ),
    "ec2:instance": ("describe_instances", "Reservations", "instance-id", "InstanceId"),
    # What the tagging API alone finds, looked up so that what it lists after a deletion
    # (it lags them) is not reported.
    "ec2:vpc": ("describe_vpcs", "Vpcs", "vpc-id", "VpcId"),
    "ec2:subnet": ("describe_subnets", "Subnets", "subnet-id", "SubnetId"),
    "ec2:route-table": ("describe_route_tables", "RouteTables", "route-table-id", "RouteTableId"),
    "ec2:internet-gateway": (
        "describe_internet_gateways",
        "InternetGateways",
        "internet-gateway-id",
        "InternetGatewayId",
    ),
    "ec2:natgateway": ("describe_nat_gateways", "NatGateways", "nat-gateway-id", "NatGatewayId"),
    "ec2:elastic-ip": ("describe_addresses", "Addresses", "allocation-id", "AllocationId"),
    "ec2:security-group-rule": (
        "describe_security_group_rules",
        "SecurityGroupRules",
        "security-group-rule-id",
        "SecurityGroupRuleId",
    ),
}
GONE_STATES = {
    "ec2:instance": ("terminated",),
    # A deleted NAT gateway stays listed for about an hour (EC2 API Reference,
    # DescribeNatGateways).
    "ec2:natgateway": ("deleted",),
}
UNPAGINATED = {"describe_addresses"}
"""DescribeAddresses has no pagination: one call returns every match (EC2 API Reference)."""
FILTER_PARAMETER = {"describe_nat_gateways": "Filter"}
"""DescribeNatGateways names its filters `Filter`, not `Filters` (EC2 API Reference)."""
FILTER_VALUES = 100
"""Ids per filter in one request (EC2 caps the values of a filter at a few hundred)."""


def stack_vpcs(audit: Audit) -> list[str]:
    """The VPCs with the identity tags (found by the tagging API)."""
    return sorted(f.id.rsplit("/", 1)[-1] for f in audit.found.values() if f.kind == "ec2:vpc")


def search(
    audit: Audit, operation: str, key: str, id_key: str, searches: list[Filters]
) -> Iterator[Any]:
    """The items of `operation` that match any of `searches` (each a list of EC2 filters,
    which AND), each once."""
    ec2 = audit.client("ec2")
    seen = set()
    for filters in searches:
        for item in audit.pages(ec2, operation, key, Filters=filters):
            if (ident := item[id_key]) not in seen:
                seen.add(ident)
                yield item


def cluster_searches(audit: Audit) -> list[Filters]:
    """What to look for by the cluster's name: nothing unless the stack made the cluster."""
    return named_for_cluster(audit) if audit.by_cluster else []


def named_for_cluster(audit: Audit) -> list[Filters]:
    cluster = audit.scope.cluster_name
    return [
        [{"Name": "tag-key", "Values": [K8S_CLUSTER_TAG_PREFIX + cluster]}],
        [{"Name": f"tag:{KOPS_CLUSTER_TAG}", "Values": [cluster]}],
    ]


def security_groups(audit: Audit) -> None:
    """The load balancer controller's groups (the managed ones, and the shared backend group
    also tagged `elbv2.k8s.aws/resource=backend-sg`: v3.5.0 pkg/networking/
    backend_sg_provider.go), those tagged for the cluster, and every other group in the
    stack's VPCs, which keep the VPC from being deleted. A VPC's default group goes with it."""
    vpcs = stack_vpcs(audit)
    searches = cluster_searches(audit)
    if audit.by_cluster:
        searches.append(
            [{"Name": f"tag:{ELBV2_CLUSTER_TAG}", "Values": [audit.scope.cluster_name]}]
        )
    if vpcs:
        searches.append([{"Name": "vpc-id", "Values": vpcs}])
    for group in search(audit, "describe_security_groups", "SecurityGroups", "GroupId", searches):
        if group["GroupName"] == "default":
            continue
        tags = tag_dict(group.get("Tags"))
        reasons = audit.reasons(tags)
        if group.get("VpcId") in vpcs:
            reasons.append(f"in the stack's VPC {group['VpcId']}")
        arn = ec2_arn(audit, "security-group", group["GroupId"])
        audit.add(Finding("ec2:security-group", arn, audit.region, reasons, tags, {"ec2": group}))


def volumes(audit: Audit) -> None:
    """Volumes tagged for the cluster, and the EBS CSI driver's. The driver's own tag names
    no cluster: its volumes are the stack's by the identity tags the stack's StorageClass
    adds, or by a cluster tag; the others are named in a note, not claimed."""
    searches = [*cluster_searches(audit), [{"Name": f"tag:{EBS_CSI_TAG}", "Values": ["true"]}]]
    unclaimed = []
    for volume in search(audit, "describe_volumes", "Volumes", "VolumeId", searches):
        tags = tag_dict(volume.get("Tags"))
        if not (reasons := audit.reasons(tags)):
            if volume["State"] == "available":
                unclaimed.append(volume["VolumeId"])
            continue
        arn = ec2_arn(audit, "volume", volume["VolumeId"])
        audit.add(Finding("ec2:volume", arn, audit.region, reasons, tags, {"ec2": volume}))
    if unclaimed:
        audit.notes.append(
            f"{len(unclaimed)} unattached EBS CSI volume(s) in {audit.region} have neither "
            "the stack's tags nor a cluster tag the stack counts, so they are not counted as "
            f"this stack's: {', '.join(unclaimed)}"
        )


def of_a_cluster_not_the_stacks(audit: Audit) -> None:
    """In kops and existing modes: the volumes and security groups tagged for the cluster,
    named in a note and never counted (the cluster is not the stack's, and others' resources
    carry its name). Among them are the volumes of the stack's own claims, made with the
    cluster's StorageClass (which the stack does not tag): each is named with its claim."""
    if audit.by_cluster:
        return
    searches = named_for_cluster(audit)
    volumes = []
    for volume in search(audit, "describe_volumes", "Volumes", "VolumeId", searches):
        tags = tag_dict(volume.get("Tags"))
        claim = ""
        if PVC_NAME_TAG in tags:
            claim = f" (PVC {tags.get(PVC_NAMESPACE_TAG, '?')}/{tags[PVC_NAME_TAG]})"
        volumes.append(f"{volume['VolumeId']}{claim}")
    groups = [
        g["GroupId"]
        for g in search(audit, "describe_security_groups", "SecurityGroups", "GroupId", searches)
    ]
    if volumes or groups:
        audit.notes.append(
            f"tagged for the cluster {audit.scope.cluster_name}, which is not the stack's, so "
            "not counted: check whether any is this stack's (its claims' volumes are tagged "
            f"so): volumes {', '.join(volumes) or 'none'}; security groups "
            f"{', '.join(groups) or 'none'}"
        )


def network_interfaces(audit: Audit) -> None:
    """Every interface in the stack's VPCs, and those the VPC CNI made for this cluster
    wherever they are."""
    vpcs = stack_vpcs(audit)
    searches: list[Filters] = []
    if audit.by_cluster:
        searches.append([{"Name": f"tag:{CNI_CLUSTER_TAG}", "Values": [audit.scope.cluster_name]}])
    if vpcs:
        searches.append([{"Name": "vpc-id", "Values": vpcs}])
    found = search(
        audit, "describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId", searches
    )
    for eni in found:
        tags = tag_dict(eni.get("TagSet"))
        reasons = audit.reasons(tags)
        if eni.get("VpcId") in vpcs:
            reasons.append(f"in the stack's VPC {eni['VpcId']}")
        arn = ec2_arn(audit, "network-interface", eni["NetworkInterfaceId"])
        audit.add(Finding("ec2:network-interface", arn, audit.region, reasons, tags, {"ec2": eni}))


def ec2_arn(audit: Audit, resource_type: str, ident: str) -> str:
    return f"arn:{audit.partition}:ec2:{audit.region}:{audit.account}:{resource_type}/{ident}"


def describe_ec2(audit: Audit) -> None:
    """Look up the EC2 findings not yet described, drop those EC2 no longer has (or has
    terminated), and note what each is and whether it can be deleted."""
    ec2 = audit.client("ec2")
    for kind, (operation, key, filter_name, id_key) in LOOKUPS.items():
        missing = {
            f.id.rsplit("/", 1)[-1]: f
            for f in audit.found.values()
            if f.kind == kind and "ec2" not in f.detail
        }
        ids = sorted(missing)
        for start in range(0, len(ids), FILTER_VALUES):
            batch = ids[start : start + FILTER_VALUES]
            params = {
                FILTER_PARAMETER.get(operation, "Filters"): [{"Name": filter_name, "Values": batch}]
            }
            items = (
                getattr(ec2, operation)(**params)[key]
                if operation in UNPAGINATED
                else audit.pages(ec2, operation, key, **params)
            )
            for item in items:
                for described in item.get("Instances", [item]):
                    if (found := missing.pop(described[id_key], None)) is not None:
                        found.detail["ec2"] = described
        for finding in missing.values():
            del audit.found[finding.id]
    for finding in list(audit.found.values()):
        described = finding.detail.get("ec2")
        if described is None:
            continue
        if state_of(described) in GONE_STATES.get(finding.kind, ()):
            del audit.found[finding.id]
            continue
        note_ec2(finding, described)
    for finding in audit.found.values():
        if (
            finding.kind == "ec2:volume"
            and (CSI_VOLUME_NAME_TAG in finding.tags or EBS_CSI_TAG in finding.tags)
            and not audit.has_identity(finding.tags)
        ):
            # Not from the stack's StorageClass, which tags its volumes with the stack's
            # tags (components/clusters/eks_storage.py): from a class the stack does not
            # know, whose reclaim policy may be Retain, for data someone meant to keep.
            finding.detail["by_hand"] = (
                "an EBS CSI volume of a StorageClass that is not the stack's: it may hold "
                "data kept on purpose; delete it by hand once you know it is not"
            )
        elif shared_only(finding, audit.scope.cluster_name):
            finding.detail["by_hand"] = (
                "tagged shared with the cluster, not owned by it: remove the tag or the "
                "resource by hand"
            )


def state_of(described: dict[str, Any]) -> str | None:
    state = described.get("State")
    return str(state["Name"] if isinstance(state, dict) else state) if state else None


def note_ec2(finding: Finding, described: dict[str, Any]) -> None:
    notes, detail = finding.notes, finding.detail
    if finding.kind == "ec2:volume":
        tags = finding.tags
        if CSI_VOLUME_NAME_TAG in tags:
            pvc = ""
            if PVC_NAME_TAG in tags:
                pvc = f" for PVC {tags.get(PVC_NAMESPACE_TAG, '?')}/{tags[PVC_NAME_TAG]}"
            notes.append(f"EBS CSI volume {tags[CSI_VOLUME_NAME_TAG]}{pvc}")
        state = described["State"]
        notes.append(state)
        if state == "in-use":
            attached = ", ".join(a["InstanceId"] for a in described.get("Attachments", []))
            detail["by_hand"] = f"attached to {attached}: detach it first"
        elif state != "available":
            detail["by_hand"] = f"state {state}"
    elif finding.kind == "ec2:network-interface":
        status = described["Status"]
        notes.append(f"{status}; {described.get('Description', '')[:80]}".rstrip("; "))
        if described.get("RequesterManaged"):
            detail["by_hand"] = (
                f"managed by {described.get('RequesterId', 'AWS')}: goes with the resource "
                "it serves (a load balancer, a NAT gateway, the EKS control plane)"
            )
        elif status != "available":
            detail["by_hand"] = "attached: detach or delete its instance first"
    elif finding.kind == "ec2:security-group":
        notes.append(f"group {described['GroupName']}")
        if described["GroupName"] == "default":
            detail["by_hand"] = "the VPC's default group: deleted with its VPC"
    elif finding.kind == "ec2:instance":
        notes.append(described["State"]["Name"])


def shared_only(finding: Finding, cluster: str) -> bool:
    """Attributed only by `kubernetes.io/cluster/<name>=shared`: the cluster used it, some
    other owner made it."""
    return finding.reasons == [f"tag kubernetes.io/cluster/{cluster}=shared"]
