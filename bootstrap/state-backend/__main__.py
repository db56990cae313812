"""Bootstrap for team state: the S3 backend bucket and the KMS key for stack secrets.

Run once per account, with local state (docs/state.md). Both are protected: losing either
loses every stack's state or its secrets.
"""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the platform's components

from components.buckets import private_bucket

config = pulumi.Config()
name = config.get("name") or "gitops-platform"
region = aws.config.region or "us-east-1"


class StateBackend(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("gitops-platform:state:StateBackend", name)
        self.bucket = private_bucket(f"{name}-pulumi-state", self, versioned=True, protect=True)
        self.key = aws.kms.Key(
            f"{name}-pulumi-secrets",
            description=f"Encrypts the secrets of {name}'s Pulumi stacks",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.alias = aws.kms.Alias(
            f"{name}-pulumi-secrets",
            name=f"alias/{name}-pulumi-secrets",
            target_key_id=self.key.key_id,
            # Every stack's secrets provider names this alias.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.register_outputs({})


backend = StateBackend(name)
pulumi.export(
    "backend_url", pulumi.Output.concat("s3://", backend.bucket.bucket, f"?region={region}")
)
pulumi.export(
    "secrets_provider", pulumi.Output.concat("awskms://", backend.alias.name, f"?region={region}")
)
