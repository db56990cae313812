"""What the orphan audit found: one `Finding` per AWS resource, with why it is the stack's and
whether it is left over, kept by design or already scheduled for deletion.

Only what the audit itself derived is reported: kinds, identifiers, the tags it matched on
and short notes. Tags beyond those and API payloads stay in `Finding.tags` / `Finding.detail`
for the deleters and are never printed or written to the JSON report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

# Set by the stack on what a destroy keeps on purpose (the buckets it retains, production's
# volumes); the value says why. The audit reports those as kept, never deletes them.
from components.teardown import RETAINED_TAG as RETAINED_TAG

GLOBAL = "global"
"""The region shown for IAM and Route 53, which have none."""


class Status(enum.Enum):
    LEFT_OVER = "left_over"
    KEPT = "kept"
    SCHEDULED = "scheduled"


TITLES = {
    Status.LEFT_OVER: "Left over",
    Status.KEPT: "Kept by design",
    Status.SCHEDULED: "Scheduled for deletion",
}


@dataclass
class Finding:
    kind: str
    """`service:type` as in the resource's ARN (`ec2:volume`, `iam:role`); Route 53 record
    sets, which have no ARN, are `route53:recordset`."""
    id: str
    """The ARN; for a record set `<zone id>/<name>/<type>[/<set identifier>]`."""
    region: str
    reasons: list[str]
    """Why the resource is attributed to the stack: the tag or rule that matched."""
    tags: dict[str, str] = field(default_factory=dict, repr=False)
    detail: dict[str, Any] = field(default_factory=dict, repr=False)
    """What the deleters need (a record set as listed, a volume's state); never reported."""
    notes: list[str] = field(default_factory=list)
    status: Status = Status.LEFT_OVER

    def merge(self, other: Finding) -> None:
        """The same resource found by another rule: one finding with both reasons."""
        self.reasons += [r for r in other.reasons if r not in self.reasons]
        self.notes += [n for n in other.notes if n not in self.notes]
        self.tags = {**other.tags, **self.tags}
        self.detail = {**other.detail, **self.detail}


@dataclass
class Report:
    stack: str
    project: str
    region: str
    cluster_name: str
    account: str
    findings: list[Finding]
    notes: list[str]
    """What the audit could not attribute or did not find to look in, for the operator."""

    def with_status(self, status: Status) -> list[Finding]:
        return [f for f in self.findings if f.status is status]

    @property
    def clean(self) -> bool:
        return not self.with_status(Status.LEFT_OVER)


def kind_of(arn: str) -> str:
    """`arn:aws:ec2:eu-west-1:1:volume/vol-1` -> `ec2:volume`; `arn:aws:s3:::bucket` ->
    `s3:bucket`; `arn:aws:rds:...:snapshot:name` -> `rds:snapshot` (the resource type is what
    precedes the first `/` or `:` of the resource part, as the Resource Groups Tagging API's
    resource type filters read it)."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5]
    cuts = [i for i in (resource.find("/"), resource.find(":")) if i >= 0]
    if not cuts:
        return f"{service}:{_UNQUALIFIED.get(service, 'resource')}"
    return f"{service}:{resource[: min(cuts)]}"


_UNQUALIFIED = {"s3": "bucket", "sns": "topic", "sqs": "queue"}
"""Services whose ARNs name the resource without a type."""


def log_group_name(arn: str) -> str:
    """`arn:aws:logs:<region>:<account>:log-group:<name>[:*]` -> `<name>`."""
    return arn.split(":log-group:", 1)[1].removesuffix(":*")


def order(findings: list[Finding]) -> list[Finding]:
    statuses = list(Status)
    return sorted(findings, key=lambda f: (statuses.index(f.status), f.kind, f.id))
