"""GitLab's chart against the AWS services it writes to: object storage that sends no ACLs to
buckets that refuse them, and a container registry whose metadata database is decided, not
left to a moving chart default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from guardrails._common import (
    GITLAB_CHART,
    HELM_RELEASE,
    HIDDEN,
    chart_of,
    dig,
    helm_values,
    resource_rule,
    stack_rule,
)
from guardrails.graph import releases_of

SECRET = "kubernetes:core/v1:Secret"
REGISTRY_S3_DRIVERS = ("s3", "s3aws", "s3_v2")
REGISTRY_DATABASE = ("registry", "database")
REGISTRY_STORAGE = ("registry", "storage")
BACKUP_CONFIG = ("gitlab", "toolbox", "backups", "objectStorage", "config")
BACKUP_BACKEND = ("gitlab", "toolbox", "backups", "objectStorage", "backend")
INSECURE_SSLMODES = ("disable", "allow")
REGISTRY_DB_DOCS = "https://docs.gitlab.com/charts/charts/registry/metadata_database/"


def _secret_content(
    args: StackValidationArgs, namespace: Any, pointer: Any
) -> tuple[str | None, str | None]:
    """The text under `pointer.key` of the Secret `pointer.secret` in `namespace`, or None and
    why it cannot be read."""
    if not isinstance(pointer, Mapping) or not pointer.get("secret"):
        return None, "names no Secret"
    name, key = pointer.get("secret"), pointer.get("key")
    for resource in args.resources:
        metadata = resource.props.get("metadata") or {}
        if resource.resource_type != SECRET or metadata.get("name") != name:
            continue
        if metadata.get("namespace") != namespace:
            continue
        data = resource.props.get("stringData")
        if not isinstance(data, Mapping):
            return None, f"Secret {name!r} holds no readable stringData"
        value = data.get(key)
        if not isinstance(value, str) or value == HIDDEN:
            return (
                None,
                f"Secret {name!r} hides key {key!r} (it holds no credential: keep it readable)",
            )
        return value, None
    return None, f"Secret {name!r} is not created by the stack in namespace {namespace!r}"


@stack_rule(
    "gitlab-storage-sends-no-acls",
    "GitLab's S3 writers send no ACL, which buckets with ACLs disabled (BucketOwnerEnforced) "
    "require: AWS accepts only requests without an ACL or with bucket-owner-full-control "
    "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html). The "
    "container registry sends `objectacl` (default private) unless `objectownership: true` "
    "(gitlab-org/container-registry v4.39.0 docs/storage-drivers/s3_v2.md); s3cmd, which "
    "backup-utility runs, re-applies ACLs on bucket-to-bucket copies during a restore unless "
    "`acl_public = False` (s3tools/s3cmd S3/S3.py object_copy; gitlab-org/build/CNG#1906).",
    remediation="Set objectownership: true in the registry's storage Secret and "
    "acl_public = False in the backup s3cmd config (components/gitlab_storage.py).",
)
def gitlab_storage_sends_no_acls(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    for release in releases_of(args, GITLAB_CHART):
        values = release.props.get("values") or {}
        namespace = release.props.get("namespace")
        storage, why = _secret_content(args, namespace, dig(values, *REGISTRY_STORAGE))
        if storage is None:
            yield f"The registry's storage cannot be checked: registry.storage {why}.", release.urn
        else:
            yield from ((m, release.urn) for m in _registry_acl_problems(storage))
        if dig(values, *BACKUP_BACKEND) in (None, "s3"):
            backup, why = _secret_content(args, namespace, dig(values, *BACKUP_CONFIG))
            if backup is None:
                message = f"Backups cannot be checked: the s3cmd config {why}."
                yield message, release.urn
            elif not _s3cmd_sends_no_acl(backup):
                message = "The backup s3cmd config lacks `acl_public = False`: restores fail."
                yield message, release.urn


def _registry_acl_problems(storage: str) -> Iterator[str]:
    try:
        config = yaml.safe_load(storage)
    except yaml.YAMLError:
        yield "The registry's storage config is not YAML."
        return
    drivers = [d for d in REGISTRY_S3_DRIVERS if isinstance(config, Mapping) and d in config]
    for driver in drivers:
        settings = config[driver] or {}
        if str(settings.get("objectownership")).lower() != "true":
            yield (
                f"The registry's {driver} storage lacks objectownership: true, so it sends "
                f"the ACL {settings.get('objectacl', 'private')!r} with every upload."
            )


def _s3cmd_sends_no_acl(config: str) -> bool:
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "acl_public":
            # s3cmd reads booleans as these words (S3/Config.py, the config file's bool parser).
            return value.strip().lower() in ("false", "no", "off", "0")
    return False


@resource_rule(
    "gitlab-registry-database-explicit",
    "The container registry's metadata database is switched on or off explicitly: the "
    "chart's default is `prefer`, which it refuses with an external PostgreSQL and "
    f"which otherwise requires the database on a fresh install ({REGISTRY_DB_DOCS}). When on, "
    "its password comes from a Secret and its connection to RDS is encrypted (RDS "
    "PostgreSQL 15+ sets rds.force_ssl; the chart's default sslmode is disable).",
    types=[HELM_RELEASE],
    remediation="Set registry.database.enabled (true, with the database created: "
    "components/registry_database.py), registry.database.password.secret, and "
    "registry.database.sslmode: require.",
)
def gitlab_registry_database_explicit(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != GITLAB_CHART:
        return
    values = helm_values(args)
    if dig(values, "registry", "enabled") is False:
        return
    database = dig(values, *REGISTRY_DATABASE) or {}
    enabled = database.get("enabled")
    if enabled is False:
        return
    if enabled is not True:
        yield f"registry.database.enabled is {enabled!r}, not true or false."
        return
    if not dig(database, "password", "secret"):
        yield "registry.database.password names no Secret."
    sslmode = database.get("sslmode", "disable")  # the chart's default
    host = str(database.get("host") or dig(values, "global", "psql", "host") or "")
    if host.endswith(".rds.amazonaws.com") and sslmode in INSECURE_SSLMODES:
        yield f"registry.database.sslmode is {sslmode!r}: RDS refuses unencrypted connections."
