"""Helpers for tests: realistic stack configs and their offline plans.

Tests start from the shipped stack files (what users run) or from `tests/stacks/`, change what
the test is about, and read the plan the unchanged program produces under the mock runtime.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from offline.plan import PROJECT_DIR, Plan, run_plan
from offline.references import References
from offline.stack_files import load_stack, settings_from_config, stack_names

PROJECT = "gitops-platform"
STACKS_DIR = Path(__file__).parent / "stacks"
SHIPPED_STACKS = stack_names(PROJECT_DIR)
"""Every `Pulumi.<stack>.yaml` of the checkout: a new environment is tested as dev and prod are."""

Config = dict[str, Any]


def stack_file_config(stack: str) -> Config:
    """The `config:` mapping of a shipped `Pulumi.<stack>.yaml`, or of one in tests/stacks."""
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        path = STACKS_DIR / f"Pulumi.{stack}.yaml"
    config: Config = yaml.safe_load(path.read_text())["config"]
    return config


def with_changes(config: Config, **changes: Any) -> Config:
    """A copy of `config` with project keys replaced (`None` removes a key)."""
    changed = copy.deepcopy(config)
    for key, value in changes.items():
        full_key = f"{PROJECT}:{key}"
        if value is None:
            changed.pop(full_key, None)
        else:
            changed[full_key] = value
    return changed


_plans: dict[str, Plan] = {}


def plan_for(config: Config, stack: str = "test", secrets: dict[str, str] | None = None) -> Plan:
    """The offline plan of `config`; `secrets` are set as `pulumi config set --secret` would.

    Plans are cached per input: the program is deterministic (a test checks that) and every
    test only reads the plan.
    """
    key = json.dumps([config, stack, secrets], sort_keys=True)
    if key not in _plans:
        settings = settings_from_config(PROJECT, stack, config)
        for name, value in (secrets or {}).items():
            settings.config[f"{PROJECT}:{name}"] = value
            settings.secret_keys.append(f"{PROJECT}:{name}")
        _plans[key] = run_plan(settings)
    return _plans[key]


def one(plan: Plan, type_: str, name_suffix: str = "") -> dict[str, Any]:
    """The single resource of a type (whose name ends with `name_suffix`)."""
    found = [r for r in plan.of_type(type_) if r["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {type_} named *{name_suffix}, found {len(found)}"
    return found[0]


def depends_on(resource: dict[str, Any], other: dict[str, Any]) -> bool:
    return other["urn"] in resource["dependencies"]


def _dev_with(**changes: Any) -> Plan:
    return plan_for(with_changes(stack_file_config("dev"), **changes), stack="dev")


def _public_gitlab() -> Plan:
    dev = stack_file_config("dev")
    access = {**dev[f"{PROJECT}:access"], "gitlab_public": True, "gitlab_cidrs": []}
    return _dev_with(access=access)


FLEET_DIR = PROJECT_DIR / "examples" / "fleet"
"""The example fleet: a hub and two spokes (docs/fleet.md)."""


def fleet_plan(stack: str, outputs: dict[str, Path] | None = None) -> Plan:
    """The offline plan of an example fleet stack; StackReferences answered from `outputs`
    (fully qualified stack name -> file), else from the example stack files."""
    key = json.dumps(["fleet", stack, {k: str(v) for k, v in (outputs or {}).items()}])
    if key not in _plans:
        settings = load_stack(PROJECT_DIR, stack, FLEET_DIR / f"Pulumi.{stack}.yaml")
        references = References(
            PROJECT, files=outputs or {}, search=[FLEET_DIR], project_dir=PROJECT_DIR
        )
        _plans[key] = run_plan(settings, references=references)
    return _plans[key]


# Shapes of the stack beyond the shipped files; guardrail tests check every rule on each.
STACK_VARIANTS = {
    "ssh-nlb": lambda: _dev_with(gitlab={"ssh": "nlb", "ssh_cidrs": ["203.0.113.0/28"]}),
    "argocd-ingress": lambda: _dev_with(argocd={"exposure": "ingress"}),
    "external-dns-upsert-only": lambda: _dev_with(dns={"external_dns_policy": "upsert-only"}),
    "gitlab-public": _public_gitlab,
    "kops": lambda: plan_for(stack_file_config("kops"), stack="study"),
    "fleet-hub": lambda: fleet_plan("hub"),
    "fleet-spoke-cluster-wide": lambda: fleet_plan("spoke-eu"),
    "fleet-spoke-namespaces": lambda: fleet_plan("spoke-us"),
}


def run_offline(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m offline` as users run it, in a process of its own, without rendering (what
    these tests check needs no charts)."""
    return subprocess.run(
        [sys.executable, "-m", "offline", "--no-render", *map(str, args)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
