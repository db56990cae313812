"""Storage guardrails: each fails its bad case, passes its good one, never decides on an
unknown value, and passes the stacks this repository ships."""

from __future__ import annotations

import json
from typing import Any

from plans import plan_for, stack_file_config
from policy_harness import UNKNOWN, Resource, analyze, mandatory, plan_decisions, undecided

from guardrails import REGISTRY, storage

BUCKET_ARN = "arn:aws:s3:::gitops-platform-kops-kops-oidc-b60a17b"
DISCOVERY = [
    f"{BUCKET_ARN}/discovery/*/.well-known/openid-configuration",
    f"{BUCKET_ARN}/discovery/*/openid/v1/jwks",
]
ALL_FLAGS = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
PUBLIC_POLICY = {**ALL_FLAGS, "blockPublicPolicy": False, "restrictPublicBuckets": False}
GOOD_POSTGRES = {"engine": "postgres", "storageEncrypted": True, "publiclyAccessible": False}
GOOD_REDIS = {"engine": "redis", "atRestEncryptionEnabled": True, "transitEncryptionEnabled": True}


def encryption(algorithm: Any) -> Resource:
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}]
    return Resource(storage.BUCKET_ENCRYPTION, {"bucket": "b-1", "rules": rules})


def access_block(name: str = "gitops-platform-dev-gitlab-data-lfs", **flags: Any) -> Resource:
    return Resource(
        storage.BUCKET_PUBLIC_ACCESS_BLOCK, {"bucket": "b-1", **ALL_FLAGS, **flags}, name=name
    )


def versioning(status: Any) -> Resource:
    return Resource(
        storage.BUCKET_VERSIONING, {"bucket": "b-1", "versioningConfiguration": {"status": status}}
    )


def bucket_policy(*statements: dict[str, Any]) -> Resource:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return Resource(storage.BUCKET_POLICY, {"bucket": "b-1", "policy": document})


def public_read(resources: Any, action: Any = "s3:GetObject", **more: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": action,
        "Resource": resources,
        **more,
    }


def test_s3_encrypted() -> None:
    policy = storage.s3_encrypted
    assert mandatory(analyze(policy, encryption("AES256"))) == []
    assert mandatory(analyze(policy, encryption("aws:kms"))) == []
    (message,) = mandatory(analyze(policy, encryption("none")))
    assert "rules[0] encrypts with 'none'" in message
    empty = Resource(storage.BUCKET_ENCRYPTION, {"bucket": "b-1", "rules": []})
    (message,) = mandatory(analyze(policy, empty))
    assert "No encryption rule." in message
    assert undecided(analyze(policy, encryption(UNKNOWN)))


def test_s3_public_access_blocked() -> None:
    policy = storage.s3_public_access_blocked
    assert mandatory(analyze(policy, access_block())) == []
    (message,) = mandatory(analyze(policy, access_block(restrictPublicBuckets=False)))
    assert "['restrictPublicBuckets'] are not true" in message
    missing = Resource(storage.BUCKET_PUBLIC_ACCESS_BLOCK, {"bucket": "b-1"})
    (message,) = mandatory(analyze(policy, missing))
    assert "['blockPublicAcls', 'ignorePublicAcls', 'blockPublicPolicy'," in message
    assert undecided(analyze(policy, access_block(blockPublicPolicy=UNKNOWN)))


def test_only_the_kops_discovery_bucket_may_allow_a_public_policy() -> None:
    """STS fetches the kOps issuer's discovery documents anonymously: that bucket's block may
    allow a public policy, never public ACLs; no other bucket may."""
    policy = storage.s3_public_access_blocked
    kops = "gitops-platform-study-kops-oidc"
    assert mandatory(analyze(policy, access_block(kops, **PUBLIC_POLICY))) == []
    (message,) = mandatory(analyze(policy, access_block(**PUBLIC_POLICY)))
    assert "['blockPublicPolicy', 'restrictPublicBuckets'] are not true" in message
    (message,) = mandatory(
        analyze(policy, access_block(kops, **{**PUBLIC_POLICY, "ignorePublicAcls": False}))
    )
    assert "['ignorePublicAcls', 'blockPublicPolicy', 'restrictPublicBuckets']" in message


def test_s3_versioning_enabled_for_state() -> None:
    policy = storage.s3_versioning_enabled_for_state
    assert mandatory(analyze(policy, versioning("Enabled"))) == []
    (message,) = mandatory(analyze(policy, versioning("Suspended")))
    assert "Versioning is 'Suspended', not 'Enabled'." in message
    assert mandatory(analyze(policy, versioning("Disabled")))
    assert mandatory(analyze(policy, Resource(storage.BUCKET_VERSIONING, {"bucket": "b-1"})))
    assert undecided(analyze(policy, versioning(UNKNOWN)))


