"""A preview per merge request: an Argo CD ApplicationSet whose pull-request generator asks
GitLab for the open merge requests of the GitOps project that carry the previews label, and
makes one Application per merge request, `preview-<iid>`, in a project of its own (README,
"Previews per merge request").

Each preview has two sources (argo-cd v3.4.4 docs/user-guide/multiple_sources.md): the
configured folder as the merge request has it (`head_sha`), and the chart gitops/
preview-namespace from the default branch, which renders the namespace itself, its
ResourceQuota and its LimitRange. The chart is the last source: where both make the same
object, the last source's wins (same page: "the last source to produce the resource will take
precedence"), so a merge request cannot replace the quota.

How many previews run at once is capped by a ResourceQuota on Applications in namespace
argocd: the API server refuses the Application that would exceed it
(https://kubernetes.io/docs/concepts/policy/resource-quotas/#object-count-quota,
`count/<resource>.<group>` for custom resources), and the ApplicationSet controller goes on
with the others and reports the refusal on the ApplicationSet (argo-cd v3.4.4
applicationset/controllers/applicationset_controller.go:779-782, createOrUpdateInCluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gitlab as gitlab
import pulumi_kubernetes as k8s

from components.applications import ARGOCD_NAMESPACE, FINALIZER, IN_CLUSTER, RETRY, Applications
from components.config import GitOpsConfig, PlatformConfig, PreviewsConfig
from components.gitlab_tokens import ProjectToken, project_token
from components.gitops_repository import GitOpsRepository
from components.notifications import SUBSCRIBE

PROJECT = "previews"
NAMESPACES = "preview-*"
"""The preview namespaces, `preview-<merge request iid>`: the project's one destination."""
NAMESPACE_CHART = "preview-namespace"
"""The chart in gitops/ that makes a preview's namespace, quota and limits."""
TOKEN_NAME = "argocd-previews"
TOKEN_SECRET = "gitlab-previews"
TOKEN_KEY = "token"
SCM_CREDS = {"argocd.argoproj.io/secret-type": "scm-creds"}
"""Needed only with the ApplicationSet controller's token-ref strict mode (off by default:
argo-cd v3.4.4 cmd/argocd-applicationset-controller/commands/applicationset_controller.go:291;
checked in applicationset/utils/kubernetes.go:35-37, GetSecretRef), set so that turning it on
does not break previews."""
QUOTA_RESOURCE = "count/applications.argoproj.io"


def preview_folders(config: PlatformConfig) -> list[str]:
    """The folders of gitops/ the previews deploy from: none when previews are off."""
    return [config.previews.path, NAMESPACE_CHART] if config.previews_enabled() else []


@dataclass
class PreviewsArgs:
    config: PreviewsConfig
    gitops: GitOpsConfig
    repository: GitOpsRepository
    applications: Applications
    """The stack's own Applications: the quota counts them too, and the previews use their
    repository Secret."""
    gitlab_url: str
    argocd: Sequence[pulumi.Resource]
    """The Argo CD release."""


class Previews(pulumi.ComponentResource):
    application_set: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: PreviewsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:Previews", name, None, opts)
        repository = args.repository
        after_argocd = pulumi.ResourceOptions(parent=self, depends_on=list(args.argocd))
        # Listing merge requests needs the API: read_api, the read-only API scope
        # (https://docs.gitlab.com/security/tokens/access_token_scopes/; read_repository
        # covers Git and the repository files API only), and Reporter, the least role that
        # reads the merge requests of a private project (gitlab-org/gitlab
        # app/policies/project_policy.rb: `read_merge_request` is in the `reporter_access`
        # rule; a Guest gets it only for its own). Made as root: a bot cannot create tokens.
        value = project_token(
            f"{name}-token",
            ProjectToken(
                TOKEN_NAME,
                "Argo CD: lists the merge requests labelled for a preview",
                ["read_api"],
                "reporter",
            ),
            repository.project_id,
            args.gitops,
            repository.admin,
            self,
        )
        secret = k8s.core.v1.Secret(
            f"{name}-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TOKEN_SECRET, namespace=ARGOCD_NAMESPACE, labels=SCM_CREDS
            ),
            string_data={TOKEN_KEY: value},
            opts=after_argocd,
        )
        # The label a merge request gets for a preview, so that it is there to pick; made
        # with the group's token.
        gitlab.ProjectLabel(
            f"{name}-label",
            project=repository.project_id,
            name=args.config.label,
            color="#1f75cb",
            description="A preview of this merge request in preview-<iid> (gitops-platform)",
            opts=pulumi.ResourceOptions(parent=self, provider=repository.automation),
        )
        own = len(args.applications.applications)
        quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="applications", namespace=ARGOCD_NAMESPACE),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=cap(own, args.config.max)),
            opts=after_argocd,
        )
        project = k8s.apiextensions.CustomResource(
            f"{name}-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROJECT, namespace=ARGOCD_NAMESPACE),
            spec=project_spec(repository.clone_url),
            opts=after_argocd,
        )
        self.application_set = k8s.apiextensions.CustomResource(
            f"{name}-set",
            api_version="argoproj.io/v1alpha1",
            kind="ApplicationSet",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROJECT, namespace=ARGOCD_NAMESPACE),
            spec=application_set_spec(
                args.config, f"{args.gitlab_url}/", repository.project_id, repository.clone_url
            ),
            # Pulumi deletes it with foreground propagation (the default): the delete waits
            # for its Applications, and so for their finalizers to delete the previews
            # (https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/,
            # pulumi.com/deletionPropagationPolicy), while Argo CD still runs.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    *args.argocd,
                    args.applications.repository_secret,
                    *repository.committed,
                    secret,
                    quota,
                    project,
                ],
            ),
        )
        self.register_outputs({})


