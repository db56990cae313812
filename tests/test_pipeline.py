"""The merge-request and deploy pipeline: its structure, and the comment it keeps updated."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import PROJECT, SHIPPED_STACKS, plan_for, stack_file_config, with_changes

from ci.mr_comment import MARKER, MAX_CHANGES, MAX_ROWS, body, upsert
from offline.diff import compare
from offline.plan import PROJECT_DIR
from offline.review import review

MR = '$CI_PIPELINE_SOURCE == "merge_request_event"'
DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
REHEARSAL_STACK = "rehearsal"
PERSISTENT_STACKS = [stack for stack in SHIPPED_STACKS if stack != REHEARSAL_STACK]
"""The stacks that exist between pipelines: the rehearsal's exists only while one runs."""


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())
    return document


def conditions(job: dict[str, Any]) -> list[str]:
    return [rule["if"] for rule in job["rules"]]


def scripts(job: dict[str, Any]) -> str:
    return "\n".join([*job.get("before_script", []), *job["script"]])


def beside_stack_files(directory: Path, stand_in: str, command: str) -> str:
    """What `command` prints, run by bash (with pipefail, as the job's shell) in `directory`
    beside an empty copy of every stack file, `stand_in` defining the tools it calls."""
    for stack in SHIPPED_STACKS:
        (directory / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    ran = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {stand_in}; {command}"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    return ran.stdout


def test_merge_requests_run_the_tests(pipeline: dict[str, Any]) -> None:
    assert "make test" in pipeline["test"]["script"]
    assert MR in conditions(pipeline["test"])


def test_merge_requests_plan_every_stack_offline_and_keep_the_verdicts(
    pipeline: dict[str, Any],
) -> None:
    plan = pipeline["plan"]
    assert conditions(plan) == [MR]
    # A matrix is static: it must name every stack file (README, "Adding an environment"); the
    # real preview every stack there is between pipelines (not the rehearsal's).
    assert plan["parallel"]["matrix"] == [{"STACK": SHIPPED_STACKS}]
    assert pipeline["preview"]["parallel"]["matrix"] == [{"STACK": PERSISTENT_STACKS}]
    assert REHEARSAL_STACK in SHIPPED_STACKS
    assert "make plan STACK=$STACK PLAN_JSON=plan-$STACK.json" in scripts(plan)
    assert "set -o pipefail" in plan["script"]
    assert plan["artifacts"]["when"] == "always"
    assert "pulumi " not in scripts(plan)  # no CLI, no credentials: safe for forks


def test_merge_requests_plan_their_base_first_and_compare_with_it(
    pipeline: dict[str, Any],
) -> None:
    plan = pipeline["plan"]
    script = plan["script"]
    base = script.index("ci/plan_base.sh $STACK")
    (compared,) = [i for i, line in enumerate(script) if line.startswith("make plan ")]
    assert base < compared
    # BASE only when the base could be planned: `--base` refuses a missing file.
    assert "BASE=$(test -f base-$STACK.json && echo base-$STACK.json)" in script[compared]
    assert script[compared].rstrip().endswith("| tee plan-$STACK.txt")
    assert {"base-*.json", "base-*.txt"} <= set(plan["artifacts"]["paths"])
    assert (PROJECT_DIR / "ci" / "plan_base.sh").stat().st_mode & 0o111  # runs as a command


def test_merge_requests_pull_check_and_render_every_chart_with_the_network(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    job = pipeline["charts"]
    assert conditions(job) == [MR]
    script = job["script"]
    assert script[0] == "set -o pipefail"  # `| tee` must not hide a failed plan
    assert script[1:3] == ["make charts", "make chart-keys"]  # STACKS: every stack file
    (loop,) = script[3:]
    # Run as the job's shell runs it, with make standing in: one plan per stack file.
    ran = beside_stack_files(tmp_path, "make() { echo make $*; }", loop)
    assert ran.splitlines() == [
        f"make plan STACK={stack} REQUIRE_RENDERED=all PLAN_JSON=rendered-{stack}.json"
        for stack in SHIPPED_STACKS
    ]
    assert sorted(p.name for p in tmp_path.glob("rendered-*.txt")) == [
        f"rendered-{stack}.txt" for stack in SHIPPED_STACKS
    ]
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


def test_one_comment_per_merge_request_from_the_plans(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    comment = pipeline["mr-comment"]
    assert comment["needs"] == [{"job": "plan", "artifacts": True}]
    (rule,) = comment["rules"]
    assert rule["when"] == "always"  # also when a plan is blocked by a policy
    # As a module, so that it finds offline.diff (both only the standard library).
    (command,) = [line for line in comment["script"] if "ci.mr_comment" in line]
    assert command.startswith("python -m ci.mr_comment ")
    # Every stack file's plan is named, whether or not its job wrote it.
    ran = beside_stack_files(tmp_path, "python() { echo $*; }", command)
    plans = " ".join(f"plan-{stack}.json" for stack in SHIPPED_STACKS)
    assert ran.splitlines()[0] == f"-m ci.mr_comment {plans}"


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


BOT = {"id": 42}


def test_the_comment_is_edited_in_place_on_later_pushes() -> None:
    notes = [
        {"id": 7, "body": "LGTM", "author": {"id": 1}},
        {"id": 8, "body": f"quoting {MARKER}", "author": {"id": 1}},  # someone else's
        {"id": 9, "body": f"{MARKER} old", "author": BOT},
    ]
    gitlab = FakeGitLab(notes)
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new", BOT["id"]) == "updated"
    assert gitlab.calls[-1] == ("PUT", "https://gl/notes/9")


def test_the_first_push_creates_the_comment() -> None:
    gitlab = FakeGitLab([{"id": 7, "body": f"{MARKER} quoted", "author": {"id": 1}}])
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new", BOT["id"]) == "created"
    assert gitlab.calls[-1] == ("POST", "https://gl/notes")


def test_the_comment_is_found_beyond_the_first_page_of_notes() -> None:
    notes = [{"id": i, "body": "review"} for i in range(150)]
    notes.append({"id": 999, "body": f"{MARKER} old", "author": BOT})
    gitlab = FakeGitLab(notes)
    assert upsert(gitlab, "https://gl/notes", f"{MARKER} new", BOT["id"]) == "updated"
    assert gitlab.calls[-1] == ("PUT", "https://gl/notes/999")


# ci/plan_base.sh, run in a shallow clone as the runner makes one, with a `make` that records
# what it was asked and writes the plan JSON of the tree it was run in.

FAKE_MAKE = """#!/bin/sh
dir=. json= venv=
while [ $# -gt 0 ]; do
    case $1 in
        -C) dir=$2; shift ;;
        PLAN_JSON=*) json=${1#PLAN_JSON=} ;;
        VENV=*) venv=${1#VENV=} ;;
    esac
    shift
done
if [ -n "${FAIL_PLAN:-}" ]; then echo "error: the base refuses this" >&2; exit 2; fi
# The times make compares with the virtualenv's stamps.
times=$(stat -c %Y "$dir/requirements.txt" "$dir/tools/install_tools.py" | paste -sd,)
printf '{"marker": "%s", "venv": "%s", "times": [%s]}' "$(cat "$dir/marker")" "$venv" "$times" \
    > "$json"
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def clone(tmp_path: Path) -> dict[str, Any]:
    """A remote with the merge base, the target branch's head and the merge request's head
    (each with a marker file), and the job's shallow clone of the last one."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commits = {}
    for name, requirements in (("merge-base", "a==1"), ("target", "a==2"), ("source", "a==1")):
        (origin / "marker").write_text(name)
        for file in ("requirements.txt", "requirements-dev.txt", "requirements-tools.txt"):
            (origin / file).write_text(requirements)
        (origin / "tools").mkdir(exist_ok=True)
        (origin / "tools" / "install_tools.py").write_text("# installs helm\n")
        git(origin, "add", ".")
        git(origin, "commit", "-q", "-m", name)
        commits[name] = git(origin, "rev-parse", "HEAD")
    job = tmp_path / "job"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(job))
    # The job's installing files are older than its virtualenv's stamps, as after `make venv`.
    for file in ("requirements.txt", "tools/install_tools.py"):
        os.utime(job / file, (1_000_000_000, 1_000_000_000))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    return {"job": job, "commits": commits, "path": f"{bin_dir}:{os.environ['PATH']}"}


def plan_base(clone: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_DIR / "ci" / "plan_base.sh"), "dev"],
        cwd=clone["job"],
        env={**os.environ, "PATH": clone["path"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_base_is_the_merge_base_planned_by_its_own_makefile(clone: dict[str, Any]) -> None:
    job = clone["job"]
    done = plan_base(clone, CI_MERGE_REQUEST_DIFF_BASE_SHA=clone["commits"]["merge-base"])
    assert done.returncode == 0, done.stderr
    base = json.loads((job / "base-dev.json").read_text())
    assert base["marker"] == "merge-base"  # fetched into the shallow clone and checked out
    assert base["venv"] == f"{job}/.venv"  # the same requirements: the job's virtualenv
    # ... whose stamps the base's make finds up to date: its files have the job's times.
    assert base["times"] == [1_000_000_000, 1_000_000_000]
    assert git(job, "worktree", "list").count("\n") == 0  # the base's checkout is gone


def test_in_a_merged_results_pipeline_the_base_is_the_target_branchs_head(
    clone: dict[str, Any],
) -> None:
    commits = clone["commits"]
    done = plan_base(
        clone,
        CI_MERGE_REQUEST_DIFF_BASE_SHA=commits["merge-base"],
        CI_MERGE_REQUEST_TARGET_BRANCH_SHA=commits["target"],
    )
    assert done.returncode == 0, done.stderr
    base = json.loads((clone["job"] / "base-dev.json").read_text())
    assert base["marker"] == "target"
    # Other requirements: a virtualenv of the base's own, so the bump shows in the diff.
    assert not base["venv"].startswith(str(clone["job"]))


@pytest.mark.parametrize(
    "env",
    [
        {"CI_MERGE_REQUEST_DIFF_BASE_SHA": "merge-base", "FAIL_PLAN": "1"},
        {"CI_MERGE_REQUEST_DIFF_BASE_SHA": "0" * 40},
        {},
    ],
    ids=["its-plan-fails", "the-commit-cannot-be-fetched", "no-merge-request"],
)
def test_a_base_that_cannot_be_planned_does_not_fail_the_job(
    clone: dict[str, Any], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "CI_MERGE_REQUEST_TARGET_BRANCH_SHA"):
        monkeypatch.delenv(name, raising=False)
    job = clone["job"]
    (job / "base-dev.json").write_text("{}")  # left from an earlier job on this runner
    done = plan_base(clone, **{k: clone["commits"].get(v, v) for k, v in env.items()})
    assert done.returncode == 0
    assert "could not be planned" in done.stdout
    assert not (job / "base-dev.json").exists()
    assert (job / "base-dev.txt").read_text()  # says why


# The comment's changes, from the plans' diff blocks.


def planned_against_base(directory: Path, base_config: Any, config: Any) -> Path:
    """The plan file of `config` as the plan job writes it beside the base's (base-dev.json):
    the reviewer's sections recorded, and the diff against the base (nothing rendered)."""
    base, plan = plan_for(base_config, stack="dev"), plan_for(config, stack="dev")
    for each in (base, plan):
        review(each, None).record(each)
    base_file, plan_file = directory / "base-dev.json", directory / "plan-dev.json"
    base_file.write_text(base.to_json())
    document = json.loads(plan.to_json())
    document["diff"] = compare(json.loads(base_file.read_text()), document, str(base_file))
    plan_file.write_text(json.dumps(document))
    return plan_file


def test_the_comment_shows_what_each_stack_changes_against_the_target_branch(
    tmp_path: Path,
) -> None:
    dev = stack_file_config("dev")
    nodes = {**dev[f"{PROJECT}:nodes"], "desired_size": 3}
    # Two plan files as the plan job writes them: the reviewer's sections recorded, the
    # diff against the base written into the merge request's plan.
    plan_file = planned_against_base(tmp_path, dev, with_changes(dev, nodes=nodes))
    text = body([plan_file])
    # The verdicts' table is still there.
    assert re.search(r"^\| `dev` \| \d+ \| 0 \| 0 \| - \|$", text, re.MULTILINE)
    assert "#### `dev` against the target branch" in text
    assert "Resources: 1 changed, 0 added, 0 removed (matched by URN)." in text
    assert (
        "| changed | `aws:eks/nodeGroup:NodeGroup` `gitops-platform-dev-nodes` "
        "| `scalingConfig.desiredSize: 2 → 3` |"
    ) in text.splitlines()
    before, after = (
        json.loads((tmp_path / f"{name}-dev.json").read_text())["cost"]["total"]
        for name in ("base", "plan")
    )
    assert after > before
    delta = f"{after - before:+,.2f}"
    # Nothing rendered: the releases' volumes have no price in either plan, recorded alike;
    # they change nothing, and the comment says once that they were not compared.
    assert (
        f"- Cost (estimate, USD per month): {before:,.2f} → {after:,.2f} (**{delta}**); "
        "6 items without a price in both plans, recorded alike, not compared"
    ) in text.splitlines()
    assert (
        f"  - `gitops-platform:cluster:EksCluster  gitops-platform-dev`: {delta}"
    ) in text.splitlines()
    assert "GitLab" not in text.split("- Cost")[1]  # its cost did not move
    assert "- Exposure: unchanged." in text


def test_the_comment_says_a_cost_delta_is_incomplete_when_an_item_loses_its_price(
    tmp_path: Path,
) -> None:
    dev = stack_file_config("dev")
    nodes = {**dev[f"{PROJECT}:nodes"], "instance_types": ["m7i.xlarge"]}  # no price in the table
    plan_file = planned_against_base(tmp_path, dev, with_changes(dev, nodes=nodes))
    cost = [line for line in body([plan_file]).splitlines() if "price" in line]
    # The nodes' cost is unknown in this plan: no saving, and said where the nodes are.
    # No bold change: what it sums is not the whole of either plan.
    assert cost[0].startswith(
        "- Cost (estimate, USD per month): incomplete, 1 item without a price on a side; the "
        "items priced on every side: "
    )
    assert "**" not in cost[0]
    assert cost[0].endswith(
        " (+0.00); 6 items without a price in both plans, recorded alike, not compared"
    )
    assert (
        "  - `gitops-platform:cluster:EksCluster  gitops-platform-dev`: +0.00 of the priced "
        "items; incomplete: `nodes gitops-platform-dev-nodes` has no price in this plan"
    ) in cost
    assert any(
        line.startswith("  - `gitops-platform:cluster:EksCluster  gitops-platform-dev nodes ")
        and line.endswith("→ 2 m7i.xlarge instance without a price, 312.44 → no price a month`")
        for line in cost
    ), cost


def compared_plan(path: Path, diff: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"stack": "dev", "resources": [], "policy": {}, "diff": diff}))
    return path


def a_diff(**resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "base": "base-dev.json",
        "resources": {"added": [], "removed": [], "changed": [], **resources},
        "outputs": [],
        "exposure": {"unavailable": "in neither plan"},
        "cost": {"unavailable": "in neither plan"},
    }


def rows(text: str) -> list[str]:
    """The rows of the table of changed resources."""
    return [line for line in text.splitlines() if line.startswith(("| added", "| changed"))]


def test_pipes_and_backticks_in_values_do_not_break_the_table(tmp_path: Path) -> None:
    changed = {
        "urn": "urn:pulumi:dev::p::command:local:Command::query",
        "type": "command:local:Command",
        "name": "query",
        "inputs": [{"path": "environment.QUERY", "before": "a | b", "after": "`a` || c"}],
        "options": [],
    }
    text = body([compared_plan(tmp_path / "plan-dev.json", a_diff(changed=[changed]))])
    (row,) = rows(text)
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # three cells, every other pipe escaped
    assert '\\|\\| c"' in row
    # A code span fenced by more backticks than the value holds.
    assert '``environment.QUERY: "a \\| b" → "`a` \\|\\| c"``' in row


def test_long_lists_are_cut_with_how_many_more(tmp_path: Path) -> None:
    added = [
        {"urn": f"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b{i}", "type": "b", "name": f"b{i}"}
        for i in range(MAX_ROWS + 10)
    ]
    many = {
        "urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::many",
        "type": "aws:s3/bucket:Bucket",
        "name": "many",
        "inputs": [{"path": f"tags.t{i}", "after": "x"} for i in range(MAX_CHANGES + 3)],
        "options": [],
    }
    text = body([compared_plan(tmp_path / "plan-dev.json", a_diff(added=added))])
    assert len(rows(text)) == MAX_ROWS
    assert "| … and 10 more | | |" in text
    text = body([compared_plan(tmp_path / "plan-dev.json", a_diff(changed=[many]))])
    (row,) = rows(text)
    assert row.count("`tags.t") == MAX_CHANGES
    assert row.endswith("<br>… and 3 more |")


def test_a_stack_whose_base_could_not_be_planned_is_said_not_compared(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan-dev.json", "dev", [])
    assert (
        "Not compared: the target branch could not be planned "
        "(`base-dev.txt` in the `plan` job's artifacts says why)."
    ) in body([plan])
