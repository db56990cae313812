"""Self-hosted GitLab from its Helm chart (10.x), behind the shared ALB and the stack's certificate.

Fixes over the seed's `values-gitops.yaml`: `https: true` (TLS ends at the ALB, so GitLab
would otherwise build `http://` URLs), HTTP redirected to HTTPS with a modern TLS policy,
inbound limited by the stack's security group, a root password the stack generates, no open
sign-up, and git over SSH on its own NLB (an ALB cannot carry SSH) or not at all. Chart 10
defaults to Gateway API with a bundled Envoy and needs external PostgreSQL, Redis and object
storage: this component turns the Ingress path back on and wires in `GitLabDataStores`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.alb import (
    ALB,
    EXTERNAL_DNS_HOSTNAME,
    NLB,
    TARGETS_READINESS_GATE,
    USE_ANNOTATION,
    fixed_response_action,
    shared_alb_annotations,
    source_ip_condition,
)
from components.config import ChartConfig, GitLabConfig
from components.gitlab_data import (
    DATABASE,
    DATABASE_USER,
    OBJECT_TYPES,
    GitLabDataStores,
    GitLabDataStoresArgs,
)
from components.helm import HelmReleaseArgs, helm_release, namespace
from components.registry_database import RegistryDatabaseArgs, registry_database
from components.security_groups import EndpointAccess
from components.workload_identity import WorkloadIdentity

NAMESPACE = "gitlab"
RELEASE = "gitlab"
# The chart's pods that use object storage run as `<release>-<chart>` service accounts.
OBJECT_STORAGE_ACCOUNTS = tuple(
    f"{RELEASE}-{c}" for c in ("webservice", "sidekiq", "toolbox", "migrations", "registry")
)
PASSWORD_KEY = "password"
# The chart's web entry point: workhorse on the webservice Service (what its Ingress targets).
WEBSERVICE = f"{RELEASE}-webservice-default"
WORKHORSE_PORT = 8181
# One pattern per rule: an ALB rule takes 5 condition values (host, pattern, source ranges).
ADMIN_AREA_OPEN = ("/admin", "/admin/*")
ADMIN_AREA_CLOSED_TO = (*ADMIN_AREA_OPEN, "/admin.*", "//*")
ADMIN_AREA_CLOSED = "admin-area-closed"
"""The ALB action answering the admin area to everyone outside the admin ranges."""
# s3cmd copies an object's ACL along when a restore first moves the existing objects aside
# (`s3cmd sync s3:// s3://`), unless acl_public is set, and a bucket with ACLs disabled refuses
# that (s3tools/s3cmd S3/S3.py object_copy, S3/Config.py acl_public; gitlab-org/build/CNG#1906).
# With acl_public = False it sends no ACL at all; uploads never send one.
BACKUP_S3CMD_CONFIG = "[default]\nbucket_location = {region}\nacl_public = False\n"


@dataclass
class GitLabArgs:
    chart: ChartConfig
    config: GitLabConfig
    domain: str
    region: str
    certificate_arn: pulumi.Input[str]
    access: EndpointAccess
    tls_policy: str
    alb_group: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    identity: WorkloadIdentity
    production: bool
    depends_on: Sequence[pulumi.Resource]
    """The load balancer controller and ExternalDNS: a destroy must remove GitLab's Ingress
    (and its ALB and records) while both still run."""
    storage: Sequence[pulumi.Resource]
    """The volume driver and default StorageClass: Gitaly's volume needs them, and a destroy
    must delete the namespace (and its volumes) while the driver still runs."""


class GitLab(pulumi.ComponentResource):
    url: str
    root_password: pulumi.Output[str]
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: GitLabArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:GitLab", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        host = f"{config.hostname}.{args.domain}"
        self.url = f"https://{host}"

        data = GitLabDataStores(
            f"{name}-data",
            GitLabDataStoresArgs(
                config=config,
                vpc_id=args.vpc_id,
                private_subnet_ids=args.private_subnet_ids,
                namespace=NAMESPACE,
                service_accounts=OBJECT_STORAGE_ACCOUNTS,
                identity=args.identity,
                region=args.region,
                production=args.production,
            ),
            child,
        )
        # Workhorse (and gitlab-shell) pods are the load balancers' targets, by IP.
        space = namespace(
            name, NAMESPACE, self, [*args.depends_on, *args.storage], TARGETS_READINESS_GATE
        )
        root_password = random.RandomPassword(f"{name}-root", length=32, special=False, opts=child)
        self.root_password = pulumi.Output.secret(root_password.result)

        secrets: list[pulumi.Resource] = []

        def secret(suffix: str, key: str, value: pulumi.Input[str]) -> str:
            """A Secret the chart reads (the release waits for it); its value stays a Pulumi
            secret."""
            secret_name = f"{RELEASE}-{suffix}"
            resource = k8s.core.v1.Secret(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=secret_name, namespace=space.metadata.name
                ),
                string_data={key: pulumi.Output.secret(value)},
                opts=child,
            )
            secrets.append(resource)
            return secret_name

        admin_password_secret = secret("postgres-password", PASSWORD_KEY, data.database_password)
        registry_database_values, registry_database_ready = self._registry_metadata(
            name, config, data, space, admin_password_secret, secret, secrets
        )

        buckets = data.buckets
        values = {
            "global": {
                "hosts": {
                    "domain": args.domain,
                    # TLS ends at the ALB: without this GitLab builds http:// URLs.
                    "https": True,
                    "gitlab": {"name": host},
                    **(
                        {"ssh": f"{config.hostname}-ssh.{args.domain}"}
                        if config.ssh == "nlb"
                        else {}
                    ),
                },
                "ingress": {
                    "enabled": True,
                    "provider": "aws",
                    "class": "alb",
                    "configureCertmanager": False,
                    "tls": {"enabled": False},
                    "path": "/",
                    "pathType": "Prefix",
                    "annotations": _alb_annotations(args),
                },
                # Chart 10 serves through Gateway API and Envoy by default; the ALB needs the
                # classic Ingress path, and no cert-manager issuer job.
                "gatewayApi": {
                    "enabled": False,
                    "installEnvoy": False,
                    "configureCertmanager": False,
                },
                "initialRootPassword": {
                    "secret": secret("initial-root-password", PASSWORD_KEY, root_password.result),
                    "key": PASSWORD_KEY,
                },
                "appConfig": {
                    "initialDefaults": {"signupEnabled": False},
                    "object_store": {
                        "enabled": True,
                        "proxy_download": True,
                        "connection": {
                            "secret": secret(
                                "object-storage",
                                "connection",
                                _object_storage_connection(args.region),
                            ),
                            "key": "connection",
                        },
                    },
                    **{kind: {"bucket": buckets[kind]} for kind in OBJECT_TYPES},
                    "backups": {"bucket": buckets["backups"], "tmpBucket": buckets["tmp"]},
                },
                "psql": {
                    "host": data.database_host,
                    "port": 5432,
                    "database": DATABASE,
                    "username": DATABASE_USER,
                    "password": {"secret": admin_password_secret, "key": PASSWORD_KEY},
                },
                "redis": {
                    "host": data.redis_host,
                    "port": 6379,
                    # ElastiCache encrypts in transit; GitLab must speak TLS to it.
                    "scheme": "rediss",
                    "auth": {
                        "enabled": True,
                        "secret": secret("redis-password", PASSWORD_KEY, data.redis_password),
                        "key": PASSWORD_KEY,
                    },
                },
                "registry": {"bucket": buckets["registry"]},
                "serviceAccount": {
                    "enabled": True,
                    "create": True,
                    "annotations": data.role.service_account_annotations,
                },
                # The agent server needs its own host and websocket tuning on the ALB; off.
                "kas": {"enabled": False},
            },
            "installCertmanager": False,
            "nginx-ingress": {"enabled": False},
            "prometheus": {"install": False},
            "gitlab-runner": {"install": False},
            "registry": {
                "storage": {
                    "secret": secret(
                        "registry-storage",
                        "config",
                        _registry_storage(buckets["registry"], args.region),
                    ),
                    "key": "config",
                },
                "database": registry_database_values,
                "hpa": {
                    "minReplicas": config.registry_replicas,
                    "maxReplicas": config.registry_replicas * 2,
                },
            },
            "gitlab": {
                "webservice": {
                    "minReplicas": config.webservice_replicas,
                    "maxReplicas": config.webservice_replicas * 2,
                },
                "sidekiq": {
                    "minReplicas": config.sidekiq_replicas,
                    "maxReplicas": config.sidekiq_replicas * 2,
                },
                "gitlab-shell": _gitlab_shell(args),
                # backup-utility uploads with s3cmd through the pods' IAM role: its config
                # names only the region, no keys.
                "toolbox": {
                    "backups": {
                        "objectStorage": {
                            "backend": "s3",
                            "config": {
                                "secret": secret(
                                    "backup-storage",
                                    "config",
                                    BACKUP_S3CMD_CONFIG.format(region=args.region),
                                ),
                                "key": "config",
                            },
                        }
                    }
                },
            },
        }
        self.release = helm_release(
            name,
            HelmReleaseArgs(
                chart="gitlab",
                source=args.chart,
                namespace=space,
                release_name=RELEASE,
                values=values,
                # GitLab's first install runs database migrations: it takes a while.
                timeout_seconds=1800,
                depends_on=[
                    *args.depends_on,
                    *args.storage,
                    *data.role.ready,
                    *secrets,
                    *registry_database_ready,
                ],
            ),
            parent=self,
        )
        if config.admin_area == "admins":
            _admin_area(name, args, host, space, [self.release, *args.depends_on], self)
        self.register_outputs({"url": self.url, "root_password": self.root_password})

    def _registry_metadata(
        self,
        name: str,
        config: GitLabConfig,
        data: GitLabDataStores,
        space: k8s.core.v1.Namespace,
        admin_password_secret: str,
        secret: Callable[[str, str, pulumi.Input[str]], str],
        secrets: Sequence[pulumi.Resource],
    ) -> tuple[dict[str, object], list[pulumi.Resource]]:
        """`registry.database`, set explicitly either way, and what the release waits for."""
        if config.registry_metadata == "legacy":
            return {"enabled": False}, []
        # Its own role and database on GitLab's RDS instance.
        password = random.RandomPassword(
            f"{name}-registry-database",
            length=40,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        password_secret = secret("registry-database-password", PASSWORD_KEY, password.result)
        job = registry_database(
            name,
            RegistryDatabaseArgs(
                namespace=space.metadata.name,
                host=data.database_host,
                admin_user=DATABASE_USER,
                admin_database=DATABASE,
                admin_password_secret=admin_password_secret,
                registry_password_secret=password_secret,
                password_key=PASSWORD_KEY,
                passwords=[password.result, data.database_password],
                # The instance, and the Secrets (both passwords among them) made so far.
                depends_on=[data.database, *secrets],
            ),
            self,
        )
        values = {
            "enabled": True,
            "password": {"secret": password_secret, "key": PASSWORD_KEY},
            # RDS PostgreSQL 15+ refuses unencrypted connections (rds.force_ssl is 1 by
            # default: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html);
            # the chart's default sslmode is `disable` (charts/registry/values.yaml).
            "sslmode": "require",
            "migrations": {"enabled": True},
        }
        return values, [job]


def _alb_annotations(args: GitLabArgs) -> dict[str, pulumi.Input[str]]:
    """GitLab's Ingresses on the shared ALB (GitLab answers `/` with a redirect)."""
    return {
        **shared_alb_annotations(
            args.alb_group,
            args.certificate_arn,
            args.access.gitlab_security_group_id,
            args.tls_policy,
        ),
        f"{ALB}/success-codes": "200-399",
    }


