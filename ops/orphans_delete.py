"""`make orphans DELETE=1`: delete what the audit found left over, in dependency order.

Only left-over findings are touched, never what is kept by design or already scheduled for
deletion. A kind without a deleter here, or a resource that cannot go on its own (an attached
volume, an interface AWS manages), is left for the operator: `by_hand` says why.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ops.orphans_report import Finding, Status, log_group_name

Client = Any
Clients = Callable[[str, str], Client]
"""`clients(service, region)`: a boto3 client."""

DELAYS = (2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0)
"""Waits between tries when AWS still sees a dependency (about three minutes in all): a target
group stays in use, and a security group attached to a load balancer's interfaces, for a
while after the load balancer is deleted."""
BATCH = 500
"""Record sets per ChangeBatch: Route 53 takes at most 1,000 changes (API Reference,
ChangeResourceRecordSets quotas); one batch per zone unless a zone has more."""
OBJECTS_PER_CALL = 1000
"""Object versions listed and deleted at a time: DeleteObjects takes at most 1,000 keys, and
ListObjectVersions returns at most 1,000 (S3 API Reference)."""


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    result: str
    """`deleted`, `gone` (already), or `failed: <AWS's message>`."""


def by_hand(finding: Finding) -> str | None:
    """Why `--delete` leaves this left-over resource to the operator, or None."""
    reason: str | None = finding.detail.get("by_hand")
    if reason is None and finding.kind not in ORDER:
        return f"no deleter for {finding.kind}"
    return reason


def deletable(findings: list[Finding]) -> list[Finding]:
    """The left-over findings `--delete` removes, in the order it removes them."""
    kinds = list(ORDER)
    todo = [f for f in findings if f.status is Status.LEFT_OVER and by_hand(f) is None]
    return sorted(todo, key=lambda f: (kinds.index(f.kind), f.id))


def delete(
    findings: list[Finding],
    clients: Clients,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Delete the deletable findings, kinds in ORDER; each kind's failures are reported and
    the rest go on."""
    todo = deletable(findings)
    outcomes: list[Outcome] = []
    for kind in ORDER:
        batch = [f for f in todo if f.kind == kind]
        if batch:
            outcomes += ORDER[kind](batch, clients, sleep)
    return outcomes


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _one_by_one(
    findings: list[Finding],
    action: Callable[[Finding], None],
    sleep: Callable[[float], None],
    retry_on: tuple[str, ...] = (),
) -> Iterator[Outcome]:
    for finding in findings:
        for delay in (*DELAYS, None):
            try:
                action(finding)
            except PartialDeleteError as error:
                yield Outcome(finding, f"failed: {error}")
            except ClientError as error:
                code = _code(error)
                if code in retry_on and delay is not None:
                    sleep(delay)
                    continue
                if "NotFound" in code or code.startswith("NoSuch"):
                    yield Outcome(finding, "gone")
                else:
                    yield Outcome(
                        finding, f"failed: {code}: {error.response['Error'].get('Message', '')}"
                    )
            else:
                yield Outcome(finding, "deleted")
            break


def _name(finding: Finding) -> str:
    return finding.id.rsplit("/", 1)[-1]


def load_balancers(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        if "classic" in f.detail:
            clients("elb", f.region).delete_load_balancer(LoadBalancerName=f.detail["classic"])
        else:
            clients("elbv2", f.region).delete_load_balancer(LoadBalancerArn=f.id)

    return list(_one_by_one(findings, action, sleep))


def target_groups(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        clients("elbv2", f.region).delete_target_group(TargetGroupArn=f.id)

    return list(_one_by_one(findings, action, sleep, retry_on=("ResourceInUse",)))


def record_sets(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    """DELETE each record set exactly as it was listed (Route 53 matches every field), one
    ChangeBatch per zone: all of a zone's go, or none."""
    route53 = clients("route53", "us-east-1")
    outcomes = []
    zones = sorted({f.detail["zone_id"] for f in findings})
    for zone_id in zones:
        in_zone = [f for f in findings if f.detail["zone_id"] == zone_id]
        for start in range(0, len(in_zone), BATCH):
            batch = in_zone[start : start + BATCH]
            try:
                _change(route53, zone_id, [f.detail["record_set"] for f in batch])
            except ClientError as error:
                message = f"failed: {_code(error)}: {error.response['Error'].get('Message', '')}"
                outcomes += [Outcome(f, message) for f in batch]
            else:
                outcomes += [Outcome(f, "deleted") for f in batch]
    return outcomes


def _change(route53: Client, zone_id: str, record_sets: list[dict[str, Any]]) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": "make orphans --delete",
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in record_sets],
        },
    )


