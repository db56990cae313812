"""Session fixtures: the plans of the shipped stacks, built once."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from plans import plan_for, stack_file_config

from offline.plan import PROJECT_DIR, Plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return plan_for(stack_file_config("dev"), stack="dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return plan_for(stack_file_config("prod"), stack="prod")


@dataclass(frozen=True)
class CommandRun:
    stdout: str
    json: bytes


@pytest.fixture(scope="session")
def dev_commands(tmp_path_factory: pytest.TempPathFactory) -> tuple[CommandRun, CommandRun]:
    """The dev stack previewed twice at once, as users run it: `make plan` and
    `python -m offline`, in separate processes with different hash seeds, both with the
    policy pack and writing the plan as JSON."""
    out = tmp_path_factory.mktemp("commands")
    commands = [
        (["make", "-s", "plan", "STACK=dev", f"PLAN_JSON={out / 'make.json'}"], "1"),
        ([sys.executable, "-m", "offline", "--stack", "dev", "--json", str(out / "cli.json")], "2"),
    ]
    running = [
        subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command, seed in commands
    ]
    outputs = [process.communicate(timeout=300) for process in running]
    for process, (command, _), (_, err) in zip(running, commands, outputs, strict=True):
        assert process.returncode == 0, f"{' '.join(command)} failed:\n{err}"
    make, cli = (Path(out / name).read_bytes() for name in ("make.json", "cli.json"))
    return CommandRun(outputs[0][0], make), CommandRun(outputs[1][0], cli)


# The policy pack's rules live in policies/guardrails, importable as `guardrails`.
sys.path.insert(0, str(PROJECT_DIR / "policies"))


@pytest.fixture(scope="session")
def argo_cd_crds() -> Any:
    """The CRDs of the pinned argo-cd chart (10.1.1), as JSON schemas (offline.validate)."""
    from offline.validate import crd_schemas
    from tests.upstream import chart_archive, helm_template

    archive = chart_archive("argo-cd", "10.1.1")
    if archive.name != "argo-cd-10.1.1.tgz":
        pytest.skip(f"the chart cache has {archive.name}, not the pinned argo-cd 10.1.1")
    return crd_schemas(helm_template(archive, {}, "argocd", "argocd"))
