"""The guardrails, grouped by concern; `ALL_POLICIES` is what the pack enforces."""

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

PACK_NAME = "gitops-platform-guardrails"

MODULES = (eks, network, iam, tls, edge, helm, gitlab, argocd, gitops, storage, tags, graph)
"""Each concern's module, in the order the pack lists their rules."""
ALL_POLICIES = [policy for module in MODULES for policy in module.POLICIES]
