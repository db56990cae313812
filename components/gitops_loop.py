"""GitLab's side of the loop with Argo CD: a push reaches Argo CD at once, and Argo CD's
status reaches GitLab (Argo CD's side: components/notifications.py).

- Project hooks on the GitOps project call Argo CD inside the cluster, never through its
  public, CIDR-limited endpoint: pushes go to argocd-server's `/api/webhook` (argo-cd v3.4.4
  server/server.go; it refreshes every Application whose repository and revision the push
  touched, util/webhook/webhook.go HandleEvent), merge-request events to the ApplicationSet
  controller's webhook (port 7000, applicationset/webhook/webhook.go), which regenerates the
  previews at once. GitLab sends the hook's token as `X-Gitlab-Token`, which both compare with
  argocd-secret's `webhook.gitlab.secret`; the value is generated here and stays secret.
- GitLab refuses requests to private addresses from hooks unless their host is in its
  outbound allow-list; `LOCAL_HOSTS` are exactly the two hosts (components/gitlab_settings.py
  sets them), and a hook is checked against the list when it is saved, so the hooks wait for
  the settings.
- Argo CD's notifications post commit statuses with a project access token of role
  Maintainer, scope `api` (`read_api` cannot write). Developer may create a commit status
  (GitLab app/policies/project_policy.rb: `developer_access` enables `create_commit_status`)
  but the status also updates the commit's pipeline, which on a protected branch needs who
  may push or merge there (app/services/ci/create_commit_status_service.rb,
  `update_pipeline`; app/policies/ci/pipeline_policy.rb `protected_ref`), and `main` is
  protected for Maintainers by GitLab's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_gitlab as gitlab
import pulumi_kubernetes as k8s

from components.argocd import NAMESPACE, SERVER_SERVICE
from components.config import GitOpsConfig
from components.gitlab_tokens import ProjectToken, project_token
from components.gitops_repository import GitOpsRepository
from components.notifications import SECRET_NAME, TOKEN_KEY
from components.sign_in import PART_OF_ARGOCD

# The chart's Services for release `argocd` (argo-cd chart 10.1.1 templates/argocd-server/
# service.yaml: port 80 to the server's plain listener; templates/argocd-applicationset/
# service.yaml: port 7000, `webhook`).
SERVER_HOST = f"{SERVER_SERVICE}.{NAMESPACE}.svc.cluster.local"
APPLICATIONSET_HOST = f"{NAMESPACE}-applicationset-controller.{NAMESPACE}.svc.cluster.local"
LOCAL_HOSTS = (SERVER_HOST, APPLICATIONSET_HOST)
PUSH_HOOK_URL = f"http://{SERVER_HOST}/api/webhook"
MERGE_REQUEST_HOOK_URL = f"http://{APPLICATIONSET_HOST}:7000/api/webhook"
STATUS_TOKEN = "argocd-commit-status"
# Each GitLab process caches the application settings for 60 s
# (https://docs.gitlab.com/administration/application_settings_cache/), and a hook's URL is
# checked against the cached allow-list as it is saved.
SETTINGS_CACHE = "sleep 65"


@dataclass
class GitOpsLoopArgs:
    repository: GitOpsRepository
    config: GitOpsConfig
    webhook_secret: pulumi.Output[str]
    """Argo CD's (components/argocd.py makes it, before Argo CD starts)."""
    argocd: Sequence[pulumi.Resource]
    """The Argo CD release: its namespace holds the Secret, its Services answer the hooks."""
    settings: Sequence[pulumi.Resource]
    """GitLab's settings that admit `LOCAL_HOSTS`."""


class GitOpsLoop(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: GitOpsLoopArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:GitOpsLoop", name, None, opts)
        repository = args.repository
        in_argocd = pulumi.ResourceOptions(parent=self, depends_on=list(args.argocd))
        secret = args.webhook_secret
        settled = command.local.Command(
            f"{name}-allow-list-cached",
            create=SETTINGS_CACHE,
            triggers=list(LOCAL_HOSTS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.settings)),
        )
        # Hooks need Maintainer: the group's own token, once GitLab admits their URLs and
        # Argo CD answers them.
        hooks = pulumi.ResourceOptions(
            parent=self,
            provider=repository.automation,
            depends_on=[*args.settings, settled, *args.argocd],
        )
        for suffix, hook, description, url, push in (
            ("push", "Argo CD", "Argo CD refreshes what the push changed", PUSH_HOOK_URL, True),
            (
                "merge-requests",
                "Argo CD previews",
                "Argo CD regenerates the merge-request previews",
                MERGE_REQUEST_HOOK_URL,
                False,
            ),
        ):
            gitlab.ProjectHook(
                f"{name}-{suffix}",
                project=repository.project_id,
                name=hook,
                description=f"{description} (gitops-platform)",
                url=url,
                token=secret,
                push_events=push,
                merge_requests_events=not push,
                opts=hooks,
            )
        status_token = project_token(
            f"{name}-commit-status",
            ProjectToken(
                STATUS_TOKEN,
                "Argo CD notifications: commit statuses of the GitOps project",
                ["api"],
                "maintainer",
            ),
            repository.project_id,
            args.config,
            repository.admin,
            self,
        )
        k8s.core.v1.Secret(
            f"{name}-notifications",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRET_NAME, namespace=NAMESPACE, labels=PART_OF_ARGOCD
            ),
            string_data={TOKEN_KEY: status_token},
            opts=in_argocd,
        )
        self.register_outputs({})
