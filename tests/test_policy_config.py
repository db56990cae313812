"""The pack configuration as the Pulumi CLI reads `--policy-pack-config`: parsed, reconciled
with the pack's defaults and validated against each rule's schema before anything runs
(pulumi/pulumi pkg/resource/analyzer/config.go)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from plans import plan_for, run_offline, stack_file_config
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from guardrails import ALL_POLICIES, PACK_NAME
from offline.plan import Plan
from offline.policy import config_problems, load_config, reconcile, run_policy_pack


@pytest.fixture(scope="module")
def pack() -> analyzer_pb2.AnalyzerInfo:
    """What the pack answers to GetAnalyzerInfo (its own servicer, in this process)."""
    servicer = _PolicyAnalyzerServicer(
        PACK_NAME, "0.0.1", ALL_POLICIES, EnforcementLevel.MANDATORY, None
    )
    info: analyzer_pb2.AnalyzerInfo = servicer.GetAnalyzerInfo(None, None)
    return info


@pytest.fixture(scope="module")
def unsafe_plan() -> Plan:
    return plan_for(stack_file_config("unsafe"), stack="unsafe")


def test_options_that_do_not_fit_a_rules_schema_stop_the_preview_before_the_plan(
    tmp_path: Path,
) -> None:
    # A string where the schema wants an array of CIDRs: the CLI refuses it before the
    # program runs; passed on, the rule would read the string's characters as networks.
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "eks-public-endpoint-restricted": {"allowed_admin_cidrs": "192.0.2.0/24"},
                "no-open-ingress-except-public-web": {"public_web_ports": [443, -1]},
                "all": "blocking",
            }
        )
    )
    result = run_offline("--stack", "dev", "--policy-config", config)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {config}: 3 problem(s):",
        "  - all: enforcementLevel 'blocking'; expected one of advisory, mandatory, disabled, "
        "remediate",
        "  - eks-public-endpoint-restricted: allowed_admin_cidrs: '192.0.2.0/24' is not of "
        "type 'array'",
        "  - no-open-ingress-except-public-web: public_web_ports.1: -1 is less than the "
        "minimum of 0",
    ]


def test_no_policy_with_a_policy_configuration_is_a_usage_error(tmp_path: Path) -> None:
    result = run_offline("--no-policy", "--policy-config", tmp_path / "config.json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.rstrip().endswith("error: --no-policy contradicts --policy-config")


def test_all_sets_every_rules_level_unless_the_rules_own_entry_sets_one(
    unsafe_plan: Plan,
) -> None:
    config = {
        "all": "advisory",
        "required-tags": {"enforcementLevel": "mandatory", "required_tags": ["cost-center"]},
        # Options only: the level stays `all`'s.
        "stateful-resources-protected": {"production": True},
        "production-highly-available": {"production": True},
    }
    report = run_policy_pack(unsafe_plan, config)
    levels: dict[str, set[str]] = {}
    for violation in report.violations:
        levels.setdefault(violation["policy"], set()).add(violation["level"])
    assert levels.pop("required-tags") == {"mandatory"}
    assert {"stateful-resources-protected", "production-highly-available"} <= set(levels)
    assert set().union(*levels.values()) == {"advisory"}, levels


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def test_the_configuration_is_layered_as_the_cli_layers_it() -> None:
    # Defaults (each rule's level, its schema's defaults) < the pack's initial config < `all`
    # < the rule's own entry (config.go, ReconcilePolicyPackConfig and applyConfig).
    info = analyzer_pb2.AnalyzerInfo(
        name="pack",
        policies=[
            analyzer_pb2.PolicyInfo(
                name="ports",
                enforcementLevel=analyzer_pb2.MANDATORY,
                configSchema=analyzer_pb2.PolicyConfigSchema(
                    properties=_struct(
                        {
                            "ports": {"type": "array", "default": [80]},
                            "names": {"type": "array", "default": ["web"]},
                        }
                    )
                ),
            ),
            analyzer_pb2.PolicyInfo(name="notice", enforcementLevel=analyzer_pb2.ADVISORY),
            analyzer_pb2.PolicyInfo(name="initial", enforcementLevel=analyzer_pb2.MANDATORY),
        ],
        initialConfig={
            "initial": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.DISABLED)
        },
    )
    without_all = reconcile({"ports": {"ports": [443]}, "notice": {}}, info)
    assert {name: rule.level for name, rule in without_all.items()} == {
        "ports": "mandatory",
        "notice": "advisory",
        "initial": "disabled",
    }
    assert without_all["ports"].properties == {"ports": [443], "names": ["web"]}

    with_all = reconcile(
        {"all": "remediate", "ports": {"ports": [443]}, "notice": "mandatory"}, info
    )
    assert {name: rule.level for name, rule in with_all.items()} == {
        "ports": "remediate",
        "notice": "mandatory",
        "initial": "remediate",
        "all": "remediate",  # sent as an entry of its own, as the CLI does
    }


def test_all_takes_an_enforcement_level_and_nothing_else(pack: analyzer_pb2.AnalyzerInfo) -> None:
    assert config_problems({"all": "advisory"}, pack) == []
    assert config_problems({"all": {"enforcementLevel": "disabled"}}, pack) == []
    assert config_problems({"all": {"enforcementLevel": "advisory", "production": True}}, pack) == [
        "all: option 'production': `all` sets only every rule's enforcementLevel"
    ]
    assert config_problems({"all": 1}, pack) == [
        "all: 1: expected an enforcement level or an object of options"
    ]


def test_esc_environments_are_refused_offline(pack: analyzer_pb2.AnalyzerInfo) -> None:
    # The CLI resolves them through its backend (pkg/engine/update.go); offline there is none.
    assert config_problems({"environments": []}, pack) == []
    assert config_problems({"environments": ["platform/policy"]}, pack) == [
        "environments: platform/policy: ESC environments are resolved by the CLI's backend, "
        "and the offline preview has none; preview with a file without them (--policy-config)"
    ]
    assert config_problems({"environments": "platform/policy"}, pack) == [
        "environments: 'platform/policy': expected an array of ESC environment names"
    ]


def test_an_empty_configuration_file_is_the_packs_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "config.json"
    empty.write_text("\n")
    assert load_config(empty) == {}
