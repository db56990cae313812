"""Every guardrail passes every stack this repository ships, and every shape of it the tests
know (tests/plans.py STACK_VARIANTS): a rule that fires on them is wrong, or the stack is."""

from __future__ import annotations

from types import ModuleType

import pytest
from plans import STACK_VARIANTS
from policy_harness import plan_decisions

from guardrails import (
    argocd,
    edge,
    eks,
    gitlab,
    gitops,
    graph,
    helm,
    iam,
    network,
    storage,
    tags,
    tls,
)
from offline.plan import Plan

MODULES: dict[str, ModuleType] = {
    module.__name__.rsplit(".", 1)[-1]: module
    for module in (argocd, edge, eks, gitlab, gitops, graph, helm, iam, network, storage, tags, tls)
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_shipped_stacks_pass(module: str, dev_plan: Plan, prod_plan: Plan) -> None:
    assert plan_decisions(MODULES[module].POLICIES, dev_plan) == []
    assert plan_decisions(MODULES[module].POLICIES, prod_plan) == []


@pytest.mark.parametrize("variant", sorted(STACK_VARIANTS))
@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_stacks_variants_pass(module: str, variant: str) -> None:
    assert plan_decisions(MODULES[module].POLICIES, STACK_VARIANTS[variant]()) == []


def test_every_rule_module_is_covered() -> None:
    from guardrails import ALL_POLICIES

    covered = {p.name for module in MODULES.values() for p in module.POLICIES}
    assert covered == {p.name for p in ALL_POLICIES}
