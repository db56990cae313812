"""How GitLab's pods reach S3: through their IAM role, with no keys and no ACLs.

The buckets have ACLs disabled (Bucket Owner Enforced): every client GitLab runs must send
no ACL, or only bucket-owner-full-control
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html).
"""

from __future__ import annotations

import pulumi
import yaml

# s3cmd copies an object's ACL along when a restore first moves the existing objects aside
# (`s3cmd sync s3:// s3://`), unless acl_public is set, and a bucket with ACLs disabled refuses
# that (s3tools/s3cmd S3/S3.py object_copy, S3/Config.py acl_public; gitlab-org/build/CNG#1906).
# With acl_public = False it sends no ACL at all; uploads never send one.
BACKUP_S3CMD_CONFIG = "[default]\nbucket_location = {region}\nacl_public = False\n"


def object_storage_connection(region: str) -> str:
    """Rails' object storage connection through the pods' IAM role: no keys, no endpoint
    (an endpoint breaks web-identity credentials).

    No ACL setting exists here. Workhorse, which uploads directly, builds its PutObject
    without one (gitlab workhorse/internal/upload/destination/objectstore/s3v2_object.go).
    Rails' own uploads and copies send none once GitLab sets CarrierWave's `fog_acl` to false
    for Bucket Owner Enforced buckets (gitlab app/uploaders/object_storage.rb,
    gitlab-org/gitlab#396349); the release that first ships it is not established here, so
    the README says how to check a running GitLab."""
    return yaml.safe_dump({"provider": "AWS", "use_iam_profile": True, "region": region})


def registry_storage(bucket: pulumi.Output[str], region: str) -> pulumi.Output[str]:
    """The registry's `storage:` section (the chart inserts the Secret verbatim: GitLab chart
    docs, doc/charts/registry/_index.md, "storage"). The buckets have ACLs disabled; the S3
    driver sends the canned ACL `objectacl` (default `private`) on every upload unless
    `objectownership` is true, and then sends none (gitlab-org/container-registry v4.39.0
    docs/storage-drivers/s3_v2.md; registry/storage/driver/s3-aws/v2/s3.go `getACL`). AWS
    documents only requests without an ACL, or with bucket-owner-full-control, as accepted
    by such a bucket (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    about-object-ownership.html)."""
    return bucket.apply(
        lambda name: yaml.safe_dump(
            {"s3": {"bucket": name, "region": region, "v4auth": True, "objectownership": True}}
        )
    )