def _admin_area(
    name: str,
    args: GitLabArgs,
    host: str,
    space: k8s.core.v1.Namespace,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> k8s.networking.v1.Ingress:
    """`/admin` for the admin ranges only: an Ingress in the same IngressGroup whose rules come
    before the chart's (lower `group.order`). Its paths are ALB patterns, kept in the order
    listed: the admin area forwarded on a source-ip condition, then the same area and the
    spellings GitLab also routes there (`/admin.json`: Rails' optional format; `//admin`:
    Rails squeezes slashes, the ALB does not) answered 403 by the ALB itself."""

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
        f"{name}-admin-area",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{RELEASE}-admin-area",
            namespace=space.metadata.name,
            annotations={
                **_alb_annotations(args),
                f"{ALB}/group.order": "-10",
                f"{ALB}/conditions.{WEBSERVICE}": source_ip_condition(args.access.admin_cidrs),
                f"{ALB}/actions.{ADMIN_AREA_CLOSED}": fixed_response_action(
                    403, "GitLab's admin area is reachable from the admin ranges only."
                ),
            },
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name="alb",
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            *(path(p, WEBSERVICE, workhorse) for p in ADMIN_AREA_OPEN),
                            *(path(p, ADMIN_AREA_CLOSED, action) for p in ADMIN_AREA_CLOSED_TO),
                        ]
                    ),
                )
            ],
        ),
        # After the release: until the Service exists, the controller answers 503 for it.
        # A destroy removes it while the controllers still run.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )


