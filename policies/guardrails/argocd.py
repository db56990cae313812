"""Argo CD objects: Applications in their own project and namespace that clean up after
themselves, projects without wildcards, and repositories reached over verified HTTPS on this
platform's GitLab."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from guardrails._common import dig, resource_rule

APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"
APPLICATION_SET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
SECRET = "kubernetes:core/v1:Secret"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
REPOSITORY_SECRET_TYPE = "repository"
REPOSITORY_SECRET_TYPES = (REPOSITORY_SECRET_TYPE, "repo-creds")
ARGOCD_NAMESPACE = "argocd"
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", ARGOCD_NAMESPACE)
REPO_PREFIXES = PolicyConfigSchema(
    properties={
        "allowed_repo_prefixes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "URL prefixes of the allowed Git repositories (this platform's "
            "GitLab); empty: any https:// URL ending in .git.",
            "default": [],
        }
    },
)


IN_CLUSTER = "https://kubernetes.default.svc"
PREVIEWS = {"project": "previews", "server": IN_CLUSTER, "namespace": "preview-*"}
"""The one wildcard destination allowed by default: the previews' project (components/
previews.py), on this cluster, in the namespaces `preview-<merge request iid>`."""
DESTINATION_PATTERNS = PolicyConfigSchema(
    properties={
        "allowed_destination_patterns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "project": {"type": "string", "minLength": 1},
                    "server": {"type": "string", "pattern": r"^[^*]+$"},
                    # A fixed prefix of a DNS label and `-*`: never `*` alone.
                    "namespace": {
                        "type": "string",
                        "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?-\*$",
                    },
                },
                "required": ["project", "server", "namespace"],
                "additionalProperties": False,
            },
            "description": "Wildcard destinations allowed, each for one AppProject (by name) "
            "and one exact server: a namespace pattern of a fixed prefix and `-*`. Default: "
            "the previews' `preview-*` on the in-cluster server; `[]` allows none.",
            "default": [PREVIEWS],
        }
    },
)


def _decoded(value: Any) -> Any:
    """A Secret's `data` value as text (or as given, if it is not base64)."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except binascii.Error:
        return value


def repository_fields(props: Mapping[str, Any]) -> dict[str, Any] | None:
    """A (repository or cluster) Secret's fields as Kubernetes merges them (stringData over
    data), or None when neither is a mapping (the offline preview hides secret values as a
    string)."""
    data = props.get("data")
    string_data = props.get("stringData")
    if not isinstance(data, Mapping) and not isinstance(string_data, Mapping):
        return None
    fields: dict[str, Any] = {}
    if isinstance(data, Mapping):
        fields.update({key: _decoded(data[key]) for key in data})
    if isinstance(string_data, Mapping):
        fields.update({key: string_data[key] for key in string_data})
    return fields


def source_repo_urls(spec: Mapping[str, Any]) -> list[Any]:
    """An Application's repository URLs: `source`, and each of `sources`."""
    urls = [dig(spec, "source", "repoURL")] if dig(spec, "source") is not None else []
    urls += [dig(source, "repoURL") for source in spec.get("sources") or []]
    return urls


@resource_rule(
    "argocd-app-not-default-project",
    "Applications belong to a project that limits their sources and destinations, not to "
    "the unrestricted `default` project.",
    types=[APPLICATION],
    remediation="Set spec.project to the platform's AppProject (components/applications.py).",
)
def argocd_app_not_default_project(args: ResourceValidationArgs) -> Iterator[str]:
    project = dig(args.props, "spec", "project")
    if project in (None, "", "default"):
        yield f"The Application is in the default project (spec.project = {project!r})."


@resource_rule(
    "argocd-app-has-finalizer",
    "Deleting an Application deletes what it deployed, so a destroy leaves nothing behind.",
    types=[APPLICATION],
    remediation=f"Add {FINALIZER} to metadata.finalizers.",
    severity=Severity.MEDIUM,
)
def argocd_app_has_finalizer(args: ResourceValidationArgs) -> Iterator[str]:
    finalizers = dig(args.props, "metadata", "finalizers") or []
    if not any(f == FINALIZER or str(f).startswith(f"{FINALIZER}/") for f in finalizers):
        yield f"metadata.finalizers lacks {FINALIZER}: deleting it orphans its resources."


