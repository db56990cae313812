"""IAM: least privilege for what the stack grants, and trust that names who may assume a role.

Policy documents arrive as JSON text (`as_json`). Actions match the way IAM matches them: case
insensitive, with `*` and `?` wildcards, and an Allow with `NotAction` grants everything it does
not list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from guardrails._common import as_json, listed, resource_rule

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"

POLICY_TYPES = [ROLE_POLICY, POLICY, USER_POLICY, GROUP_POLICY]
ATTACHMENT_TYPES = [
    ROLE_POLICY_ATTACHMENT,
    USER_POLICY_ATTACHMENT,
    GROUP_POLICY_ATTACHMENT,
    POLICY_ATTACHMENT,
]

CHANGE_RECORDS = "route53:ChangeResourceRecordSets"
HOSTED_ZONE_ARN = re.compile(r"arn:aws(-[a-z]+)*:route53:::hostedzone/[A-Za-z0-9]+")
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ADMIN_ACTIONS = ("*", "*:*")
ADMINISTRATOR_ACCESS = re.compile(r"arn:aws(-[a-z]+)*:iam::aws:policy/AdministratorAccess")


def statements(document: Any) -> list[Mapping[str, Any]]:
    """A policy document's statements (`Statement` may be one object or a list)."""
    parsed = as_json(document)
    found = parsed.get("Statement") if isinstance(parsed, Mapping) else None
    if isinstance(found, Mapping):
        return [found]
    return [s for s in listed(found) if isinstance(s, Mapping)]


def label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"Statement {sid!r}" if sid else f"Statement {index}"


def iam_match(pattern: Any, value: str) -> bool:
    """IAM's wildcard match: case insensitive, `*` any run of characters, `?` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def allows(statement: Mapping[str, Any], action: str) -> bool:
    """The statement is an Allow that grants `action`."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(iam_match(p, action) for p in listed(statement["NotAction"]))
    return any(iam_match(p, action) for p in listed(statement.get("Action")))


def is_public_principal(principal: Any) -> bool:
    """`"*"`, or `{"AWS": "*"}` (any principal kind listing `*`): everyone."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in listed(v) for v in principal.values())
    return False


def policy_documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(where, document) for each permissions policy the resource carries (not trust)."""
    if args.resource_type in POLICY_TYPES:
        yield "policy", args.props.get("policy")
    elif args.resource_type == ROLE:
        for i, inline in enumerate(args.props.get("inlinePolicies") or []):
            yield f"inlinePolicies[{i}]", inline.get("policy")


@resource_rule(
    "route53-changes-scoped-to-zone",
    "Whoever may change DNS records may do so only in named hosted zones.",
    types=[*POLICY_TYPES, ROLE],
    remediation="List the zones as arn:aws:route53:::hostedzone/<ID> (the stack's zone_id), "
    "never '*' or hostedzone/*.",
    severity=Severity.HIGH,
)
def route53_changes_scoped_to_zone(args: ResourceValidationArgs) -> Iterator[str]:
    for where, document in policy_documents(args):
        for i, statement in enumerate(statements(document)):
            if not allows(statement, CHANGE_RECORDS):
                continue
            name = f"{where}: {label(statement, i)}"
            if "NotResource" in statement:
                yield f"{name} grants {CHANGE_RECORDS} on every zone but NotResource."
                continue
            resources = [str(r) for r in listed(statement.get("Resource"))]
            loose = [r for r in resources if not HOSTED_ZONE_ARN.fullmatch(r)]
            if loose or not resources:
                yield f"{name} grants {CHANGE_RECORDS} beyond named hosted zones: {loose}."


def federated_issuers(statement: Mapping[str, Any]) -> list[str]:
    """The OIDC issuers (host/path) a web identity statement trusts."""
    principal = statement.get("Principal")
    federated = listed(principal.get("Federated")) if isinstance(principal, Mapping) else []
    return [str(p).split(":oidc-provider/", 1)[-1] for p in federated]


