"""ExternalDNS: Route 53 records for the platform's Ingresses and Services, in one zone only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.config import ChartConfig
from components.helm import HelmReleaseArgs, helm_release
from components.iam import policy_document
from components.workload_identity import (
    ServiceAccountRole,
    ServiceAccountRoleArgs,
    WorkloadIdentity,
)

NAMESPACE = "external-dns"
SERVICE_ACCOUNT = "external-dns"


@dataclass
class ExternalDnsArgs:
    chart: ChartConfig
    domain: str
    zone_id: pulumi.Input[str]
    zone_arn: pulumi.Input[str]
    txt_owner_id: str
    """Marks the records this stack's ExternalDNS owns; unique per stack, stable across runs."""
    policy: Literal["sync", "upsert-only"]
    region: str
    identity: WorkloadIdentity
    depends_on: Sequence[pulumi.Resource]


class ExternalDns(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ExternalDnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:dns:ExternalDns", name, None, opts)
        role = ServiceAccountRole(
            f"{name}-role",
            ServiceAccountRoleArgs(
                namespace=NAMESPACE,
                service_accounts=[SERVICE_ACCOUNT],
                identity=args.identity,
                policy=_route53_policy(args.zone_arn),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = role.role_arn
        self.release = helm_release(
            name,
            HelmReleaseArgs(
                chart="external-dns",
                source=args.chart,
                namespace=NAMESPACE,
                values={
                    "provider": {"name": "aws"},
                    "env": [{"name": "AWS_DEFAULT_REGION", "value": args.region}],
                    "domainFilters": [args.domain],
                    # The domain filter matches names; the zone filter pins the one zone too.
                    "extraArgs": [
                        pulumi.Output.concat("--zone-id-filter=", args.zone_id),
                        "--aws-zone-type=public",
                    ],
                    "txtOwnerId": args.txt_owner_id,
                    "registry": "txt",
                    "policy": args.policy,
                    "sources": ["ingress", "service"],
                    # React to deletions at once, not on the next minute's loop: a destroy
                    # removes ExternalDNS right after the Ingresses it must clean up after.
                    "triggerLoopOnEvent": True,
                    "serviceAccount": role.service_account_values(),
                },
                depends_on=[*args.depends_on, *role.ready],
            ),
            parent=self,
        )
        self.register_outputs({"role_arn": self.role_arn})


def _route53_policy(zone_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Read and change records in this zone only; finding the zone needs ListHostedZones,
    which IAM grants only on `*`. (ExternalDNS documents `hostedzone/*`; one zone is enough.)"""
    return policy_document(
        {
            "Sid": "RecordsInThisZoneOnly",
            "Effect": "Allow",
            "Action": [
                "route53:ChangeResourceRecordSets",
                "route53:ListResourceRecordSets",
                # Newer ExternalDNS batches the tag look-up; older versions ask one at a time.
                "route53:ListTagsForResources",
                "route53:ListTagsForResource",
            ],
            "Resource": [zone_arn],
        },
        {
            "Sid": "FindTheZone",
            "Effect": "Allow",
            "Action": ["route53:ListHostedZones"],
            "Resource": ["*"],
        },
    )
