"""GitOps guardrails: each fails its bad case, passes its good one, never decides on an
unknown value, and passes every stack this repository ships."""

from __future__ import annotations

import base64

import pytest
from policy_harness import UNKNOWN, Resource, analyze, mandatory, undecided

from guardrails import gitops

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  template:
    spec:
      initContainers: [{{name: init, image: "docker.io/library/busybox:1.37.0"}}]
      containers: [{{name: app, image: "{image}"}}]
"""


def committed(path: str, content: str, encoding: str = "text") -> Resource:
    props = {"filePath": path, "content": content, "encoding": encoding, "branch": "main"}
    return Resource(gitops.REPOSITORY_FILE, props, name=path)


@pytest.mark.parametrize(
    "image",
    [
        "docker.io/nginxinc/nginx-unprivileged:1.28.0",
        "registry.k8s.io/pause:3.10",
        "ghcr.io/org/team/app:v1.2.3",
        "localhost:5000/app:1",
        "registry.example.com:5000/app:2025.1",
        "quay.io/org/app@sha256:" + "a" * 64,
        "quay.io/org/app:1.0@sha256:" + "b" * 64,
    ],
)
def test_exact_fully_qualified_images_pass(image: str) -> None:
    file = committed("app/deployment.yaml", DEPLOYMENT.format(image=image))
    assert mandatory(analyze(gitops.gitops_images_pinned, file)) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("my-app-image:dev", "names no registry"),
        ("nginx:1.28.0", "names no registry"),
        ("library/nginx:1.28.0", "names no registry"),
        ("docker.io/library/nginx", "has no tag"),
        ("registry.example.com:5000/app", "has no tag"),
        ("docker.io/library/nginx:latest", "uses the moving tag `latest`"),
        ("quay.io/org/app@md5:abc", "has a malformed digest"),
        ("quay.io/org/app@sha256:abc", "has a malformed digest"),
    ],
)
def test_images_that_may_not_exist_or_may_move_are_refused(image: str, problem: str) -> None:
    file = committed("app/overlays/dev/patch.yaml", DEPLOYMENT.format(image=image))
    (message,) = mandatory(analyze(gitops.gitops_images_pinned, file))
    assert f"app/overlays/dev/patch.yaml: container 'app' image {image!r} {problem}" in message


def test_every_document_of_a_file_is_read_and_base64_content_too() -> None:
    two = DEPLOYMENT.format(image="docker.io/a/b:1") + "---\n" + DEPLOYMENT.format(image="b:2")
    encoded = base64.b64encode(two.encode()).decode()
    (message,) = mandatory(
        analyze(gitops.gitops_images_pinned, committed("x.yml", encoded, "base64"))
    )
    assert "image 'b:2' names no registry" in message


def test_files_that_are_not_manifests_are_not_judged() -> None:
    policy = gitops.gitops_images_pinned
    for path, content in (
        ("README.md", "image: nginx"),
        ("chart/templates/deployment.yaml", "{{ .Values.image }}: ["),
        ("chart/values.yaml", "image: {repository: nginx, tag: latest}"),
    ):
        assert mandatory(analyze(policy, committed(path, content))) == [], path
    (message,) = mandatory(analyze(policy, committed("broken.yaml", "a: [")))
    assert "broken.yaml is not valid YAML" in message
    assert undecided(analyze(policy, committed("app.yaml", UNKNOWN)))


# --- the bootstrap token's renewal -----------------------------------------------------------

REGISTER = (
    "gitlab-rails runner 'token = user.personal_access_tokens.build(...)\n"
    "expires = 90.days.from_now'"
)


def token_step(triggers: list[object], create: str = REGISTER) -> Resource:
    return Resource(gitops.COMMAND, {"create": create, "triggers": triggers}, name="token")


def test_a_token_step_renewed_by_the_calendar_passes() -> None:
    policy = gitops.gitlab_token_renewed_before_expiry
    step = token_step(["token-value", "renewal 2025-12-08, every 30 days"])
    assert mandatory(analyze(policy, step)) == []
    every45 = token_step(["renewal 2025-12-08, every 45 days"])
    assert mandatory(analyze(policy, every45)) == []


def test_a_token_step_that_only_reruns_on_a_new_value_is_refused() -> None:
    policy = gitops.gitlab_token_renewed_before_expiry
    for triggers in ([], ["token-value"], ["renewal soon"]):
        (message,) = mandatory(analyze(policy, token_step(list(triggers))))
        assert "expires after 90 days and is never renewed" in message, triggers
    (message,) = mandatory(analyze(policy, token_step(["renewal 2025-12-08, every 60 days"])))
    assert "renewed every 60 days but expires after 90" in message
    (message,) = mandatory(analyze(policy, token_step([], "personal_access_tokens.build")))
    assert "without an expiry" in message


def test_other_commands_are_not_judged() -> None:
    policy = gitops.gitlab_token_renewed_before_expiry
    assert mandatory(analyze(policy, token_step([], "date -u +%Y-%m-%d"))) == []
    assert undecided(analyze(policy, token_step([UNKNOWN])))
