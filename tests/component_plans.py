"""One component at a time: its plan under the same mock runtime as a whole stack, built from
the stack's typed config with fixed stand-ins for what other components would hand it.

A whole-stack plan registers some 160 resources; a component's own takes a fraction of the
time. Tests of how a component turns its config into resources use these. What only the
composition root decides (which config value `__main__.py` hands to which component, the
dependency edges between components, the stack outputs) is tested on whole-stack plans:
tests/test_wiring.py sets every value `__main__.py` passes on its own to a non-default and
follows it to its component.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s
from plans import PROJECT, Config, stack_file_config

from components.applications import Applications, ApplicationsArgs
from components.argocd import ArgoCd, ArgoCdArgs, ArgoCdSignIn
from components.certificate import Certificate, CertificateArgs
from components.clusters import ClusterOutputs, create_cluster
from components.config import (
    EksClusterConfig,
    KopsClusterConfig,
    PlatformConfig,
    PlatformSecrets,
    load_config,
)
from components.dns import DnsZone, DnsZoneArgs
from components.external_dns import ExternalDns, ExternalDnsArgs
from components.gitlab import NAMESPACE as GITLAB_NAMESPACE
from components.gitlab import GitLab, GitLabArgs
from components.gitops_repository import GitOpsRepository, GitOpsRepositoryArgs
from components.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from components.naming import Naming
from components.security_groups import EndpointAccess, EndpointAccessArgs
from components.workload_identity import WorkloadIdentity
from offline.plan import Plan, record
from offline.stack_files import settings_from_config

Build = Callable[[PlatformConfig, PlatformSecrets], None]

# What a cluster would hand over: fixed, recognisable values.
VPC_ID = "vpc-0a1b2c3d4e5f60718"
PUBLIC_SUBNETS = ["subnet-0a000000000000001", "subnet-0a000000000000002"]
PRIVATE_SUBNETS = ["subnet-0b000000000000001", "subnet-0b000000000000002"]
NAT_ADDRESS = "198.51.100.250/32"
ACCOUNT = "123456789012"
ISSUER_ID = "0123456789ABCDEF0123456789ABCDEF"
CERTIFICATE_ID = "0f4e6c4e-2a7d-4bde-9d35-5d7f1c0c1a2b"
ZONE_ID = "Z0123456789ABCDEFGHIJ"

_plans: dict[str, Plan] = {}


def component_plan(
    build: Build,
    config: Config | None = None,
    stack: str = "dev",
    secrets: dict[str, str] | None = None,
) -> Plan:
    """The plan of `build` alone, given the config the stack file (dev's by default) holds;
    the config goes through the program's own loader, so bad input fails as it would."""
    config = config if config is not None else stack_file_config("dev")
    key = json.dumps([build.__qualname__, config, stack, secrets], sort_keys=True)
    if key not in _plans:
        settings = settings_from_config(PROJECT, stack, config)
        for name, value in (secrets or {}).items():
            settings.config[f"{PROJECT}:{name}"] = value
            settings.secret_keys.append(f"{PROJECT}:{name}")

        def program() -> None:
            build(*load_config())

        _plans[key] = record(settings, program)
    return _plans[key]


def stand_in_cluster(config: PlatformConfig) -> ClusterOutputs:
    """A cluster record with fixed values in the configured region, the workload identity
    the config asks for (kOps' token audience for a kOps cluster), nothing to wait for."""
    name = pulumi.Output.from_input(Naming.for_stack(config).prefix)
    mode = config.cluster
    mechanism = mode.workload_identity if isinstance(mode, EksClusterConfig) else "irsa"
    audience = "amazonaws.com" if isinstance(mode, KopsClusterConfig) else "sts.amazonaws.com"
    issuer_host = f"oidc.eks.{config.region}.amazonaws.com/id/{ISSUER_ID}"
    issuer = pulumi.Output.from_input(f"https://{issuer_host}")
    provider_arn = pulumi.Output.from_input(f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer_host}")
    kubeconfig = pulumi.Output.secret("apiVersion: v1\nkind: Config\n")
    return ClusterOutputs(
        name=name,
        region=config.region,
        vpc_id=pulumi.Output.from_input(VPC_ID),
        public_subnet_ids=pulumi.Output.from_input(PUBLIC_SUBNETS),
        private_subnet_ids=pulumi.Output.from_input(PRIVATE_SUBNETS),
        egress_cidrs=[NAT_ADDRESS],
        oidc_provider_arn=provider_arn,
        oidc_issuer_url=issuer,
        exports={},
        kubeconfig=kubeconfig,
        kubernetes=k8s.Provider("stand-in", kubeconfig=kubeconfig),
        workloads_ready=[],
        storage_ready=[],
        identity=WorkloadIdentity(mechanism, name, provider_arn, issuer, audience, []),
        api=None,
    )


def in_stand_in_cluster(
    config: PlatformConfig,
) -> tuple[ClusterOutputs, str, pulumi.ResourceOptions]:
    """A stand-in cluster, the stack's name prefix, and options that deploy into the cluster."""
    cluster = stand_in_cluster(config)
    opts = pulumi.ResourceOptions(providers={"kubernetes": cluster.kubernetes})
    return cluster, Naming.for_stack(config).prefix, opts


def certificate_arn(config: PlatformConfig) -> str:
    return f"arn:aws:acm:{config.region}:{ACCOUNT}:certificate/{CERTIFICATE_ID}"


def endpoint_access(config: PlatformConfig) -> EndpointAccess:
    return EndpointAccess(
        f"{Naming.for_stack(config).prefix}-access",
        EndpointAccessArgs(
            vpc_id=VPC_ID,
            access=config.access,
            gitlab_ssh_cidrs=config.gitlab.ssh_cidrs,
            cluster_egress_cidrs=[NAT_ADDRESS, *config.access.cluster_egress_cidrs],
        ),
    )


def gitlab(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """GitLab with its data stores and the endpoint access it is behind."""
    cluster, prefix, opts = in_stand_in_cluster(config)
    GitLab(
        f"{prefix}-gitlab",
        GitLabArgs(
            chart=config.charts.gitlab,
            config=config.gitlab,
            cluster=cluster,
            domain=config.domain,
            certificate_arn=certificate_arn(config),
            access=endpoint_access(config),
            tls_policy=config.access.tls_policy,
            alb_group=prefix,
            production=config.production,
            id_token_lifetime_seconds=config.argocd.sso.id_token_lifetime_seconds,
            depends_on=[],
        ),
        opts,
    )


def access(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """The security groups in front of GitLab and Argo CD."""
    endpoint_access(config)


def cluster(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """The configured cluster mode, through the program's own selector."""
    create_cluster(Naming.for_stack(config), config, secrets, pulumi.ResourceOptions())


def edge_controllers(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """The LB controller and ExternalDNS, with their roles, on a stand-in cluster."""
    cluster, prefix, opts = in_stand_in_cluster(config)
    LoadBalancerController(
        f"{prefix}-alb",
        LoadBalancerControllerArgs(
            chart=config.charts.aws_load_balancer_controller,
            cluster=cluster,
            tags=Naming.for_stack(config).tags,
        ),
        opts,
    )
    ExternalDns(
        f"{prefix}-external-dns",
        ExternalDnsArgs(
            chart=config.charts.external_dns,
            domain=config.domain,
            zone_id=ZONE_ID,
            zone_arn=f"arn:aws:route53:::hostedzone/{ZONE_ID}",
            txt_owner_id=prefix,
            policy=config.dns.external_dns_policy,
            cluster=cluster,
            published_hosts=config.published_hosts(),
        ),
        opts,
    )


def zone_and_certificate(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """The DNS zone and the certificate validated in it."""
    prefix = Naming.for_stack(config).prefix
    zone = DnsZone(
        f"{prefix}-dns",
        DnsZoneArgs(
            domain=config.domain,
            create=config.dns.create_zone,
            region=config.region,
            protect=config.production,
        ),
    )
    Certificate(
        f"{prefix}-tls",
        CertificateArgs(
            domain=config.domain,
            zone_id=zone.zone_id,
            validation_timeout_minutes=config.tls.validation_timeout_minutes,
            existing_arn=config.tls.certificate_arn,
        ),
    )


def argocd(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """Argo CD and the endpoint access it is behind."""
    _, prefix, opts = in_stand_in_cluster(config)
    ArgoCd(
        f"{prefix}-argocd",
        ArgoCdArgs(
            chart=config.charts.argo_cd,
            config=config.argocd,
            domain=config.domain,
            certificate_arn=certificate_arn(config),
            access=endpoint_access(config),
            tls_policy=config.access.tls_policy,
            alb_group=prefix,
            sign_in=ArgoCdSignIn.of(config),
            gitlab_url=f"https://{config.gitlab.hostname}.{config.domain}",
            gitops_project=f"{config.gitops.group}/{config.gitops.project}",
            depends_on=[],
            highly_available=config.production,
        ),
        opts,
    )


def gitops(config: PlatformConfig, secrets: PlatformSecrets) -> None:
    """The GitOps repository the stack seeds and the Applications deployed from it."""
    cluster, prefix, opts = in_stand_in_cluster(config)
    repository = GitOpsRepository(
        f"{prefix}-gitops",
        GitOpsRepositoryArgs(
            config=config.gitops,
            applications=config.applications,
            gitlab_url=f"https://{config.gitlab.hostname}.{config.domain}",
            namespace=GITLAB_NAMESPACE,
            kubeconfig=cluster.kubeconfig,
            user_token=secrets.gitlab_token,
            depends_on=[],
        ),
        opts,
    )
    Applications(
        f"{prefix}-apps",
        ApplicationsArgs(
            applications=config.applications,
            gitops=config.gitops,
            repository=repository,
            argocd=[],
            storage=[],
        ),
        opts,
    )
