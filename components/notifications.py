"""What ties Argo CD's status back to GitLab: the notification triggers each Application
subscribes to, and the service that posts GitLab commit statuses (components/gitops_loop.py
configures it).

An Application subscribes with one annotation per trigger,
`notifications.argoproj.io/subscribe.<trigger>.<service>: ""` (argo-cd v3.4.4
docs/operator-manual/notifications/subscriptions.md; a webhook service takes no recipient,
docs/operator-manual/notifications/services/webhook.md).
"""

from __future__ import annotations

SERVICE = "gitlab"
"""The webhook service (`service.webhook.gitlab` in argocd-notifications-cm)."""
TRIGGERS = {
    "on-sync-running": "running",
    "on-deployed": "success",
    "on-sync-failed": "failed",
    "on-health-degraded": "failed",
}
"""Each trigger, and the GitLab commit status it posts (POST /projects/:id/statuses/:sha
takes `running`, `success`, `failed`: GitLab lib/api/commit_statuses.rb)."""
SUBSCRIBE = {f"notifications.argoproj.io/subscribe.{t}.{SERVICE}": "" for t in TRIGGERS}
"""The annotations that subscribe an Application to every trigger."""
