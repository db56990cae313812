"""Self-hosted GitLab from its Helm chart (10.x), behind the shared ALB and the stack's certificate.

GitLab builds `https://` URLs (TLS ends at the ALB), serves through the chart's Ingress (chart
10's default Gateway API and bundled Envoy are off), keeps its state outside the cluster in
`GitLabDataStores` (the chart bundles no PostgreSQL, Redis or object storage), signs root in
with a password the stack generates, has no open sign-up, and serves git over SSH on its own
NLB or not at all (components/gitlab_edge.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import gitlab_storage as storage
from components.alb import TARGETS_READINESS_GATE
from components.clusters.outputs import ClusterOutputs
from components.config import ChartConfig, GitLabConfig
from components.gitlab_data import (
    DATABASE,
    DATABASE_USER,
    OBJECT_TYPES,
    GitLabDataStores,
    GitLabDataStoresArgs,
)
from components.gitlab_edge import (
    AdminAreaArgs,
    admin_area,
    hosts,
    ingress_annotations,
    ssh_values,
)
from components.helm import HelmReleaseArgs, helm_release, namespace
from components.registry_database import RegistryMetadataArgs, registry_metadata
from components.security_groups import EndpointAccess

NAMESPACE = "gitlab"
RELEASE = "gitlab"
# The chart's pods that use object storage run as `<release>-<chart>` service accounts.
OBJECT_STORAGE_ACCOUNTS = tuple(
    f"{RELEASE}-{c}" for c in ("webservice", "sidekiq", "toolbox", "migrations", "registry")
)
PASSWORD_KEY = "password"


@dataclass
class GitLabArgs:
    chart: ChartConfig
    config: GitLabConfig
    cluster: ClusterOutputs
    """Its `storage_ready`: Gitaly's volume needs the volume driver and default StorageClass,
    and a destroy must delete the namespace (and its volumes) while the driver still runs."""
    domain: str
    certificate_arn: pulumi.Input[str]
    access: EndpointAccess
    tls_policy: str
    alb_group: str
    production: bool
    id_token_lifetime_seconds: int
    """Of the ID tokens GitLab's OpenID Connect provider issues (Argo CD's sessions)."""
    depends_on: Sequence[pulumi.Resource]
    """The load balancer controller and ExternalDNS: a destroy must remove GitLab's Ingress
    (and its ALB and records) while both still run."""


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
        annotations = ingress_annotations(
            args.alb_group, args.certificate_arn, args.access, args.tls_policy
        )

        data = GitLabDataStores(
            f"{name}-data",
            GitLabDataStoresArgs(
                config=config,
                cluster=args.cluster,
                namespace=NAMESPACE,
                service_accounts=OBJECT_STORAGE_ACCOUNTS,
                production=args.production,
            ),
            child,
        )
        # Workhorse (and gitlab-shell) pods are the load balancers' targets, by IP.
        space = namespace(
            name,
            NAMESPACE,
            self,
            [*args.depends_on, *args.cluster.storage_ready],
            TARGETS_READINESS_GATE,
        )
        root_password = random.RandomPassword(f"{name}-root", length=32, special=False, opts=child)
        self.root_password = pulumi.Output.secret(root_password.result)

        secrets: list[pulumi.Resource] = []

        def secret(suffix: str, key: str, value: pulumi.Input[str]) -> str:
            """A Secret the chart reads (the release waits for it), its value a Pulumi secret."""
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
        registry_database_values, registry_database_ready = registry_metadata(
            name,
            config.registry_metadata,
            RegistryMetadataArgs(
                namespace=space.metadata.name,
                host=data.database_host,
                admin_user=DATABASE_USER,
                admin_database=DATABASE,
                admin_password=data.database_password,
                admin_password_secret=admin_password_secret,
                password_key=PASSWORD_KEY,
                make_secret=secret,
                database=data.database,
                secrets=secrets,
            ),
            self,
        )

        buckets = data.buckets
        values = {
            "global": {
                "hosts": hosts(config, args.domain),
                "ingress": {
                    "enabled": True,
                    "provider": "aws",
                    "class": "alb",
                    "configureCertmanager": False,
                    "tls": {"enabled": False},
                    "path": "/",
                    "pathType": "Prefix",
                    "annotations": annotations,
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
                    # https://docs.gitlab.com/charts/charts/globals/#configure-appconfig-settings
                    "oidcProvider": {
                        "openidIdTokenExpireInSeconds": args.id_token_lifetime_seconds
                    },
                    "object_store": {
                        "enabled": True,
                        "proxy_download": True,
                        "connection": {
                            "secret": secret(
                                "object-storage",
                                "connection",
                                storage.object_storage_connection(args.cluster.region),
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
                        storage.registry_storage(buckets["registry"], args.cluster.region),
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
                "gitlab-shell": ssh_values(
                    config, args.access.gitlab_ssh_security_group_id, args.domain
                ),
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
                                    storage.BACKUP_S3CMD_CONFIG.format(region=args.cluster.region),
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
                    *args.cluster.storage_ready,
                    *data.role.ready,
                    *secrets,
                    *registry_database_ready,
                ],
            ),
            parent=self,
        )
        if config.admin_area == "admins":
            admin_area(
                f"{name}-admin-area",
                AdminAreaArgs(
                    release=RELEASE,
                    host=host,
                    namespace=space,
                    annotations=annotations,
                    admin_cidrs=args.access.admin_cidrs,
                    depends_on=[self.release, *args.depends_on],
                ),
                self,
            )
        self.register_outputs({"url": self.url, "root_password": self.root_password})
