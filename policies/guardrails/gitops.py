"""What the stack commits for Argo CD to deploy, and the credentials that drive GitLab.

A workload whose image does not exist never becomes healthy, and Argo CD keeps reporting it
Degraded: the images the committed manifests name must be exact references a cluster can
pull.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs, Severity

from guardrails._common import resource_rule

REPOSITORY_FILE = "gitlab:index/repositoryFile:RepositoryFile"
COMMAND = "command:local:Command"
TOKEN_EXPIRY = re.compile(r"(\d+)\.days\.from_now")
RENEWAL = re.compile(r"^renewal \d{4}-\d{2}-\d{2}, every (\d+) days$")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
PERSONAL_ACCESS_TOKENS = "personal_access_tokens"
"""What a step that registers GitLab access tokens calls in its Rails runner script."""
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$")
"""A content digest of a registered algorithm (OCI image-spec descriptor.md, "Registered
algorithms": sha256 as 64 and sha512 as 128 lower-case hex digits)."""
KUBERNETES_IMAGES = "https://kubernetes.io/docs/concepts/containers/images/#image-names"


def _documents(args: ResourceValidationArgs) -> tuple[str, list[Any]] | None:
    """The committed file's path and YAML documents; None for files that are not manifests
    (not YAML, or Helm templates, which only render later)."""
    path = str(args.props.get("filePath", ""))
    if not path.endswith((".yaml", ".yml")) or "/templates/" in f"/{path}":
        return None
    content = args.props.get("content")
    if not isinstance(content, str):
        return None
    if args.props.get("encoding") == "base64":
        content = base64.b64decode(content).decode("utf-8", "replace")
    try:
        return path, [d for d in yaml.safe_load_all(content) if d is not None]
    except yaml.YAMLError as error:
        return path, [error]


def _containers(tree: Any) -> Iterator[Mapping[str, Any]]:
    """Every container of every pod template in `tree`."""
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if key in CONTAINER_LISTS and isinstance(value, Sequence):
                yield from (c for c in value if isinstance(c, Mapping))
            else:
                yield from _containers(value)
    elif isinstance(tree, Sequence) and not isinstance(tree, str):
        for item in tree:
            yield from _containers(item)


def image_problem(image: str) -> str | None:
    """Why `image` is not an exact, fully qualified reference (registry, then a tag other
    than `latest` or a digest), or None."""
    first, slash, _ = image.partition("@")[0].partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return "names no registry (Kubernetes then assumes Docker Hub)"
    return pin_problem(image)


def pin_problem(image: str) -> str | None:
    """Why `image` may move under the same reference (no tag, `latest`, a malformed digest),
    or None. The tag is what follows the last `:` after the last `/`: in
    `registry:5000/app` the port is no tag."""
    name, at, digest = image.partition("@")
    if at:
        return None if DIGEST.match(digest) else f"has a malformed digest {digest!r}"
    _, colon, tag = name.rpartition("/")[2].rpartition(":")
    if not colon or not tag:
        return "has no tag (Kubernetes then pulls `latest`, whatever that is today)"
    if tag == "latest":
        return "uses the moving tag `latest`"
    return None


@resource_rule(
    "gitops-images-pinned",
    "Every container image in the manifests committed for Argo CD is a fully qualified "
    "reference with an exact tag or digest: a name without a registry is looked up on Docker "
    "Hub, and a missing tag means `latest` (" + KUBERNETES_IMAGES + "); an image that does "
    "not exist there leaves the application Degraded forever.",
    types=[REPOSITORY_FILE],
    remediation="Name images as <registry>/<repository>:<tag> (or @sha256:<digest>) of an "
    "image that exists, e.g. docker.io/nginxinc/nginx-unprivileged:1.28.0.",
    severity=Severity.MEDIUM,
)
def gitops_images_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    found = _documents(args)
    if found is None:
        return
    path, documents = found
    for document in documents:
        if isinstance(document, yaml.YAMLError):
            yield f"{path} is not valid YAML: {str(document).splitlines()[0]}"
            continue
        for container in _containers(document):
            image = container.get("image")
            if not isinstance(image, str):
                continue
            problem = image_problem(image)
            if problem:
                yield f"{path}: container {container.get('name')!r} image {image!r} {problem}."


@resource_rule(
    "gitlab-token-renewed-before-expiry",
    "A step that registers an expiring GitLab access token runs again on a calendar, renewing "
    "the token while it has at least half its life left. Otherwise the token expires, and "
    "from then on every up, preview and destroy fails as the GitLab provider starts: it checks "
    "its token against the API when configured (pulumi-gitlab 10.4.0 Provider, "
    "early_auth_check, default true).",
    types=[COMMAND],
    remediation="Put the renewal period (components.gitlab_tokens.renewal_period) in the "
    "step's triggers and the token's keepers; keep gitops.token_renewal_days at most half "
    "of gitops.token_expiry_days.",
)
def gitlab_token_renewed_before_expiry(args: ResourceValidationArgs) -> Iterator[str]:
    create = args.props.get("create")
    if not isinstance(create, str) or PERSONAL_ACCESS_TOKENS not in create:
        return
    expiry = TOKEN_EXPIRY.search(create)
    if expiry is None:
        yield "The token step registers a token without an expiry."
        return
    days = int(expiry.group(1))
    periods = [
        int(match.group(1))
        for trigger in args.props.get("triggers") or []
        if isinstance(trigger, str) and (match := RENEWAL.match(trigger))
    ]
    if not periods:
        yield (
            f"The token step runs again only when its inputs change: the token expires after "
            f"{days} days and is never renewed."
        )
    elif min(periods) * 2 > days:
        yield (
            f"The token is renewed every {min(periods)} days but expires after {days}: less "
            "than half its life is left when it is."
        )
