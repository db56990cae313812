"""The one list of the pack's rules. `resource_rule` and `stack_rule` add each rule here when
its module is imported, so a rule is in the pack because it is defined, not because someone
also listed it.

The engine configures and reports a rule by its name alone (and the SDK does not check that
names are unique), so a second rule with a name already taken is refused where it is defined.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from pulumi_policy import Policy

P = TypeVar("P", bound=Policy)


class DuplicatePolicyError(ValueError):
    """A rule's name is already taken by another rule."""


class UnlistedModuleError(LookupError):
    """A module defines rules but is not among the modules the pack is made of."""


@dataclass(frozen=True)
class _Entry:
    policy: Policy
    module: str
    definition: str
    """`module.function` that defines the rule, for error messages."""


class Registry:
    """Rules by name, in the order they were defined."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def add(self, policy: P, *, module: str, definition: str) -> P:
        """Register `policy`, defined by `definition` in `module`; refuses a name in use."""
        taken = self._entries.get(policy.name)
        if taken is not None:
            raise DuplicatePolicyError(
                f"Policy name {policy.name!r} is already taken by {taken.definition}; "
                f"{definition} needs another name (the engine configures and reports rules "
                "by name)."
            )
        self._entries[policy.name] = _Entry(policy, module, definition)
        return policy

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Policy]:
        return (entry.policy for entry in self._entries.values())

    def __contains__(self, policy: object) -> bool:
        return any(entry.policy is policy for entry in self._entries.values())

    def modules(self) -> list[str]:
        """The names of the modules that defined rules, in the order they first did."""
        return list(dict.fromkeys(entry.module for entry in self._entries.values()))

    def of(self, module: ModuleType | str) -> list[Policy]:
        """The rules `module` defines, in the order it defines them."""
        name = module if isinstance(module, str) else module.__name__
        return [entry.policy for entry in self._entries.values() if entry.module == name]

    def pack(self, modules: Sequence[ModuleType]) -> list[Policy]:
        """Every rule, module by module in the order of `modules` (and within a module in
        definition order). A module that defined rules but is not in `modules` is an error:
        its rules would go unenforced."""
        listed = [module.__name__ for module in modules]
        unlisted = [name for name in self.modules() if name not in listed]
        if unlisted:
            raise UnlistedModuleError(
                f"{unlisted} define rules but are not among the pack's modules {listed}."
            )
        return [policy for name in listed for policy in self.of(name)]


REGISTRY = Registry()
"""The pack's rules: what `resource_rule` and `stack_rule` register into by default."""
