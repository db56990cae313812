"""The container registry's metadata database: the Job the plan holds, run against a real
PostgreSQL set up like RDS (an admin that is no superuser), before the GitLab release."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from plans import depends_on, one, plan_for, stack_file_config, with_changes
from postgres_server import Server, rds_like_server

from components.gitlab_data import DATABASE, DATABASE_USER
from components.registry_database import (
    PASSWORDS_DIGEST,
    POSTGRES_CLIENT_IMAGE,
    REGISTRY_DATABASE,
    REGISTRY_USER,
)
from offline.plan import SECRET, Plan

DEV = stack_file_config("dev")
JOB = "kubernetes:batch/v1:Job"
RELEASE = "kubernetes:helm.sh/v3:Release"
ADMIN_PASSWORD = "admin-password-for-the-test"


def job(plan: Plan) -> dict[str, Any]:
    return one(plan, JOB, "-registry-database")


def container(plan: Plan) -> dict[str, Any]:
    (only,) = job(plan)["inputs"]["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def env(plan: Plan) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(plan)["env"]}


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    yield from rds_like_server(DATABASE_USER, ADMIN_PASSWORD, DATABASE)


def run_job(plan: Plan, server: Server, registry_password: str) -> subprocess.CompletedProcess[str]:
    """The Job's container command, with its environment, against the test server (over a
    plain connection: the test server has no TLS; the Job asks RDS for `require`)."""
    settings = env(plan)
    return subprocess.run(
        container(plan)["command"],
        env={
            **server.env(settings["PGUSER"], ADMIN_PASSWORD),
            "PGDATABASE": settings["PGDATABASE"],
            "SQL": settings["SQL"],
            "REGISTRY_PASSWORD": registry_password,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_job_creates_the_registrys_role_and_database_and_can_run_again(
    dev_plan: Plan, postgres: Server
) -> None:
    first = run_job(dev_plan, postgres, "first-registry-password")
    assert first.returncode == 0, first.stderr
    owner = postgres.psql(
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{REGISTRY_DATABASE}'",
        REGISTRY_USER,
        "first-registry-password",
        REGISTRY_DATABASE,
    )
    assert owner.returncode == 0, owner.stderr
    assert owner.stdout.strip() == REGISTRY_USER
    grant = postgres.psql(
        "SELECT pg_has_role('registry', 'rds_superuser', 'MEMBER')",
        REGISTRY_USER,
        "first-registry-password",
        REGISTRY_DATABASE,
    )
    assert grant.stdout.strip() == "t"  # what GitLab's docs ask for on RDS

    # A second run (a replaced Job, a new password) changes the password and nothing else.
    again = run_job(dev_plan, postgres, "second-registry-password")
    assert again.returncode == 0, again.stderr
    old = postgres.psql("SELECT 1", REGISTRY_USER, "first-registry-password", REGISTRY_DATABASE)
    assert old.returncode != 0
    new = postgres.psql("SELECT 1", REGISTRY_USER, "second-registry-password", REGISTRY_DATABASE)
    assert new.returncode == 0, new.stderr


def test_a_failing_statement_fails_the_job(dev_plan: Plan, postgres: Server) -> None:
    settings = env(dev_plan)
    broken = subprocess.run(
        container(dev_plan)["command"],
        env={
            **postgres.env(settings["PGUSER"], "wrong-password"),
            "PGDATABASE": settings["PGDATABASE"],
            "SQL": settings["SQL"],
            "REGISTRY_PASSWORD": "x",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode != 0
    assert "password authentication failed" in broken.stderr


def test_the_job_reads_both_passwords_from_secrets_and_speaks_tls_to_rds(dev_plan: Plan) -> None:
    settings = env(dev_plan)
    assert settings["PGSSLMODE"] == "require"
    assert settings["PGPASSWORD"] == {
        "secretKeyRef": {"name": "gitlab-postgres-password", "key": "password"}
    }
    assert settings["REGISTRY_PASSWORD"] == {
        "secretKeyRef": {"name": "gitlab-registry-database-password", "key": "password"}
    }
    assert container(dev_plan)["image"] == POSTGRES_CLIENT_IMAGE
    assert "offline-password-" not in str(job(dev_plan))


def test_the_registry_uses_the_database_the_job_made(dev_plan: Plan) -> None:
    release = one(dev_plan, RELEASE, "-gitlab")
    database = release["inputs"]["values"]["registry"]["database"]
    assert database["enabled"] is True
    assert database["password"] == {
        "secret": "gitlab-registry-database-password",
        "key": "password",
    }
    assert database["sslmode"] == "require"
    # Neither user nor database name: the chart's default for both is `registry`.
    assert "user" not in database
    assert "name" not in database
    assert depends_on(release, job(dev_plan))
    password = one(dev_plan, "kubernetes:core/v1:Secret", "-registry-database-password")
    assert password["inputs"]["stringData"] == SECRET
    admin_password = one(dev_plan, "kubernetes:core/v1:Secret", "-postgres-password")
    assert depends_on(job(dev_plan), password)
    assert depends_on(job(dev_plan), admin_password)
    assert depends_on(job(dev_plan), one(dev_plan, "aws:rds/instance:Instance"))


def test_the_job_waits_a_bounded_time(dev_plan: Plan) -> None:
    spec = job(dev_plan)["inputs"]["spec"]
    assert spec["activeDeadlineSeconds"] <= 900
    assert spec["backoffLimit"] <= 6
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_a_new_password_runs_the_job_again(dev_plan: Plan) -> None:
    # The Job reads both passwords from Secrets by name, so a new one would not change its
    # spec; a digest of exactly what those Secrets hold, in the pod template, does (and a Job
    # whose template changes is replaced, so it runs again).
    def held(suffix: str) -> str:
        secret = one(dev_plan, "kubernetes:core/v1:Secret", suffix)
        value: str = dev_plan.analyzer_inputs[secret["urn"]]["stringData"]["password"]
        return value

    registry, admin = held("-registry-database-password"), held("-postgres-password")
    annotations = job(dev_plan)["inputs"]["spec"]["template"]["metadata"]["annotations"]
    expected = hashlib.sha256(f"{registry}\n{admin}".encode()).hexdigest()
    assert annotations[PASSWORDS_DIGEST] == expected
    assert registry not in dev_plan.to_json()


def test_a_registry_that_holds_images_can_stay_legacy_until_imported() -> None:
    plan = plan_for(with_changes(DEV, gitlab={"registry_metadata": "legacy"}), stack="dev")
    release = one(plan, RELEASE, "-gitlab")
    assert release["inputs"]["values"]["registry"]["database"] == {"enabled": False}
    assert plan.of_type(JOB) == []
    names = [s["inputs"]["metadata"]["name"] for s in plan.of_type("kubernetes:core/v1:Secret")]
    assert "gitlab-registry-database-password" not in names
