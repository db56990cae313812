"""GitLab guardrails: each fails its bad case, passes its good one, and passes every stack this
repository ships."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from policy_harness import (
    UNKNOWN,
    Resource,
    analyze,
    analyze_stack,
    changed,
    mandatory,
    undecided,
)

from guardrails import gitlab
from guardrails._common import HELM_RELEASE
from offline.plan import Plan

REGISTRY = {"s3": {"bucket": "registry", "region": "eu-west-1", "objectownership": True}}
BACKUP = "[default]\nbucket_location = eu-west-1\nacl_public = False\n"
VALUES: dict[str, Any] = {
    "global": {"psql": {"host": "db.abc.eu-west-1.rds.amazonaws.com"}},
    "registry": {
        "storage": {"secret": "gitlab-registry-storage", "key": "config"},
        "database": {
            "enabled": True,
            "password": {"secret": "gitlab-registry-database-password", "key": "password"},
            "sslmode": "require",
        },
    },
    "gitlab": {
        "toolbox": {
            "backups": {
                "objectStorage": {
                    "backend": "s3",
                    "config": {"secret": "gitlab-backup-storage", "key": "config"},
                }
            }
        }
    },
}


def release(values: dict[str, Any]) -> Resource:
    props = {"chart": "gitlab", "version": "10.4.1", "namespace": "gitlab", "values": values}
    return Resource(HELM_RELEASE, props, name="gitlab")


def secret(name: str, key: str, content: Any, namespace: str = "gitlab") -> Resource:
    props = {"metadata": {"name": name, "namespace": namespace}, "stringData": {key: content}}
    return Resource(gitlab.SECRET, props, name=name)


def stack(registry: Any = REGISTRY, backup: Any = BACKUP, values: Any = VALUES) -> list[Resource]:
    storage = yaml.safe_dump(registry) if isinstance(registry, dict) else registry
    return [
        release(values),
        secret("gitlab-registry-storage", "config", storage),
        secret("gitlab-backup-storage", "config", backup),
    ]


def test_storage_that_sends_no_acls_passes() -> None:
    assert mandatory(analyze_stack(gitlab.gitlab_storage_sends_no_acls, stack())) == []
    v2 = {"s3_v2": {"bucket": "registry", "region": "eu-west-1", "objectownership": True}}
    assert mandatory(analyze_stack(gitlab.gitlab_storage_sends_no_acls, stack(v2))) == []


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        (
            {"s3": {"bucket": "b", "region": "r"}},
            "lacks objectownership: true, so it sends the ACL 'private'",
        ),
        ({"s3": {"bucket": "b", "objectacl": "public-read"}}, "sends the ACL 'public-read'"),
        (
            {"s3_v2": {"bucket": "b", "objectownership": False}},
            "s3_v2 storage lacks objectownership",
        ),
        ("s3: [", "is not YAML"),
    ],
)
def test_a_registry_that_sends_acls_is_refused(registry: Any, expected: str) -> None:
    (message,) = mandatory(analyze_stack(gitlab.gitlab_storage_sends_no_acls, stack(registry)))
    assert expected in message


@pytest.mark.parametrize(
    ("backup", "expected"),
    [
        ("[default]\nbucket_location = eu-west-1\n", "lacks `acl_public = False`"),
        ("[default]\nacl_public = True\n", "lacks `acl_public = False`"),
        ("[secret]", "hides key 'config'"),
    ],
)
def test_backups_that_copy_acls_are_refused(backup: str, expected: str) -> None:
    (message,) = mandatory(analyze_stack(gitlab.gitlab_storage_sends_no_acls, stack(backup=backup)))
    assert expected in message


def test_storage_configs_the_stack_does_not_create_cannot_pass() -> None:
    policy = gitlab.gitlab_storage_sends_no_acls
    elsewhere = [stack()[0], secret("gitlab-registry-storage", "config", "x", namespace="other")]
    messages = mandatory(analyze_stack(policy, elsewhere))
    assert any("'gitlab-registry-storage' is not created by the stack" in m for m in messages)
    no_pointer = changed(VALUES, "registry/storage", None)
    (message, *_) = mandatory(analyze_stack(policy, stack(values=no_pointer)))
    assert "registry.storage names no Secret" in message


def test_the_registry_database_is_decided_explicitly() -> None:
    policy = gitlab.gitlab_registry_database_explicit
    assert mandatory(analyze(policy, release(VALUES))) == []
    off = changed(VALUES, "registry/database", {"enabled": False})
    assert mandatory(analyze(policy, release(off))) == []
    no_registry = changed(VALUES, "registry", {"enabled": False})
    assert mandatory(analyze(policy, release(no_registry))) == []
    for value in (None, "prefer", "true"):
        bad = changed(VALUES, "registry/database/enabled", value)
        (message,) = mandatory(analyze(policy, release(bad)))
        assert f"registry.database.enabled is {value!r}, not true or false" in message


def test_an_enabled_registry_database_needs_a_secret_and_tls_to_rds() -> None:
    policy = gitlab.gitlab_registry_database_explicit
    no_password = changed(VALUES, "registry/database/password", {})
    (message,) = mandatory(analyze(policy, release(no_password)))
    assert "password names no Secret" in message
    for sslmode in ("disable", None):  # None: the chart's default, disable
        plain = changed(VALUES, "registry/database/sslmode", sslmode)
        (message,) = mandatory(analyze(policy, release(plain)))
        assert "RDS refuses unencrypted connections" in message
    elsewhere = changed(
        changed(VALUES, "registry/database/sslmode", None), "global/psql/host", "pg.local"
    )
    assert mandatory(analyze(policy, release(elsewhere))) == []
    unknown = changed(VALUES, "registry/database/enabled", UNKNOWN)
    assert undecided(analyze(policy, release(unknown)))
    assert (
        mandatory(analyze(policy, Resource(HELM_RELEASE, {"chart": "argo-cd", "values": {}}))) == []
    )


def test_the_rules_see_the_secrets_the_plan_hides(dev_plan: Plan) -> None:
    # The CLI hands packs secret values unwrapped; so does the offline preview, never the JSON.
    storage = [r for r in dev_plan.resources if r["name"].endswith("-registry-storage")]
    (resource,) = storage
    assert resource["inputs"]["stringData"] == "[secret]"
    unwrapped = dev_plan.analyzer_inputs[resource["urn"]]["stringData"]["config"]
    assert yaml.safe_load(unwrapped)["s3"]["objectownership"] is True
    assert copy.deepcopy(unwrapped) not in dev_plan.to_json()
