"""Every guardrail passes every stack this repository ships, and every shape of it the tests
know (tests/plans.py STACK_VARIANTS): a rule that fires on them is wrong, or the stack is."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from plans import STACK_VARIANTS
from policy_harness import plan_decisions
from pulumi_policy import Policy

import guardrails
from guardrails import rendered
from offline.plan import Plan

MODULES: dict[str, ModuleType] = {
    module.__name__.rsplit(".", 1)[-1]: module for module in guardrails.MODULES
}
NOTICES = (rendered.sources_not_rendered,)
"""Advisories that speak on every plan without rendered objects, by design (they name what the
pack could not see; tests/policies/test_rendered_rules.py checks what they say)."""


def verdicts(module: str) -> list[Policy]:
    return [p for p in guardrails.REGISTRY.of(MODULES[module]) if p not in NOTICES]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_shipped_stacks_pass(module: str, dev_plan: Plan, prod_plan: Plan) -> None:
    assert plan_decisions(verdicts(module), dev_plan) == []
    assert plan_decisions(verdicts(module), prod_plan) == []


@pytest.mark.parametrize("variant", sorted(STACK_VARIANTS))
@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_stacks_variants_pass(module: str, variant: str) -> None:
    assert plan_decisions(verdicts(module), STACK_VARIANTS[variant]()) == []


def test_every_module_of_the_package_is_in_the_pack() -> None:
    package = Path(guardrails.__file__).parent
    found = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert found == set(MODULES), "a rule module the pack does not list"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_of_the_pack_defines_rules(module: str) -> None:
    # An empty list here would make the tests above pass without checking anything.
    assert guardrails.REGISTRY.of(MODULES[module])