def cap(own: int, previews: int) -> dict[str, str]:
    """The quota on Applications in namespace argocd: the stack's own and `previews` more.
    Nothing else there makes Applications (tests/test_previews.py holds this)."""
    return {QUOTA_RESOURCE: str(own + previews)}


def project_spec(repo_url: pulumi.Input[str]) -> dict[str, Any]:
    """The previews' AppProject: the GitOps repository only, the preview namespaces of this
    cluster only, and of cluster-wide objects only those namespaces (a whitelist entry's
    `name` is a glob: argo-cd v3.4.4 pkg/apis/application/v1alpha1/types.go:2807-2813,
    ClusterResourceRestrictionItem; destinations' namespaces too: app_project_types.go:513)."""
    return {
        "description": "Previews of merge requests: one namespace each, from the GitOps "
        "repository only (gitops-platform, previews)",
        "sourceRepos": [repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": NAMESPACES}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": NAMESPACES}],
    }


def chart_values(config: PreviewsConfig) -> dict[str, Any]:
    """The values of gitops/preview-namespace, from the stack's config."""
    quota, limits = config.quota, config.limits
    return {
        "podSecurity": config.pod_security,
        "quota": {
            "requestsCpu": quota.requests_cpu,
            "requestsMemory": quota.requests_memory,
            "limitsCpu": quota.limits_cpu,
            "limitsMemory": quota.limits_memory,
            "pods": quota.pods,
        },
        "limits": {
            "defaultRequestCpu": limits.default_request_cpu,
            "defaultRequestMemory": limits.default_request_memory,
            "defaultCpu": limits.default_cpu,
            "defaultMemory": limits.default_memory,
            "maxCpu": limits.max_cpu,
            "maxMemory": limits.max_memory,
        },
    }


def application_set_spec(
    config: PreviewsConfig,
    api: str,
    project_id: pulumi.Input[str],
    repo_url: pulumi.Input[str],
) -> dict[str, Any]:
    """The ApplicationSet: GitLab's pull-request generator (argo-cd v3.4.4
    docs/operator-manual/applicationset/Generators-Pull-Request.md, "GitLab": `api` is the
    instance's URL, `project` its numeric id, `labels` all required, `pullRequestState`
    `opened`), Go templates that fail on a missing key (same page, and GoTemplate.md: "The
    recommended setting of `goTemplateOptions` is `["missingkey=error"]`"), `number` being
    the merge request's iid and `head_sha` its head (applicationset/generators/
    pull_request.go:104-110; services/pull_request/gitlab.go, List: `Number: mr.IID`,
    `HeadSHA: mr.SHA`)."""
    namespace = "preview-{{.number}}"
    return {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [
            {
                "pullRequest": {
                    "gitlab": {
                        "api": api,
                        "project": project_id,
                        "tokenRef": {"secretName": TOKEN_SECRET, "key": TOKEN_KEY},
                        "labels": [config.label],
                        "pullRequestState": "opened",
                    },
                    "requeueAfterSeconds": config.requeue_after_seconds,
                }
            }
        ],
        # A closed, merged or unlabelled merge request's Application is deleted, and its
        # finalizer deletes what it deployed, the namespace among it (Application-Deletion.md).
        "syncPolicy": {"preserveResourcesOnDeletion": False},
        "template": {
            "metadata": {
                "name": namespace,
                "finalizers": [FINALIZER],
                "labels": {"gitops-platform.io/preview": "true"},
                "annotations": dict(SUBSCRIBE),
            },
            "spec": {
                "project": PROJECT,
                "sources": [
                    {"repoURL": repo_url, "path": config.path, "targetRevision": "{{.head_sha}}"},
                    {
                        "repoURL": repo_url,
                        "path": NAMESPACE_CHART,
                        "targetRevision": "HEAD",
                        # Argo CD renders a chart into the destination namespace: it is
                        # .Release.Namespace (argo-cd v3.4.4 reposerver/repository/
                        # repository.go:1215; util/helm/cmd.go:415, --namespace).
                        "helm": {"valuesObject": chart_values(config)},
                    },
                ],
                "destination": {"server": IN_CLUSTER, "namespace": namespace},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    # With the chart's Namespace among the targets Argo CD creates it as one
                    # of the Application's objects, and this adds nothing (argo-cd v3.4.4
                    # gitops-engine/pkg/sync/sync_context.go:1150-1155, autoCreateNamespace);
                    # a safety net only.
                    "syncOptions": ["CreateNamespace=true"],
                    "retry": RETRY,
                },
            },
        },
    }
