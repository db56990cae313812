"""The container registry's metadata database: a role and a database on GitLab's RDS instance.

GitLab's chart does not leave the registry's metadata to object storage by default: its
`registry.database.enabled` defaults to `prefer`, which the chart refuses with an external
PostgreSQL until the setting is explicit (gitlab-org/charts/gitlab!4671), and the legacy mode
is deprecated (gitlab-org/gitlab#571531). GitLab's docs enable the database for new
registries, "with no images pushed" (docs.gitlab.com/administration/packages/
container_registry_metadata_database_new_install); a registry with images is imported
first. The chart does not create the database on an external server; its docs give the SQL
to run as the admin user (GitLab chart docs, doc/charts/registry/metadata_database.md,
"Create an external metadata database"). A Kubernetes Job runs that SQL, idempotently,
before the GitLab release: it reaches RDS from inside the VPC, where the database admits it,
which the machine running `pulumi up` cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

# The chart's defaults for `registry.database.user` and `.name` (charts/registry/templates/
# _helpers.tpl): the chart is given neither, so these must match them.
REGISTRY_DATABASE = "registry"
REGISTRY_USER = "registry"
# A PostgreSQL client as new as the server (RDS PostgreSQL 17): `\getenv` needs psql 15+.
POSTGRES_CLIENT_IMAGE = "docker.io/library/postgres:17.6-alpine"
# The `postgres` user of the alpine images (docker-library/postgres 17/alpine*/Dockerfile:
# `adduser -u 70 -S -D -G postgres ... postgres`).
POSTGRES_UID = 70
# Reads the admin's connection from libpq's PG* variables and the registry's password from
# REGISTRY_PASSWORD (never an argument, so never in a process listing). Each statement can
# run again: the role's password follows the Secret, the rest is created once.
# - GRANT registry TO CURRENT_USER: from PostgreSQL 16 a non-superuser (RDS's admin is one)
#   may make a role the owner of a database only if it can SET ROLE to it
#   (https://www.postgresql.org/docs/17/sql-createdatabase.html, OWNER).
# - GRANT rds_superuser TO registry: what GitLab's docs ask for on Amazon RDS.
CREATE_DATABASE_SQL = f"""\
\\set ON_ERROR_STOP on
\\getenv registry_password REGISTRY_PASSWORD
SELECT 'CREATE ROLE {REGISTRY_USER} LOGIN'
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{REGISTRY_USER}')\\gexec
ALTER ROLE {REGISTRY_USER} WITH LOGIN PASSWORD :'registry_password';
GRANT {REGISTRY_USER} TO CURRENT_USER;
SELECT 'GRANT rds_superuser TO {REGISTRY_USER}'
  WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_superuser')\\gexec
SELECT 'CREATE DATABASE {REGISTRY_DATABASE} OWNER {REGISTRY_USER}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{REGISTRY_DATABASE}')\\gexec
"""


RUN_SQL = 'printf "%s" "$SQL" | psql --no-psqlrc --file=-'
PASSWORDS_DIGEST = "gitops-platform/passwords-sha256"


@dataclass
class RegistryDatabaseArgs:
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]
    admin_user: str
    admin_database: str
    admin_password_secret: str
    registry_password_secret: str
    password_key: str
    passwords: Sequence[pulumi.Input[str]]
    """Both passwords (secret): a digest of them in the pod template replaces the Job, and so
    runs it again, whenever one changes; the Secrets alone would not."""
    depends_on: Sequence[pulumi.Resource]
    """The database instance and both Secrets."""


@dataclass
class RegistryMetadataArgs:
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]
    admin_user: str
    admin_database: str
    admin_password: pulumi.Input[str]
    admin_password_secret: str
    password_key: str
    make_secret: Callable[[str, str, pulumi.Input[str]], str]
    """Makes a Secret the chart reads, from (name suffix, key, value); returns its name."""
    database: pulumi.Resource
    secrets: Sequence[pulumi.Resource]
    """The Secrets made so far; read after this makes the registry's own."""


