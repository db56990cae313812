"""The Argo CD side of GitOps: repository credentials, an AppProject, and the Applications.

Every Application depends on the Argo CD release (its CRDs exist first, and on destroy the
Application is deleted while Argo CD still runs to honour the resources finalizer), on the
repository Secret and on the committed files it deploys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import (
    ApplicationConfig,
    GitOpsConfig,
    GroupRole,
    IgnoreDifference,
    SyncConfig,
)
from components.gitops_repository import READ_TOKEN_USERNAME, GitOpsRepository
from components.notifications import SUBSCRIBE
from components.sign_in import project_roles

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
APP_PROJECT = "platform"
MINIO_PATH = "minio"
MINIO_ROOT_SECRET = "minio-root"  # gitops/minio/values-minio.yaml: existingSecret
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
"""A failed sync is retried with a backoff."""


@dataclass
class ApplicationsArgs:
    applications: Sequence[ApplicationConfig]
    gitops: GitOpsConfig
    repository: GitOpsRepository
    argocd: Sequence[pulumi.Resource]
    """The Argo CD release."""
    group_roles: Sequence[GroupRole] = ()
    """GitLab groups and their roles: the `deployer` ones hold the AppProject's role."""
    storage: Sequence[pulumi.Resource] = ()
    """The volume driver and default StorageClass: apps' volumes are created with them, and
    deleted (through the Application's finalizer) while they still run."""


class Applications(pulumi.ComponentResource):
    minio_root_password: pulumi.Output[str] | None
    applications: dict[str, k8s.apiextensions.CustomResource]
    repository_secret: k8s.core.v1.Secret
    """Argo CD's credentials for the GitOps repository."""

    def __init__(
        self, name: str, args: ApplicationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:Applications", name, None, opts)
        after_argocd = pulumi.ResourceOptions(parent=self, depends_on=list(args.argocd))
        repository = args.repository
        credentials = k8s.core.v1.Secret(
            f"{name}-repository",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"repo-{args.gitops.group}-{args.gitops.project}".replace("/", "-").lower(),
                namespace=ARGOCD_NAMESPACE,
                labels={"argocd.argoproj.io/secret-type": "repository"},
            ),
            string_data={
                "type": "git",
                "url": repository.clone_url,
                "username": READ_TOKEN_USERNAME,
                "password": repository.read_token,
            },
            opts=after_argocd,
        )
        self.repository_secret = credentials
        project = k8s.apiextensions.CustomResource(
            f"{name}-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=APP_PROJECT, namespace=ARGOCD_NAMESPACE),
            spec={
                "description": "The platform's applications, from its own GitLab project",
                "sourceRepos": [repository.clone_url],
                "destinations": [
                    {"server": IN_CLUSTER, "namespace": ns}
                    for ns in sorted({app.namespace for app in args.applications})
                ],
                # CreateNamespace=true needs to create Namespaces; nothing else cluster-wide.
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
                **_roles(args.group_roles),
            },
            opts=after_argocd,
        )
        extra = self._minio_credentials(name, args.applications)
        self.applications = {
            app.name: k8s.apiextensions.CustomResource(
                f"{name}-{app.name}",
                api_version="argoproj.io/v1alpha1",
                kind="Application",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=app.name,
                    namespace=ARGOCD_NAMESPACE,
                    finalizers=[FINALIZER],
                    # Its sync and health reach GitLab as commit statuses.
                    annotations=SUBSCRIBE,
                ),
                spec=application_spec(app, repository.clone_url),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[
                        *args.argocd,
                        credentials,
                        project,
                        *repository.committed,
                        *args.storage,
                        *extra.get(app.name, []),
                    ],
                ),
            )
            for app in args.applications
        }
        self.register_outputs({})

    def _minio_credentials(
        self, name: str, applications: Sequence[ApplicationConfig]
    ) -> dict[str, list[pulumi.Resource]]:
        """MinIO's root credentials: generated here, read by the chart from a Secret."""
        minio = [app for app in applications if app.path == MINIO_PATH]
        self.minio_root_password = None
        created: dict[str, list[pulumi.Resource]] = {}
        for app in minio:
            password = random.RandomPassword(
                f"{name}-{app.name}-root",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            space = k8s.core.v1.Namespace(
                f"{name}-{app.name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=app.namespace),
                opts=pulumi.ResourceOptions(parent=self),
            )
            root_password: pulumi.Output[str] = pulumi.Output.secret(password.result)
            secret = k8s.core.v1.Secret(
                f"{name}-{app.name}-root",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=MINIO_ROOT_SECRET, namespace=space.metadata.name
                ),
                string_data={
                    "rootUser": "minio-admin",
                    "rootPassword": root_password,
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            created[app.name] = [secret]
            self.minio_root_password = root_password
        return created


def _roles(group_roles: Sequence[GroupRole]) -> dict[str, Any]:
    roles = project_roles(APP_PROJECT, group_roles)
    return {"roles": roles} if roles else {}


def application_spec(app: ApplicationConfig, repo_url: pulumi.Input[str]) -> dict[str, Any]:
    """An Application of the platform's project: its folder of the GitOps repository at HEAD,
    deployed into its namespace of this cluster (created if missing, unless configured not
    to), synced automatically when configured, with the configured sync options and ignored
    differences, and retried with a backoff when a sync fails."""
    source: dict[str, Any] = {"repoURL": repo_url, "path": app.path, "targetRevision": "HEAD"}
    if app.value_files:
        source["helm"] = {"valueFiles": list(app.value_files)}
    sync_policy: dict[str, Any] = {
        "syncOptions": sync_options(app.sync),
        "retry": RETRY,
    }
    if app.sync.automated:
        sync_policy["automated"] = {
            "prune": app.sync.automated_prune(),
            "selfHeal": app.sync.automated_self_heal(),
        }
    spec: dict[str, Any] = {
        "project": APP_PROJECT,
        "source": source,
        "destination": {"server": IN_CLUSTER, "namespace": app.namespace},
        "syncPolicy": sync_policy,
    }
    if app.sync.ignore_differences:
        spec["ignoreDifferences"] = [_ignored(entry) for entry in app.sync.ignore_differences]
    return spec


def sync_options(sync: SyncConfig) -> list[str]:
    """`syncPolicy.syncOptions`, spelled as docs/user-guide/sync-options.md (Argo CD v3.4.4)
    spells them: those set to something other than Argo CD's default (Validate=true, every
    other option off), in a fixed order."""
    chosen = {
        "CreateNamespace=true": sync.create_namespace,
        "PruneLast=true": sync.prune_last,
        "ApplyOutOfSyncOnly=true": sync.apply_out_of_sync_only,
        "ServerSideApply=true": sync.server_side_apply,
        "Replace=true": sync.replace,
        "RespectIgnoreDifferences=true": sync.respect_ignore_differences,
        "Validate=false": not sync.validate_manifests,
    }
    return [option for option, on in chosen.items() if on]


def _ignored(entry: IgnoreDifference) -> dict[str, Any]:
    """A `spec.ignoreDifferences` entry with the Application CRD's field names (argo-cd chart
    10.1.1, templates/crds/crd-application.yaml:1012-1044): only the keys that are set."""
    fields = {
        "group": entry.group,
        "kind": entry.kind,
        "name": entry.name,
        "namespace": entry.namespace,
        "jsonPointers": list(entry.json_pointers),
        "jqPathExpressions": list(entry.jq_path_expressions),
        "managedFieldsManagers": list(entry.managed_fields_managers),
    }
    return {key: value for key, value in fields.items() if value or key == "kind"}