@resource_rule(
    "irsa-trust-sub-and-aud",
    "A role assumed with a web identity (IRSA) names exactly which service accounts, and for "
    "which audience: StringEquals on both <issuer>:sub and <issuer>:aud.",
    types=[ROLE],
    remediation="Condition StringEquals {'<issuer>:sub': 'system:serviceaccount:<ns>:<name>', "
    "'<issuer>:aud': 'sts.amazonaws.com'} (components/workload_identity.py builds this).",
    severity=Severity.CRITICAL,
)
def irsa_trust_sub_and_aud(args: ResourceValidationArgs) -> Iterator[str]:
    for i, statement in enumerate(statements(args.props.get("assumeRolePolicy"))):
        if not allows(statement, WEB_IDENTITY):
            continue
        name = label(statement, i)
        conditions = statement.get("Condition") or {}
        equals = {str(k).lower(): v for k, v in (conditions.get("StringEquals") or {}).items()}
        likes = {str(k).lower() for k in conditions.get("StringLike") or {}}
        issuers = federated_issuers(statement)
        if not issuers:
            yield f"{name} allows {WEB_IDENTITY} without a Federated (OIDC provider) principal."
        for issuer in issuers:
            for claim in ("sub", "aud"):
                key = f"{issuer}:{claim}"
                if key.lower() not in equals:
                    how = " (StringLike is not enough)" if key.lower() in likes else ""
                    yield f"{name} does not pin {key} with StringEquals{how}."
            subjects = [str(s) for s in listed(equals.get(f"{issuer}:sub".lower()))]
            loose = [
                s
                for s in subjects
                if not s.startswith(SERVICE_ACCOUNT_PREFIX) or "*" in s or "?" in s
            ]
            if loose:
                yield (
                    f"{name} trusts subjects that are not single service accounts "
                    f"({SERVICE_ACCOUNT_PREFIX}<namespace>:<name>): {loose}."
                )


@resource_rule(
    "no-wildcard-admin",
    "Nothing is granted every action on every resource, inline or via AdministratorAccess.",
    types=[*POLICY_TYPES, ROLE, *ATTACHMENT_TYPES],
    remediation="Grant the actions and resources the workload needs; never Action '*' on "
    "Resource '*' or the AdministratorAccess managed policy.",
    severity=Severity.CRITICAL,
)
def no_wildcard_admin(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type in ATTACHMENT_TYPES:
        arn = str(args.props.get("policyArn"))
        if ADMINISTRATOR_ACCESS.fullmatch(arn):
            yield f"Attaches {arn}."
        return
    if args.resource_type == ROLE:
        managed = [str(a) for a in listed(args.props.get("managedPolicyArns"))]
        admin = [a for a in managed if ADMINISTRATOR_ACCESS.fullmatch(a)]
        if admin:
            yield f"managedPolicyArns attaches {admin}."
    for where, document in policy_documents(args):
        for i, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            actions = {str(a) for a in listed(statement.get("Action"))}
            resources = {str(r) for r in listed(statement.get("Resource"))}
            if actions & set(ADMIN_ACTIONS) and "*" in resources:
                yield f"{where}: {label(statement, i)} allows Action '*' on Resource '*'."


@resource_rule(
    "role-trust-not-public",
    "No role may be assumed by everyone: a Principal of '*' needs a narrowing Condition.",
    types=[ROLE],
    remediation="Name the trusted accounts, roles or services in Principal, or add a Condition "
    "(e.g. aws:PrincipalOrgID).",
    severity=Severity.CRITICAL,
)
def role_trust_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    for i, statement in enumerate(statements(args.props.get("assumeRolePolicy"))):
        if statement.get("Effect") != "Allow":
            continue
        name = label(statement, i)
        if "NotPrincipal" in statement:
            yield f"{name} trusts everyone but NotPrincipal."
        elif is_public_principal(statement.get("Principal")) and not statement.get("Condition"):
            yield f"{name} trusts Principal {statement.get('Principal')!r} without a Condition."