def test_s3_bucket_policy_not_broadly_public() -> None:
    policy = storage.s3_bucket_policy_not_broadly_public
    assert mandatory(analyze(policy, bucket_policy(public_read(DISCOVERY)))) == []
    assert mandatory(analyze(policy, bucket_policy(public_read(f"{BUCKET_ARN}/site/*")))) == []
    role = {"AWS": "arn:aws:iam::123456789012:role/gitlab"}
    named = {**public_read(BUCKET_ARN, "s3:*"), "Principal": role}
    assert mandatory(analyze(policy, bucket_policy(named))) == []
    deny_http = {
        **public_read("*", "s3:*"),
        "Effect": "Deny",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert mandatory(analyze(policy, bucket_policy(deny_http))) == []

    (message,) = mandatory(analyze(policy, bucket_policy(public_read(f"{BUCKET_ARN}/*"))))
    assert f"opens more than specific object paths to everyone: ['{BUCKET_ARN}/*']" in message
    (message,) = mandatory(analyze(policy, bucket_policy(public_read(f"{BUCKET_ARN}/*.json"))))
    assert "opens more than specific object paths" in message
    write = public_read(DISCOVERY, ["s3:GetObject", "s3:PutObject"], Sid="Upload")
    (message,) = mandatory(analyze(policy, bucket_policy(write)))
    assert "Statement 'Upload' grants everyone ['s3:PutObject']" in message
    listing = {**public_read([BUCKET_ARN], "s3:ListBucket"), "Principal": "*"}
    assert len(mandatory(analyze(policy, bucket_policy(listing)))) == 2
    assert mandatory(analyze(policy, bucket_policy(public_read("*"))))
    assert undecided(analyze(policy, Resource(storage.BUCKET_POLICY, {"policy": UNKNOWN})))


def test_rds_encrypted_and_private() -> None:
    policy = storage.rds_encrypted_and_private
    assert mandatory(analyze(policy, Resource(storage.RDS_INSTANCE, GOOD_POSTGRES))) == []
    bad = {**GOOD_POSTGRES, "storageEncrypted": False, "publiclyAccessible": True}
    messages = mandatory(analyze(policy, Resource(storage.RDS_INSTANCE, bad)))
    assert len(messages) == 2
    assert "Storage is not encrypted" in messages[0]
    assert "The instance is publicly accessible." in messages[1]
    unset = {"engine": "postgres"}
    (message,) = mandatory(analyze(policy, Resource(storage.RDS_INSTANCE, unset)))
    assert "Storage is not encrypted" in message
    unknown = {**GOOD_POSTGRES, "publiclyAccessible": UNKNOWN}
    assert undecided(analyze(policy, Resource(storage.RDS_INSTANCE, unknown)))


def test_elasticache_encrypted() -> None:
    policy = storage.elasticache_encrypted
    group = storage.REPLICATION_GROUP
    assert mandatory(analyze(policy, Resource(group, GOOD_REDIS))) == []
    plain = {**GOOD_REDIS, "transitEncryptionEnabled": False}
    (message,) = mandatory(analyze(policy, Resource(group, plain)))
    assert "Traffic is not encrypted" in message
    at_rest = {"engine": "redis", "transitEncryptionEnabled": True}
    (message,) = mandatory(analyze(policy, Resource(group, at_rest)))
    assert "Data at rest is not encrypted" in message
    unknown = {**GOOD_REDIS, "atRestEncryptionEnabled": UNKNOWN}
    assert undecided(analyze(policy, Resource(group, unknown)))


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"storageEncrypted": False, "rules": []})
    for policy in REGISTRY.of(storage):
        assert analyze(policy, other) == []


def test_the_kops_stack_passes() -> None:
    plan = plan_for(stack_file_config("kops"), stack="study")
    assert plan_decisions(REGISTRY.of(storage), plan) == []


def test_the_kops_discovery_policy_is_narrow_enough() -> None:
    """The kOps stack's public bucket policy (two discovery documents) is allowed."""
    plan = plan_for(stack_file_config("kops"), stack="study")
    (found,) = plan.of_type(storage.BUCKET_POLICY)
    assert "PublicOidcDiscovery" in found["inputs"]["policy"]
    resource = Resource(found["type"], found["inputs"], name=found["name"])
    assert analyze(storage.s3_bucket_policy_not_broadly_public, resource) == []
