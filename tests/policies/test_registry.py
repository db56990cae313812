"""The registry behind the pack: every rule defined in guardrails/ is enforced, module by
module in MODULES' order and each module's rules in the order defined, and no two rules share
a name."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs

import guardrails
from guardrails import ALL_POLICIES, MODULES, REGISTRY, eks
from guardrails._common import resource_rule, stack_rule
from guardrails._registry import DuplicatePolicyError, Registry, UnlistedModuleError

PACKAGE = Path(guardrails.__file__).parent
DECORATORS = ("resource_rule", "stack_rule")
POLICY_CLASSES = ("ResourceValidationPolicy", "StackValidationPolicy")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def decorated_rules(source: Path) -> list[str]:
    """The names of the rules a module's source defines with a decorator, in source order,
    read from the text rather than from what importing it registered."""
    names = []
    for node in ast.parse(source.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and _name(decorator.func) in DECORATORS:
                (first, *_) = decorator.args
                assert isinstance(first, ast.Constant), f"{source.name}: {node.name}"
                names.append(str(first.value))
    return names


def test_every_rule_defined_in_guardrails_is_in_the_pack() -> None:
    defined = [name for path in sorted(PACKAGE.glob("*.py")) for name in decorated_rules(path)]
    assert len(defined) >= 30
    assert sorted(defined) == sorted(p.name for p in ALL_POLICIES)
    assert len(REGISTRY) == len(ALL_POLICIES)
    assert all(policy in REGISTRY for policy in ALL_POLICIES)


def test_the_pack_lists_rules_module_by_module_in_definition_order() -> None:
    # docs/policies.md and the plan's policy report are built from this order.
    expected = [name for module in MODULES for name in decorated_rules(Path(str(module.__file__)))]
    assert [p.name for p in ALL_POLICIES] == expected
    for module in MODULES:
        assert [p.name for p in REGISTRY.of(module)] == decorated_rules(Path(str(module.__file__)))


def test_no_rule_is_built_past_the_registry() -> None:
    # Policies are made only by the two decorators, which register them ...
    built = [
        path.name
        for path in sorted(PACKAGE.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _name(node.func) in POLICY_CLASSES
    ]
    assert built == ["_common.py", "_common.py"]
    # ... and every policy a module holds is a registered one.
    for module in MODULES:
        for name, value in vars(module).items():
            if isinstance(value, Policy):
                assert value in REGISTRY, f"{module.__name__}.{name} is not registered"


def _no_messages(args: ResourceValidationArgs) -> Iterator[str]:
    yield from ()


def _no_stack_messages(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    yield from ()


def test_the_registry_refuses_a_duplicate_name() -> None:
    registry = Registry()
    first = resource_rule(
        "same-name", "First.", types=["aws:kms/key:Key"], remediation="None.", registry=registry
    )(_no_messages)
    second = stack_rule("same-name", "Second.", remediation="None.", registry=registry)
    with pytest.raises(DuplicatePolicyError) as refused:
        second(_no_stack_messages)
    message = str(refused.value)
    assert "'same-name' is already taken by" in message
    assert f"{__name__}._no_messages" in message
    assert f"{__name__}._no_stack_messages" in message
    assert list(registry) == [first]


def test_a_module_reusing_a_rule_name_of_the_pack_fails_to_import(tmp_path: Path) -> None:
    source = tmp_path / "duplicate_rule.py"
    source.write_text(
        "from guardrails._common import resource_rule\n"
        "\n"
        "\n"
        '@resource_rule("kms-key-rotation", "Again.", types=["t"], remediation="None.")\n'
        "def again(args):\n"
        "    yield from ()\n"
    )
    spec = importlib.util.spec_from_file_location("duplicate_rule", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(DuplicatePolicyError, match=r"guardrails\.eks\.kms_key_rotation"):
        spec.loader.exec_module(module)
    assert len(REGISTRY) == len(ALL_POLICIES)
    assert eks.kms_key_rotation in REGISTRY


def test_a_module_with_rules_left_out_of_the_pack_is_refused() -> None:
    registry = Registry()
    policy = resource_rule(
        "orphan", "Orphan.", types=["aws:kms/key:Key"], remediation="None.", registry=registry
    )(_no_messages)
    with pytest.raises(UnlistedModuleError, match=__name__):
        registry.pack([eks])
    assert registry.pack([sys.modules[__name__]]) == [policy]
