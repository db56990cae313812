"""The loop between GitLab and Argo CD: a push reaches Argo CD at once through project hooks on
in-cluster URLs, with a generated shared secret, and Argo CD posts commit statuses back with a
Maintainer token. Each test removes one link if it fails."""

from __future__ import annotations

import base64
from typing import Any

import yaml
from plans import depends_on, one
from upstream import chart_archive, helm_template

from components.gitops_loop import LOCAL_HOSTS
from components.notifications import SUBSCRIBE, TRIGGERS
from offline.plan import SECRET, Plan

RELEASE = "kubernetes:helm.sh/v3:Release"
HOOK = "gitlab:index/projectHook:ProjectHook"
SECRET_TYPE = "kubernetes:core/v1:Secret"
SETTINGS = "gitlab:index/applicationSettings:ApplicationSettings"


def argocd_values(plan: Plan) -> dict[str, Any]:
    values: dict[str, Any] = one(plan, RELEASE, "-argocd")["inputs"]["values"]
    return values


def test_pushes_and_merge_requests_reach_argo_cd_inside_the_cluster(dev_plan: Plan) -> None:
    push = one(dev_plan, HOOK, "-loop-push")["inputs"]
    merge_requests = one(dev_plan, HOOK, "-loop-merge-requests")["inputs"]
    assert push["url"] == "http://argocd-server.argocd.svc.cluster.local/api/webhook"
    assert (push["pushEvents"], push["mergeRequestsEvents"]) == (True, False)
    assert merge_requests["url"] == (
        "http://argocd-applicationset-controller.argocd.svc.cluster.local:7000/api/webhook"
    )
    assert (merge_requests["pushEvents"], merge_requests["mergeRequestsEvents"]) == (False, True)
    project = one(dev_plan, "gitlab:index/project:Project")
    automation = one(dev_plan, "pulumi:providers:gitlab", "-gitops-automation")
    for hook in dev_plan.of_type(HOOK):
        assert hook["inputs"]["token"] == SECRET
        assert hook["property_dependencies"]["project"] == [project["urn"]]
        assert hook["provider"] == automation["urn"]
        # GitLab checks a hook's URL against its (cached) allow-list when the hook is saved,
        # and the hook calls Argo CD's Services.
        assert depends_on(hook, one(dev_plan, SETTINGS))
        assert depends_on(hook, one(dev_plan, "command:local:Command", "-allow-list-cached"))
        assert depends_on(hook, one(dev_plan, RELEASE, "-argocd"))
    wait = one(dev_plan, "command:local:Command", "-allow-list-cached")
    assert wait["inputs"]["create"] == "sleep 65"
    assert depends_on(wait, one(dev_plan, SETTINGS))


def test_gitlab_may_call_exactly_the_two_in_cluster_hosts(dev_plan: Plan) -> None:
    settings = one(dev_plan, SETTINGS)["inputs"]
    assert settings["outboundLocalRequestsWhitelists"] == list(LOCAL_HOSTS)
    assert settings["allowLocalRequestsFromWebHooksAndServices"] is False
    assert settings["allowLocalRequestsFromSystemHooks"] is False
    assert set(LOCAL_HOSTS) == {
        "argocd-server.argocd.svc.cluster.local",
        "argocd-applicationset-controller.argocd.svc.cluster.local",
    }


def test_argo_cd_checks_pushes_against_a_secret_it_reads_by_reference(dev_plan: Plan) -> None:
    webhook = one(dev_plan, SECRET_TYPE, "-argocd-webhook")
    secret = webhook["inputs"]
    assert secret["metadata"]["name"] == "argocd-webhook-gitlab"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
    assert secret["stringData"] == SECRET
    # There before Argo CD starts: the ApplicationSet controller reads it only then.
    assert depends_on(one(dev_plan, RELEASE, "-argocd"), webhook)
    value = one(dev_plan, "random:index/randomPassword:RandomPassword", "-argocd-webhook")
    for hook in dev_plan.of_type(HOOK):
        assert value["urn"] in hook["property_dependencies"]["token"]
    values = argocd_values(dev_plan)["configs"]["secret"]
    assert values["gitlabSecret"] == "$argocd-webhook-gitlab:secret"


