"""The guardrails, grouped by concern; `ALL_POLICIES` is what the pack enforces.

Each rule registers itself where it is defined (`guardrails._registry`); importing the modules
below defines them all, and `MODULES` orders them.
"""

from guardrails import (
    argocd,
    edge,
    eks,
    gitlab,
    gitops,
    graph,
    helm,
    iam,
    identity,
    network,
    rendered,
    storage,
    tags,
    teardown,
    tls,
)
from guardrails._registry import REGISTRY

PACK_NAME = "gitops-platform-guardrails"

MODULES = (
    eks,
    network,
    iam,
    tls,
    edge,
    helm,
    gitlab,
    argocd,
    gitops,
    identity,
    rendered,
    storage,
    tags,
    graph,
    teardown,
)
"""Each concern's module, in the order the pack lists their rules."""
ALL_POLICIES = REGISTRY.pack(MODULES)
"""Every registered rule, module by module in MODULES' order, each module's in the order it
defines them. A module that registers rules but is missing from MODULES fails the import."""

__all__ = ["ALL_POLICIES", "MODULES", "PACK_NAME", "REGISTRY"]
