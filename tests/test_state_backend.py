"""The team state bootstrap: a private, versioned, encrypted, protected bucket and a KMS key."""

from __future__ import annotations

import pytest
from plans import depends_on

from offline.plan import PROJECT_DIR, Plan, run_plan
from offline.stack_files import load_stack

BOOTSTRAP = PROJECT_DIR / "bootstrap" / "state-backend"


@pytest.fixture(scope="module")
def state_plan() -> Plan:
    return run_plan(load_stack(BOOTSTRAP, "example"), project_dir=BOOTSTRAP)


def test_the_state_bucket_is_protected_versioned_encrypted_and_private(state_plan: Plan) -> None:
    (bucket,) = state_plan.of_type("aws:s3/bucket:Bucket")
    assert bucket["protect"] is True
    assert bucket["inputs"]["forceDestroy"] is False
    settings = {r["type"]: r for r in state_plan.resources if depends_on(r, bucket)}
    versioning = settings["aws:s3/bucketVersioning:BucketVersioning"]
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    block = settings["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
    assert all(block["inputs"][k] is True for k in ("blockPublicAcls", "blockPublicPolicy"))
    assert (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        in settings
    )


def test_the_secrets_key_rotates_and_is_protected(state_plan: Plan) -> None:
    (key,) = state_plan.of_type("aws:kms/key:Key")
    assert key["protect"] is True
    assert key["inputs"]["enableKeyRotation"] is True


def test_outputs_are_what_pulumi_login_and_stack_init_take(state_plan: Plan) -> None:
    assert state_plan.outputs["backend_url"].startswith("s3://gitops-platform-pulumi-state-")
    assert state_plan.outputs["backend_url"].endswith("?region=eu-west-1")
    assert state_plan.outputs["secrets_provider"] == (
        "awskms://alias/gitops-platform-pulumi-secrets?region=eu-west-1"
    )
