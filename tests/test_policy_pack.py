"""The policy pack as the CLI runs it: the shipped stacks pass, the unsafe one is blocked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CommandRun
from plans import SHIPPED_STACKS, STACKS_DIR, plan_for, run_offline, stack_file_config

from guardrails import ALL_POLICIES
from offline.plan import PROJECT_DIR, Plan
from offline.policy import (
    PACK_DIR,
    Analysis,
    PolicyPackError,
    load_config,
    run_policy_pack,
    verdict,
)
from offline.render import render
from offline.sources import Tools

UNSAFE_RULES = {
    "eks-control-plane-logging",
    "eks-public-endpoint-restricted",
    "loadbalancer-service-restricted-and-tls",
    "no-open-admin-ports",
    "no-open-ingress-except-public-web",
    "production-highly-available",
    "required-tags",
    "stateful-resources-protected",
}
NOTICES = {"sources-not-rendered"}
"""Advisories every plan without all its objects rendered carries (GitLab's chart cannot be
had here): they name what the pack did not see, not something wrong."""


def test_the_pack_has_at_least_thirty_documented_rules() -> None:
    assert len(ALL_POLICIES) >= 30
    assert len({p.name for p in ALL_POLICIES}) == len(ALL_POLICIES)
    for policy in ALL_POLICIES:
        assert policy.description, policy.name
        assert policy.enforcement_level is not None, policy.name
        assert policy.severity is not None, policy.name
        assert policy.remediation_steps, policy.name


def test_the_pack_is_a_python_pack_the_cli_can_run() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert manifest["version"]
    assert "pulumi-policy" in (PACK_DIR / "requirements.txt").read_text()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.lower()] = version
    return pins


def test_the_pack_shares_the_programs_virtualenv_and_its_pins() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    venv = (PACK_DIR / manifest["runtime"]["options"]["virtualenv"]).resolve()
    program = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert venv == (PROJECT_DIR / program["runtime"]["options"]["virtualenv"]).resolve()
    pack, shared = _pins(PACK_DIR / "requirements.txt"), _pins(PROJECT_DIR / "requirements.txt")
    assert {name: shared.get(name) for name in pack} == pack


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_pass_every_mandatory_rule(stack: str) -> None:
    plan = plan_for(stack_file_config(stack), stack=stack)
    report = run_policy_pack(plan, load_config(PACK_DIR / f"config.{stack}.json"))
    assert report.mandatory == []
    assert report.evaluated == len(plan.resources)


def test_production_config_makes_the_production_rules_bite(dev_plan: Plan) -> None:
    # The dev stack is fine as dev, but not as production: the config is what differs.
    report = run_policy_pack(dev_plan, load_config(PACK_DIR / "config.prod.json"))
    assert {v["policy"] for v in report.mandatory} == {
        "stateful-resources-protected",
        "production-highly-available",
        # Dev keeps Argo CD's local admin on, which production allows only for break-glass.
        "argocd-local-admin-off-in-production",
        # Dev runs one pod of each Argo CD service and the single Redis.
        "argocd-highly-available-in-production",
        # Dev's previews deploy to `preview-*`, a wildcard production's config allows nowhere.
        "argocd-project-no-wildcards",
    }


@pytest.fixture(scope="module")
def unsafe(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("unsafe") / "plan.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline",
            "--stack-file",
            str(STACKS_DIR / "Pulumi.unsafe.yaml"),
            "--policy-config",
            str(STACKS_DIR / "policy-config.unsafe.json"),
            "--json",
            str(out),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, out


def test_an_unsafe_stack_is_blocked_naming_each_broken_rule(
    unsafe: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = unsafe
    assert result.returncode == 1
    for rule in UNSAFE_RULES:
        assert f"    {rule} (" in result.stdout, rule


def test_an_unsafe_stack_breaks_exactly_the_expected_rules(
    unsafe: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = unsafe
    policy = json.loads(out.read_text())["policy"]
    verdicts = [v for v in policy["violations"] if v["policy"] not in NOTICES]
    assert {v["policy"] for v in verdicts} == UNSAFE_RULES
    assert {v["level"] for v in verdicts} == {"mandatory"}
    assert {v["level"] for v in policy["violations"] if v["policy"] in NOTICES} <= {"advisory"}
    for violation in policy["violations"]:
        assert set(violation) == {"policy", "level", "severity", "urn", "message"}
        assert violation["urn"].startswith("urn:pulumi:unsafe::gitops-platform::")


def test_the_command_analysing_during_the_plan_gives_the_verdict_of_a_plan_analysed_after(
    unsafe: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # The command hands the pack each resource as it is recorded; run_policy_pack hands it a
    # finished plan in URN order. The verdict, violations and their order are the same,
    # given the same rendered objects (what the pack did not see, it names).
    result, out = unsafe
    plan = plan_for(stack_file_config("unsafe"), stack="unsafe")
    config = load_config(STACKS_DIR / "policy-config.unsafe.json")
    with Analysis(lambda: config) as analysis:
        rendered = render(plan, Tools.find()).analyzer_resources(plan)
        report = analysis.report(plan, rendered)
    assert json.loads(out.read_text())["policy"] == report.as_dict()
    # What the counts count: the summary's resources are the custom ones.
    assert report.evaluated == len(plan.resources)
    assert report.custom == sum(1 for r in plan.resources if r["custom"]) < report.evaluated
    assert report.rendered == len(rendered)
    assert f"\n{verdict(report)}\n" in result.stdout


def test_a_pack_that_does_not_start_is_reported(tmp_path: Path, dev_plan: Plan) -> None:
    (tmp_path / "__main__.py").write_text("raise SystemExit('no analyzer here')\n")
    with pytest.raises(PolicyPackError, match="no analyzer here"):
        run_policy_pack(dev_plan, {}, pack_dir=tmp_path)


def test_the_plan_json_carries_the_policy_verdict(
    dev_commands: tuple[CommandRun, CommandRun],
) -> None:
    for run in dev_commands:
        policy = json.loads(run.json)["policy"]
        assert policy["pack"] == "gitops-platform-guardrails"
        assert policy["evaluated"] > 100
        assert [v for v in policy["violations"] if v["policy"] not in NOTICES] == []
        assert {v["level"] for v in policy["violations"]} <= {"advisory"}


def test_the_readme_counts_the_rules_there_are() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    counts = re.findall(r"(\d+)\s+(?:guardrails|rules\b)", readme)
    assert counts
    assert {int(n) for n in counts} == {len(ALL_POLICIES)}


def test_the_rule_reference_is_current() -> None:
    sys.path.insert(0, str(PACK_DIR))
    from reference import TARGET, render

    assert TARGET.read_text() == render(), "docs/policies.md is stale: run `make docs`"


def test_a_policy_configuration_that_is_missing_is_an_error(tmp_path: Path) -> None:
    missing = run_offline("--stack", "dev", "--policy-config", tmp_path / "nope.json")
    assert missing.returncode == 2
    assert f"error: {tmp_path / 'nope.json'}: no such policy configuration file" in (missing.stderr)
    # A stack with no policies/config.<stack>.json is refused too, and `{}` is how a stack
    # asks for the pack's defaults.
    stack_file = tmp_path / "Pulumi.fresh.yaml"
    stack_file.write_text((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    fresh = run_offline("--stack-file", stack_file)
    assert fresh.returncode == 2
    assert "policies/config.fresh.json: no such policy configuration file" in fresh.stderr
    assert "`{}` in that file applies the pack's defaults" in fresh.stderr
    (tmp_path / "defaults.json").write_text("{}")
    defaults = run_offline(
        "--stack-file", stack_file, "--policy-config", tmp_path / "defaults.json"
    )
    assert defaults.returncode == 0, defaults.stderr


def test_a_policy_configuration_naming_what_the_pack_lacks_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "eks-public-endpoint-restrictd": "mandatory",
                "load-balancers-admit-only-configured-ranges": {"public_lbs": ["a/b"]},
                "eks-public-endpoint-restricted": "blocking",
            }
        )
    )
    result = run_offline("--stack", "dev", "--policy-config", config)
    assert result.returncode == 2
    assert result.stdout == ""  # refused before any plan is shown
    assert result.stderr.splitlines()[1:] == [
        "  - 'eks-public-endpoint-restrictd': no rule of that name in the pack "
        "gitops-platform-guardrails; did you mean 'eks-public-endpoint-restricted'?",
        "  - eks-public-endpoint-restricted: enforcementLevel 'blocking'; expected one of "
        "advisory, mandatory, disabled, remediate",
        "  - load-balancers-admit-only-configured-ranges: unknown option 'public_lbs'; the "
        "rule's options: public_load_balancers",
    ]


def test_policy_configuration_problems_come_with_the_stacks_own(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"eks-public-endpoint-restrictd": "mandatory"}))
    broken = STACKS_DIR / "Pulumi.broken.yaml"
    result = run_offline("--stack-file", broken, "--policy-config", config)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: invalid configuration for stack 'broken'")
    assert errors[1] == f"error: {config}: 1 problem(s):"
    assert "'eks-public-endpoint-restrictd': no rule of that name" in result.stderr
    # And with a stack file that cannot be read at all.
    unreadable = tmp_path / "Pulumi.unreadable.yaml"
    unreadable.write_text("config: [not, a, mapping]\n")
    result = run_offline("--stack-file", unreadable, "--policy-config", config)
    assert result.returncode == 2
    assert "expected a mapping with a 'config' mapping" in result.stderr
    assert "'eks-public-endpoint-restrictd': no rule of that name" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "command_status"),
    [
        (["STACK=nonesuch"], 2),  # unusable input
        (
            [
                f"STACK_FILE={STACKS_DIR / 'Pulumi.unsafe.yaml'}",
                f"POLICY_CONFIG={STACKS_DIR / 'policy-config.unsafe.json'}",
            ],
            1,  # a mandatory violation
        ),
    ],
)
def test_make_plan_exits_2_and_names_the_commands_status(
    arguments: list[str], command_status: int
) -> None:
    # What the README says: make exits 2 whenever the command fails (GNU make, "Running":
    # "The exit status is two if make encounters any errors"), and its message carries the
    # status of `python -m offline`: 1 a mandatory violation, 2 unusable input.
    result = subprocess.run(
        ["make", "--no-print-directory", "plan", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.rstrip().endswith(f"plan] Error {command_status}"), result.stderr
