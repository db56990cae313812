"""Who may reach each public endpoint: security groups and CIDR lists for the load balancers.

Argo CD and the Kubernetes API are admin endpoints: only `access.admin_cidrs`. GitLab serves
its users too: admin ranges plus `access.gitlab_cidrs`, or everyone on 80/443 when the user
explicitly asks for a public GitLab. No other port is ever opened, and every rule says why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AccessConfig

OPEN_TO_ALL = ["0.0.0.0/0", "::/0"]
HTTPS = {443: "HTTPS"}
# Port 80 only ever answers with a redirect to 443 (the ALB's ssl-redirect).
HTTPS_AND_REDIRECT = {443: "HTTPS", 80: "HTTP (redirected to HTTPS)"}
SSH = {22: "git over SSH"}


@dataclass
class EndpointAccessArgs:
    vpc_id: pulumi.Input[str]
    access: AccessConfig
    gitlab_ssh_cidrs: list[str]
    """Ranges for git over SSH on its own NLB; empty when SSH is disabled."""
    cluster_egress_cidrs: Sequence[pulumi.Input[str]] = ()
    """The cluster's outbound addresses: Argo CD clones from GitLab through its load balancer."""


class EndpointAccess(pulumi.ComponentResource):
    admin_cidrs: list[str]
    """For `loadBalancerSourceRanges` / `inbound-cidrs` of admin endpoints (Argo CD)."""
    gitlab_cidrs: list[str]
    """Everyone who may reach GitLab's web UI and git over HTTPS."""
    argocd_security_group_id: pulumi.Output[str]
    """Argo CD's own NLB: HTTPS only (its server speaks plain HTTP behind the TLS listener)."""
    gitlab_security_group_id: pulumi.Output[str]
    """The shared ALB (GitLab, and Argo CD in `ingress` exposure)."""
    gitlab_ssh_security_group_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: EndpointAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:network:EndpointAccess", name, None, opts)
        access = args.access
        self.admin_cidrs = list(access.admin_cidrs)
        if access.gitlab_public:
            self.gitlab_cidrs = list(OPEN_TO_ALL)
        else:
            self.gitlab_cidrs = list(dict.fromkeys([*access.admin_cidrs, *access.gitlab_cidrs]))

        self.argocd_security_group_id = self._security_group(
            f"{name}-argocd", "Argo CD", args.vpc_id, self.admin_cidrs, HTTPS
        ).id
        self.gitlab_security_group_id = self._security_group(
            f"{name}-gitlab", "GitLab", args.vpc_id, self.gitlab_cidrs, HTTPS_AND_REDIRECT
        ).id
        gitlab_group = self.gitlab_security_group_id
        for i, cidr in enumerate(args.cluster_egress_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-gitlab-443-cluster-egress-{i}",
                security_group_id=gitlab_group,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=cidr,
                description="HTTPS to GitLab from the cluster (Argo CD: cloning, signing in)",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.gitlab_ssh_security_group_id = (
            self._security_group(
                f"{name}-gitlab-ssh", "GitLab SSH", args.vpc_id, args.gitlab_ssh_cidrs, SSH
            ).id
            if args.gitlab_ssh_cidrs
            else None
        )
        self.register_outputs(
            {
                "admin_cidrs": self.admin_cidrs,
                "gitlab_cidrs": self.gitlab_cidrs,
                "argocd_security_group_id": self.argocd_security_group_id,
                "gitlab_security_group_id": self.gitlab_security_group_id,
            }
        )

    def _security_group(
        self,
        name: str,
        endpoint: str,
        vpc_id: pulumi.Input[str],
        cidrs: list[str],
        ports: dict[int, str],
    ) -> aws.ec2.SecurityGroup:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            name,
            vpc_id=vpc_id,
            description=f"Load balancer in front of {endpoint}: allowed ranges only",
            tags={"Name": name},
            opts=child,
        )
        for cidr in cidrs:
            ipv6 = ipaddress.ip_network(cidr).version == 6
            for port, protocol in ports.items():
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{port}-{_slug(cidr)}",
                    security_group_id=group.id,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=None if ipv6 else cidr,
                    cidr_ipv6=cidr if ipv6 else None,
                    description=f"{protocol} to {endpoint} from {cidr}",
                    opts=child,
                )
        # The load balancer forwards to pods anywhere in the VPC; the controller opens the
        # matching backend rules on the nodes.
        for cidr in OPEN_TO_ALL:
            ipv6 = ":" in cidr
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-egress-{'ipv6' if ipv6 else 'ipv4'}",
                security_group_id=group.id,
                ip_protocol="-1",
                cidr_ipv4=None if ipv6 else cidr,
                cidr_ipv6=cidr if ipv6 else None,
                description=f"{endpoint} load balancer to its targets",
                opts=child,
            )
        return group


def _slug(cidr: str) -> str:
    """A CIDR as a resource-name part (URNs reserve '::')."""
    return cidr.replace(":", "-").replace("/", "_")
