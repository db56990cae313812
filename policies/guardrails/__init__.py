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

ALL_POLICIES = [
    *eks.POLICIES,
    *network.POLICIES,
    *iam.POLICIES,
    *tls.POLICIES,
    *edge.POLICIES,
    *helm.POLICIES,
    *gitlab.POLICIES,
    *argocd.POLICIES,
    *gitops.POLICIES,
    *storage.POLICIES,
    *tags.POLICIES,
    *graph.POLICIES,
]
