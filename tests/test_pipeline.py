"""The merge-request and deploy pipeline: its structure, and the comment it keeps updated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ci.mr_comment import MARKER, body, upsert
from offline.plan import PROJECT_DIR

MR = '$CI_PIPELINE_SOURCE == "merge_request_event"'
DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())
    return document


def conditions(job: dict[str, Any]) -> list[str]:
    return [rule["if"] for rule in job["rules"]]


def scripts(job: dict[str, Any]) -> str:
    return "\n".join([*job.get("before_script", []), *job["script"]])


def test_merge_requests_run_the_tests(pipeline: dict[str, Any]) -> None:
    assert "make test" in pipeline["test"]["script"]
    assert MR in conditions(pipeline["test"])


def test_merge_requests_plan_every_stack_offline_and_keep_the_verdicts(
    pipeline: dict[str, Any],
) -> None:
    plan = pipeline["plan"]
    assert conditions(plan) == [MR]
    assert plan["parallel"]["matrix"] == [{"STACK": ["dev", "prod"]}]
    assert "make plan STACK=$STACK PLAN_JSON=plan-$STACK.json" in scripts(plan)
    assert "set -o pipefail" in plan["script"]
    assert plan["artifacts"]["when"] == "always"
    assert "pulumi " not in scripts(plan)  # no CLI, no credentials: safe for forks


def test_merge_requests_pull_check_and_render_every_chart_with_the_network(
    pipeline: dict[str, Any],
) -> None:
    job = pipeline["charts"]
    assert conditions(job) == [MR]
    script = job["script"]
    assert script[0] == "set -o pipefail"  # `| tee` must not hide a failed plan
    steps = [
        'make charts STACKS="dev prod"',
        'make chart-keys STACKS="dev prod"',
        *(
            f"make plan STACK={stack} REQUIRE_RENDERED=all PLAN_JSON=rendered-{stack}.json"
            f" | tee rendered-{stack}.txt"
            for stack in ("dev", "prod")
        ),
    ]
    assert script[1:] == steps
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == ["rendered-*.json", "rendered-*.txt"]
    # helm and kubectl come from `make tools` (the hash-pinned wheel), which `make charts`
    # installs first: nothing is downloaded from anywhere else, and no credentials are used.
    (target,) = [
        line
        for line in (PROJECT_DIR / "Makefile").read_text().splitlines()
        if line.startswith("charts:")
    ]
    assert "$(TOOLS)" in target.split("##")[0]
    assert "curl" not in scripts(job)
    assert "pulumi " not in scripts(job)
    assert "chart-keys" not in pipeline  # the job that pulled its own helm is gone


def test_the_real_preview_runs_only_with_credentials(pipeline: dict[str, Any]) -> None:
    preview = pipeline["preview"]
    assert conditions(preview) == [f"{MR} && $PULUMI_BACKEND_URL && $AWS_PREVIEW_ROLE_ARN"]
    assert preview["variables"] == {"AWS_ROLE_ARN": "$AWS_PREVIEW_ROLE_ARN"}
    assert "pulumi preview --stack $STACK --diff --policy-pack policies" in scripts(preview)
    assert "curl -fsSL https://get.pulumi.com | sh" in scripts(preview)


def test_one_comment_per_merge_request_from_the_plans(pipeline: dict[str, Any]) -> None:
    comment = pipeline["mr-comment"]
    assert comment["needs"] == [{"job": "plan", "artifacts": True}]
    (rule,) = comment["rules"]
    assert rule["when"] == "always"  # also when a plan is blocked by a policy
    assert "ci/mr_comment.py plan-dev.json plan-prod.json" in scripts(comment)


def test_dev_deploys_automatically_and_prod_behind_a_manual_gate(
    pipeline: dict[str, Any],
) -> None:
    dev, prod = pipeline["deploy-dev"], pipeline["deploy-prod"]
    for job, stack in ((dev, "dev"), (prod, "prod")):
        assert conditions(job) == [f"{DEFAULT_BRANCH} && $PULUMI_BACKEND_URL"]
        assert f"pulumi up --yes --stack {stack}" in scripts(job)
        assert f"--policy-pack-config policies/config.{stack}.json" in scripts(job)
        assert job["resource_group"] == f"pulumi-{stack}"
        # Credentials only through GitLab's ID token and the deploy role: no stored keys.
        assert job["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
        assert job["variables"] == {"AWS_ROLE_ARN": "$AWS_DEPLOY_ROLE_ARN"}
        assert "kubectl" in scripts(job)
        assert "awscli" in scripts(job)
    assert "when" not in dev["rules"][0]
    assert prod["rules"][0]["when"] == "manual"
    assert prod["rules"][0]["allow_failure"] is False
    assert prod["needs"] == ["deploy-dev"]


def write_plan(path: Path, stack: str, violations: list[dict[str, str]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "stack": stack,
                "resources": [{"custom": True}, {"custom": True}, {"custom": False}],
                "policy": {"violations": violations},
            }
        )
    )
    return path


def test_the_comment_summarises_each_stack_and_names_broken_rules(tmp_path: Path) -> None:
    dev = write_plan(tmp_path / "plan-dev.json", "dev", [])
    prod = write_plan(
        tmp_path / "plan-prod.json",
        "prod",
        [
            {"policy": "no-open-admin-ports", "level": "mandatory"},
            {"policy": "required-tags", "level": "advisory"},
        ],
    )
    text = body([dev, prod, tmp_path / "plan-staging.json"])
    assert text.startswith(MARKER)
    assert "| `dev` | 2 | 0 | 0 | - |" in text
    assert "| `prod` | 2 | 1 | 1 | `no-open-admin-ports` |" in text
    assert "| `staging` | plan failed before writing JSON" in text


class FakeGitLab:
    """Serves notes in pages of `per_page` like GitLab's API."""

    def __init__(self, notes: list[dict[str, Any]], per_page: int = 100) -> None:
        self.notes = notes
        self.per_page = per_page
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, payload: dict[str, Any] | None) -> Any:
        self.calls.append((method, url))
        if method == "GET":
            page = int(url.rsplit("page=", 1)[1])
            return self.notes[(page - 1) * self.per_page : page * self.per_page]
        return {}


def test_the_comment_is_edited_in_place_on_later_pushes() -> None:
    gitlab = FakeGitLab([{"id": 7, "body": "LGTM"}, {"id": 9, "body": f"{MARKER} old"}])
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new") == "updated"
    assert gitlab.calls[-1] == ("PUT", "https://gl/notes/9")


def test_the_first_push_creates_the_comment() -> None:
    gitlab = FakeGitLab([{"id": 7, "body": "LGTM"}])
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new") == "created"
    assert gitlab.calls[-1] == ("POST", "https://gl/notes")


def test_the_comment_is_found_beyond_the_first_page_of_notes() -> None:
    notes = [{"id": i, "body": "review"} for i in range(150)]
    notes.append({"id": 999, "body": f"{MARKER} old"})
    gitlab = FakeGitLab(notes)
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new") == "updated"
    assert gitlab.calls[-1] == ("PUT", "https://gl/notes/999")
