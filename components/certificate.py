"""The ACM certificate every load balancer presents: `domain` and `*.domain`, DNS-validated."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass
class CertificateArgs:
    domain: str
    zone_id: pulumi.Input[str]
    validation_timeout_minutes: int
    existing_arn: str | None = None
    """Use this certificate instead of requesting one."""


class Certificate(pulumi.ComponentResource):
    certificate_arn: pulumi.Output[str]
    """Resolves only once the certificate is issued, so load balancers never get a pending one."""

    def __init__(
        self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:tls:Certificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.existing_arn:
            self.certificate_arn = pulumi.Output.from_input(args.existing_arn)
            self.register_outputs({"certificate_arn": self.certificate_arn})
            return

        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.domain,
            subject_alternative_names=[f"*.{args.domain}"],
            validation_method="DNS",
            opts=child,
        )
        # ACM asks for the same CNAME for a name and its wildcard: one record validates both.
        option = certificate.domain_validation_options.apply(
            lambda options: next(o for o in options if o.domain_name == args.domain)
        )
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.zone_id,
            name=option.apply(lambda o: o.resource_record_name or ""),
            type=option.apply(lambda o: o.resource_record_type or "CNAME"),
            records=[option.apply(lambda o: o.resource_record_value or "")],
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            # Bounded: without delegation of the domain, validation would wait forever.
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{args.validation_timeout_minutes}m"),
            ),
        )
        self.certificate_arn = validation.certificate_arn
        self.register_outputs({"certificate_arn": self.certificate_arn})