@resource_rule(
    "argocd-app-not-default-namespace",
    "Applications deploy into their own namespace, not into a system namespace or Argo CD's.",
    types=[APPLICATION],
    remediation="Set spec.destination.namespace to the application's own namespace.",
)
def argocd_app_not_default_namespace(args: ResourceValidationArgs) -> Iterator[str]:
    namespace = dig(args.props, "spec", "destination", "namespace")
    if not namespace:
        yield "No spec.destination.namespace: namespaced resources land in `default`."
    elif namespace in RESERVED_NAMESPACES:
        yield f"The Application deploys into the reserved namespace {namespace!r}."


@resource_rule(
    "argocd-repo-not-insecure",
    "Argo CD reaches its repositories over HTTPS and verifies their certificates.",
    types=[SECRET],
    remediation="Remove `insecure` from the repository Secret and use the repository's "
    "https:// URL.",
    severity=Severity.CRITICAL,
)
def argocd_repo_not_insecure(args: ResourceValidationArgs) -> Iterator[str]:
    labels = dig(args.props, "metadata", "labels") or {}
    if labels.get(SECRET_TYPE_LABEL) not in REPOSITORY_SECRET_TYPES:
        return
    fields = repository_fields(args.props)
    if fields is None:
        return
    if str(fields.get("insecure", "")).strip().lower() == "true":
        yield "The repository Secret skips TLS verification (insecure: 'true')."
    url = fields.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        yield f"The repository URL {url!r} is not https://."


def _repo_problem(url: Any, prefixes: list[str]) -> str | None:
    if prefixes:
        if not isinstance(url, str) or not url.startswith(tuple(prefixes)):
            return f"{url!r} is not under {prefixes}."
    elif not isinstance(url, str) or not url.startswith("https://") or not url.endswith(".git"):
        return f"{url!r} is not an https:// Git repository URL ending in .git."
    return None


@resource_rule(
    "argocd-repo-on-this-gitlab",
    "Applications and projects deploy only from the platform's own Git repositories.",
    types=[APPLICATION, APP_PROJECT],
    remediation="Point repoURL/sourceRepos at the GitOps project on this platform's GitLab "
    "(its https:// clone URL).",
    config_schema=REPO_PREFIXES,
)
def argocd_repo_on_this_gitlab(args: ResourceValidationArgs) -> Iterator[str]:
    prefixes = list(args.get_config().get("allowed_repo_prefixes") or [])
    spec = args.props.get("spec") or {}
    if args.resource_type == APPLICATION:
        urls = source_repo_urls(spec)
        if not urls:
            yield "The Application has no source repository."
    else:
        urls = list(spec.get("sourceRepos") or [])
    for url in urls:
        problem = _repo_problem(url, prefixes)
        if problem:
            yield f"Repository {problem}"


@resource_rule(
    "argocd-project-no-wildcards",
    "AppProjects list their source repositories and destinations exactly, without `*`; the "
    "one exception is a destination `allowed_destination_patterns` names for that project: "
    "by default the previews' project `previews` may deploy to namespaces `preview-*` on the "
    "in-cluster server (Argo CD matches a destination's namespace as a glob: argo-cd v3.4.4 "
    "pkg/apis/application/v1alpha1/app_project_types.go:513, isDestinationMatched).",
    types=[APP_PROJECT],
    remediation="List the exact repository URLs and destination server/namespace pairs; a "
    "wildcard namespace only as allowed_destination_patterns names it for the project.",
    config_schema=DESTINATION_PATTERNS,
)
def argocd_project_no_wildcards(args: ResourceValidationArgs) -> Iterator[str]:
    spec = args.props.get("spec") or {}
    for repo in spec.get("sourceRepos") or []:
        if "*" in str(repo):
            yield f"sourceRepos has a wildcard: {repo!r}."
    allowed = args.get_config().get("allowed_destination_patterns", [PREVIEWS])
    project = dig(args.props, "metadata", "name")
    exceptions = [
        (e["server"], e["namespace"]) for e in allowed or [] if e.get("project") == project
    ]
    for destination in spec.get("destinations") or []:
        if "name" not in destination and (
            (destination.get("server"), destination.get("namespace")) in exceptions
        ):
            continue
        for field in ("server", "name", "namespace"):
            value = destination.get(field)
            if value is not None and "*" in str(value):
                yield f"A destination's {field} has a wildcard: {value!r}."


