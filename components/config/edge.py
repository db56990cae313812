"""The stack's edge: its DNS zone, its TLS certificate and who may reach its endpoints."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from components.config.values import AdminCidr, Cidr, _is_open_to_all, _matching, _Strict, across

AcmCertificateArn = Annotated[
    str,
    _matching(
        re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"),
        "an ACM certificate ARN such as 'arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>'",
    ),
]


class DnsConfig(_Strict):
    """The Route 53 public zone for `domain`, and how ExternalDNS treats it."""

    create_zone: bool = Field(
        default=False,
        description="Create the zone (then delegate it: see the name_servers output); "
        "default: look up an existing public zone.",
    )
    external_dns_policy: Literal["sync", "upsert-only"] = Field(
        default="sync",
        description="`sync` deletes the records it created (a destroy leaves none behind); "
        "`upsert-only` never deletes, for zones shared with others.",
    )


class TlsConfig(_Strict):
    certificate_arn: AcmCertificateArn | None = Field(
        default=None,
        description="Use this ACM certificate (for `domain` and `*.domain`) instead of "
        "requesting one.",
    )
    validation_timeout_minutes: int = Field(
        default=45, ge=5, le=240, description="How long `pulumi up` waits for DNS validation."
    )


TlsPolicy = Literal[
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
]
"""TLS 1.2/1.3-only load balancer policies; older ones (the AWS default 2016-08) are refused."""


class AccessConfig(_Strict):
    """Who may reach each public endpoint."""

    admin_cidrs: list[AdminCidr] = Field(
        min_length=1,
        description="Ranges allowed to reach the Kubernetes API, Argo CD and GitLab's admin area; "
        "at most 3 while ALB rules admit them (gitlab.admin_area: admins, argocd.exposure: "
        "ingress).",
    )
    gitlab_cidrs: list[Cidr] = Field(
        default=[],
        description="Further ranges allowed to reach GitLab's web UI and git over HTTPS.",
    )
    gitlab_public: bool = Field(
        default=False, description="Open GitLab's 80/443 to everyone (`0.0.0.0/0`)."
    )
    cluster_egress_cidrs: list[Cidr] = Field(
        default=[],
        description="Where the cluster's outbound traffic comes from, when this stack did not "
        "build its network (existing mode, kOps in an existing VPC): Argo CD reaches GitLab "
        "from there, to clone and to sign people in. The NAT gateways of a network the stack "
        "built are added automatically.",
    )
    tls_policy: TlsPolicy = Field(
        default="ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        description="TLS policy of every load balancer listener (TLS 1.2+ only).",
    )

    @across("gitlab_cidrs", "gitlab_public", at="gitlab_cidrs")
    def _public_gitlab_is_explicit(self) -> None:
        if any(map(_is_open_to_all, self.gitlab_cidrs)) and not self.gitlab_public:
            raise ValueError(
                "gitlab_cidrs opens GitLab to everyone; set gitlab_public: true to mean it"
            )
