"""gitops-platform: the composition root. It reads top to bottom as the platform:
config → cluster → edge → controllers → GitLab and Argo CD → GitOps → outputs."""

import pulumi

from components.applications import Applications, ApplicationsArgs
from components.argocd import NAMESPACE as ARGOCD_NAMESPACE
from components.argocd import ArgoCd, ArgoCdArgs, ArgoCdSignIn
from components.certificate import Certificate, CertificateArgs
from components.clusters import ClusterOutputs, create_cluster
from components.config import load_config
from components.dns import DnsZone, DnsZoneArgs
from components.external_dns import ExternalDns, ExternalDnsArgs
from components.fleet import HUB_OUTPUT, MEMBER_OUTPUT, FleetSpoke, FleetSpokeArgs
from components.fleet_hub import FleetHub, FleetHubArgs, FleetHubIdentity, FleetHubIdentityArgs
from components.gitlab import NAMESPACE as GITLAB_NAMESPACE
from components.gitlab import GitLab, GitLabArgs
from components.gitlab_settings import GitLabSettings, GitLabSettingsArgs
from components.gitops_loop import LOCAL_HOSTS, GitOpsLoop, GitOpsLoopArgs
from components.gitops_repository import GitOpsRepository, GitOpsRepositoryArgs
from components.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from components.naming import Naming
from components.previews import Previews, PreviewsArgs, preview_folders
from components.providers import create_aws_provider
from components.security_groups import EndpointAccess, EndpointAccessArgs
from components.sign_in import SignIn, SignInArgs


