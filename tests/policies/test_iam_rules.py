"""IAM guardrails: each fails its bad case, passes its good one, never decides on an unknown
value, and passes the stacks this repository ships."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plans import plan_for, stack_file_config
from policy_harness import UNKNOWN, Resource, analyze, mandatory, plan_decisions, undecided

from guardrails import REGISTRY, iam

ZONE = "arn:aws:route53:::hostedzone/Z852BDE1BB8912C0CF90B"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/D6F1AB9DC3CA7500974ADEADBDC7C45A"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
SUBJECT = "system:serviceaccount:external-dns:external-dns"


def document(*statements: dict[str, Any]) -> str:
    """Policy documents travel as JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_policy(*statements: dict[str, Any]) -> Resource:
    return Resource(iam.ROLE_POLICY, {"policy": document(*statements), "role": "r-1"})


def role(*statements: dict[str, Any], **props: Any) -> Resource:
    return Resource(iam.ROLE, {"assumeRolePolicy": document(*statements), **props})


def allow(action: Any, resource: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def web_identity(condition: dict[str, Any] | None = None) -> dict[str, Any]:
    condition = (
        {"StringEquals": {f"{ISSUER}:sub": SUBJECT, f"{ISSUER}:aud": "sts.amazonaws.com"}}
        if condition is None
        else condition
    )
    return {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER_ARN},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }


def service_trust(service: str = "eks.amazonaws.com") -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}


def test_route53_changes_scoped_to_zone() -> None:
    policy = iam.route53_changes_scoped_to_zone
    records = ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"]
    good = role_policy(
        allow(records, [ZONE], Sid="RecordsInThisZoneOnly"),
        allow("route53:ListHostedZones", "*", Sid="FindTheZone"),
    )
    assert mandatory(analyze(policy, good)) == []
    (message,) = mandatory(analyze(policy, role_policy(allow(records, "*", Sid="All"))))
    assert "Statement 'All' grants route53:ChangeResourceRecordSets beyond named" in message
    any_zone = allow("route53:*", ["arn:aws:route53:::hostedzone/*"])
    (message,) = mandatory(analyze(policy, role_policy(any_zone)))
    assert "['arn:aws:route53:::hostedzone/*']" in message
    everything = Resource(iam.POLICY, {"policy": document(allow("*", [ZONE, "*"]))})
    (message,) = mandatory(analyze(policy, everything))
    assert "Statement 0 grants" in message
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert mandatory(analyze(policy, role_policy(not_action)))
    denied = {"Effect": "Deny", "Action": "route53:*", "Resource": "*"}
    assert mandatory(analyze(policy, role_policy(denied))) == []
    assert undecided(analyze(policy, Resource(iam.ROLE_POLICY, {"policy": UNKNOWN})))


def test_route53_changes_reads_inline_role_policies() -> None:
    policy = iam.route53_changes_scoped_to_zone
    inline = [{"name": "dns", "policy": document(allow("route53:Change*", "*"))}]
    (message,) = mandatory(analyze(policy, role(service_trust(), inlinePolicies=inline)))
    assert "inlinePolicies[0]: Statement 0 grants" in message
    assert mandatory(analyze(policy, role(service_trust()))) == []


