"""The merge-request, deploy and rehearsal pipelines: their structure, which jobs each pipeline
has, and the comment the merge-request pipeline keeps updated."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import PROJECT, SHIPPED_STACKS, plan_for, stack_file_config, with_changes

from ci.mr_comment import MARKER, MAX_CHANGES, MAX_ROWS, body, upsert
from components.config.edge import TlsConfig
from offline.diff import compare
from offline.plan import PROJECT_DIR
from offline.review import review

MR = '$CI_PIPELINE_SOURCE == "merge_request_event"'
DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
REHEARSAL_STACK = "rehearsal"
REHEARSAL_JOBS = ["rehearsal-up", "rehearsal-smoke", "rehearsal-destroy", "rehearsal-orphans"]
PERSISTENT_STACKS = [stack for stack in SHIPPED_STACKS if stack != REHEARSAL_STACK]
"""The stacks that exist between pipelines: the rehearsal's exists only while one runs."""


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_DIR / ".gitlab-ci.yml").read_text())
    return document


def conditions(job: dict[str, Any]) -> list[str]:
    return [rule["if"] for rule in job["rules"]]


def flat(lines: list[Any]) -> Iterator[str]:
    """A script's commands: GitLab flattens the nested lists YAML anchors make."""
    for line in lines:
        if isinstance(line, list):
            yield from flat(line)
        else:
            yield line


