"""Argo CD guardrails: each fails its bad case, passes its good one, never decides on an
unknown value, and passes every stack this repository ships."""

from __future__ import annotations

import base64
import json
from typing import Any

from plans import stack_file_config
from policy_harness import (
    UNKNOWN,
    Resource,
    analyze,
    changed,
    mandatory,
    plan_decisions,
    plan_resources,
    undecided,
)
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from guardrails import REGISTRY, argocd
from offline.plan import SECRET as HIDDEN
from offline.plan import Plan
from offline.policy import config_problems

REPO = "https://gitlab.dev.gitops.example.com/platform/test-stg.git"
IN_CLUSTER = "https://kubernetes.default.svc"
GOOD_APPLICATION = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "my-app", "namespace": "argocd", "finalizers": [argocd.FINALIZER]},
    "spec": {
        "project": "platform",
        "source": {"repoURL": REPO, "path": "my-app", "targetRevision": "HEAD"},
        "destination": {"server": IN_CLUSTER, "namespace": "my-app"},
    },
}
GOOD_PROJECT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AppProject",
    "metadata": {"name": "platform", "namespace": "argocd"},
    "spec": {
        "sourceRepos": [REPO],
        "destinations": [{"server": IN_CLUSTER, "namespace": "my-app"}],
    },
}
REPOSITORY_LABELS = {"argocd.argoproj.io/secret-type": "repository"}


def application(path: str = "", value: Any = None) -> Resource:
    props = changed(GOOD_APPLICATION, path, value) if path else GOOD_APPLICATION
    return Resource(argocd.APPLICATION, props)


def project(path: str = "", value: Any = None) -> Resource:
    props = changed(GOOD_PROJECT, path, value) if path else GOOD_PROJECT
    return Resource(argocd.APP_PROJECT, props)


