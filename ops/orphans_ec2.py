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
}
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
    searches = [
        [{"Name": f"tag:{ELBV2_CLUSTER_TAG}", "Values": [audit.scope.cluster_name]}],
        *cluster_searches(audit),
    ]
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
            f"{len(unclaimed)} unattached EBS CSI volume(s) in {audit.region} name no cluster "
            f"and no stack, so they are not counted as this stack's: {', '.join(unclaimed)}"
        )


def network_interfaces(audit: Audit) -> None:
    """Every interface in the stack's VPCs, and those the VPC CNI made for this cluster
    wherever they are."""
    vpcs = stack_vpcs(audit)
    searches = [[{"Name": f"tag:{CNI_CLUSTER_TAG}", "Values": [audit.scope.cluster_name]}]]
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
            filters = [{"Name": filter_name, "Values": batch}]
            for item in audit.pages(ec2, operation, key, Filters=filters):
                for described in item.get("Instances", [item]):
                    if (found := missing.pop(described[id_key], None)) is not None:
                        found.detail["ec2"] = described
        for finding in missing.values():
            del audit.found[finding.id]
    for finding in list(audit.found.values()):
        described = finding.detail.get("ec2")
        if described is None:
            continue
        if finding.kind == "ec2:instance" and described["State"]["Name"] == "terminated":
            del audit.found[finding.id]
            continue
        note_ec2(finding, described)
    for finding in audit.found.values():
        if shared_only(finding, audit.scope.cluster_name):
            finding.detail["by_hand"] = (
                "tagged shared with the cluster, not owned by it: remove the tag or the "
                "resource by hand"
            )


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
