"""Every guardrail passes every stack this repository ships, and every shape of it the tests
know (tests/plans.py STACK_VARIANTS): a rule that fires on them is wrong, or the stack is."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from plans import STACK_VARIANTS
from policy_harness import plan_decisions

import guardrails
from offline.plan import Plan

MODULES: dict[str, ModuleType] = {
    module.__name__.rsplit(".", 1)[-1]: module for module in guardrails.MODULES
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_shipped_stacks_pass(module: str, dev_plan: Plan, prod_plan: Plan) -> None:
    policies = guardrails.REGISTRY.of(MODULES[module])
    assert plan_decisions(policies, dev_plan) == []
    assert plan_decisions(policies, prod_plan) == []


@pytest.mark.parametrize("variant", sorted(STACK_VARIANTS))
@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_stacks_variants_pass(module: str, variant: str) -> None:
    policies = guardrails.REGISTRY.of(MODULES[module])
    assert plan_decisions(policies, STACK_VARIANTS[variant]()) == []


def test_every_module_of_the_package_is_in_the_pack() -> None:
    package = Path(guardrails.__file__).parent
    found = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert found == set(MODULES), "a rule module the pack does not list"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_of_the_pack_defines_rules(module: str) -> None:
    # An empty list here would make the tests above pass without checking anything.
    assert guardrails.REGISTRY.of(MODULES[module])
