"""Session fixtures: the plans of the shipped stacks, built once."""

from __future__ import annotations

import sys

import pytest
from plans import plan_for, stack_file_config

from offline.plan import PROJECT_DIR, Plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return plan_for(stack_file_config("dev"), stack="dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return plan_for(stack_file_config("prod"), stack="prod")


# The policy pack's rules live in policies/guardrails, importable as `guardrails`.
sys.path.insert(0, str(PROJECT_DIR / "policies"))