CLUSTER_SECRET_TYPE = "cluster"
# argo-cd v3.4.4 pkg/apis/application/v1alpha1/types.go ClusterConfig: the fields that hold
# a long-lived credential (a bearer token, a password, a client key or certificate) or run a
# command of its own choosing instead of argocd-k8s-auth.
LONG_LIVED_FIELDS = ("bearerToken", "username", "password", "execProviderConfig")
LONG_LIVED_TLS_FIELDS = ("keyData", "certData")


def cluster_config_problems(fields: Mapping[str, Any]) -> Iterator[str]:
    """What in a cluster Secret's fields is not IAM sign-in: `config` must be JSON whose
    `awsAuthConfig` names the cluster and the role argocd-k8s-auth assumes
    (docs/operator-manual/declarative-setup.md, "EKS"), and nothing that carries a
    credential of its own."""
    raw = fields.get("config")
    if raw is None:
        yield "The cluster Secret has no `config`: Argo CD would connect without credentials."
        return
    try:
        config = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        yield "The cluster Secret's `config` is not JSON."
        return
    if not isinstance(config, Mapping):
        yield "The cluster Secret's `config` is not a JSON object."
        return
    for key in LONG_LIVED_FIELDS:
        if config.get(key):
            yield f"The cluster Secret's config has `{key}`: a long-lived credential."
    tls = config.get("tlsClientConfig") or {}
    if isinstance(tls, Mapping):
        for key in LONG_LIVED_TLS_FIELDS:
            if tls.get(key):
                yield (
                    f"The cluster Secret's tlsClientConfig has `{key}`: a client key or "
                    "certificate."
                )
        if str(tls.get("insecure", "")).lower() == "true":
            yield "The cluster Secret skips TLS verification of the API server (insecure)."
    aws_auth = config.get("awsAuthConfig")
    if not isinstance(aws_auth, Mapping) or not aws_auth.get("clusterName"):
        yield "The cluster Secret does not sign in with IAM (awsAuthConfig.clusterName)."
    elif not aws_auth.get("roleARN"):
        yield "The cluster Secret's awsAuthConfig names no roleARN to assume for the cluster."
    if isinstance(aws_auth, Mapping) and aws_auth.get("profile"):
        # A named profile reads credentials from a file mounted into the pods.
        yield "The cluster Secret's awsAuthConfig names a `profile`: credentials from a file."


@resource_rule(
    "argocd-clusters-sign-in-with-iam",
    "Argo CD reaches every other cluster with short-lived IAM tokens (the cluster Secret's "
    "`awsAuthConfig`, argocd-k8s-auth assuming the cluster's role), never a stored token, "
    "password, client key or command (argo-cd v3.4.4 docs/operator-manual/"
    'declarative-setup.md, "EKS").',
    types=[SECRET],
    remediation='Give the Secret `config: {"awsAuthConfig": {"clusterName": ..., '
    '"roleARN": ...}, "tlsClientConfig": {"caData": ...}}` and nothing else that signs '
    "in (components/fleet.py makes such Secrets from each spoke's outputs).",
    severity=Severity.CRITICAL,
)
def argocd_clusters_sign_in_with_iam(args: ResourceValidationArgs) -> Iterator[str]:
    labels = dig(args.props, "metadata", "labels") or {}
    if labels.get(SECRET_TYPE_LABEL) != CLUSTER_SECRET_TYPE:
        return
    fields = repository_fields(args.props)
    if fields is None:
        return  # hidden (the offline summary's view); the pack sees the values
    yield from cluster_config_problems(fields)
