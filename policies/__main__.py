"""The gitops-platform policy pack. Constructing the PolicyPack starts its analyzer server
(which never returns), so the rules live in the importable `guardrails` package."""

from pulumi_policy import EnforcementLevel, PolicyPack

from guardrails import ALL_POLICIES, PACK_NAME

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=ALL_POLICIES,
)
