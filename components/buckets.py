"""The one way this stack makes an S3 bucket: ACLs off, encrypted, versioned if asked, and
private unless the caller opens it on purpose (the kOps discovery store does)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.teardown import RETAINED_TAG


def private_bucket(
    name: str,
    parent: pulumi.Resource,
    *,
    versioned: bool,
    protect: bool,
    kept_because: str | None = None,
    block_public_access: bool = True,
) -> aws.s3.Bucket:
    """A bucket with ACLs disabled and default encryption.

    With `kept_because`, a destroy keeps the bucket and its objects (Pulumi forgets it), and
    a tag says why. Otherwise an unprotected (non-production) bucket is deleted with every
    object version, so a destroy completes (`force_destroy`, which the provider reads from
    the state: it takes effect after the `pulumi up` that sets it); a protected one never is.
    Without `block_public_access` the caller must add its own public access block (to allow
    a deliberate, narrow bucket policy).
    """
    # A kept bucket keeps its settings too: deleting BucketVersioning would suspend versioning,
    # deleting the public access block or the ownership controls would lift them.
    child = pulumi.ResourceOptions(parent=parent, retain_on_delete=kept_because is not None)
    bucket = aws.s3.Bucket(
        name,
        force_destroy=not protect and kept_because is None,
        tags={RETAINED_TAG: kept_because} if kept_because else None,
        opts=pulumi.ResourceOptions(
            parent=parent, protect=protect, retain_on_delete=kept_because is not None
        ),
    )
    aws.s3.BucketOwnershipControls(
        name,
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                ),
            )
        ],
        opts=child,
    )
    if versioned:
        aws.s3.BucketVersioning(
            name,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
    if block_public_access:
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
    return bucket
