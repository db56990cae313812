"""EKS: who reaches the API, how secrets are encrypted, what is logged, how nodes boot."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from guardrails._common import dig, is_open_to_all, resource_rule, stack_rule

CLUSTER = "aws:eks/cluster:Cluster"
KMS_KEY = "aws:kms/key:Key"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CORE_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver")
BEFORE_NODES = ("vpc-cni",)
AFTER_NODES = ("coredns", "aws-ebs-csi-driver")
PRESERVED = ("vpc-cni", "kube-proxy", "coredns")


@resource_rule(
    "eks-public-endpoint-restricted",
    "The EKS API's public endpoint admits only listed ranges, never the whole internet (and, "
    "when `allowed_admin_cidrs` is configured, only ranges inside those).",
    types=[CLUSTER],
    remediation="Set access.admin_cidrs to your admins' ranges, or turn the public endpoint off.",
    severity=Severity.CRITICAL,
    config_schema=PolicyConfigSchema(
        properties={
            "allowed_admin_cidrs": {"type": "array", "items": {"type": "string"}, "default": []}
        }
    ),
)
def eks_public_endpoint_restricted(args: ResourceValidationArgs) -> Iterator[str]:
    vpc = args.props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return
    cidrs = vpc.get("publicAccessCidrs")
    if not cidrs:
        yield "The public endpoint is open to 0.0.0.0/0 (no publicAccessCidrs)."
        return
    if any(is_open_to_all(c) for c in cidrs):
        yield f"The public endpoint admits everyone: publicAccessCidrs = {list(cidrs)}."
        return
    allowed = [ipaddress.ip_network(a) for a in args.get_config().get("allowed_admin_cidrs") or []]
    outside = [c for c in cidrs if allowed and not _within(str(c), allowed)]
    if outside:
        ranges = [str(a) for a in allowed]
        yield f"publicAccessCidrs {outside} lie outside the allowed admin ranges {ranges}."


def _within(cidr: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    network = ipaddress.ip_network(cidr)
    return any(
        network.version == a.version and network.subnet_of(a)  # type: ignore[arg-type]
        for a in allowed
    )


@resource_rule(
    "eks-secrets-encrypted",
    "Kubernetes secrets are envelope-encrypted with a KMS key.",
    types=[CLUSTER],
    remediation="Set encryptionConfig with resources ['secrets'] and a KMS key ARN.",
)
def eks_secrets_encrypted(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.props.get("encryptionConfig") or {}
    if "secrets" not in (config.get("resources") or []) or not dig(config, "provider", "keyArn"):
        yield "Secrets are not encrypted with a KMS key."


@resource_rule(
    "kms-key-rotation",
    "KMS keys rotate automatically.",
    types=[KMS_KEY],
    remediation="Set enableKeyRotation: true.",
)
def kms_key_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("enableKeyRotation") is not True:
        yield "Key rotation is off."


@resource_rule(
    "eks-control-plane-logging",
    "The control plane logs at least api, audit and authenticator to CloudWatch.",
    types=[CLUSTER],
    remediation="Add the missing types to cluster.log_types.",
    severity=Severity.MEDIUM,
)
def eks_control_plane_logging(args: ResourceValidationArgs) -> Iterator[str]:
    enabled = set(args.props.get("enabledClusterLogTypes") or [])
    missing = [t for t in REQUIRED_LOG_TYPES if t not in enabled]
    if missing:
        yield f"Control-plane log types missing: {missing}."


@resource_rule(
    "nodes-require-imdsv2",
    "Node launch templates require IMDSv2 with a hop limit of 1, so pods cannot borrow the "
    "node's role.",
    types=[LAUNCH_TEMPLATE],
    remediation="Set metadataOptions httpTokens: required and httpPutResponseHopLimit: 1.",
)
def nodes_require_imdsv2(args: ResourceValidationArgs) -> Iterator[str]:
    metadata = args.props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        yield "IMDSv1 is allowed (httpTokens is not 'required')."
    hops = metadata.get("httpPutResponseHopLimit")
    if hops is not None and hops > 1:
        yield f"Pods can reach the node's metadata (hop limit {hops})."


def _depends_on(resource: PolicyResource, other: PolicyResource) -> bool:
    return other.urn in {d.urn for d in resource.dependencies}


@stack_rule(
    "eks-core-addons-managed-and-versioned",
    "An EKS cluster runs vpc-cni, kube-proxy, CoreDNS and the EBS CSI driver as EKS add-ons, "
    "each at an explicit version: EKS installs the first three self-managed and never "
    "upgrades them, and EKS add-ons are not upgraded with the control plane either (EKS Best "
    "Practices, cluster upgrades: https://docs.aws.amazon.com/eks/latest/best-practices/"
    "cluster-upgrades.html). Nodes wait for vpc-cni (they stay NotReady without a CNI); CoreDNS "
    "and the EBS CSI driver wait for nodes (their Deployments stay DEGRADED without any). The "
    "cluster's networking and DNS are preserved when their add-on is deleted (DeleteAddon "
    "removes the software otherwise: https://docs.aws.amazon.com/eks/latest/APIReference/"
    "API_DeleteAddon.html), so a destroy never cuts them while workloads clean up.",
    remediation="Create the add-ons with addon_version set (components/clusters/eks.py "
    "_addon; cluster.addon_versions pins them).",
    severity=Severity.MEDIUM,
)
def eks_core_addons_managed_and_versioned(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    addons = [r for r in args.resources if r.resource_type == ADDON]
    nodes = [r for r in args.resources if r.resource_type == NODE_GROUP]
    for cluster in (r for r in args.resources if r.resource_type == CLUSTER):
        mine = {
            a.props.get("addonName"): a
            for a in addons
            if a.props.get("clusterName") == cluster.props.get("name")
        }
        for name in CORE_ADDONS:
            if name not in mine:
                yield f"Cluster {cluster.name} has no {name} EKS add-on.", cluster.urn
        for addon_name, addon in mine.items():
            if not addon.props.get("addonVersion"):
                message = f"Add-on {addon_name} has no addonVersion: EKS picks one, once."
                yield message, addon.urn
            if addon_name in PRESERVED and addon.props.get("preserve") is not True:
                message = (
                    f"Add-on {addon_name} is not preserved: deleting it removes it from the "
                    "cluster while workloads may still need it."
                )
                yield message, addon.urn
        for group in nodes:
            if group.props.get("clusterName") != cluster.props.get("name"):
                continue
            for name in BEFORE_NODES:
                if name in mine and not _depends_on(group, mine[name]):
                    yield f"Node group {group.name} does not wait for {name}.", group.urn
            for name in AFTER_NODES:
                if name in mine and not _depends_on(mine[name], group):
                    yield (
                        f"Add-on {name} does not wait for node group {group.name}.",
                        mine[name].urn,
                    )
