"""GitLab's state on AWS: PostgreSQL on RDS, Redis on ElastiCache, object storage on S3.

GitLab's chart 10 bundles no PostgreSQL, Redis or MinIO; production GitLab keeps them outside
the cluster anyway. All three stay private to the VPC, encrypted at rest and in
transit, and are protected (and kept on destroy as a final snapshot) in production stacks.
GitLab reaches S3 through its service accounts' IAM role: no access keys exist anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.buckets import private_bucket
from components.clusters.outputs import ClusterOutputs
from components.config import GitLabConfig
from components.iam import partition_of, policy_document
from components.workload_identity import ServiceAccountRole, ServiceAccountRoleArgs

POSTGRES_MAJOR_VERSION = "17"  # GitLab 19 (chart 10) requires PostgreSQL 17 or later
REDIS_VERSION = "7.1"
DATABASE = "gitlabhq_production"
DATABASE_USER = "gitlab"
# What GitLab stores in object storage (the chart's enabled-by-default types), plus backups
# and the container registry.
OBJECT_TYPES = ("artifacts", "lfs", "uploads", "packages")
OTHER_BUCKETS = ("backups", "tmp", "registry")


@dataclass
class GitLabDataStoresArgs:
    config: GitLabConfig
    cluster: ClusterOutputs
    namespace: str
    service_accounts: Sequence[str]
    """The chart's pods that touch object storage; they share one IAM role."""
    production: bool


class GitLabDataStores(pulumi.ComponentResource):
    database_host: pulumi.Output[str]
    database_password: pulumi.Output[str]
    redis_host: pulumi.Output[str]
    redis_password: pulumi.Output[str]
    buckets: dict[str, pulumi.Output[str]]
    """Bucket name per object type, backups, tmp and registry."""
    role: ServiceAccountRole
    database: aws.rds.Instance

    def __init__(
        self, name: str, args: GitLabDataStoresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitlab:GitLabDataStores", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.production)
        config = args.config

        vpc = aws.ec2.get_vpc_output(
            id=args.cluster.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        access = aws.ec2.SecurityGroup(
            f"{name}-data",
            vpc_id=args.cluster.vpc_id,
            description="GitLab's PostgreSQL and Redis: from inside the VPC only",
            tags={"Name": f"{name}-data"},
            opts=child,
        )
        for port, service in ((5432, "PostgreSQL"), (6379, "Redis")):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-data-{port}",
                security_group_id=access.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=vpc.cidr_block,
                description=f"{service} for GitLab's pods in the VPC",
                opts=child,
            )

        database_password = random.RandomPassword(
            f"{name}-postgres", length=40, special=False, opts=child
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-postgres", subnet_ids=args.cluster.private_subnet_ids, opts=child
        )
        database = aws.rds.Instance(
            f"{name}-postgres",
            engine="postgres",
            engine_version=POSTGRES_MAJOR_VERSION,
            instance_class=config.database_instance_class,
            allocated_storage=config.database_storage_gib,
            max_allocated_storage=config.database_storage_gib * 4,
            storage_type="gp3",
            storage_encrypted=True,
            db_name=DATABASE,
            username=DATABASE_USER,
            password=database_password.result,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[access.id],
            publicly_accessible=False,
            multi_az=args.production,
            backup_retention_period=14 if args.production else 1,
            deletion_protection=args.production,
            # Production keeps a final snapshot when deleted; dev leaves nothing behind.
            skip_final_snapshot=not args.production,
            final_snapshot_identifier=f"{name}-postgres-final" if args.production else None,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            opts=stateful,
        )

        redis_password = random.RandomPassword(
            f"{name}-redis", length=40, special=False, opts=child
        )
        cache_subnets = aws.elasticache.SubnetGroup(
            f"{name}-redis", subnet_ids=args.cluster.private_subnet_ids, opts=child
        )
        cache = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description="GitLab's Redis (cluster mode off: GitLab does not support Redis Cluster)",
            engine="redis",
            engine_version=REDIS_VERSION,
            node_type=config.cache_node_type,
            num_cache_clusters=2 if args.production else 1,
            automatic_failover_enabled=args.production,
            multi_az_enabled=args.production,
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=redis_password.result,
            port=6379,
            subnet_group_name=cache_subnets.name,
            security_group_ids=[access.id],
            snapshot_retention_limit=7 if args.production else 0,
            opts=stateful,
        )

        kept_because = (
            "production"
            if args.production
            else "gitlab.buckets_on_destroy=keep"
            if config.buckets_on_destroy == "keep"
            else None
        )
        self.buckets = {
            kind: private_bucket(
                f"{name}-{kind}",
                self,
                versioned=kind == "backups",
                protect=args.production,
                kept_because=kept_because,
            ).bucket
            for kind in (*OBJECT_TYPES, *OTHER_BUCKETS)
        }
        self.role = ServiceAccountRole(
            f"{name}-objects",
            ServiceAccountRoleArgs(
                namespace=args.namespace,
                service_accounts=args.service_accounts,
                identity=args.cluster.identity,
                policy=_object_storage_policy(
                    partition_of(args.cluster.region), list(self.buckets.values())
                ),
            ),
            child,
        )
        self.database = database
        self.database_host = database.address
        self.database_password = pulumi.Output.secret(database_password.result)
        self.redis_host = cache.primary_endpoint_address
        self.redis_password = pulumi.Output.secret(redis_password.result)
        self.register_outputs({"database_host": self.database_host, "redis_host": self.redis_host})


def _object_storage_policy(partition: str, buckets: list[pulumi.Output[str]]) -> pulumi.Output[str]:
    """Read and write objects in GitLab's own buckets, nothing else."""
    arn = f"arn:{partition}:s3:::"
    return policy_document(
        {
            "Sid": "ListGitLabBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
            "Resource": [pulumi.Output.concat(arn, b) for b in buckets],
        },
        {
            "Sid": "ObjectsInGitLabBuckets",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": [pulumi.Output.concat(arn, b, "/*") for b in buckets],
        },
    )