def test_irsa_trust_sub_and_aud() -> None:
    policy = iam.irsa_trust_sub_and_aud
    assert mandatory(analyze(policy, role(web_identity()))) == []
    several = [SUBJECT, "system:serviceaccount:gitlab:gitlab-sidekiq"]
    pinned = {"StringEquals": {f"{ISSUER}:sub": several, f"{ISSUER}:aud": "sts.amazonaws.com"}}
    assert mandatory(analyze(policy, role(web_identity(pinned)))) == []
    assert mandatory(analyze(policy, role(service_trust()))) == []

    like = {
        "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:external-dns:*"},
        "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
    }
    (message,) = mandatory(analyze(policy, role(web_identity(like))))
    assert f"does not pin {ISSUER}:sub with StringEquals (StringLike is not enough)" in message
    no_aud = {"StringEquals": {f"{ISSUER}:sub": SUBJECT}}
    (message,) = mandatory(analyze(policy, role(web_identity(no_aud))))
    assert f"does not pin {ISSUER}:aud with StringEquals." in message
    assert len(mandatory(analyze(policy, role(web_identity({}))))) == 2
    wildcard = {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:*", f"{ISSUER}:aud": "x"}}
    (message,) = mandatory(analyze(policy, role(web_identity(wildcard))))
    assert "not single service accounts" in message
    assert "['system:serviceaccount:*']" in message
    user = {"StringEquals": {f"{ISSUER}:sub": "admin", f"{ISSUER}:aud": "sts.amazonaws.com"}}
    assert mandatory(analyze(policy, role(web_identity(user))))
    assert undecided(analyze(policy, Resource(iam.ROLE, {"assumeRolePolicy": UNKNOWN})))


def test_no_wildcard_admin() -> None:
    policy = iam.no_wildcard_admin
    assert mandatory(analyze(policy, role_policy(allow("s3:GetObject", "*")))) == []
    assert mandatory(analyze(policy, role_policy(allow("*", "arn:aws:s3:::b/*")))) == []
    assert mandatory(analyze(policy, role_policy({**allow("*", "*"), "Effect": "Deny"}))) == []
    (message,) = mandatory(analyze(policy, role_policy(allow(["*"], ["*"], Sid="God"))))
    assert "policy: Statement 'God' allows Action '*' on Resource '*'." in message
    assert mandatory(analyze(policy, Resource(iam.POLICY, {"policy": document(allow("*:*", "*"))})))
    assert undecided(analyze(policy, Resource(iam.POLICY, {"policy": UNKNOWN})))


def test_no_administrator_access_attachment() -> None:
    policy = iam.no_wildcard_admin

    def attachment(arn: Any) -> Resource:
        return Resource(iam.ROLE_POLICY_ATTACHMENT, {"policyArn": arn, "role": "r-1"})

    eks = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert mandatory(analyze(policy, attachment(eks))) == []
    (message,) = mandatory(
        analyze(policy, attachment("arn:aws:iam::aws:policy/AdministratorAccess"))
    )
    assert "Attaches arn:aws:iam::aws:policy/AdministratorAccess." in message
    assert mandatory(analyze(policy, attachment("arn:aws-cn:iam::aws:policy/AdministratorAccess")))
    managed = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    (message,) = mandatory(analyze(policy, role(service_trust(), managedPolicyArns=managed)))
    assert "managedPolicyArns attaches" in message
    assert undecided(analyze(policy, attachment(UNKNOWN)))


def test_role_trust_not_public() -> None:
    policy = iam.role_trust_not_public
    account = {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]}}
    assert mandatory(analyze(policy, role({**account, "Action": "sts:AssumeRole"}))) == []
    assert mandatory(analyze(policy, role(service_trust()))) == []
    everyone = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    (message,) = mandatory(analyze(policy, role(everyone)))
    assert "Statement 0 trusts Principal {'AWS': '*'} without a Condition." in message
    (message,) = mandatory(analyze(policy, role({**everyone, "Principal": "*", "Sid": "Open"})))
    assert "Statement 'Open' trusts Principal '*'" in message
    org = {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}
    assert mandatory(analyze(policy, role({**everyone, "Condition": org}))) == []
    not_principal = {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}
    assert mandatory(analyze(policy, role(not_principal)))
    assert undecided(analyze(policy, Resource(iam.ROLE, {"assumeRolePolicy": UNKNOWN})))


def test_statement_may_be_a_single_object() -> None:
    single = json.dumps({"Version": "2012-10-17", "Statement": allow("*", "*")})
    assert mandatory(analyze(iam.no_wildcard_admin, Resource(iam.POLICY, {"policy": single})))


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"policy": document(allow("*", "*"))})
    for policy in REGISTRY.of(iam):
        assert analyze(policy, other) == []


@pytest.mark.parametrize("stack", ["kops"])
def test_the_test_stacks_pass(stack: str) -> None:
    assert plan_decisions(REGISTRY.of(iam), plan_for(stack_file_config(stack), stack="study")) == []
