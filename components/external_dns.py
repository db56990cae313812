"""ExternalDNS: Route 53 records for the platform's Ingresses and Services, in one zone only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from components.clusters.outputs import ClusterOutputs
from components.config import ChartConfig
from components.controller import ControllerArgs, controller
from components.iam import policy_document

NAMESPACE = "external-dns"
SERVICE_ACCOUNT = "external-dns"
RECORDS_GONE_TIMEOUT_SECONDS = 600
# Run by `pulumi destroy` (on the machine running it, with its AWS credentials) once everything
# ExternalDNS published has been deleted and before ExternalDNS itself is: ExternalDNS deletes
# records on its own loop, so without this wait its removal races its clean-up and the
# records outlive the stack. QUERY (JMESPath) lists the records still there.
WAIT_FOR_RECORDS_GONE = r"""set -eu
if [ "$POLICY" != sync ]; then
  echo "ExternalDNS policy $POLICY keeps its records by design: not waiting for them"
  exit 0
fi
if ! command -v aws >/dev/null 2>&1; then
  echo "destroy: the AWS CLI (aws) is needed to wait until ExternalDNS has deleted its records \
in zone $ZONE_ID; install it and run the destroy again" >&2
  exit 1
fi
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
while :; do
  # A failed call (throttling, an expired session) is tried again until the deadline.
  if left=$(aws route53 list-resource-record-sets --hosted-zone-id "$ZONE_ID" \
      --query "$QUERY" --output text 2>"$errors"); then
    if [ -z "$left" ]; then
      echo "ExternalDNS's records are gone from zone $ZONE_ID"
      exit 0
    fi
  else
    left="(Route 53 could not be read: $(cat "$errors"))"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "destroy: after ${TIMEOUT_SECONDS}s, ExternalDNS still has records in zone $ZONE_ID \
(name, type):" >&2
    printf '%s\n' "$left" >&2
    echo "Check ExternalDNS's logs (namespace external-dns). TXT records in the old format \
(no type prefix) left by an ExternalDNS older than 0.18 are not deleted by newer ones. Once \
the records are gone, or deleted by hand, run the destroy again." >&2
    exit 1
  fi
  sleep "$POLL_SECONDS"
done
"""


@dataclass
class ExternalDnsArgs:
    chart: ChartConfig
    domain: str
    zone_id: pulumi.Input[str]
    zone_arn: pulumi.Input[str]
    txt_owner_id: str
    """Marks the records this stack's ExternalDNS owns; unique per stack, stable across runs."""
    policy: Literal["sync", "upsert-only"]
    cluster: ClusterOutputs
    published_hosts: Sequence[str]
    """The names the stack's Ingresses and Services publish (GitLab, Argo CD): a destroy
    waits until their records are gone."""


class ExternalDns(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]
    publishers_wait_for: list[pulumi.Resource]
    """What anything ExternalDNS publishes for must depend on: the release, and the destroy-time
    wait that holds ExternalDNS until its records are gone."""

    def __init__(
        self, name: str, args: ExternalDnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:dns:ExternalDns", name, None, opts)
        installed = controller(
            name,
            ControllerArgs(
                chart="external-dns",
                source=args.chart,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                cluster=args.cluster,
                policy=_route53_policy(args.zone_arn),
                values={
                    "provider": {"name": "aws"},
                    "env": [{"name": "AWS_DEFAULT_REGION", "value": args.cluster.region}],
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
                },
            ),
            self,
        )
        self.role_arn = installed.role.role_arn
        self.release = installed.release
        records_gone = command.local.Command(
            f"{name}-records-gone",
            # Nothing to do on create or update; the delete waits (bounded) for the records.
            delete=WAIT_FOR_RECORDS_GONE,
            environment={
                "ZONE_ID": args.zone_id,
                "QUERY": records_query(args.published_hosts, args.txt_owner_id),
                "POLICY": args.policy,
                "TIMEOUT_SECONDS": str(RECORDS_GONE_TIMEOUT_SECONDS),
                "POLL_SECONDS": "10",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.publishers_wait_for = [self.release, records_gone]
        self.register_outputs({"role_arn": self.role_arn})


def records_query(hosts: Sequence[str], txt_owner_id: str) -> str:
    """A JMESPath query over ListResourceRecordSets: the records ExternalDNS made for `hosts`
    and its TXT ownership records, as (name, type) pairs.

    ExternalDNS publishes a load balancer's name as Route 53 ALIAS A and AAAA records
    (external-dns v0.21.0 provider/aws/aws.go, `useAlias`), and marks each record it owns with
    a TXT record whose value is "heritage=external-dns,external-dns/owner=<owner>,..." (the
    labels sorted: endpoint/labels.go); v0.21.0 names those `cname-<host>` / `aaaa-<host>`,
    older versions `<host>` (registry/txt/registry.go). So the TXT records are found by their
    owner, whatever their names."""
    names = json.dumps(sorted(f"{host}." for host in hosts))
    owner = f"external-dns/owner={txt_owner_id}"
    return (
        f"ResourceRecordSets[?(contains(`{names}`, Name) && "
        "(Type == 'A' || Type == 'AAAA' || Type == 'CNAME')) || "
        f"(Type == 'TXT' && ResourceRecords[?contains(Value, '{owner},') || "
        f"contains(Value, '{owner}\"')])].[Name, Type]"
    )


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