def _gitlab_shell(args: GitLabArgs) -> dict[str, object]:
    """git over SSH: its own NLB limited to `ssh_cidrs`, or no gitlab-shell at all."""
    config = args.config
    if config.ssh == "disabled":
        return {"enabled": False}
    ssh_group = args.access.gitlab_ssh_security_group_id
    assert ssh_group is not None  # validated: ssh: nlb comes with ssh_cidrs
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
                f"{NLB}/aws-load-balancer-security-groups": ssh_group,
                f"{NLB}/aws-load-balancer-manage-backend-security-group-rules": "true",
                EXTERNAL_DNS_HOSTNAME: f"{config.hostname}-ssh.{args.domain}",
            },
            "loadBalancerSourceRanges": list(config.ssh_cidrs),
        },
    }


def _object_storage_connection(region: str) -> str:
    """Rails' object storage connection through the pods' IAM role: no keys, no endpoint
    (an endpoint breaks web-identity credentials).

    No ACL setting exists here. Workhorse, which uploads directly, builds its PutObject
    without one (gitlab workhorse/internal/upload/destination/objectstore/s3v2_object.go).
    Rails' own uploads and copies send none once GitLab sets CarrierWave's `fog_acl` to false
    for Bucket Owner Enforced buckets (gitlab app/uploaders/object_storage.rb,
    gitlab-org/gitlab#396349); the release that first ships it is not established here, so
    the README says how to check a running GitLab."""
    return yaml.safe_dump({"provider": "AWS", "use_iam_profile": True, "region": region})


def _registry_storage(bucket: pulumi.Output[str], region: str) -> pulumi.Output[str]:
    """The registry's `storage:` section (the chart inserts the Secret verbatim: GitLab chart
    docs, doc/charts/registry/_index.md, "storage"). The buckets have ACLs disabled; the S3
    driver sends the canned ACL `objectacl` (default `private`) on every upload unless
    `objectownership` is true, and then sends none (gitlab-org/container-registry v4.39.0
    docs/storage-drivers/s3_v2.md; registry/storage/driver/s3-aws/v2/s3.go `getACL`). AWS
    documents only requests without an ACL, or with bucket-owner-full-control, as accepted
    by such a bucket (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    about-object-ownership.html)."""
    return bucket.apply(
        lambda name: yaml.safe_dump(
            {"s3": {"bucket": name, "region": region, "v4auth": True, "objectownership": True}}
        )
    )
