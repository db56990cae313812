"""How GitLab is reached: its Ingresses on the shared ALB, git over SSH on its own NLB, and
the admin area (`/admin`) for the admin ranges only.

The admin area is an Ingress in GitLab's IngressGroup whose rules come before the chart's (lower
`group.order`). Its paths are ALB patterns, kept in the order listed: the admin area
forwarded on a source-ip condition, then the same area and the spellings GitLab also routes
there (`/admin.json`: Rails' optional format; `//admin`: Rails squeezes slashes, the ALB does
not) answered 403 by the ALB itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.alb import (
    ALB,
    EXTERNAL_DNS_HOSTNAME,
    NLB,
    USE_ANNOTATION,
    fixed_response_action,
    shared_alb_annotations,
    source_ip_condition,
)
from components.config import GitLabConfig
from components.security_groups import EndpointAccess

# The chart's web entry point is workhorse on the `<release>-webservice-default` Service
# (what the chart's own Ingress targets), port 8181.
WORKHORSE_PORT = 8181
# One pattern per rule: an ALB rule takes 5 condition values (host, pattern, source ranges).
ADMIN_AREA_OPEN = ("/admin", "/admin/*")
ADMIN_AREA_CLOSED_TO = (*ADMIN_AREA_OPEN, "/admin.*", "//*")
ADMIN_AREA_CLOSED = "admin-area-closed"
"""The ALB action answering the admin area to everyone outside the admin ranges."""


@dataclass
class AdminAreaArgs:
    release: str
    """GitLab's Helm release name: the chart names its Services after it."""
    host: str
    namespace: k8s.core.v1.Namespace
    annotations: Mapping[str, pulumi.Input[str]]
    """The ALB annotations of GitLab's own Ingresses (group, certificate, security group)."""
    admin_cidrs: Sequence[str]
    depends_on: Sequence[pulumi.Resource]
    """GitLab's release (until its Service exists, the controller answers 503 for it) and the
    edge controllers (a destroy removes this Ingress while they still run)."""


def admin_area(
    name: str, args: AdminAreaArgs, parent: pulumi.Resource
) -> k8s.networking.v1.Ingress:
    webservice = f"{args.release}-webservice-default"

    def path(
        pattern: str, service: str, port: k8s.networking.v1.ServiceBackendPortArgs
    ) -> k8s.networking.v1.HTTPIngressPathArgs:
        return k8s.networking.v1.HTTPIngressPathArgs(
            path=pattern,
            path_type="ImplementationSpecific",
            backend=k8s.networking.v1.IngressBackendArgs(
                service=k8s.networking.v1.IngressServiceBackendArgs(name=service, port=port)
            ),
        )

    workhorse = k8s.networking.v1.ServiceBackendPortArgs(number=WORKHORSE_PORT)
    action = k8s.networking.v1.ServiceBackendPortArgs(name=USE_ANNOTATION)
    return k8s.networking.v1.Ingress(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{args.release}-admin-area",
            namespace=args.namespace.metadata.name,
            annotations={
                **args.annotations,
                f"{ALB}/group.order": "-10",
                f"{ALB}/conditions.{webservice}": source_ip_condition(list(args.admin_cidrs)),
                f"{ALB}/actions.{ADMIN_AREA_CLOSED}": fixed_response_action(
                    403, "GitLab's admin area is reachable from the admin ranges only."
                ),
            },
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name="alb",
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=args.host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            *(path(p, webservice, workhorse) for p in ADMIN_AREA_OPEN),
                            *(path(p, ADMIN_AREA_CLOSED, action) for p in ADMIN_AREA_CLOSED_TO),
                        ]
                    ),
                )
            ],
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.depends_on)),
    )


def ingress_annotations(
    alb_group: str, certificate_arn: pulumi.Input[str], access: EndpointAccess, tls_policy: str
) -> dict[str, pulumi.Input[str]]:
    """GitLab's Ingresses on the shared ALB (GitLab answers `/` with a redirect), open to
    GitLab's ranges only."""
    sg = access.gitlab_security_group_id
    return {
        **shared_alb_annotations(alb_group, certificate_arn, sg, tls_policy),
        f"{ALB}/success-codes": "200-399",
    }


def ssh_values(
    config: GitLabConfig, security_group_id: pulumi.Input[str] | None, domain: str
) -> dict[str, object]:
    """`gitlab.gitlab-shell`: git over SSH on its own NLB limited to `ssh_cidrs`, or no
    gitlab-shell at all."""
    if config.ssh == "disabled":
        return {"enabled": False}
    assert security_group_id is not None  # validated: ssh: nlb comes with ssh_cidrs
    return {
        "enabled": True,
        "minReplicas": config.gitlab_shell_replicas,
        "maxReplicas": config.gitlab_shell_replicas * 2,
        "service": {
            "type": "LoadBalancer",
            "annotations": {
                f"{NLB}/aws-load-balancer-type": "external",
                f"{NLB}/aws-load-balancer-nlb-target-type": "ip",
                f"{NLB}/aws-load-balancer-scheme": "internet-facing",
                f"{NLB}/aws-load-balancer-security-groups": security_group_id,
                f"{NLB}/aws-load-balancer-manage-backend-security-group-rules": "true",
                EXTERNAL_DNS_HOSTNAME: f"{config.hostname}-ssh.{domain}",
            },
            "loadBalancerSourceRanges": list(config.ssh_cidrs),
        },
    }


def hosts(config: GitLabConfig, domain: str) -> dict[str, object]:
    """`global.hosts`: GitLab's name under the domain, served over HTTPS (TLS ends at the ALB:
    without `https` GitLab builds http:// URLs), and git over SSH's name with the NLB."""
    ssh = {"ssh": f"{config.hostname}-ssh.{domain}"} if config.ssh == "nlb" else {}
    return {
        "domain": domain,
        "https": True,
        "gitlab": {"name": f"{config.hostname}.{domain}"},
        **ssh,
    }
