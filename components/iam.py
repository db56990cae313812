"""IAM, built one way: policy documents from typed statements rendered with
`Output.json_dumps`, and roles with their policies from one function.

Statements may hold Outputs (ARNs, issuer URLs); the document is an `Output[str]` that the
offline preview shows exactly as AWS will receive it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import pulumi
import pulumi_aws as aws


class Statement(TypedDict, total=False):
    Sid: str
    Effect: Literal["Allow", "Deny"]
    Principal: Mapping[str, pulumi.Input[str] | Sequence[pulumi.Input[str]]]
    Action: str | Sequence[str]
    Resource: pulumi.Input[str] | Sequence[pulumi.Input[str]]
    Condition: pulumi.Input[Mapping[str, Mapping[str, str | Sequence[str]]]]


def policy_document(*statements: Statement) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(service: str) -> pulumi.Output[str]:
    """Trust policy letting an AWS service (e.g. `eks.amazonaws.com`) assume a role."""
    return policy_document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    )


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (used in ARNs)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(region: str, name: str) -> str:
    """ARN of an AWS managed policy such as `AmazonEKSClusterPolicy`."""
    return f"arn:{partition_of(region)}:iam::aws:policy/{name}"


@dataclass(frozen=True)
class Role:
    role: aws.iam.Role
    permissions: list[pulumi.Resource]
    """The managed-policy attachments and the inline policy: what a user of the role waits
    for, since a role without them is refused on its first call."""


def role(
    name: str,
    trust: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    managed_policy_arns: Sequence[str] = (),
    inline_policy: tuple[str, pulumi.Input[str]] | None = None,
    description: str | None = None,
    max_session_duration: int | None = None,
) -> Role:
    """An IAM role with its managed policies (each attachment named after the policy) and an
    optional inline policy (its resource name, its document)."""
    created = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=trust,
        max_session_duration=max_session_duration,
        opts=opts,
    )
    permissions: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{arn.rsplit('/', 1)[-1]}", role=created.name, policy_arn=arn, opts=opts
        )
        for arn in managed_policy_arns
    ]
    if inline_policy is not None:
        policy_name, document = inline_policy
        permissions.append(
            aws.iam.RolePolicy(policy_name, role=created.name, policy=document, opts=opts)
        )
    return Role(created, permissions)
