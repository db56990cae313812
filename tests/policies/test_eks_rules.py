"""EKS guardrails: each fails its bad case, passes its good one, and never decides on an
unknown value."""

from __future__ import annotations

from policy_harness import UNKNOWN, Resource, analyze, mandatory, undecided

from guardrails import eks

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
    for policy in eks.POLICIES:
        assert analyze(policy, other) == []