def repository_secret(labels: Any = None, **props: Any) -> Resource:
    metadata = {"name": "repo", "namespace": "argocd", "labels": labels or REPOSITORY_LABELS}
    return Resource(
        argocd.SECRET, {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, **props}
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_app_not_default_project() -> None:
    policy = argocd.argocd_app_not_default_project
    assert mandatory(analyze(policy, application())) == []
    (message,) = mandatory(analyze(policy, application("spec/project", "default")))
    assert "in the default project (spec.project = 'default')" in message
    assert mandatory(analyze(policy, application("spec/project", None)))
    assert undecided(analyze(policy, application("spec/project", UNKNOWN)))


def test_app_has_finalizer() -> None:
    policy = argocd.argocd_app_has_finalizer
    assert mandatory(analyze(policy, application())) == []
    background = [f"{argocd.FINALIZER}/background"]
    assert mandatory(analyze(policy, application("metadata/finalizers", background))) == []
    (message,) = mandatory(analyze(policy, application("metadata/finalizers", None)))
    assert f"metadata.finalizers lacks {argocd.FINALIZER}" in message
    assert mandatory(analyze(policy, application("metadata/finalizers", ["other.io/x"])))
    assert undecided(analyze(policy, application("metadata/finalizers", UNKNOWN)))


def test_app_not_default_namespace() -> None:
    policy = argocd.argocd_app_not_default_namespace
    assert mandatory(analyze(policy, application())) == []
    for namespace in ("default", "kube-system", "kube-public", "argocd"):
        (message,) = mandatory(
            analyze(policy, application("spec/destination/namespace", namespace))
        )
        assert f"reserved namespace {namespace!r}" in message
    (message,) = mandatory(analyze(policy, application("spec/destination/namespace", None)))
    assert "No spec.destination.namespace" in message
    assert undecided(analyze(policy, application("spec/destination/namespace", UNKNOWN)))


def test_repo_not_insecure() -> None:
    policy = argocd.argocd_repo_not_insecure
    good = {"type": "git", "url": REPO, "username": "u", "password": "p"}
    assert mandatory(analyze(policy, repository_secret(stringData=good))) == []
    # The offline preview hides the whole stringData; the CLI would send the mapping.
    assert mandatory(analyze(policy, repository_secret(stringData=HIDDEN))) == []
    (message,) = mandatory(
        analyze(policy, repository_secret(stringData={**good, "insecure": "true"}))
    )
    assert "skips TLS verification" in message
    data = {"url": b64(REPO), "insecure": b64("true")}
    (message,) = mandatory(analyze(policy, repository_secret(data=data)))
    assert "skips TLS verification" in message
    plain = {**good, "url": "http://gitlab.example.com/platform/test-stg.git"}
    (message,) = mandatory(analyze(policy, repository_secret(stringData=plain)))
    assert "'http://gitlab.example.com/platform/test-stg.git' is not https://" in message
    ssh = {**good, "url": "git@gitlab.example.com:platform/test-stg.git"}
    assert mandatory(analyze(policy, repository_secret(stringData=ssh)))
    creds = {"argocd.argoproj.io/secret-type": "repo-creds"}
    assert mandatory(
        analyze(policy, repository_secret(creds, stringData={**good, "insecure": "true"}))
    )
    other = {"app": "minio"}
    assert (
        mandatory(analyze(policy, repository_secret(other, stringData={"insecure": "true"}))) == []
    )
    assert undecided(analyze(policy, repository_secret(stringData={**good, "url": UNKNOWN})))
    assert undecided(analyze(policy, repository_secret(stringData=UNKNOWN)))


def test_repo_on_this_gitlab_without_config() -> None:
    policy = argocd.argocd_repo_on_this_gitlab
    assert mandatory(analyze(policy, application())) == []
    assert mandatory(analyze(policy, project())) == []
    (message,) = mandatory(
        analyze(policy, application("spec/source/repoURL", "https://charts.min.io/"))
    )
    assert (
        "'https://charts.min.io/' is not an https:// Git repository URL ending in .git" in message
    )
    insecure = "http://gitlab.example.com/x.git"
    assert mandatory(analyze(policy, project("spec/sourceRepos", [REPO, insecure])))
    (message,) = mandatory(analyze(policy, application("spec/source", None)))
    assert "no source repository" in message
    sources = [{"repoURL": REPO}, {"repoURL": "git@github.com:someone/else.git"}]
    multi = changed(GOOD_APPLICATION, "spec/sources", sources)
    (message,) = mandatory(analyze(policy, Resource(argocd.APPLICATION, multi)))
    assert "git@github.com:someone/else.git" in message
    assert undecided(analyze(policy, application("spec/source/repoURL", UNKNOWN)))
    assert undecided(analyze(policy, project("spec/sourceRepos", UNKNOWN)))


def test_repo_on_this_gitlab_with_config() -> None:
    policy = argocd.argocd_repo_on_this_gitlab
    config = {"allowed_repo_prefixes": ["https://gitlab.dev.gitops.example.com/platform/"]}
    assert mandatory(analyze(policy, application(), config)) == []
    assert mandatory(analyze(policy, project(), config)) == []
    elsewhere = "https://github.com/someone/else.git"
    (message,) = mandatory(analyze(policy, application("spec/source/repoURL", elsewhere), config))
    assert (
        f"{elsewhere!r} is not under ['https://gitlab.dev.gitops.example.com/platform/']" in message
    )
    (message,) = mandatory(analyze(policy, project("spec/sourceRepos", [REPO, elsewhere]), config))
    assert elsewhere in message
    assert mandatory(analyze(policy, application(), {"allowed_repo_prefixes": []})) == []


def test_project_no_wildcards() -> None:
    policy = argocd.argocd_project_no_wildcards
    assert mandatory(analyze(policy, project())) == []
    (message,) = mandatory(analyze(policy, project("spec/sourceRepos", ["*"])))
    assert "sourceRepos has a wildcard: '*'" in message
    assert mandatory(analyze(policy, project("spec/sourceRepos", ["https://gitlab.example.com/*"])))
    everywhere = [{"server": "*", "namespace": "*"}]
    assert len(mandatory(analyze(policy, project("spec/destinations", everywhere)))) == 2
    assert mandatory(analyze(policy, project("spec/sourceRepos", None))) == []
    assert undecided(analyze(policy, project("spec/destinations", [{"namespace": UNKNOWN}])))


def _previews_project(project: str = "previews", **destination: Any) -> Resource:
    props = changed(GOOD_PROJECT, "metadata/name", project)
    where = {"server": IN_CLUSTER, "namespace": "preview-*", **destination}
    return Resource(argocd.APP_PROJECT, changed(props, "spec/destinations", [where]))


def test_project_no_wildcards_allows_the_previews_pattern_for_the_previews_project_only() -> None:
    policy = argocd.argocd_project_no_wildcards
    # By default (no options, as under `pulumi preview` without a config entry).
    assert mandatory(analyze(policy, _previews_project())) == []
    assert mandatory(analyze(policy, _previews_project(), {})) == []
    # Any other project, server, pattern or field stays refused.
    (message,) = mandatory(analyze(policy, _previews_project("platform")))
    assert "A destination's namespace has a wildcard: 'preview-*'." in message
    assert mandatory(analyze(policy, _previews_project(server="https://elsewhere.example.com")))
    assert mandatory(analyze(policy, _previews_project(namespace="*")))
    assert mandatory(analyze(policy, _previews_project(namespace="prev*")))
    messages = mandatory(analyze(policy, _previews_project(server="*")))
    assert len(messages) == 2  # the server's wildcard, and so the namespace's too
    assert "A destination's server has a wildcard: '*'." in messages[0]
    # A destination that also names a cluster is no exception: both wildcards count.
    messages = mandatory(analyze(policy, _previews_project(name="in-*")))
    assert len(messages) == 2
    assert "A destination's name has a wildcard: 'in-*'." in messages[0]
    # Its sources stay exact.
    wild = changed(_previews_project().props, "spec/sourceRepos", ["*"])
    assert mandatory(analyze(policy, Resource(argocd.APP_PROJECT, wild)))
    # `[]` allows none (production's configuration); another entry allows only itself.
    none: dict[str, Any] = {"allowed_destination_patterns": []}
    assert mandatory(analyze(policy, _previews_project(), none))
    other = {
        "allowed_destination_patterns": [
            {"project": "reviews", "server": IN_CLUSTER, "namespace": "review-*"}
        ]
    }
    assert mandatory(analyze(policy, _previews_project(), other))
    assert (
        mandatory(analyze(policy, _previews_project("reviews", namespace="review-*"), other)) == []
    )


def test_the_wildcard_exception_cannot_be_configured_wide_open() -> None:
    servicer = _PolicyAnalyzerServicer(
        "p", "0.0.1", [argocd.argocd_project_no_wildcards], EnforcementLevel.MANDATORY, None
    )
    info = servicer.GetAnalyzerInfo(None, None)

    def problems(entry: dict[str, Any]) -> list[str]:
        options = {"allowed_destination_patterns": [entry]}
        return config_problems({"argocd-project-no-wildcards": options}, info)

    assert problems({"project": "previews", "server": IN_CLUSTER, "namespace": "preview-*"}) == []
    for entry in (
        {"project": "previews", "server": IN_CLUSTER, "namespace": "*"},
        {"project": "previews", "server": "*", "namespace": "preview-*"},
        {"project": "previews", "server": IN_CLUSTER, "namespace": "preview-*-x"},
        {"project": "previews", "namespace": "preview-*"},
    ):
        assert problems(entry), entry


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"spec": {"project": "default", "sourceRepos": ["*"]}})
    for policy in REGISTRY.of(argocd):
        assert analyze(policy, other) == []


