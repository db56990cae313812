"""Argo CD's side of the loop with GitLab: the webhook secret it checks pushes against, and the
notifications that post GitLab commit statuses (GitLab's side: components/gitops_loop.py).

An Application subscribes to a trigger with the annotation
`notifications.argoproj.io/subscribe.<trigger>.<service>: ""` (argo-cd v3.4.4
docs/operator-manual/notifications/subscriptions.md; a webhook service takes no recipient,
docs/operator-manual/notifications/services/webhook.md).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import yaml

SERVICE = "gitlab"
"""The webhook service (`service.webhook.gitlab` in argocd-notifications-cm)."""
TRIGGERS = {
    "on-sync-running": (
        "app.status.operationState != nil and app.status.operationState.phase in ['Running']",
        "running",
        "Argo CD is syncing",
    ),
    "on-deployed": (
        "app.status.operationState != nil and app.status.operationState.phase in "
        "['Succeeded'] and app.status.health.status == 'Healthy' and "
        "(!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before("
        "time.Parse(app.status.operationState.finishedAt)) or "
        "time.Parse(app.status.health.lastTransitionTime).Before("
        "time.Parse(app.status.operationState.startedAt)))",
        "success",
        "Synced and healthy",
    ),
    "on-sync-failed": (
        "app.status.operationState != nil and app.status.operationState.phase in "
        "['Error', 'Failed']",
        "failed",
        "The sync failed",
    ),
    # Only once a sync ran: a status needs its commit.
    "on-health-degraded": (
        "app.status.operationState != nil and app.status.health.status == 'Degraded'",
        "failed",
        "Degraded",
    ),
}
"""Each trigger: when it fires (the conditions of argo-cd v3.4.4 notifications_catalog/
triggers/<name>.yaml), the commit status it
posts (POST /projects/:id/statuses/:sha takes running, success, failed: GitLab
lib/api/commit_statuses.rb) and its description."""
ONCE_PER = (
    '(app.status.operationState?.operation?.sync?.revision ?? "") + '
    'join(app.status.operationState?.operation?.sync?.revisions ?? [], ",")'
)
"""Each trigger fires once per commit, as the catalog's do (`oncePer`), keyed on the sync
operation's revision, or a multi-source Application's revisions (the catalog's
`syncResult?.revision` is unset while a sync runs and for multi-source Applications). expr
v1.16.9 (notifications-engine's, go.mod) has `??` and `join`. GitLab refuses only a repeated
`running` (a running status job cannot run again); a repeated final state is a new job."""
SUBSCRIBE = {f"notifications.argoproj.io/subscribe.{t}.{SERVICE}": "" for t in TRIGGERS}
"""The annotations that subscribe an Application to every trigger."""
SECRET_NAME = "argocd-notifications-secret"
"""The chart's default `notifications.secret.name`, which the controller reads
(`--secret-name`); the stack creates it, holding the commit-status token."""
TOKEN_KEY = "gitlab-token"
WEBHOOK_SECRET_NAME = "argocd-webhook-gitlab"
WEBHOOK_SECRET_KEY = "secret"
WEBHOOK_SECRET_REFERENCE = f"${WEBHOOK_SECRET_NAME}:{WEBHOOK_SECRET_KEY}"
"""argocd-secret's `webhook.gitlab.secret`: Argo CD resolves a `$<secret>:<key>` there
(argo-cd v3.4.4 util/settings/settings.go, GetWebhookGitLabSecret → ReplaceStringSecret), from
a Secret labelled app.kubernetes.io/part-of: argocd, so the value is no Helm value."""
# The commit a status is for: while a sync runs, its operation's revision; once it ran, the
# revision it synced (resolved to a commit), or a multi-source Application's first source's
# (argo-cd v3.4.4 pkg/apis/application/v1alpha1/types.go, SyncOperation and
# SyncOperationResult Revision / Revisions). Go's `or` stops at the first non-empty argument.
REVISION = {
    "operation": (
        "{{ with .app.status.operationState.operation.sync }}"
        "{{ or .revision (index .revisions 0) }}{{ end }}"
    ),
    "result": (
        "{{ with .app.status.operationState.syncResult }}"
        "{{ or .revision (index .revisions 0) }}{{ end }}"
    ),
}


def _template(state: str, description: str, project_path: str) -> str:
    revision = REVISION["operation" if state == "running" else "result"]
    body = {
        "state": state,
        "name": "argocd/{{.app.metadata.name}}",
        "target_url": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
        "description": description,
    }
    return yaml.safe_dump(
        {
            "webhook": {
                SERVICE: {
                    "method": "POST",
                    "path": f"/projects/{quote(project_path, safe='')}/statuses/{revision}",
                    "body": json.dumps(body),
                }
            }
        },
        sort_keys=False,
        width=1000,
    )


def notifications_values(gitlab_url: str, project_path: str) -> dict[str, object]:
    """The chart's `notifications`: the GitLab service (its token from the stack's Secret,
    `$gitlab-token`: notifications-engine replaces `$<key>` in service settings from it), one
    template per trigger, and the triggers (argo-cd chart 10.1.1 values.yaml
    `notifications.notifiers`/`templates`/`triggers`, templates/argocd-configs/
    argocd-notifications-cm.yaml)."""
    service = {
        "url": f"{gitlab_url}/api/v4",
        "headers": [
            {"name": "PRIVATE-TOKEN", "value": f"${TOKEN_KEY}"},
            # The webhook service sends only the headers it is given.
            {"name": "Content-Type", "value": "application/json"},
        ],
    }
    return {
        "enabled": True,
        # The stack's Secret, created once the token exists: never a Helm value.
        "secret": {"create": False},
        "notifiers": {f"service.webhook.{SERVICE}": yaml.safe_dump(service, sort_keys=False)},
        "templates": {
            f"template.gitlab-{name}": _template(state, description, project_path)
            for name, (_, state, description) in TRIGGERS.items()
        },
        "triggers": {
            f"trigger.{name}": yaml.safe_dump(
                [{"when": when, "oncePer": ONCE_PER, "send": [f"gitlab-{name}"]}],
                sort_keys=False,
                width=1000,
            )
            for name, (when, _, _) in TRIGGERS.items()
        },
    }
