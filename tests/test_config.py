"""The typed configuration: bad input fails early, naming key, value and expectation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import (
    PROJECT,
    SHIPPED_STACKS,
    STACKS_DIR,
    plan_for,
    run_offline,
    stack_file_config,
    with_changes,
)

from components.config import ConfigError
from offline.plan import PROJECT_DIR, Plan, run_plan
from offline.stack_files import StackFileError, load_stack, settings_from_config

DEV = stack_file_config("dev")
NETWORK = DEV[f"{PROJECT}:network"]
CLUSTER = DEV[f"{PROJECT}:cluster"]
ACCESS = DEV[f"{PROJECT}:access"]


def problems_of(config: dict[str, Any], secrets: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plan_for(config, secrets=secrets)
    return raised.value.problems


def only_problem(config: dict[str, Any]) -> str:
    problems = problems_of(config)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_are_valid(stack: str) -> None:
    plan = plan_for(stack_file_config(stack), stack=stack)
    assert plan.resources


@pytest.mark.parametrize("domain", ["not a domain!", "localhost", "Example.COM", "a..b", "x.123"])
def test_domain_must_be_a_dns_name(domain: str) -> None:
    problem = only_problem(with_changes(DEV, domain=domain))
    assert problem.startswith(f"{PROJECT}:domain = '{domain}': expected a DNS name")


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.1.2.0/24", "192.0.2.1/24", "nonsense"])
def test_cidr_must_parse_as_a_network(cidr: str) -> None:
    problem = only_problem(with_changes(DEV, access={**ACCESS, "admin_cidrs": [cidr]}))
    assert problem.startswith(f"{PROJECT}:access.admin_cidrs[0] = '{cidr}': expected a CIDR")


def test_production_admin_cidrs_may_not_be_open_to_the_internet() -> None:
    prod = stack_file_config("prod")
    access = {**prod[f"{PROJECT}:access"], "admin_cidrs": ["192.0.2.0/24", "0.0.0.0/0"]}
    problem = only_problem(with_changes(prod, access=access))
    assert problem.startswith(f"{PROJECT}:access.admin_cidrs[1] = '0.0.0.0/0'")
    assert "production" in problem


def test_open_admin_cidrs_are_allowed_outside_production() -> None:
    plan = plan_for(with_changes(DEV, access={**ACCESS, "admin_cidrs": ["0.0.0.0/0"]}))
    assert plan.resources


def test_gitlab_open_to_everyone_must_be_explicit() -> None:
    access = {**ACCESS, "gitlab_cidrs": ["0.0.0.0/0"]}
    assert "gitlab_public: true" in only_problem(with_changes(DEV, access=access))
    assert plan_for(with_changes(DEV, access={**access, "gitlab_public": True})).resources


def test_unknown_cluster_mode_lists_the_known_ones() -> None:
    problem = only_problem(with_changes(DEV, cluster={"mode": "gke"}))
    assert problem == (
        f"{PROJECT}:cluster.mode = 'gke': unknown cluster mode; "
        "expected one of 'eks', 'kops', 'existing'"
    )


@pytest.mark.parametrize("key", ["domain", "owner", "environment", "cluster", "access"])
def test_required_keys_are_named_when_missing(key: str) -> None:
    assert only_problem(with_changes(DEV, **{key: None})) == (
        f"{PROJECT}:{key}: missing; this key is required"
    )


def test_region_is_required() -> None:
    config = dict(DEV)
    del config["aws:region"]
    assert problems_of(config)[0] == "aws:region: missing; this key is required"


@pytest.mark.parametrize("version", [">=1.0", "latest", "", "1.2", "~1.2.3", "v1.2.3", "1.2.x"])
def test_chart_versions_must_be_exact(version: str) -> None:
    charts = {"argo_cd": {"repository": "https://argoproj.github.io/argo-helm", "version": version}}
    problem = only_problem(with_changes(DEV, charts=charts))
    assert problem.startswith(f"{PROJECT}:charts.argo_cd.version = '{version}': expected an exact")


@pytest.mark.parametrize("size", [0, -1])
def test_node_counts_must_be_positive(size: int) -> None:
    nodes = {"min_size": size, "desired_size": 2, "max_size": 3}
    assert only_problem(with_changes(DEV, nodes=nodes)) == (
        f"{PROJECT}:nodes.min_size = {size}: expected a number >= 1"
    )


@pytest.mark.parametrize(
    ("nodes", "problems"),
    [
        ({"min_size": 3, "desired_size": 2}, ["desired_size = 2: expected at least min_size (3)"]),
        ({"desired_size": 5, "max_size": 3}, ["desired_size = 5: expected at most max_size (3)"]),
        (
            {"min_size": 4, "desired_size": 4, "max_size": 3},
            [
                "desired_size = 4: expected at most max_size (3)",
                "max_size = 3: expected at least min_size (4)",
            ],
        ),
    ],
)
def test_node_counts_must_be_ordered(nodes: dict[str, int], problems: list[str]) -> None:
    assert problems_of(with_changes(DEV, nodes=nodes)) == [
        f"{PROJECT}:nodes.{problem}" for problem in problems
    ]


def test_eks_needs_two_availability_zones() -> None:
    network = {**NETWORK, "availability_zones": ["eu-west-1a"]}
    problem = only_problem(with_changes(DEV, network=network))
    assert problem == (
        f'{PROJECT}:network.availability_zones = ["eu-west-1a"]: expected at least 2 item(s)'
    )


def test_availability_zones_must_be_in_the_region() -> None:
    network = {**NETWORK, "availability_zones": ["eu-west-1a", "us-east-1b"]}
    assert "not in it: ['us-east-1b']" in only_problem(with_changes(DEV, network=network))


def test_misspelled_key_inside_an_object_names_the_valid_keys() -> None:
    network = {**NETWORK, "nat_gatways": "per_az"}
    assert only_problem(with_changes(DEV, network=network)) == (
        f"{PROJECT}:network.nat_gatways = 'per_az': unknown key (misspelled?); "
        "expected one of vpc_cidr, availability_zones, nat_gateways"
    )


def test_misspelled_key_inside_the_cluster_names_that_modes_keys() -> None:
    problem = only_problem(with_changes(DEV, cluster={**CLUSTER, "kubernetes_verison": "1.35"}))
    assert problem.startswith(f"{PROJECT}:cluster.kubernetes_verison = '1.35': unknown key")
    assert "kubernetes_version" in problem
    assert "create_vpc" not in problem  # a kops key, not an eks one


def test_misspelled_top_level_key_is_reported() -> None:
    config = {**DEV, f"{PROJECT}:domian": "example.com"}
    assert only_problem(config).startswith(f"{PROJECT}:domian = 'example.com': unknown key")


def test_keys_outside_the_namespaces_the_stack_reads_are_reported() -> None:
    reads = f"this stack reads {PROJECT}: keys, aws:region and the CLI's pulumi: settings"
    config = {
        **DEV,
        "gitops-platfrom:domain": "example.org",  # the project's name, misspelled
        "aws:regoin": "eu-west-1",  # a key the AWS provider does not have
        "pulumi:tags": '{"team": "platform"}',  # the CLI's own
    }
    assert problems_of(config) == [
        "aws:regoin: not a configuration key of the AWS provider (misspelled?); did you "
        "mean aws:region?",
        f"gitops-platfrom:domain: unknown namespace 'gitops-platfrom' (misspelled?); {reads}; "
        f"did you mean {PROJECT}:?",
    ]


def test_a_misspelled_cli_setting_is_reported() -> None:
    assert only_problem({**DEV, "pulumi:disable-default-provider": '["aws"]'}) == (
        "pulumi:disable-default-provider: not a setting of the Pulumi CLI (misspelled?); it has "
        "pulumi:autonaming, pulumi:disable-default-providers, pulumi:tags; did you mean "
        "pulumi:disable-default-providers?"
    )


@pytest.mark.parametrize(
    "key", ["aws:profile", "aws:allowedAccountIds", "kubernetes:namespace", "kubernetes:strictMode"]
)
def test_provider_settings_that_would_take_no_effect_are_refused(key: str) -> None:
    problem = only_problem({**DEV, key: "x"})
    namespace = key.split(":")[0]
    assert problem.startswith(
        f"{key}: takes no effect: every {namespace} resource of this stack goes through an "
        f"explicit provider, which {namespace}: stack settings do not configure"
    )
    assert problem.endswith("; remove it")


def test_checks_across_fields_are_reported_with_the_field_errors() -> None:
    app = {"name": "twice", "path": "minio", "namespace": "minio"}
    config = with_changes(
        DEV,
        domain="not a domain!",  # a field error
        applications=[app, {**app, "namespace": "other"}],  # and two across fields
        access={**ACCESS, "admin_cidrs": [f"192.0.2.{i * 16}/28" for i in range(4)]},
        gitlab={"admin_area": "admins"},
    )
    problems = problems_of(config)
    assert problems[0].startswith(f"{PROJECT}:domain = 'not a domain!'")
    assert problems[1:] == [
        f"{PROJECT}:access.admin_cidrs: 4 ranges, but gitlab.admin_area: admins admit them in "
        "ALB listener rules, which take at most 3 (a rule has at most 5 condition values: "
        "its host, its path and the ranges); expected at most 3 ranges (merge neighbouring "
        "ones), or gitlab.admin_area: everyone and argocd.exposure: loadbalancer",
        f"{PROJECT}:applications: names must be unique; repeated: ['twice']",
    ]


def test_applications_may_not_share_a_namespace() -> None:
    apps = [
        {
            "name": "one",
            "path": "minio",
            "namespace": "shared",
            "value_files": ["values-minio.yaml"],
        },
        {"name": "two", "path": "my-app/overlays/dev", "namespace": "shared"},
    ]
    assert only_problem(with_changes(DEV, applications=apps)) == (
        f"{PROJECT}:applications: namespaces (each owns its own) must be unique; repeated: "
        "['shared']"
    )


@pytest.mark.parametrize(
    ("section", "value", "check"),
    [
        (
            "nodes",
            {"min_size": 3, "desired_size": 2, "max_size": 4, "disk_size_gib": 5},
            "expected at least min_size (3)",
        ),
        (
            "gitlab",
            {"ssh": "nlb", "webservice_replicas": 0},
            "expected ssh_cidrs (at least one range) when ssh is 'nlb'",
        ),
        (
            "gitops",
            {"token_expiry_days": 30, "token_renewal_days": 20, "group": "bad group"},
            "expected token_renewal_days (20) at most half of token_expiry_days (30)",
        ),
        (
            "access",
            {"admin_cidrs": ["192.0.2.0/24"], "gitlab_cidrs": ["0.0.0.0/0"], "tls_policy": "x"},
            "gitlab_cidrs opens GitLab to everyone; set gitlab_public: true to mean it",
        ),
        (
            "cluster",
            {
                "mode": "eks",
                "addon_versions": {"eks-pod-identity-agent": "v1.3.0-eksbuild.1"},
                "log_retention_days": 2,
            },
            "addon_versions names eks-pod-identity-agent, which is installed only with "
            "workload_identity: pod_identity",
        ),
        (
            "cluster",
            {"mode": "kops", "create_vpc": False, "control_plane_size": "huge"},
            "expected vpc_id and at least two public_subnet_ids and private_subnet_ids when "
            "create_vpc is false",
        ),
    ],
)
def test_a_sections_own_cross_field_check_is_reported_with_its_field_errors(
    section: str, value: dict[str, Any], check: str
) -> None:
    problems = problems_of(with_changes(DEV, **{section: value}))
    assert len(problems) == 2, problems
    field_error, across = problems
    assert field_error.startswith(f"{PROJECT}:{section}.")
    assert across.startswith(f"{PROJECT}:{section}")
    assert check in across
    assert check not in field_error


def test_a_mistake_elsewhere_in_a_section_does_not_hold_back_a_check_across_fields() -> None:
    four = [f"192.0.2.{i * 16}/28" for i in range(4)]
    apps = [
        {"name": "twice", "path": "minio", "namespace": "minio", "value_files": ["nope.yaml"]},
        {"name": "twice", "path": "my-app/overlays/dev", "namespace": "other"},
    ]
    config = with_changes(
        DEV,
        nodes={"min_size": "two", "desired_size": 5, "max_size": 3},
        access={**ACCESS, "admin_cidrs": four, "bogus": 1},
        gitlab={"admin_area": "admins", "webservice_replicas": 0},
        applications=apps,
    )
    keys = [problem.split(" ")[0].rstrip(":") for problem in problems_of(config)]
    assert keys == [
        f"{PROJECT}:nodes.min_size",
        f"{PROJECT}:nodes.desired_size",  # <= max_size: min_size's mistake does not matter
        f"{PROJECT}:access.bogus",
        f"{PROJECT}:gitlab.webservice_replicas",
        f"{PROJECT}:applications[0].value_files[0]",
        f"{PROJECT}:access.admin_cidrs",  # the ALB rule limit: access.bogus does not matter
        f"{PROJECT}:applications",  # the repeated name, from entries with mistakes of their own
    ]


def test_checks_across_sections_read_only_the_settings_they_need() -> None:
    # The cluster's mode, not the whole cluster section; the number of ranges, not each one.
    five = [*(f"192.0.2.{i * 16}/28" for i in range(4)), "bad"]
    config = with_changes(
        DEV,
        network=None,
        cluster={**CLUSTER, "bogus": 1},
        access={**ACCESS, "admin_cidrs": five},
        gitlab={"admin_area": "admins"},
    )
    keys = [problem.split(" ")[0].rstrip(":") for problem in problems_of(config)]
    assert keys == [
        f"{PROJECT}:cluster.bogus",
        f"{PROJECT}:access.admin_cidrs[4]",
        f"{PROJECT}:network",
        f"{PROJECT}:access.admin_cidrs",
    ]


def test_a_cross_field_check_waits_for_its_own_fields() -> None:
    # desired_size >= min_size waits for min_size; desired_size <= max_size holds.
    nodes = {"min_size": "two", "desired_size": 1, "max_size": 3}
    assert only_problem(with_changes(DEV, nodes=nodes)).startswith(
        f"{PROJECT}:nodes.min_size = 'two': expected"
    )


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    settings = load_stack(PROJECT_DIR, "broken", STACKS_DIR / "Pulumi.broken.yaml")
    recorded = Plan(project=PROJECT, stack="broken")
    with pytest.raises(ConfigError) as raised:
        run_plan(settings, plan=recorded)
    keys = [problem.split(" ")[0].rstrip(":") for problem in raised.value.problems]
    assert keys == [
        f"{PROJECT}:owner",
        f"{PROJECT}:domain",
        f"{PROJECT}:network.vpc_cidr",
        f"{PROJECT}:network.availability_zones",
        f"{PROJECT}:network.nat_gatways",
        f"{PROJECT}:cluster.mode",
        f"{PROJECT}:nodes.min_size",
        f"{PROJECT}:nodes.desired_size",
        f"{PROJECT}:access.admin_cidrs[0]",
        f"{PROJECT}:access.admin_cidrs[1]",
        f"{PROJECT}:charts.gitlab.version",
        f"{PROJECT}:charts.argo_cd.version",
        f"{PROJECT}:charts.external_dns.version",
    ]
    assert recorded.resources == []


def test_bad_stack_file_exits_non_zero_with_the_message_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "offline", "--stack-file", STACKS_DIR / "Pulumi.broken.yaml"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid configuration for stack 'broken' (13 problems)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_stack_names_the_stacks_there_are() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "offline", "--stack", "nope"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "no stack file Pulumi.nope.yaml; stacks here: dev, prod" in result.stderr


def test_kubeconfig_stored_in_clear_is_refused() -> None:
    settings = settings_from_config(PROJECT, "test", existing_cluster_config())
    settings.config[f"{PROJECT}:kubeconfig"] = "apiVersion: v1"
    with pytest.raises(ConfigError) as raised:
        run_plan(settings)
    assert raised.value.problems == [
        f"{PROJECT}:kubeconfig: is stored in clear; set it with "
        "`pulumi config set --secret kubeconfig`"
    ]


def test_existing_mode_requires_a_kubeconfig() -> None:
    problems = problems_of(existing_cluster_config())
    assert problems == [
        f"{PROJECT}:kubeconfig: missing; cluster.mode 'existing' needs the cluster's kubeconfig "
        "(`pulumi config set --secret kubeconfig < kubeconfig.yaml`)"
    ]


def test_secret_values_inside_config_objects_are_refused() -> None:
    problems = problems_of(DEV, secrets={"access": '{"admin_cidrs": ["192.0.2.0/24"]}'})
    assert problems == [
        f"{PROJECT}:access: holds a secret value; secrets are top-level keys of their own "
        "(kubeconfig, gitlab_token)"
    ]


def existing_cluster_config() -> dict[str, Any]:
    config = with_changes(DEV, network=None, nodes=None)
    config[f"{PROJECT}:cluster"] = {
        "mode": "existing",
        "name": "shared-cluster",
        "vpc_id": "vpc-0123456789abcdef0",
        "public_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        "private_subnet_ids": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
        "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC",
        "oidc_issuer_url": "https://oidc.example.com/id/ABC",
    }
    return config


def test_the_configuration_reference_is_current() -> None:
    from tools.config_reference import TARGET, render

    assert TARGET.read_text() == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_key_of_the_configuration_reference_says_what_it_means() -> None:
    from tools.config_reference import TARGET

    rows = [line for line in TARGET.read_text().splitlines() if line.startswith("| `")]
    cells = [re.split(r"(?<!\\)\|", row) for row in rows]  # `\|` inside a cell is text
    assert len(cells) > 50
    # Keys: key, type, default, meaning; the secrets' table: key, meaning.
    assert [row[1].strip() for row in cells if not row[-2].strip()] == []


def test_the_configuration_reference_names_every_key() -> None:
    from components.config import CONFIG_KEYS, SECRET_KEYS
    from tools.config_reference import TARGET

    text = TARGET.read_text()
    for key in (*CONFIG_KEYS, *SECRET_KEYS):
        assert f"| `{key}" in text, key


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"environment": ["platform/dev"]}, "`environment:` imports Pulumi ESC environments"),
        ({"configg": {}}, "unknown top-level key(s) configg (misspelled?); a stack file has"),
    ],
)
def test_stack_file_keys_beside_config_that_would_be_lost_are_errors(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": DEV, **extra}))
    with pytest.raises(StackFileError, match=re.escape(message)):
        load_stack(PROJECT_DIR, "dev", path)
    # The keys a stack file has are fine.
    path.write_text(yaml.safe_dump({"config": DEV, "encryptionsalt": "v1:abc"}))
    assert load_stack(PROJECT_DIR, "dev", path).config


def test_project_level_config_is_refused_rather_than_planned_without(tmp_path: Path) -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump({**project, "config": {"gitops-platfrom:domain": "x.example.com"}})
    )
    with pytest.raises(StackFileError, match="project-level `config:` is not read"):
        load_stack(tmp_path, "dev", PROJECT_DIR / "Pulumi.dev.yaml")


@pytest.mark.parametrize("value_file", ["../my-app/base/deployment.yaml", "./values-minio.yaml"])
def test_a_value_file_outside_its_folder_is_refused(value_file: str) -> None:
    app = {"name": "minio-helm", "path": "minio", "namespace": "minio", "value_files": [value_file]}
    problem = only_problem(with_changes(DEV, applications=[app]))
    assert problem.startswith(
        f"{PROJECT}:applications[0].value_files[0] = '{value_file}': expected a file of the "
        "application's folder"
    )


def test_unusable_output_and_chart_cache_paths_are_errors_before_planning(tmp_path: Path) -> None:
    result = run_offline(
        "--no-policy", "--stack", "dev", "--json", tmp_path / "nowhere" / "plan.json"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"--json {tmp_path / 'nowhere' / 'plan.json'}: no such directory" in result.stderr
    charts = subprocess.run(
        [sys.executable, "-m", "offline", "--no-policy", "--charts", tmp_path / "none"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert charts.returncode == 2
    assert f"--charts {tmp_path / 'none'}: no such chart cache" in charts.stderr


def explicit_provider_cases() -> list[Any]:
    kops = stack_file_config("kops")
    kubeconfig = {"kubeconfig": "apiVersion: v1\nkind: Config\n"}
    return [
        *(
            pytest.param(stack_file_config(s), None, ("aws", "kubernetes", "gitlab"), id=s)
            for s in SHIPPED_STACKS
        ),
        pytest.param(kops, None, ("aws",), id="kops-step-one"),
        pytest.param(kops, kubeconfig, ("aws", "kubernetes", "gitlab"), id="kops-step-two"),
        pytest.param(
            existing_cluster_config(), kubeconfig, ("aws", "kubernetes", "gitlab"), id="existing"
        ),
    ]


@pytest.mark.parametrize(("config", "secrets", "packages"), explicit_provider_cases())
def test_every_resource_goes_through_an_explicit_provider(
    config: dict[str, Any], secrets: dict[str, str] | None, packages: tuple[str, ...]
) -> None:
    # What makes provider stack settings (aws:profile, kubernetes:*) take no effect: only the
    # engine's default providers read them, and the program never leaves a resource to one.
    plan = plan_for(config, secrets=secrets)
    providers = {r["urn"] for r in plan.resources if r["type"].startswith("pulumi:providers:")}
    # random, command and time have default providers: they have no stack settings to miss.
    custom = [
        r
        for r in plan.resources
        if r["custom"]
        and r["urn"] not in providers
        and r["type"].split(":")[0] in ("aws", "kubernetes", "gitlab")
    ]
    assert {r["type"].split(":")[0] for r in custom} == set(packages)
    assert [r["urn"] for r in custom if r["provider"] not in providers] == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  gitops-platform:owner: no\n", "no"),  # YAML 1.1's false; text for the CLI
        ("  gitops-platform:owner:\n", ""),  # no value: "" from the CLI, not "null"
        ("  gitops-platform:owner: '012'\n", "012"),
    ],
)
def test_stack_files_read_as_the_cli_reads_them(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    path.write_text(text.replace("  gitops-platform:owner: platform-team\n", line))
    assert load_stack(PROJECT_DIR, "dev", path).config[f"{PROJECT}:owner"] == expected


def test_a_key_given_twice_in_a_stack_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    path.write_text(text + "  gitops-platform:owner: someone-else\n")
    with pytest.raises(StackFileError, match="mapping key 'gitops-platform:owner' already defined"):
        load_stack(PROJECT_DIR, "dev", path)


def test_a_stack_files_own_mistakes_come_with_its_configurations(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    config = {**DEV, f"{PROJECT}:nodes": {"min_size": "x"}}
    path.write_text(yaml.safe_dump({"config": config, "confg": {}, "environment": ["a/b"]}))
    result = run_offline("--no-policy", "--stack-file", path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: invalid configuration for stack 'dev'")
    assert "`environment:` imports Pulumi ESC environments" in errors[1]
    assert "unknown top-level key(s) confg" in errors[2]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--stack", "prod", "--stack-file", "Pulumi.dev.yaml"],
            "--stack contradicts --stack-file",
        ),
        (["--stack-file", "dev.yml"], "--stack-file dev.yml: expected a file named Pulumi."),
        (["--charts", "/tmp"], "--no-render contradicts --charts"),
    ],
)
def test_contradicting_or_misnamed_arguments_are_usage_errors(
    arguments: list[str], message: str
) -> None:
    result = run_offline("--no-policy", *arguments)
    assert result.returncode == 2
    assert message in result.stderr


def test_json_into_a_directory_is_an_error_before_planning(tmp_path: Path) -> None:
    result = run_offline("--no-policy", "--stack", "dev", "--json", tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"--json {tmp_path}: a directory; expected a file path" in result.stderr


def test_gitlab_provider_settings_point_to_the_stacks_own_token() -> None:
    problem = only_problem({**DEV, "gitlab:token": "x"})
    assert problem.startswith("gitlab:token: takes no effect: every gitlab resource")
    assert f"a GitLab token of your own is the secret {PROJECT}:gitlab_token" in problem


def test_a_value_file_outside_its_folder_is_one_problem() -> None:
    app = {"name": "m", "path": "minio", "namespace": "minio", "value_files": ["../x.yaml"]}
    assert len(problems_of(with_changes(DEV, applications=[app]))) == 1