def registry_metadata(
    name: str,
    mode: Literal["database", "legacy"],
    args: RegistryMetadataArgs,
    parent: pulumi.Resource,
) -> tuple[dict[str, object], list[pulumi.Resource]]:
    """`registry.database`, set explicitly either way, and what the release waits for: with
    `database`, the registry's own role and database on GitLab's RDS instance."""
    if mode == "legacy":
        return {"enabled": False}, []
    password = random.RandomPassword(
        f"{name}-registry-database",
        length=40,
        special=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    password_secret = args.make_secret(
        "registry-database-password", args.password_key, password.result
    )
    job = registry_database(
        name,
        RegistryDatabaseArgs(
            namespace=args.namespace,
            host=args.host,
            admin_user=args.admin_user,
            admin_database=args.admin_database,
            admin_password_secret=args.admin_password_secret,
            registry_password_secret=password_secret,
            password_key=args.password_key,
            passwords=[password.result, args.admin_password],
            # The instance, and the Secrets (both passwords among them) made so far.
            depends_on=[args.database, *args.secrets],
        ),
        parent,
    )
    values = {
        "enabled": True,
        "password": {"secret": password_secret, "key": args.password_key},
        # RDS PostgreSQL 15+ refuses unencrypted connections (rds.force_ssl is 1 by
        # default: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html);
        # the chart's default sslmode is `disable` (charts/registry/values.yaml).
        "sslmode": "require",
        "migrations": {"enabled": True},
    }
    return values, [job]


def registry_database(
    name: str, args: RegistryDatabaseArgs, parent: pulumi.Resource
) -> k8s.batch.v1.Job:
    """A Job that creates the registry's role and database; Pulumi waits for it to complete
    and fails the update if it fails (pulumi-kubernetes `batch/v1` Job await)."""

    def from_secret(secret: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=args.password_key)
        )

    return k8s.batch.v1.Job(
        f"{name}-registry-database",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="gitlab-registry-database", namespace=args.namespace
        ),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=4,
            active_deadline_seconds=600,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    annotations={PASSWORDS_DIGEST: _digest(args.passwords)}
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    restart_policy="Never",
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=POSTGRES_UID,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="psql",
                            image=POSTGRES_CLIENT_IMAGE,
                            command=["/bin/sh", "-c", RUN_SQL],
                            env=[
                                k8s.core.v1.EnvVarArgs(name="SQL", value=CREATE_DATABASE_SQL),
                                k8s.core.v1.EnvVarArgs(name="PGHOST", value=args.host),
                                k8s.core.v1.EnvVarArgs(name="PGPORT", value="5432"),
                                k8s.core.v1.EnvVarArgs(name="PGUSER", value=args.admin_user),
                                k8s.core.v1.EnvVarArgs(
                                    name="PGDATABASE", value=args.admin_database
                                ),
                                # RDS PostgreSQL 15+ refuses unencrypted connections
                                # (rds.force_ssl defaults to 1: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html).
                                k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value="require"),
                                k8s.core.v1.EnvVarArgs(
                                    name="PGPASSWORD",
                                    value_from=from_secret(args.admin_password_secret),
                                ),
                                k8s.core.v1.EnvVarArgs(
                                    name="REGISTRY_PASSWORD",
                                    value_from=from_secret(args.registry_password_secret),
                                ),
                            ],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "10m", "memory": "32Mi"},
                                limits={"memory": "64Mi"},
                            ),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False,
                                read_only_root_filesystem=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                            ),
                        )
                    ],
                ),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.depends_on)),
    )


def _digest(passwords: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """A SHA-256 of the passwords: it changes with them but reveals neither, so it is no
    secret (and the Job's spec does not become one)."""
    joined = pulumi.Output.all(*passwords).apply(lambda values: "\n".join(values))
    return pulumi.Output.unsecret(joined.apply(lambda v: hashlib.sha256(v.encode()).hexdigest()))
