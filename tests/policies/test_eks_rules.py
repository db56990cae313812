"""EKS guardrails: each fails its bad case, passes its good one, and never decides on an
unknown value."""

from __future__ import annotations

from policy_harness import (
    UNKNOWN,
    Resource,
    analyze,
    analyze_stack,
    mandatory,
    undecided,
)

from guardrails import REGISTRY, eks

GOOD_CLUSTER = {
    "vpcConfig": {
        "endpointPublicAccess": True,
        "endpointPrivateAccess": True,
        "publicAccessCidrs": ["192.0.2.0/24"],
    },
    "encryptionConfig": {
        "resources": ["secrets"],
        "provider": {"keyArn": "arn:aws:kms:eu-west-1:123456789012:key/abc"},
    },
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
}


def cluster(**changes: object) -> Resource:
    return Resource(eks.CLUSTER, {**GOOD_CLUSTER, **changes})


def test_public_endpoint_restricted() -> None:
    policy = eks.eks_public_endpoint_restricted
    assert mandatory(analyze(policy, cluster())) == []
    open_cidrs = {**GOOD_CLUSTER["vpcConfig"], "publicAccessCidrs": ["0.0.0.0/0"]}
    (message,) = mandatory(analyze(policy, cluster(vpcConfig=open_cidrs)))
    assert "admits everyone" in message
    missing = {"endpointPublicAccess": True}
    assert mandatory(analyze(policy, cluster(vpcConfig=missing)))
    assert undecided(
        analyze(policy, cluster(vpcConfig={**open_cidrs, "publicAccessCidrs": UNKNOWN}))
    )


def test_public_endpoint_within_the_allowed_admin_ranges() -> None:
    policy = eks.eks_public_endpoint_restricted
    config = {"allowed_admin_cidrs": ["192.0.2.0/24", "2001:db8::/32"]}
    assert mandatory(analyze(policy, cluster(), config)) == []
    elsewhere = {**GOOD_CLUSTER["vpcConfig"], "publicAccessCidrs": ["198.51.100.0/24"]}
    (message,) = mandatory(analyze(policy, cluster(vpcConfig=elsewhere), config))
    assert "['198.51.100.0/24'] lie outside the allowed admin ranges" in message


def test_secrets_encrypted() -> None:
    policy = eks.eks_secrets_encrypted
    assert mandatory(analyze(policy, cluster())) == []
    assert mandatory(analyze(policy, cluster(encryptionConfig={"resources": []})))
    assert undecided(analyze(policy, cluster(encryptionConfig=UNKNOWN)))


def test_kms_key_rotation() -> None:
    policy = eks.kms_key_rotation
    assert mandatory(analyze(policy, Resource(eks.KMS_KEY, {"enableKeyRotation": True}))) == []
    assert mandatory(analyze(policy, Resource(eks.KMS_KEY, {})))
    assert undecided(analyze(policy, Resource(eks.KMS_KEY, {"enableKeyRotation": UNKNOWN})))


def test_control_plane_logging() -> None:
    policy = eks.eks_control_plane_logging
    assert mandatory(analyze(policy, cluster())) == []
    (message,) = mandatory(analyze(policy, cluster(enabledClusterLogTypes=["api"])))
    assert "['audit', 'authenticator']" in message


def test_nodes_require_imdsv2() -> None:
    policy = eks.nodes_require_imdsv2
    good = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}
    assert mandatory(analyze(policy, Resource(eks.LAUNCH_TEMPLATE, good))) == []
    bad = {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2}}
    assert len(mandatory(analyze(policy, Resource(eks.LAUNCH_TEMPLATE, bad)))) == 2
    unknown = {"metadataOptions": {"httpTokens": UNKNOWN}}
    assert undecided(analyze(policy, Resource(eks.LAUNCH_TEMPLATE, unknown)))


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"vpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}})
    for policy in REGISTRY.of(eks):
        assert analyze(policy, other) == []


# --- EKS add-ons ----------------------------------------------------------------------------

NAMED = Resource(eks.CLUSTER, {**GOOD_CLUSTER, "name": "dev"}, name="cluster")


def addon(
    name: str, version: str | None = "v1.0.0-eksbuild.1", deps: tuple[Resource, ...] = ()
) -> Resource:
    props: dict[str, object] = {"clusterName": "dev", "addonName": name}
    if version:
        props["addonVersion"] = version
    if name in eks.PRESERVED:
        props["preserve"] = True
    return Resource(eks.ADDON, props, name=name, dependencies=[d.urn for d in deps])


def node_group(deps: tuple[Resource, ...] = ()) -> Resource:
    return Resource(
        eks.NODE_GROUP, {"clusterName": "dev"}, name="nodes", dependencies=[d.urn for d in deps]
    )


def cluster_with(**versions: str | None) -> list[Resource]:
    cni, proxy = addon("vpc-cni", versions.get("vpc-cni", "v1")), addon("kube-proxy")
    nodes = node_group((cni, proxy))
    return [
        NAMED,
        cni,
        proxy,
        nodes,
        addon("coredns", versions.get("coredns", "v1"), (nodes,)),
        addon("aws-ebs-csi-driver", deps=(nodes,)),
    ]


def test_core_addons_are_managed_versioned_and_ordered() -> None:
    policy = eks.eks_core_addons_managed_and_versioned
    assert mandatory(analyze_stack(policy, cluster_with())) == []
    (message,) = mandatory(analyze_stack(policy, cluster_with(coredns=None)))
    assert "Add-on coredns has no addonVersion" in message
    for missing in eks.CORE_ADDONS:
        resources = [r for r in cluster_with() if r.name != missing]
        messages = mandatory(analyze_stack(policy, resources))
        assert any(f"Cluster cluster has no {missing} EKS add-on." in m for m in messages), missing


def test_the_clusters_networking_and_dns_survive_their_addons_deletion() -> None:
    policy = eks.eks_core_addons_managed_and_versioned
    for name in eks.PRESERVED:
        resources = cluster_with()
        (addon_resource,) = [r for r in resources if r.name == name]
        addon_resource.props["preserve"] = False
        (message,) = mandatory(analyze_stack(policy, resources))
        assert f"Add-on {name} is not preserved" in message
    resources = cluster_with()
    (driver,) = [r for r in resources if r.name == "aws-ebs-csi-driver"]
    assert "preserve" not in driver.props  # the CSI driver goes with its add-on
    assert mandatory(analyze_stack(policy, resources)) == []


def test_nodes_wait_for_the_cni_and_coredns_for_the_nodes() -> None:
    policy = eks.eks_core_addons_managed_and_versioned
    unordered = [
        NAMED,
        addon("vpc-cni"),
        addon("kube-proxy"),
        node_group(),
        addon("coredns"),
        addon("aws-ebs-csi-driver"),
    ]
    messages = mandatory(analyze_stack(policy, unordered))
    assert any("Node group nodes does not wait for vpc-cni" in m for m in messages)
    assert any("Add-on coredns does not wait for node group nodes" in m for m in messages)
    assert any("Add-on aws-ebs-csi-driver does not wait for node group" in m for m in messages)
