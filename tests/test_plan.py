"""The offline preview itself: its JSON, its determinism, and that secrets never leak into it."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import pulumi
import pytest
from conftest import CommandRun
from plans import PROJECT, stack_file_config
from test_config import existing_cluster_config

from offline.mocks import PlatformMocks
from offline.plan import PROJECT_DIR, SECRET, Plan, record, run_plan, summary
from offline.stack_files import load_stack, settings_from_config

RESOURCE_KEYS = {
    "urn",
    "type",
    "name",
    "parent",
    "provider",
    "custom",
    "protect",
    "dependencies",
    "property_dependencies",
    "inputs",
    "ignore_changes",
    "delete_before_replace",
    "retain_on_delete",
    "custom_timeouts",
}


def test_same_inputs_give_byte_identical_json_across_processes(
    dev_commands: tuple[CommandRun, CommandRun],
) -> None:
    make, cli = dev_commands
    assert make.json == cli.json


def test_repeated_runs_in_one_process_give_the_same_plan() -> None:
    settings = load_stack(PROJECT_DIR, "dev")
    assert run_plan(settings).to_json() == run_plan(settings).to_json()


def test_plan_json_has_the_documented_shape(dev_plan: Plan) -> None:
    document = json.loads(dev_plan.to_json())
    assert (document["project"], document["stack"]) == ("gitops-platform", "dev")
    assert document["resources"]
    for resource in document["resources"]:
        assert set(resource) == RESOURCE_KEYS
    urns = [r["urn"] for r in document["resources"]]
    assert urns == sorted(urns)
    assert set(document["outputs"]) >= {"cluster_name", "vpc_id", "oidc_provider_arn"}


def test_every_dependency_names_a_resource_in_the_plan(dev_plan: Plan) -> None:
    urns = set(dev_plan.by_urn())
    for resource in dev_plan.resources:
        edges = set(resource["dependencies"])
        edges |= {u for deps in resource["property_dependencies"].values() for u in deps}
        assert edges <= urns, f"{resource['urn']} depends on unknown {edges - urns}"
        assert (
            resource["parent"] is None
            or resource["parent"] in urns
            or resource["parent"].endswith(f"pulumi:pulumi:Stack::{PROJECT}-dev")
        )


def test_inputs_use_the_engines_camel_case_wire_names(dev_plan: Plan) -> None:
    (vpc,) = dev_plan.of_type("aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == "10.20.0.0/16"
    assert vpc["inputs"]["enableDnsHostnames"] is True


def test_summary_groups_resources_by_component_and_masks_secrets(dev_plan: Plan) -> None:
    text = summary(dev_plan)
    assert "gitops-platform:cluster:EksCluster  gitops-platform-dev" in text
    assert "aws:eks/cluster:Cluster" in text
    assert f'kubeconfig: "{SECRET}"' in text
    assert "certificate-authority-data" not in text


def test_eks_kubeconfig_never_appears_in_the_plan(dev_plan: Plan) -> None:
    # The kubeconfig is built from the cluster's endpoint and CA; only the marker may show.
    assert "certificate-authority-data" not in dev_plan.to_json()
    assert "get-token" not in dev_plan.to_json()


def test_secure_values_in_a_stack_file_never_reach_the_plan(tmp_path: Path) -> None:
    config = existing_cluster_config()
    config[f"{PROJECT}:kubeconfig"] = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    stack_file = tmp_path / "Pulumi.byo.yaml"
    stack_file.write_text(json.dumps({"config": config}))
    settings = load_stack(PROJECT_DIR, "byo", stack_file)
    assert settings.secret_keys == [f"{PROJECT}:kubeconfig"]
    placeholder = settings.config[f"{PROJECT}:kubeconfig"]
    plan_json = run_plan(settings).to_json()
    assert placeholder not in plan_json
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in plan_json
    assert f'"kubeconfig": "{SECRET}"' in plan_json


def test_nested_secure_values_mark_their_whole_key_secret() -> None:
    settings = settings_from_config(
        PROJECT, "x", {"access": {"admin_cidrs": [{"secure": "v1:abc"}]}, "aws:region": "eu-west-1"}
    )
    assert settings.secret_keys == [f"{PROJECT}:access"]
    assert "v1:abc" not in settings.config[f"{PROJECT}:access"]
    assert settings.config["aws:region"] == "eu-west-1"


def test_config_values_reach_the_program_as_the_cli_passes_them() -> None:
    settings = settings_from_config(
        PROJECT, "x", {"production": True, "network": {"nat_gateways": "single"}, "count": 3}
    )
    assert settings.config == {
        f"{PROJECT}:production": "true",
        f"{PROJECT}:network": '{"nat_gateways": "single"}',
        f"{PROJECT}:count": "3",
    }


def test_an_invoke_without_a_mock_fails_loudly() -> None:
    mocks = PlatformMocks("eu-west-1")
    with pytest.raises(NotImplementedError, match="aws:ec2/getAmi:getAmi"):
        mocks.call(pulumi.runtime.MockCallArgs(token="aws:ec2/getAmi:getAmi", args={}, provider=""))


def test_make_plan_writes_the_json(dev_commands: tuple[CommandRun, CommandRun]) -> None:
    make, _ = dev_commands
    assert "Offline preview of gitops-platform/dev" in make.stdout
    assert json.loads(make.json)["stack"] == "dev"


def test_shipped_dev_stack_uses_eks_mode(dev_plan: Plan) -> None:
    assert stack_file_config("dev")[f"{PROJECT}:cluster"]["mode"] == "eks"
    assert dev_plan.of_type("aws:eks/cluster:Cluster")


def test_outputs_the_engine_keeps_secret_stay_secret_offline(tmp_path: Path) -> None:
    # pulumi-random asks the engine to keep `result` secret (additionalSecretOutputs); the
    # offline run must honour that, or a generated password would flow on in clear.
    (tmp_path / "__main__.py").write_text(
        "import pulumi, pulumi_random\n"
        "password = pulumi_random.RandomPassword('admin', length=24)\n"
        "pulumi.export('password', password.result)\n"
        "pulumi.export('hash', password.bcrypt_hash)\n"
        "pulumi.export('length', password.length)\n"
    )
    plan = run_plan(settings_from_config("probe", "test", {}), project_dir=tmp_path)
    assert plan.outputs == {"password": SECRET, "hash": SECRET, "length": 24}
    assert "offline-password-" not in plan.to_json()


def test_lookups_are_listed_so_a_reviewer_sees_what_must_exist(dev_plan: Plan) -> None:
    lookups = {(i["token"], json.dumps(i["args"], sort_keys=True)) for i in dev_plan.invokes}
    zone = (
        "aws:route53/getZone:getZone",
        '{"name": "dev.gitops.example.com", "privateZone": false}',
    )
    assert zone in lookups
    assert "aws:route53/getZone:getZone" in summary(dev_plan)
    assert json.loads(dev_plan.to_json())["invokes"]


def test_a_single_component_is_recorded_under_the_same_runtime() -> None:
    # `record` takes any program: here one bucket helper instead of the whole stack.
    from components.buckets import private_bucket

    def program() -> None:
        holder = pulumi.ComponentResource("test:index:Holder", "holder")
        private_bucket("logs", holder, versioned=True, protect=False)

    plan = record(settings_from_config(PROJECT, "unit", {"aws:region": "eu-west-1"}), program)
    (bucket,) = plan.of_type("aws:s3/bucket:Bucket")
    assert bucket["parent"].endswith("$test:index:Holder::holder")
    assert bucket["inputs"]["forceDestroy"] is True
    assert plan.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert plan.analyzer_inputs[bucket["urn"]] == bucket["inputs"]


def test_the_sdks_wait_for_outputs_is_back_after_a_recording() -> None:
    # The recorder waits on outputs its own way while it runs, and only then.
    from pulumi.runtime import stack

    before = stack.wait_for_rpcs
    record(settings_from_config(PROJECT, "unit", {}), lambda: None)
    assert stack.wait_for_rpcs is before


def test_the_recorders_wait_for_outputs_mirrors_this_sdks() -> None:
    # offline.plan._wait_for_rpcs is the SDK's loop made linear; a new SDK loop needs a look.
    from pulumi.runtime import stack

    source = inspect.getsource(stack.wait_for_rpcs).encode()
    assert hashlib.sha256(source).hexdigest() == (
        "c0f9027f85ad09255ded0a1908033b490f76d303a3e40b50d3cf47a69265469d"
    ), "pulumi.runtime.stack.wait_for_rpcs changed: bring offline.plan._wait_for_rpcs in line"


def test_an_output_that_fails_fails_the_recording() -> None:
    def program() -> None:
        pulumi.export("broken", pulumi.Output.from_input(1).apply(lambda _: 1 // 0))

    with pytest.raises(ZeroDivisionError):
        record(settings_from_config(PROJECT, "unit", {}), program)