KOPS = stack_file_config("kops")
DEV = stack_file_config("dev")


def test_the_shipped_stacks_pass_with_their_gitlab_as_the_only_source(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    for plan in (dev_plan, prod_plan):
        config = {"allowed_repo_prefixes": [f"{plan.outputs['gitlab_url']}/"]}
        assert plan_decisions(REGISTRY.of(argocd), plan, config) == []


CLUSTER_LABELS = {"argocd.argoproj.io/secret-type": "cluster"}
IAM_CONFIG = {
    "awsAuthConfig": {
        "clusterName": "gitops-platform-spoke-eu",
        "roleARN": "arn:aws:iam::123456789012:role/gitops-platform-spoke-eu-fleet-argocd",
    },
    "tlsClientConfig": {"insecure": False, "caData": "LS0tLS1CRUdJTi0tLS0t"},
}


def cluster_secret(config: Any, encoded: bool = False) -> Resource:
    text = json.dumps(config) if not isinstance(config, str) else config
    fields = {"name": "spoke-eu", "server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com"}
    props = (
        {"data": {k: b64(v) for k, v in {**fields, "config": text}.items()}}
        if encoded
        else {"stringData": {**fields, "config": text}}
    )
    return repository_secret(labels=CLUSTER_LABELS, **props)


def test_clusters_sign_in_with_iam() -> None:
    policy = argocd.argocd_clusters_sign_in_with_iam
    assert mandatory(analyze(policy, cluster_secret(IAM_CONFIG))) == []
    assert (
        mandatory(analyze(policy, repository_secret(labels=CLUSTER_LABELS, stringData=HIDDEN)))
        == []
    )
    tls = IAM_CONFIG["tlsClientConfig"]
    for bad, expected in (
        ({**IAM_CONFIG, "bearerToken": "eyJhbGciOi"}, "`bearerToken`: a long-lived credential"),
        ({**IAM_CONFIG, "password": "x", "username": "admin"}, "`password`"),
        (
            {**IAM_CONFIG, "execProviderConfig": {"command": "aws", "args": ["eks", "get-token"]}},
            "`execProviderConfig`",
        ),
        ({**IAM_CONFIG, "tlsClientConfig": {**tls, "keyData": "a2V5"}}, "`keyData`"),
        ({**IAM_CONFIG, "tlsClientConfig": {**tls, "insecure": True}}, "skips TLS verification"),
        ({"tlsClientConfig": tls}, "does not sign in with IAM"),
        ({**IAM_CONFIG, "awsAuthConfig": {"clusterName": "x"}}, "names no roleARN"),
        (
            {**IAM_CONFIG, "awsAuthConfig": {**IAM_CONFIG["awsAuthConfig"], "profile": "ci"}},
            "names a `profile`",
        ),
        ("not json", "not JSON"),
    ):
        messages = mandatory(analyze(policy, cluster_secret(bad)))
        assert any(expected in m for m in messages), (bad, messages)
    # The same in `data`, as `kubectl` or another tool would write it.
    (message,) = mandatory(
        analyze(policy, cluster_secret({**IAM_CONFIG, "bearerToken": "t"}, encoded=True))
    )
    assert "bearerToken" in message
    # A repository Secret is not a cluster Secret.
    assert mandatory(analyze(policy, repository_secret(stringData={"url": REPO}))) == []


def test_the_hubs_cluster_secrets_sign_in_with_iam_and_a_token_in_one_trips() -> None:
    from plans import fleet_plan

    hub = fleet_plan("hub")
    policy = argocd.argocd_clusters_sign_in_with_iam
    assert plan_decisions([policy], hub) == []
    resources = [
        r
        for r in plan_resources(hub)
        if r.props.get("metadata", {}).get("labels", {}).get("argocd.argoproj.io/secret-type")
        == "cluster"
    ]
    assert len(resources) == 2
    stolen = json.loads(resources[0].props["stringData"]["config"])
    stolen["bearerToken"] = "eyJhbGciOiJSUzI1NiJ9.long-lived"
    tampered = Resource(
        resources[0].type,
        {
            **resources[0].props,
            "stringData": {**resources[0].props["stringData"], "config": json.dumps(stolen)},
        },
    )
    (message,) = mandatory(analyze(policy, tampered))
    assert "long-lived credential" in message