def test_argo_cd_posts_commit_statuses_with_a_maintainer_token(dev_plan: Plan) -> None:
    """Maintainer: a status updates the commit's pipeline, which on the protected `main`
    needs who may push there."""
    token = one(dev_plan, "gitlab:index/projectAccessToken:ProjectAccessToken", "-commit-status")
    assert (token["inputs"]["scopes"], token["inputs"]["accessLevel"]) == (["api"], "maintainer")
    assert token["inputs"]["rotationConfiguration"] == {
        "expirationDays": 90,
        "rotateBeforeDays": 60,
    }
    admin = one(dev_plan, "pulumi:providers:gitlab", "-gitops-gitlab")
    assert token["provider"] == admin["urn"]  # a bot cannot create tokens
    secret = one(dev_plan, SECRET_TYPE, "-loop-notifications")
    assert secret["inputs"]["metadata"]["name"] == "argocd-notifications-secret"
    assert secret["inputs"]["stringData"] == SECRET
    assert token["urn"] in secret["property_dependencies"]["stringData"]
    assert depends_on(secret, one(dev_plan, RELEASE, "-argocd"))
    notifications = argocd_values(dev_plan)["notifications"]
    assert notifications["secret"] == {"create": False}  # never a Helm value


def test_every_application_is_subscribed_to_every_trigger(dev_plan: Plan) -> None:
    applications = dev_plan.of_type("kubernetes:argoproj.io/v1alpha1:Application")
    assert applications
    for application in applications:
        annotations = application["inputs"]["metadata"]["annotations"]
        assert annotations == SUBSCRIBE
    # Each annotation names a trigger the rendered notifications define (below).
    assert {key.split(".")[-2] for key in SUBSCRIBE} == set(TRIGGERS)


def test_the_rendered_notifications_post_gitlab_commit_statuses(dev_plan: Plan) -> None:
    """Real Helm renders the pinned chart with the dev values: argocd-notifications-cm holds
    the GitLab service, one template per trigger posting to the GitOps project's statuses, and
    the triggers; argocd-secret holds the webhook secret's reference, and the chart makes no
    notifications Secret of its own."""
    objects = helm_template(
        chart_archive("argo-cd", "10.1.1"), argocd_values(dev_plan), "argocd", "argocd"
    )
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    data = by_name[("ConfigMap", "argocd-notifications-cm")]["data"]
    service = yaml.safe_load(data["service.webhook.gitlab"])
    assert service["url"] == "https://gitlab.dev.gitops.example.com/api/v4"
    assert {"name": "PRIVATE-TOKEN", "value": "$gitlab-token"} in service["headers"]
    states = set()
    for trigger, (_, state, _) in TRIGGERS.items():
        (rule,) = yaml.safe_load(data[f"trigger.{trigger}"])
        (template_name,) = rule["send"]
        webhook = yaml.safe_load(data[f"template.{template_name}"])["webhook"]["gitlab"]
        assert webhook["method"] == "POST"
        assert webhook["path"].startswith("/projects/platform%2Ftest-stg/statuses/{{")
        # Running: the operation's revision; after: the commit it synced.
        source = "operation.sync" if state == "running" else "syncResult"
        assert f".app.status.operationState.{source} }}}}" in webhook["path"]
        assert "operation?.sync?.revision" in rule["oncePer"]
        assert rule["when"].startswith("app.status.operationState != nil")
        body = webhook["body"]
        assert f'"state": "{state}"' in body
        assert "/applications/{{.app.metadata.name}}" in body
        states.add(state)
    assert states == {"running", "success", "failed"}
    assert "https://argocd.dev.gitops.example.com" in data["context"]
    secret = by_name[("Secret", "argocd-secret")]["data"]
    reference = base64.b64decode(secret["webhook.gitlab.secret"]).decode()
    assert reference == "$argocd-webhook-gitlab:secret"
    assert ("Secret", "argocd-notifications-secret") not in by_name
