"""IAM policy documents, built one way: typed statements rendered with `Output.json_dumps`.

Statements may hold Outputs (ARNs, issuer URLs); the document is an `Output[str]` that the
offline preview shows exactly as AWS will receive it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict

import pulumi


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
