"""Storage: buckets and databases are encrypted, private, and keep their history.

Each rule looks at one resource. That every bucket *has* an encryption configuration and a
public access block is a stack-level question, checked elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, Severity

from guardrails._common import KOPS_OIDC_SUFFIX, dig, listed, resource_rule
from guardrails.iam import is_public_principal, label, statements

BUCKET_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_ENCRYPTION_V2 = (
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
)
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_VERSIONING_V2 = "aws:s3/bucketVersioningV2:BucketVersioningV2"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"

SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
ACL_FLAGS = ("blockPublicAcls", "ignorePublicAcls")
POLICY_FLAGS = ("blockPublicPolicy", "restrictPublicBuckets")
PUBLIC_ACTIONS = ("s3:getobject",)
OBJECT_ARN = re.compile(r"arn:aws(-[a-z]+)*:s3:::(?P<bucket>[^/]+)/(?P<key>.+)")


@resource_rule(
    "s3-encrypted",
    "Bucket default encryption uses SSE-S3 (AES256) or SSE-KMS.",
    types=[BUCKET_ENCRYPTION, BUCKET_ENCRYPTION_V2],
    remediation="Set applyServerSideEncryptionByDefault.sseAlgorithm to AES256 or aws:kms "
    "(components/buckets.py private_bucket does).",
)
def s3_encrypted(args: ResourceValidationArgs) -> Iterator[str]:
    rules = args.props.get("rules") or []
    if not rules:
        yield "No encryption rule."
    for i, rule in enumerate(rules):
        algorithm = dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        if algorithm not in SSE_ALGORITHMS:
            yield f"rules[{i}] encrypts with {algorithm!r}, not one of {list(SSE_ALGORITHMS)}."


@resource_rule(
    "s3-public-access-blocked",
    "Bucket public access blocks set all four flags. One exception: the kOps OIDC discovery "
    "bucket (resource name ending in -kops-oidc) may allow a public *policy*, because AWS STS "
    "fetches its discovery documents anonymously; its ACL flags must still be true.",
    types=[BUCKET_PUBLIC_ACCESS_BLOCK],
    remediation="Set blockPublicAcls, ignorePublicAcls, blockPublicPolicy and "
    "restrictPublicBuckets to true (components/buckets.py private_bucket does).",
    severity=Severity.CRITICAL,
)
def s3_public_access_blocked(args: ResourceValidationArgs) -> Iterator[str]:
    off = [flag for flag in (*ACL_FLAGS, *POLICY_FLAGS) if args.props.get(flag) is not True]
    if not off:
        return
    # STS reads the kOps issuer's openid-configuration and JWKS from S3 without credentials,
    # which needs a bucket policy granting s3:GetObject to everyone (that policy is checked by
    # s3-bucket-policy-not-broadly-public). ACLs stay blocked.
    if args.name.endswith(KOPS_OIDC_SUFFIX) and all(flag in POLICY_FLAGS for flag in off):
        return
    yield f"Public access is not fully blocked: {off} are not true."


@resource_rule(
    "s3-versioning-enabled-for-state",
    "A bucket's versioning configuration keeps versioning on (state and backups survive an "
    "overwrite or delete).",
    types=[BUCKET_VERSIONING, BUCKET_VERSIONING_V2],
    remediation="Set versioningConfiguration.status: Enabled.",
    severity=Severity.MEDIUM,
)
def s3_versioning_enabled_for_state(args: ResourceValidationArgs) -> Iterator[str]:
    status = dig(args.props, "versioningConfiguration", "status")
    if status != "Enabled":
        yield f"Versioning is {status!r}, not 'Enabled'."


def specific_object_path(resource: str) -> bool:
    """An object ARN below a fixed first path segment: `<bucket>/discovery/*/jwks` is,
    `<bucket>/*` (the whole bucket) and `<bucket>/*.json` are not."""
    match = OBJECT_ARN.fullmatch(resource)
    if match is None or any(c in match["bucket"] for c in "*?"):
        return False
    first = match["key"].split("/", 1)[0]
    return first != "" and not any(c in first for c in "*?")


@resource_rule(
    "s3-bucket-policy-not-broadly-public",
    "A bucket policy grants everyone (Principal '*') at most s3:GetObject on specific object "
    "paths: never writes, listing, or the whole bucket.",
    types=[BUCKET_POLICY],
    remediation="Name the principals, or grant '*' only s3:GetObject on "
    "arn:aws:s3:::<bucket>/<prefix>/... paths.",
    severity=Severity.CRITICAL,
)
def s3_bucket_policy_not_broadly_public(args: ResourceValidationArgs) -> Iterator[str]:
    for i, statement in enumerate(statements(args.props.get("policy"))):
        if statement.get("Effect") != "Allow":
            continue
        name = label(statement, i)
        if "NotPrincipal" in statement:
            yield f"{name} grants everyone but NotPrincipal."
            continue
        if not is_public_principal(statement.get("Principal")):
            continue
        if "NotAction" in statement:
            yield f"{name} grants everyone every action but {listed(statement['NotAction'])}."
        else:
            actions = [str(a) for a in listed(statement.get("Action"))]
            extra = [a for a in actions if a.lower() not in PUBLIC_ACTIONS]
            if extra or not actions:
                yield f"{name} grants everyone {extra}; only s3:GetObject may be public."
        if "NotResource" in statement:
            yield f"{name} grants everyone every resource but NotResource."
        else:
            resources = [str(r) for r in listed(statement.get("Resource"))]
            broad = [r for r in resources if not specific_object_path(r)]
            if broad or not resources:
                yield f"{name} opens more than specific object paths to everyone: {broad}."


@resource_rule(
    "rds-encrypted-and-private",
    "RDS instances encrypt their storage and are not reachable from the internet.",
    types=[RDS_INSTANCE],
    remediation="Set storageEncrypted: true and publiclyAccessible: false.",
    severity=Severity.CRITICAL,
)
def rds_encrypted_and_private(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("storageEncrypted") is not True:
        yield "Storage is not encrypted (storageEncrypted is not true)."
    if args.props.get("publiclyAccessible") is True:
        yield "The instance is publicly accessible."


@resource_rule(
    "elasticache-encrypted",
    "ElastiCache replication groups encrypt data at rest and in transit.",
    types=[REPLICATION_GROUP],
    remediation="Set atRestEncryptionEnabled: true and transitEncryptionEnabled: true.",
)
def elasticache_encrypted(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("atRestEncryptionEnabled") is not True:
        yield "Data at rest is not encrypted (atRestEncryptionEnabled is not true)."
    if args.props.get("transitEncryptionEnabled") is not True:
        yield "Traffic is not encrypted (transitEncryptionEnabled is not true)."