def hosted_zones(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    """A zone goes once it holds only its own SOA and NS records: the rest are deleted first,
    as the stack's `force_destroy` would."""
    route53 = clients("route53", "us-east-1")

    def action(f: Finding) -> None:
        zone_id = f.detail["zone_id"]
        apex = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
        paginator = route53.get_paginator("list_resource_record_sets")
        rest = [
            r
            for page in paginator.paginate(HostedZoneId=zone_id)
            for r in page["ResourceRecordSets"]
            if not (r["Name"] == apex and r["Type"] in ("SOA", "NS"))
        ]
        for start in range(0, len(rest), BATCH):
            _change(route53, zone_id, rest[start : start + BATCH])
        route53.delete_hosted_zone(Id=zone_id)

    return list(_one_by_one(findings, action, sleep))


def network_interfaces(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        clients("ec2", f.region).delete_network_interface(NetworkInterfaceId=_name(f))

    return list(_one_by_one(findings, action, sleep))


def security_groups(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    """Groups that reference each other cannot go one at a time: the rules naming another
    group being deleted are revoked first; then each is deleted, tried again while AWS still
    sees a dependency (an interface of a load balancer deleted a moment ago)."""
    ids = {_name(f) for f in findings}
    for finding in findings:
        ec2 = clients("ec2", finding.region)
        group = finding.detail.get("ec2") or {}
        for direction, revoke in (
            ("IpPermissions", ec2.revoke_security_group_ingress),
            ("IpPermissionsEgress", ec2.revoke_security_group_egress),
        ):
            referencing = []
            for permission in group.get(direction, []):
                pairs = [
                    p for p in permission.get("UserIdGroupPairs", []) if p.get("GroupId") in ids
                ]
                if pairs:
                    rule = {
                        k: v
                        for k, v in permission.items()
                        if k in ("IpProtocol", "FromPort", "ToPort")
                    }
                    referencing.append(
                        {**rule, "UserIdGroupPairs": [{"GroupId": p["GroupId"]} for p in pairs]}
                    )
            if referencing:
                # If this fails, the delete below reports what still holds the group.
                with contextlib.suppress(ClientError):
                    revoke(GroupId=_name(finding), IpPermissions=referencing)

    def action(f: Finding) -> None:
        clients("ec2", f.region).delete_security_group(GroupId=_name(f))

    return list(_one_by_one(findings, action, sleep, retry_on=("DependencyViolation",)))


def volumes(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        clients("ec2", f.region).delete_volume(VolumeId=_name(f))

    return list(_one_by_one(findings, action, sleep))


class PartialDeleteError(Exception):
    """AWS answered without an error and yet did not do it all (DeleteObjects' `Errors`)."""


def buckets(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    """Every object version and delete marker first (a versioned bucket is not empty while
    either is left), then the bucket: a page is listed and deleted until none is listed, so
    what is written meanwhile is deleted too. DeleteObjects takes at most 1,000 keys, as a
    page holds, and reports the keys it could not delete in `Errors` with a 200 (S3 API
    Reference, DeleteObjects): those fail the bucket, which stays."""

    def action(f: Finding) -> None:
        s3 = clients("s3", f.region)
        bucket = f.id.split(":::", 1)[1]
        previous: list[dict[str, str]] = []
        while True:
            page = s3.list_object_versions(Bucket=bucket, MaxKeys=OBJECTS_PER_CALL)
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not objects:
                break
            if objects == previous:
                raise PartialDeleteError(
                    f"{len(objects)} object version(s) still listed after deletion"
                )
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            if errors := response.get("Errors"):
                first = errors[0]
                raise PartialDeleteError(
                    f"{len(errors)} object version(s) not deleted, the first {first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message', '')}"
                )
            previous = objects
        s3.delete_bucket(Bucket=bucket)

    return list(_one_by_one(findings, action, sleep))


def log_groups(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        clients("logs", f.region).delete_log_group(logGroupName=log_group_name(f.id))

    return list(_one_by_one(findings, action, sleep))


def roles(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    """A role goes once no managed policy is attached, it has no inline policy and is in no
    instance profile (IAM API Reference, DeleteRole)."""
    iam = clients("iam", "us-east-1")

    def action(f: Finding) -> None:
        role = _name(f)
        attached = iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
        for policy in [p for page in attached for p in page["AttachedPolicies"]]:
            iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
        inline = iam.get_paginator("list_role_policies").paginate(RoleName=role)
        for name in [n for page in inline for n in page["PolicyNames"]]:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        profiles = iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=role)
        for profile in [p for page in profiles for p in page["InstanceProfiles"]]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=role
            )
        iam.delete_role(RoleName=role)

    return list(_one_by_one(findings, action, sleep))


def oidc_providers(
    findings: list[Finding], clients: Clients, sleep: Callable[[float], None]
) -> list[Outcome]:
    def action(f: Finding) -> None:
        clients("iam", "us-east-1").delete_open_id_connect_provider(OpenIDConnectProviderArn=f.id)

    return list(_one_by_one(findings, action, sleep))


Deleter = Callable[[list[Finding], Clients, Callable[[float], None]], list[Outcome]]
ORDER: dict[str, Deleter] = {
    # Load balancers first: their listeners hold target groups, their interfaces hold
    # security groups and the VPC.
    "elasticloadbalancing:loadbalancer": load_balancers,
    "elasticloadbalancing:targetgroup": target_groups,
    "route53:recordset": record_sets,
    "route53:hostedzone": hosted_zones,
    "ec2:network-interface": network_interfaces,
    "ec2:security-group": security_groups,
    "ec2:volume": volumes,
    "s3:bucket": buckets,
    "logs:log-group": log_groups,
    "iam:role": roles,
    "iam:oidc-provider": oidc_providers,
}
"""The kinds `--delete` removes, in the order it removes them. KMS keys are not among them: a
key may still encrypt what is kept (a retained volume); schedule their deletion by hand."""
