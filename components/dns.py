"""The Route 53 public hosted zone for the platform's domain: looked up, or created."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import partition_of


@dataclass
class DnsZoneArgs:
    domain: str
    create: bool
    region: str
    protect: bool
    """A replaced zone gets new name servers and silently breaks the delegation."""


class DnsZone(pulumi.ComponentResource):
    zone_id: pulumi.Output[str]
    zone_arn: pulumi.Output[str]
    """`arn:aws:route53:::hostedzone/<id>`: what record-changing permissions are scoped to."""
    name_servers: pulumi.Output[list[str]]
    """Delegate the domain to these in its parent zone; ACM validation waits until then."""

    def __init__(
        self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:dns:DnsZone", name, None, opts)
        if args.create:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=args.domain,
                comment="GitOps platform: GitLab, Argo CD and their applications",
                # ExternalDNS may leave records behind if a destroy outruns it; the zone must
                # still go, or the next deploy finds a duplicate.
                force_destroy=True,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.zone_id = zone.zone_id
            self.name_servers = zone.name_servers.apply(list)
        else:
            found = aws.route53.get_zone_output(
                name=args.domain,
                private_zone=False,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.zone_id = found.zone_id
            self.name_servers = found.name_servers.apply(list)
        self.zone_arn = pulumi.Output.concat(
            f"arn:{partition_of(args.region)}:route53:::hostedzone/", self.zone_id
        )
        self.register_outputs(
            {"zone_id": self.zone_id, "zone_arn": self.zone_arn, "name_servers": self.name_servers}
        )