def scripts(job: dict[str, Any]) -> str:
    return "\n".join(flat([*job.get("before_script", []), *job["script"]]))


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
        # Never in a rehearsal (a scheduled pipeline of the default branch, below).
        assert conditions(job)[-1] == f"{DEFAULT_BRANCH} && $PULUMI_BACKEND_URL"
        assert f"pulumi up --yes --stack {stack}" in scripts(job)
        assert f"--policy-pack-config policies/config.{stack}.json" in scripts(job)
        assert job["resource_group"] == f"pulumi-{stack}"
        # Credentials only through GitLab's ID token and the deploy role: no stored keys.
        assert job["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
        assert job["variables"] == {"AWS_ROLE_ARN": "$AWS_DEPLOY_ROLE_ARN"}
        assert "kubectl" in scripts(job)
        assert "awscli" in scripts(job)
    assert "when" not in dev["rules"][-1]
    assert prod["rules"][-1]["when"] == "manual"
    assert prod["rules"][-1]["allow_failure"] is False
    assert prod["needs"] == ["deploy-dev"]


# Which jobs each kind of pipeline has: GitLab's `rules:if` expressions, evaluated as GitLab
# does (docs.gitlab.com/ci/jobs/job_rules/#cicd-variable-expressions) for the operators this
# file uses; anything else is refused, so that a new operator cannot be misread.

TOKEN = re.compile(r"\s*(?:(\$\w+)|\"([^\"]*)\"|'([^']*)'|(==|!=|&&|\|\||\(|\)))")


def tokens(expression: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    position, end = 0, len(expression.rstrip())
    while position < end:
        match = TOKEN.match(expression, position)
        assert match, f"the rules evaluator cannot read {expression[position:]!r}"
        variable, double, single, operator = match.groups()
        if variable:
            found.append(("variable", variable[1:]))
        elif operator:
            found.append((operator, None))
        else:
            found.append(("string", double if double is not None else single))
        position = match.end()
    return found


def holds(expression: str, variables: dict[str, str]) -> bool:
    """Whether a `rules:if` expression holds: `&&` binds tighter than `||`, a lone variable
    holds when set and not empty, an unset variable compares as null."""
    stream = tokens(expression)
    position = 0

    def peek() -> str | None:
        return stream[position][0] if position < len(stream) else None

    def take() -> tuple[str, str | None]:
        nonlocal position
        position += 1
        return stream[position - 1]

    def value() -> str | None:
        kind, text = take()
        assert kind in ("variable", "string"), f"{expression!r}: expected a value, got {kind}"
        return variables.get(text or "") if kind == "variable" else text

    def atom() -> bool:
        if peek() == "(":
            take()
            result = either()
            assert take()[0] == ")", f"{expression!r}: unbalanced parentheses"
            return result
        left = value()
        if peek() in ("==", "!="):
            operator = take()[0]
            return (left == value()) == (operator == "==")
        return bool(left)

    def both() -> bool:
        result = atom()
        while peek() == "&&":
            take()
            result = atom() and result
        return result

    def either() -> bool:
        result = both()
        while peek() == "||":
            take()
            result = both() or result
        return result

    result = either()
    assert position == len(stream), f"{expression!r}: left over {stream[position:]}"
    return result


def first_match(rules: list[dict[str, Any]], variables: dict[str, str]) -> dict[str, Any] | None:
    for rule in rules:
        if "if" not in rule or holds(rule["if"], variables):
            return rule
    return None


NOT_JOBS = {"stages", "default", "workflow", "variables", "include"}


def jobs_of(pipeline: dict[str, Any], variables: dict[str, str]) -> dict[str, str] | None:
    """The jobs a pipeline with these variables has, each with its `when`; None when
    `workflow: rules` makes no pipeline."""
    admitted = first_match(pipeline["workflow"]["rules"], variables)
    if admitted is None or admitted.get("when") == "never":
        return None
    jobs = {}
    for name, job in pipeline.items():
        if name in NOT_JOBS or name.startswith("."):
            continue
        # A job without rules would be in every pipeline, the rehearsal's included.
        assert "rules" in job, f"{name} has no rules"
        rule = first_match(job["rules"], variables)
        if rule is not None and rule.get("when", job.get("when", "on_success")) != "never":
            jobs[name] = rule.get("when", job.get("when", "on_success"))
    return jobs


PROJECT_VARIABLES = {
    "CI_DEFAULT_BRANCH": "main",
    "PULUMI_BACKEND_URL": "s3://state?region=eu-west-1",
    "PULUMI_SECRETS_PROVIDER": "awskms://alias/gitops-platform-pulumi-secrets?region=eu-west-1",
    "AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview",
    "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::123456789012:role/deploy",
    "AWS_REHEARSAL_ROLE_ARN": "arn:aws:iam::123456789012:role/rehearsal",
    "GITLAB_API_TOKEN": "glpat-comment",
}


def pipeline_of(source: str, branch: str | None = "main", **variables: str) -> dict[str, str]:
    """The variables of a pipeline: merge-request pipelines have no CI_COMMIT_BRANCH, branch
    pipelines (schedules too) have (docs.gitlab.com/ci/jobs/job_rules/
    #run-jobs-only-in-specific-pipeline-types)."""
    branch_variables = {"CI_COMMIT_BRANCH": branch} if branch else {}
    return {**PROJECT_VARIABLES, "CI_PIPELINE_SOURCE": source, **branch_variables, **variables}


REHEARSALS = {
    "scheduled": pipeline_of("schedule"),
    "run-pipeline-with-rehearsal": pipeline_of("web", REHEARSAL="true"),
    "api-with-rehearsal": pipeline_of("api", REHEARSAL="true"),
}
MERGE_REQUEST_JOBS = {"test", "plan", "charts", "preview", "mr-comment"}
DEFAULT_BRANCH_JOBS = {"test", "deploy-dev", "deploy-prod"}
NOT_REHEARSALS = {
    "merge-request": (pipeline_of("merge_request_event", None), MERGE_REQUEST_JOBS),
    "merge-request-with-rehearsal": (
        pipeline_of("merge_request_event", None, REHEARSAL="true"),
        MERGE_REQUEST_JOBS,
    ),
    "push": (pipeline_of("push"), DEFAULT_BRANCH_JOBS),
    # "Run pipeline" on the default branch, to deploy again: still an ordinary pipeline.
    "run-pipeline": (pipeline_of("web"), DEFAULT_BRANCH_JOBS),
    "run-pipeline-rehearsal-false": (pipeline_of("web", REHEARSAL="false"), DEFAULT_BRANCH_JOBS),
    # REHEARSAL=true outside a rehearsal (a push option, a trigger): no pipeline, rather than
    # one that deploys dev.
    "push-with-rehearsal": (pipeline_of("push", REHEARSAL="true"), set()),
    "trigger-with-rehearsal": (pipeline_of("trigger", REHEARSAL="true"), set()),
}


def test_the_rules_evaluator_reads_gitlab_expressions() -> None:
    variables = {"A": "1", "B": "", "SOURCE": "web"}
    assert holds("$A", variables)
    assert not holds("$B", variables)  # set, but empty
    assert not holds("$C", variables)  # unset
    assert holds('$SOURCE == "web"', variables)
    assert holds("$SOURCE != 'api'", variables)
    assert holds("$C == $D", variables)  # both unset: null == null
    assert holds("$B && $A || $A", variables)  # (B && A) || A
    assert not holds("$B && ($A || $A)", variables)
    with pytest.raises(AssertionError, match="cannot read"):
        holds("$SOURCE =~ /web/", variables)


@pytest.mark.parametrize("variables", REHEARSALS.values(), ids=REHEARSALS.keys())
def test_a_rehearsal_pipeline_has_the_rehearsal_jobs_and_no_other(
    pipeline: dict[str, Any], variables: dict[str, str]
) -> None:
    # Neither the tests nor a deploy: a scheduled pipeline is one of the default branch, which
    # deploy-dev's own condition would admit.
    assert holds(conditions(pipeline["deploy-dev"])[-1], variables)
    assert jobs_of(pipeline, variables) == {
        "rehearsal-up": "on_success",
        "rehearsal-smoke": "on_success",  # only after an up that succeeded
        "rehearsal-destroy": "always",  # after up and smoke, whatever they did
        "rehearsal-orphans": "always",  # after the destroy, whatever it did
    }


@pytest.mark.parametrize(("variables", "jobs"), NOT_REHEARSALS.values(), ids=NOT_REHEARSALS.keys())
def test_merge_request_and_default_branch_pipelines_have_no_rehearsal_job(
    pipeline: dict[str, Any], variables: dict[str, str], jobs: set[str]
) -> None:
    assert set(jobs_of(pipeline, variables) or {}) == jobs


@pytest.mark.parametrize(
    "variables",
    [pipeline_of("schedule", "feature"), pipeline_of("web", "feature", REHEARSAL="true")],
    ids=["scheduled", "run-pipeline-with-rehearsal"],
)
def test_other_branches_make_no_rehearsal_pipeline(
    pipeline: dict[str, Any], variables: dict[str, str]
) -> None:
    # The rehearsal's role trusts the protected default branch only.
    assert jobs_of(pipeline, variables) is None


def needed(job: dict[str, Any]) -> dict[str, bool]:
    """The jobs a job needs, each with whether it downloads their artifacts (default: yes)."""
    return {
        (need if isinstance(need, str) else need["job"]): (
            True if isinstance(need, str) else need.get("artifacts", True)
        )
        for need in job["needs"]
    }


def test_the_rehearsal_runs_up_smoke_destroy_then_the_audit(pipeline: dict[str, Any]) -> None:
    stages = pipeline["stages"]
    positions = [stages.index(pipeline[job]["stage"]) for job in REHEARSAL_JOBS]
    assert positions == sorted(set(positions)), "one stage each, in this order"
    assert positions[0] > stages.index("deploy")
    assert {job: needed(pipeline[job]) for job in REHEARSAL_JOBS} == {
        "rehearsal-up": {},
        # The stack file up leaves (its secrets provider) goes to the jobs that run Pulumi.
        "rehearsal-smoke": {"rehearsal-up": True},
        # A failed job's artifacts do not hold a job back (only expired or erased ones do).
        "rehearsal-destroy": {"rehearsal-up": True, "rehearsal-smoke": False},
        "rehearsal-orphans": {"rehearsal-destroy": False},
    }
    assert "Pulumi.rehearsal.yaml" in pipeline["rehearsal-up"]["artifacts"]["paths"]


def minutes(timeout: str) -> float:
    """A GitLab `timeout:` as written here ("2 hours", "30 minutes", "1h 30m"), in minutes."""
    units = {"h": 60, "hour": 60, "hours": 60, "m": 1, "min": 1, "minute": 1, "minutes": 1}
    parts = re.findall(r"(\d+)\s*([a-z]+)", timeout)
    assert parts, timeout
    assert "".join(f"{n}{u}" for n, u in parts) == re.sub(r"\s", "", timeout), timeout
    return sum(int(number) * units[unit] for number, unit in parts)


def test_every_rehearsal_job_holds_the_rehearsal_lock_and_has_a_time_limit(
    pipeline: dict[str, Any],
) -> None:
    for name in REHEARSAL_JOBS:
        job = pipeline[name]
        assert job["resource_group"] == "rehearsal", name  # two rehearsals never overlap
        assert job["interruptible"] is False, name  # a newer pipeline never stops a destroy
        assert 0 < minutes(job["timeout"]) <= 180, name
    # An up outlasts its estimated critical path plus the certificate's longest wait, so that
    # Pulumi's own timeouts end a stuck step (and unlock the stack) before GitLab kills it.
    benchmarks = (PROJECT_DIR / "docs" / "BENCHMARKS.md").read_text()
    (critical_path,) = re.findall(r"Estimated `pulumi up` wall time: \*\*(\d+) min\*\*", benchmarks)
    validation = TlsConfig.model_fields["validation_timeout_minutes"].default
    assert minutes(pipeline["rehearsal-up"]["timeout"]) >= int(critical_path) + validation
    assert minutes(pipeline["rehearsal-destroy"]["timeout"]) >= 60


def test_the_rehearsal_signs_in_with_its_own_role_through_gitlabs_id_token(
    pipeline: dict[str, Any],
) -> None:
    installs = pipeline[".pulumi-cli"]
    for name in REHEARSAL_JOBS:
        job = pipeline[name]
        assert job["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}, name
        assert job["variables"]["AWS_ROLE_ARN"] == "$AWS_REHEARSAL_ROLE_ARN", name
        commands = list(flat(job["before_script"]))
        assert commands[-len(installs) :] == installs, f"{name}: the CLIs as the deploys get them"
    for name in ("preview", "deploy-dev", "deploy-prod"):
        assert "$AWS_REHEARSAL_ROLE_ARN" not in json.dumps(pipeline[name]), name
    text = (PROJECT_DIR / ".gitlab-ci.yml").read_text()
    assert "AWS_ACCESS_KEY_ID" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text


@pytest.mark.parametrize(
    "missing", ["PULUMI_BACKEND_URL", "AWS_REHEARSAL_ROLE_ARN", "PULUMI_SECRETS_PROVIDER"]
)
def test_a_rehearsal_without_its_variables_stops_first_and_says_which(
    pipeline: dict[str, Any], missing: str
) -> None:
    before = pipeline[".rehearsal-job"]["before_script"]
    (check,) = [line for line in before if isinstance(line, str)]
    assert before[0] == check  # before the installs
    environment = {**os.environ, **PROJECT_VARIABLES}
    ran = subprocess.run(["bash", "-c", check], env=environment, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    del environment[missing]
    ran = subprocess.run(["bash", "-c", check], env=environment, capture_output=True, text=True)
    assert ran.returncode != 0
    assert f"the rehearsal needs {missing}" in ran.stderr


def run_script(job: dict[str, Any], directory: Path, stand_in: str, **env: str) -> Any:
    """A job's script as the runner runs it: one shell, and a failing command ends the job
    (docs.gitlab.com/ci/yaml/script/#ignore-non-zero-exit-codes), `stand_in` defining the
    tools it calls (each appends what it was asked to calls.txt)."""
    script = "\n".join(["set -e", stand_in, *flat(job["script"])])
    ran = subprocess.run(
        ["bash", "-c", script],
        cwd=directory,
        env={**os.environ, **PROJECT_VARIABLES, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    calls = directory / "calls.txt"
    return ran, calls.read_text().splitlines() if calls.exists() else []


STAND_INS = """
pulumi() {
    echo "pulumi $*" >> calls.txt
    case "$1 $2" in
        "stack output") echo "out-$3" ;;
        "destroy --yes") [ -z "${FAIL_DESTROY:-}" ] || { echo "error: deleting" >&2; return 1; } ;;
        "up --yes") [ -z "${FAIL_UP:-}" ] || return 1 ;;
    esac
}
aws() { echo "aws $*" >> calls.txt; }
make() { echo "make $*" >> calls.txt; [ -z "${FAIL_MAKE:-}" ] || return 1; }
"""

SELECT = (
    "pulumi stack select --create rehearsal --secrets-provider "
    + (PROJECT_VARIABLES["PULUMI_SECRETS_PROVIDER"])
)


def test_up_creates_the_stack_records_the_plan_then_applies_it_with_the_guardrails(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    job = pipeline["rehearsal-up"]
    ran, calls = run_script(job, tmp_path, STAND_INS)
    assert ran.returncode == 0, ran.stderr
    assert calls == [
        SELECT,
        "pulumi preview --stack rehearsal --json",
        "pulumi up --yes --stack rehearsal --policy-pack policies "
        "--policy-pack-config policies/config.rehearsal.json",
    ]
    assert (tmp_path / "preview.json").exists()
    assert (tmp_path / "up.txt").exists()
    assert "--show-secrets" not in scripts(job)  # the JSON says "[secret]" for every secret
    assert (PROJECT_DIR / "policies" / "config.rehearsal.json").exists()
    ran, _ = run_script(job, tmp_path, STAND_INS, FAIL_UP="1")
    assert ran.returncode != 0  # `| tee up.txt` does not hide a failed up


def test_smoke_signs_in_to_the_cluster_the_stack_made_and_checks_it(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    ran, calls = run_script(pipeline["rehearsal-smoke"], tmp_path, STAND_INS)
    assert ran.returncode == 0, ran.stderr
    assert calls == [
        "pulumi stack output cluster_name --stack rehearsal",
        "pulumi stack output region --stack rehearsal",
        "aws eks update-kubeconfig --name out-cluster_name --region out-region",
        "make smoke STACK=rehearsal SMOKE_JSON=smoke.json SMOKE_ARGS=--wait 1200",
    ]
    ran, _ = run_script(pipeline["rehearsal-smoke"], tmp_path, STAND_INS, FAIL_MAKE="1")
    assert ran.returncode != 0  # a failed check fails the job, through `| tee`


def test_a_destroy_that_succeeds_removes_the_stack(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    ran, calls = run_script(pipeline["rehearsal-destroy"], tmp_path, STAND_INS)
    assert ran.returncode == 0, ran.stderr
    assert calls == [
        SELECT,
        "pulumi destroy --yes --stack rehearsal --continue-on-error",
        "pulumi stack rm --yes --preserve-config --remove-backups rehearsal",
    ]
    # Never forced: `stack rm` refuses a stack that still has resources.
    assert "--force" not in scripts(pipeline["rehearsal-destroy"])


def test_a_destroy_that_fails_keeps_the_stack_for_the_next_try(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    ran, calls = run_script(pipeline["rehearsal-destroy"], tmp_path, STAND_INS, FAIL_DESTROY="1")
    assert ran.returncode != 0  # `| tee destroy.txt` does not hide it
    assert calls[-1] == "pulumi destroy --yes --stack rehearsal --continue-on-error"
    assert "error: deleting" in ran.stderr


def test_the_audit_fails_the_pipeline_on_anything_left(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    job = pipeline["rehearsal-orphans"]
    ran, calls = run_script(job, tmp_path, STAND_INS)
    assert ran.returncode == 0, ran.stderr
    assert calls == ["make orphans STACK=rehearsal ORPHANS_JSON=orphans.json"]
    ran, _ = run_script(job, tmp_path, STAND_INS, FAIL_MAKE="1")
    assert ran.returncode != 0
    assert job.get("allow_failure") is not True


def test_every_rehearsal_job_keeps_its_reports_also_when_it_fails(
    pipeline: dict[str, Any],
) -> None:
    paths = {name: pipeline[name]["artifacts"]["paths"] for name in REHEARSAL_JOBS}
    assert paths == {
        "rehearsal-up": ["Pulumi.rehearsal.yaml", "preview.json", "up.txt"],
        "rehearsal-smoke": ["smoke.json", "smoke.txt"],
        "rehearsal-destroy": ["destroy.txt"],
        "rehearsal-orphans": ["orphans.json", "orphans.txt"],
    }
    for name in REHEARSAL_JOBS:
        artifacts = pipeline[name]["artifacts"]
        assert artifacts["when"] == "always", name
        assert artifacts["expire_in"], name


def test_the_rehearsal_stack_is_dev_sized_and_collides_with_no_other_stack() -> None:
    rehearsal = stack_file_config(REHEARSAL_STACK)
    dev = stack_file_config("dev")
    assert rehearsal[f"{PROJECT}:production"] is False  # nothing protected: all of it goes
    assert rehearsal[f"{PROJECT}:environment"] == REHEARSAL_STACK
    assert rehearsal[f"{PROJECT}:nodes"] == dev[f"{PROJECT}:nodes"]
    assert rehearsal[f"{PROJECT}:network"]["nat_gateways"] == "single"
    network = ipaddress.ip_network(rehearsal[f"{PROJECT}:network"]["vpc_cidr"])
    for other in PERSISTENT_STACKS:
        config = stack_file_config(other)
        assert config[f"{PROJECT}:domain"] != rehearsal[f"{PROJECT}:domain"], other
        assert not network.overlaps(
            ipaddress.ip_network(config[f"{PROJECT}:network"]["vpc_cidr"])
        ), other


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