def main() -> None:
    config, secrets = load_config()
    naming = Naming.for_stack(config)
    aws_provider = create_aws_provider(naming, config.region)
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

    # --- the cluster -----------------------------------------------------------------------
    cluster = create_cluster(naming, config, secrets, on_aws)
    pulumi.export("cluster_name", cluster.name)
    pulumi.export("region", cluster.region)
    pulumi.export("vpc_id", cluster.vpc_id)
    pulumi.export("public_subnet_ids", cluster.public_subnet_ids)
    pulumi.export("private_subnet_ids", cluster.private_subnet_ids)
    pulumi.export("oidc_provider_arn", cluster.oidc_provider_arn)
    pulumi.export("oidc_issuer_url", cluster.oidc_issuer_url)
    for key, value in cluster.exports.items():
        pulumi.export(key, value)

    # --- the edge: what reaches the cluster from the internet ------------------------------
    zone = DnsZone(
        f"{naming.prefix}-dns",
        DnsZoneArgs(
            domain=config.domain,
            create=config.dns.create_zone,
            region=config.region,
            protect=config.production,
        ),
        on_aws,
    )
    # The certificate needs only the zone: it is issued while the cluster is still being built.
    certificate = Certificate(
        f"{naming.prefix}-tls",
        CertificateArgs(
            domain=config.domain,
            zone_id=zone.zone_id,
            validation_timeout_minutes=config.tls.validation_timeout_minutes,
            existing_arn=config.tls.certificate_arn,
        ),
        on_aws,
    )
    access = EndpointAccess(
        f"{naming.prefix}-access",
        EndpointAccessArgs(
            vpc_id=cluster.vpc_id,
            access=config.access,
            gitlab_ssh_cidrs=config.gitlab.ssh_cidrs,
            cluster_egress_cidrs=[*cluster.egress_cidrs, *config.access.cluster_egress_cidrs],
        ),
        on_aws,
    )
    if not (
        cluster.egress_cidrs or config.access.cluster_egress_cidrs or config.access.gitlab_public
    ):
        pulumi.log.warn(
            "access.cluster_egress_cidrs is empty and this stack built no network: Argo CD "
            "reaches GitLab (to clone, and to sign people in) only if the cluster's outbound "
            "addresses are among access.admin_cidrs or access.gitlab_cidrs"
        )
    pulumi.export("zone_id", zone.zone_id)
    pulumi.export("name_servers", zone.name_servers)
    pulumi.export("certificate_arn", certificate.certificate_arn)
    pulumi.export("argocd_security_group_id", access.argocd_security_group_id)
    pulumi.export("gitlab_security_group_id", access.gitlab_security_group_id)

    if not isinstance(cluster, ClusterOutputs):
        pulumi.log.info(
            "kOps step one: create the cluster with `kops_create_cluster_command`, then set "
            "the `kubeconfig` secret and run `pulumi up` again to install the in-cluster "
            "components"
        )
        return

    # --- controllers in the cluster --------------------------------------------------------
    in_cluster = pulumi.ResourceOptions(
        providers={"aws": aws_provider, "kubernetes": cluster.kubernetes}
    )
    load_balancer_controller = LoadBalancerController(
        f"{naming.prefix}-alb",
        LoadBalancerControllerArgs(
            chart=config.charts.aws_load_balancer_controller, cluster=cluster, tags=naming.tags
        ),
        in_cluster,
    )
    external_dns = ExternalDns(
        f"{naming.prefix}-external-dns",
        ExternalDnsArgs(
            chart=config.charts.external_dns,
            domain=config.domain,
            zone_id=zone.zone_id,
            zone_arn=zone.zone_arn,
            txt_owner_id=naming.prefix,
            policy=config.dns.external_dns_policy,
            cluster=cluster,
            published_hosts=config.published_hosts(),
        ),
        in_cluster,
    )
    # Both wait for the controllers, never for each other: they install in parallel. A
    # destroy removes them (and so their load balancers and records) while both still run,
    # and holds each controller until what it made is gone (components/teardown.py).
    edge = [*load_balancer_controller.publishers_wait_for, *external_dns.publishers_wait_for]

    # --- a spoke: the hub's Argo CD deploys here (components/fleet.py) ---------------------
    if config.fleet.role == "spoke":
        spoke = FleetSpoke(
            f"{naming.prefix}-fleet",
            FleetSpokeArgs(
                fleet=config.fleet,
                project=config.project,
                stack=config.stack,
                region=config.region,
                environment=config.environment,
                cluster=cluster,
                addon_role_arns={
                    "load-balancer-controller": load_balancer_controller.role_arn,
                    "external-dns": external_dns.role_arn,
                },
            ),
            on_aws,
        )
        pulumi.export(MEMBER_OUTPUT, spoke.member)
        return
    hub = (
        FleetHubIdentity(
            f"{naming.prefix}-fleet",
            FleetHubIdentityArgs(fleet=config.fleet, project=config.project, cluster=cluster),
            on_aws,
        )
        if config.fleet.role == "hub"
        else None
    )

    # --- GitLab and Argo CD ----------------------------------------------------------------
    sso = config.argocd.sso
    argocd = ArgoCd(
        f"{naming.prefix}-argocd",
        ArgoCdArgs(
            chart=config.charts.argo_cd,
            config=config.argocd,
            domain=config.domain,
            certificate_arn=certificate.certificate_arn,
            access=access,
            tls_policy=config.access.tls_policy,
            alb_group=naming.prefix,
            sign_in=ArgoCdSignIn.of(config),
            gitlab_url=f"https://{config.gitlab.hostname}.{config.domain}",
            gitops_project=f"{config.gitops.group}/{config.gitops.project}",
            # Its volumes (if any) go while the volume driver still runs; a hub's pods start
            # with the management role bound.
            depends_on=[*edge, *cluster.storage_ready, *(hub.ready if hub else [])],
            highly_available=config.production,
        ),
        in_cluster,
    )
    gitlab = GitLab(
        f"{naming.prefix}-gitlab",
        GitLabArgs(
            chart=config.charts.gitlab,
            config=config.gitlab,
            cluster=cluster,
            domain=config.domain,
            certificate_arn=certificate.certificate_arn,
            access=access,
            tls_policy=config.access.tls_policy,
            alb_group=naming.prefix,
            production=config.production,
            id_token_lifetime_seconds=sso.id_token_lifetime_seconds,
            depends_on=edge,
        ),
        in_cluster,
    )

    # --- GitOps: the repository the stack seeds, and what Argo CD deploys from it ----------
    repository = GitOpsRepository(
        f"{naming.prefix}-gitops",
        GitOpsRepositoryArgs(
            config=config.gitops,
            applications=config.applications,
            gitlab_url=gitlab.url,
            namespace=GITLAB_NAMESPACE,
            kubeconfig=cluster.kubeconfig,
            user_token=secrets.gitlab_token,
            depends_on=[gitlab.release],
            role_groups=[g.group for g in config.argocd_group_roles()] if sso.enabled else (),
            folders=preview_folders(config),
        ),
        in_cluster,
    )
    settings = GitLabSettings(
        f"{naming.prefix}-gitlab-settings",
        GitLabSettingsArgs(
            admin=repository.admin,
            two_factor=config.gitlab_two_factor(),
            two_factor_grace_period_hours=config.gitlab.two_factor_grace_period_hours,
            local_hosts=LOCAL_HOSTS,
        ),
        in_cluster,
    )
    if sso.enabled:
        SignIn(
            f"{naming.prefix}-sign-in",
            SignInArgs(
                argocd_url=argocd.url,
                admin=repository.admin,
                renewal=repository.renewal,
                argocd_namespace=ARGOCD_NAMESPACE,
                argocd=[argocd.release],
            ),
            in_cluster,
        )
    # Push → refresh and sync at once; sync → commit status in GitLab.
    GitOpsLoop(
        f"{naming.prefix}-loop",
        GitOpsLoopArgs(
            repository=repository,
            config=config.gitops,
            webhook_secret=argocd.webhook_secret,
            argocd=[argocd.release],
            settings=[settings.settings],
        ),
        in_cluster,
    )
    applications = Applications(
        f"{naming.prefix}-apps",
        ApplicationsArgs(
            applications=config.applications,
            gitops=config.gitops,
            repository=repository,
            argocd=[argocd.release],
            group_roles=config.argocd_group_roles() if sso.enabled else (),
            storage=cluster.storage_ready,
        ),
        in_cluster,
    )

    # --- previews: an Application per labelled merge request (components/previews.py) -----
    if config.previews_enabled():
        Previews(
            f"{naming.prefix}-previews",
            PreviewsArgs(
                config=config.previews,
                gitops=config.gitops,
                repository=repository,
                applications=applications,
                gitlab_url=gitlab.url,
                argocd=[argocd.release],
            ),
            in_cluster,
        )

    # --- a hub: the spokes, and what it deploys to them ------------------------------------
    if hub is not None:
        FleetHub(
            f"{naming.prefix}-fleet-hub",
            FleetHubArgs(
                fleet=config.fleet,
                identity=hub,
                repo_url=repository.clone_url,
                argocd=[argocd.release],
                repository=[applications.repository_secret, *repository.committed],
            ),
            in_cluster,
        )
        pulumi.export(HUB_OUTPUT, {"management_role_arn": hub.management_role_arn})

    # --- outputs of what runs in the cluster -----------------------------------------------
    pulumi.export("gitops_repository_url", repository.clone_url)
    if applications.minio_root_password is not None:
        pulumi.export("minio_root_password", applications.minio_root_password)
    pulumi.export("gitlab_url", gitlab.url)
    pulumi.export("gitlab_root_password", gitlab.root_password)
    pulumi.export("argocd_url", argocd.url)
    pulumi.export("argocd_admin_password", argocd.admin_password)
    pulumi.export("argocd_login_command", argocd.login_command)


main()
