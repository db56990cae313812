"""Session fixtures: the plans of the shipped stacks, built once."""

from __future__ import annotations

import pytest
from plans import plan_for, stack_file_config

from offline.plan import Plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return plan_for(stack_file_config("dev"), stack="dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return plan_for(stack_file_config("prod"), stack="prod")
