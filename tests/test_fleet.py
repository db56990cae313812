"""The fleet: a spoke lets the hub's Argo CD in through an EKS access entry and exports the
contract; the hub holds one IAM-signed cluster Secret per spoke, the fleet's AppProject and an
ApplicationSet per fleet application; the offline preview answers StackReferences from files
or from the other stack's file. The example stacks of examples/fleet/ are planned unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from plans import (
    FLEET_DIR,
    PROJECT,
    fleet_plan,
    plan_for,
    run_offline,
    stack_file_config,
    with_changes,
)

from components.config import ConfigError
from components.fleet import (
    CLUSTER_ADMIN_POLICY,
    HUB_OUTPUT,
    MANAGEMENT_SERVICE_ACCOUNTS,
    MEMBER_OUTPUT,
    NAMESPACE_ADMIN_POLICY,
)
from offline.plan import PROJECT_DIR, Plan, run_plan
from offline.references import ReferenceError, References
from offline.stack_files import load_stack
from offline.validate import validate

SECRET = "kubernetes:core/v1:Secret"
APPLICATION_SET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
HUB_REF = "organization/gitops-platform/hub"
KUBE = "1.35"


def written(plan: Plan, path: Path) -> Path:
    path.write_text(plan.to_json())
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example stack's plan JSON, as `make plan PLAN_JSON=...` writes it: what a hub
    and its spokes read of each other offline. The spokes are planned against the hub's
    stand-in, the hub against the spokes' plans, and the spokes again against the hub's."""
    directory = tmp_path_factory.mktemp("fleet")
    files = {
        f"organization/{PROJECT}/{s}": written(fleet_plan(s), directory / f"{s}.json")
        for s in ("spoke-eu", "spoke-us")
    }
    hub = fleet_plan("hub", files)
    files[HUB_REF] = written(hub, directory / "hub.json")
    return files


@pytest.fixture(scope="module")
def hub(outputs: dict[str, Path]) -> Plan:
    return fleet_plan("hub", {k: v for k, v in outputs.items() if k != HUB_REF})


def spoke(name: str, outputs: dict[str, Path]) -> Plan:
    return fleet_plan(name, {HUB_REF: outputs[HUB_REF]})


def member(name: str, outputs: dict[str, Path]) -> dict[str, Any]:
    document = json.loads(outputs[f"organization/{PROJECT}/{name}"].read_text())
    result: dict[str, Any] = document["outputs"][MEMBER_OUTPUT]
    return result


def cluster_secrets(plan: Plan) -> dict[str, dict[str, Any]]:
    """The cluster Secrets by spoke, with their values as the policy pack sees them."""
    return {
        r["name"].rsplit("-fleet-hub-", 1)[1].removesuffix("-cluster-secret"): plan.analyzer_inputs[
            r["urn"]
        ]
        for r in plan.of_type(SECRET)
        if (r["inputs"]["metadata"].get("labels") or {}).get("argocd.argoproj.io/secret-type")
        == "cluster"
    }


# The spoke


@pytest.mark.parametrize("name", ["spoke-eu", "spoke-us"])
def test_a_spoke_is_a_cluster_with_its_edge_and_no_gitlab_or_argocd(
    name: str, outputs: dict[str, Path]
) -> None:
    plan = spoke(name, outputs)
    releases = sorted(r["inputs"]["chart"] for r in plan.of_type("kubernetes:helm.sh/v3:Release"))
    assert releases == ["aws-load-balancer-controller", "external-dns"]
    assert not plan.of_type(APPLICATION_SET)
    assert "gitlab_url" not in plan.outputs
    assert "argocd_url" not in plan.outputs


def test_a_spoke_lets_only_the_hubs_management_role_assume_its_argocd_role(
    outputs: dict[str, Path],
) -> None:
    plan = spoke("spoke-eu", outputs)
    hub_role = json.loads(outputs[HUB_REF].read_text())["outputs"][HUB_OUTPUT]
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r["name"].endswith("-fleet-argocd")]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"AWS": hub_role["management_role_arn"]}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    # No permissions of its own: it only signs in to this cluster.
    attached = [
        r
        for r in plan.resources
        if r["type"]
        in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        and r["name"].startswith(role["name"])
    ]
    assert attached == []
    (entry,) = [r for r in plan.of_type(ACCESS_ENTRY) if r["name"].endswith("-fleet-argocd")]
    assert role["urn"] in entry["dependencies"]


@pytest.mark.parametrize(
    ("name", "policy", "scope"),
    [
        ("spoke-eu", CLUSTER_ADMIN_POLICY, {"type": "cluster"}),
        (
            "spoke-us",
            NAMESPACE_ADMIN_POLICY,
            {"type": "namespace", "namespaces": ["my-app", "edge-app"]},
        ),
    ],
)
def test_the_access_entry_is_scoped_as_the_spoke_says(
    name: str, policy: str, scope: dict[str, Any], outputs: dict[str, Path]
) -> None:
    plan = spoke(name, outputs)
    (association,) = [r for r in plan.of_type(ASSOCIATION) if r["name"].endswith("-fleet-argocd")]
    assert association["inputs"]["policyArn"].endswith(f"cluster-access-policy/{policy}")
    assert association["inputs"]["accessScope"] == scope


def test_a_spoke_exports_the_contract(outputs: dict[str, Path]) -> None:
    exported = member("spoke-us", outputs)
    config = load_stack(Path("."), "spoke-us", FLEET_DIR / "Pulumi.spoke-us.yaml").config
    assert exported["region"] == config["aws:region"] == "us-east-1"
    assert exported["environment"] == config[f"{PROJECT}:environment"]
    assert exported["namespaces"] == ["my-app", "edge-app"]
    assert sorted(exported["addon_role_arns"]) == ["external-dns", "load-balancer-controller"]


def test_the_offline_stand_in_of_a_spoke_has_the_contract_of_its_plan(
    outputs: dict[str, Path],
) -> None:
    """What the preview answers without a file has every key the spoke's plan exports, and
    the same values wherever they come from the spoke's configuration."""
    references = References(PROJECT, search=[FLEET_DIR], project_dir=Path(__file__).parent.parent)
    stand_in = references.outputs(f"organization/{PROJECT}/spoke-us")[MEMBER_OUTPUT]
    real = member("spoke-us", outputs)
    assert sorted(stand_in) == sorted(real)
    for key in (
        "version",
        "stack",
        "cluster_name",
        "region",
        "environment",
        "namespaces",
        "labels",
    ):
        assert stand_in[key] == real[key], key
    assert sorted(stand_in["addon_role_arns"]) == sorted(real["addon_role_arns"])


# The hub


def test_the_hub_has_one_iam_signed_cluster_secret_per_spoke(
    hub: Plan, outputs: dict[str, Path]
) -> None:
    secrets = cluster_secrets(hub)
    assert sorted(secrets) == ["spoke-eu", "spoke-us"]
    for name, secret in secrets.items():
        spoke_member = member(name, outputs)
        data = secret["stringData"]
        config = json.loads(data["config"])
        assert config == {
            "awsAuthConfig": {
                "clusterName": spoke_member["cluster_name"],
                "roleARN": spoke_member["argocd_role_arn"],
            },
            "tlsClientConfig": {"insecure": False, "caData": spoke_member["ca_data"]},
        }
        assert data["server"] == spoke_member["server"]
        labels = secret["metadata"]["labels"]
        assert labels["gitops-platform/environment"] == spoke_member["environment"]
        assert labels["gitops-platform/region"] == spoke_member["region"]
        assert labels["gitops-platform/cluster"] == spoke_member["cluster_name"]
        annotations = secret["metadata"]["annotations"]
        assert annotations["gitops-platform/vpc-id"] == spoke_member["vpc_id"]
        assert annotations["gitops-platform/stack"] == name
    assert secrets["spoke-eu"]["metadata"]["labels"]["gitops-platform/tier"] == "edge"
    # A spoke that admits some namespaces only: Argo CD is told so.
    assert secrets["spoke-us"]["stringData"]["namespaces"] == "my-app,edge-app"
    assert secrets["spoke-us"]["stringData"]["clusterResources"] == "false"
    assert "namespaces" not in secrets["spoke-eu"]["stringData"]


def test_the_hubs_management_role_may_assume_exactly_the_spokes_roles(
    hub: Plan, outputs: dict[str, Path]
) -> None:
    (policy,) = [
        r
        for r in hub.of_type("aws:iam/rolePolicy:RolePolicy")
        if r["name"].endswith("-fleet-management")
    ]
    (statement,) = json.loads(policy["inputs"]["policy"])["Statement"]
    assert sorted(statement["Resource"]) == sorted(
        member(s, outputs)["argocd_role_arn"] for s in ("spoke-eu", "spoke-us")
    )
    bound = sorted(
        r["inputs"]["serviceAccount"]
        for r in hub.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if "-fleet-management" in r["name"]
    )
    assert bound == sorted(MANAGEMENT_SERVICE_ACCOUNTS)
    argocd = [
        r for r in hub.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "argo-cd"
    ]
    # Argo CD's pods start with the role bound.
    associations = {
        r["urn"]
        for r in hub.resources
        if r["type"].startswith("aws:eks/podIdentityAssociation")
        and "-fleet-management" in r["name"]
    }
    assert associations <= set(argocd[0]["dependencies"]) | transitive(hub, argocd[0])


def transitive(plan: Plan, resource: dict[str, Any]) -> set[str]:
    by_urn = {r["urn"]: r for r in plan.resources}
    seen: set[str] = set()
    todo = list(resource["dependencies"]) + ([resource["parent"]] if resource.get("parent") else [])
    while todo:
        urn = todo.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        todo += by_urn[urn]["dependencies"]
    return seen


def test_the_fleet_project_allows_exactly_the_fleets_destinations(
    hub: Plan, outputs: dict[str, Path]
) -> None:
    (project,) = [r for r in hub.of_type(APP_PROJECT) if r["inputs"]["metadata"]["name"] == "fleet"]
    eu, us = member("spoke-eu", outputs), member("spoke-us", outputs)
    destinations = project["inputs"]["spec"]["destinations"]
    assert sorted(json.dumps(d, sort_keys=True) for d in destinations) == sorted(
        json.dumps({"server": s["server"], "namespace": ns}, sort_keys=True)
        for s in (eu, us)
        for ns in ("edge-app", "my-app")
    )


def test_each_fleet_application_is_an_application_set_over_the_labelled_spokes(hub: Plan) -> None:
    sets = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]
        for r in hub.of_type(APPLICATION_SET)
        if "-fleet-hub-" in r["name"]
    }
    assert sorted(sets) == ["edge-app", "my-app"]
    my_app, edge = sets["my-app"], sets["edge-app"]
    assert my_app["generators"] == [
        {"clusters": {"selector": {"matchLabels": {"gitops-platform/fleet-role": "spoke"}}}}
    ]
    assert edge["generators"][0]["clusters"]["selector"]["matchLabels"] == {
        "gitops-platform/fleet-role": "spoke",
        "gitops-platform/tier": "edge",
    }
    source = my_app["template"]["spec"]["source"]
    assert (
        source["path"]
        == 'my-app/overlays/{{ index .metadata.labels "gitops-platform/environment" }}'
    )
    assert my_app["template"]["spec"]["destination"]["server"] == "{{ .server }}"
    assert my_app["template"]["spec"]["project"] == "fleet"


def test_an_overlay_exists_for_every_example_spokes_environment(outputs: dict[str, Path]) -> None:
    for name in ("spoke-eu", "spoke-us"):
        environment = member(name, outputs)["environment"]
        assert (Path(__file__).parent.parent / "gitops/my-app/overlays" / environment).is_dir()


def test_the_standalone_stacks_have_no_fleet() -> None:
    dev = plan_for(stack_file_config("dev"), stack="dev")
    assert not [r for r in dev.resources if "fleet" in r["type"]]
    assert HUB_OUTPUT not in dev.outputs
    assert MEMBER_OUTPUT not in dev.outputs


# Configuration


@pytest.mark.parametrize(
    ("fleet", "cluster", "message"),
    [
        ({"role": "standalone", "spokes": ["a"]}, {}, "fleet.spokes belong to another role"),
        ({"role": "spoke"}, {}, "expected fleet.hub"),
        (
            {"role": "hub", "spokes": ["a", "a"]},
            {"workload_identity": "pod_identity"},
            "repeated: ['a']",
        ),
        ({"role": "hub"}, {}, "expected 'pod_identity'"),
        ({"role": "spoke", "hub": "hub", "labels": {"region": "x"}}, {}, "set by the stack itself"),
        ({"role": "spoke", "hub": "not a stack"}, {}, "expected a stack name"),
        (
            {"role": "hub", "applications": [{"name": "x", "path": "nowhere", "namespace": "x"}]},
            {"workload_identity": "pod_identity"},
            "expected a folder of gitops/",
        ),
        (
            {
                "role": "hub",
                "applications": [
                    {"name": "x", "path": "minio", "namespace": "x", "overlays": True}
                ],
            },
            {"workload_identity": "pod_identity"},
            "expected overlays in gitops/minio/overlays/<environment>",
        ),
    ],
)
def test_a_fleet_configuration_that_does_not_fit_is_refused(
    fleet: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    dev = stack_file_config("dev")
    config = with_changes(dev, fleet=fleet, cluster={**dev[f"{PROJECT}:cluster"], **cluster})
    with pytest.raises(ConfigError, match=r"fleet|workload_identity") as raised:
        plan_for(config, stack="dev")
    assert message in str(raised.value)


def test_a_spoke_must_be_an_eks_cluster() -> None:
    config = with_changes(stack_file_config("kops"), fleet={"role": "spoke", "hub": "hub"})
    with pytest.raises(ConfigError, match=r"expected cluster\.mode 'eks'"):
        plan_for(config, stack="study")


# StackReferences offline


def test_a_reference_to_a_stack_the_preview_cannot_see_is_one_clear_error(tmp_path: Path) -> None:
    references = References(PROJECT, search=[tmp_path], project_dir=tmp_path)
    with pytest.raises(ReferenceError, match="pass --stack-outputs organization/other/hub=FILE"):
        references.outputs("organization/other/hub")


def test_the_command_line_reads_stack_outputs_from_a_plan_json(outputs: dict[str, Path]) -> None:
    done = run_offline(
        "--stack-file",
        FLEET_DIR / "Pulumi.spoke-eu.yaml",
        "--policy-config",
        FLEET_DIR / "policy-config.json",
        "--stack-outputs",
        f"hub={outputs[HUB_REF]}",
    )
    assert done.returncode == 0, done.stderr
    assert f"StackReference {HUB_REF}: outputs from {outputs[HUB_REF]}" in done.stdout


def test_stack_outputs_that_are_no_file_are_refused() -> None:
    done = run_offline("--stack", "dev", "--stack-outputs", "hub=/nonexistent.json")
    assert done.returncode == 2
    assert "--stack-outputs hub=/nonexistent.json: no such file" in done.stderr


def test_application_sets_go_before_the_cluster_secrets_on_destroy(hub: Plan) -> None:
    """Deleting an ApplicationSet deletes its Applications, whose finalizer prunes what they
    deployed on the spokes: the cluster Secrets Argo CD reaches them with must outlive them
    (through the fleet's project, one edge per spoke)."""
    secrets = {
        r["urn"]
        for r in hub.of_type(SECRET)
        if (r["inputs"]["metadata"].get("labels") or {}).get("argocd.argoproj.io/secret-type")
        == "cluster"
    }
    (project,) = [r for r in hub.of_type(APP_PROJECT) if r["inputs"]["metadata"]["name"] == "fleet"]
    assert secrets <= set(project["dependencies"])
    for application_set in hub.of_type(APPLICATION_SET):
        if "-fleet-hub-" in application_set["name"]:
            assert project["urn"] in application_set["dependencies"]


def test_the_fleets_argo_cd_objects_validate_against_argo_cds_crds(
    hub: Plan, argo_cd_crds: Any
) -> None:
    """The AppProject and ApplicationSets against the CRDs argo-cd 10.1.1 installs, the
    cluster Secrets against Kubernetes' own schema, as the API server would take them; and
    the same check refuses a misspelt generator."""
    fleet = [
        r
        for r in hub.resources
        if "-fleet-hub-" in r["name"] or r["name"].endswith("-fleet-hub-project")
    ]
    objects = [r["inputs"] for r in fleet if r["type"] in (APP_PROJECT, APPLICATION_SET)] + list(
        cluster_secrets(hub).values()
    )
    assert len(objects) == 5  # the project, two ApplicationSets, two Secrets
    assert validate(objects, KUBE, argo_cd_crds) == []
    broken = copy.deepcopy(next(o for o in objects if o.get("kind") == "ApplicationSet"))
    broken["spec"]["generators"][0]["clusters"]["selectors"] = broken["spec"]["generators"][0][
        "clusters"
    ].pop("selector")
    assert [f"{i.field}: {i.message}" for i in validate([broken], KUBE, argo_cd_crds)] == [
        "spec.generators[0].clusters.selectors: unknown field 'selectors' (the API server drops it)"
    ]


def test_a_namespace_scoped_spoke_makes_the_namespaces_the_hub_deploys_into(
    outputs: dict[str, Path],
) -> None:
    """Its access entry cannot create Namespaces, so Argo CD's CreateNamespace=true must find
    them; a spoke with the whole cluster makes none."""
    made = {
        r["inputs"]["metadata"]["name"]
        for r in spoke("spoke-us", outputs).of_type("kubernetes:core/v1:Namespace")
        if (r["inputs"]["metadata"].get("labels") or {}).get("gitops-platform/fleet-namespace")
    }
    assert made == {"my-app", "edge-app"}
    assert not [
        r
        for r in spoke("spoke-eu", outputs).of_type("kubernetes:core/v1:Namespace")
        if (r["inputs"]["metadata"].get("labels") or {}).get("gitops-platform/fleet-namespace")
    ]


def test_the_fleet_project_admits_only_the_fleets_namespaces_cluster_wide(hub: Plan) -> None:
    (project,) = [r for r in hub.of_type(APP_PROJECT) if r["inputs"]["metadata"]["name"] == "fleet"]
    assert project["inputs"]["spec"]["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": "edge-app"},
        {"group": "", "kind": "Namespace", "name": "my-app"},
    ]


def test_the_generated_applications_sync_and_clean_up_as_the_platforms_do(hub: Plan) -> None:
    (my_app,) = [
        r["inputs"]["spec"]
        for r in hub.of_type(APPLICATION_SET)
        if r["name"].endswith("-fleet-hub-my-app")
    ]
    assert my_app["goTemplate"] is True
    template = my_app["template"]
    assert template["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert template["metadata"]["name"] == "{{ .nameNormalized }}-my-app"
    policy = template["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert policy["syncOptions"] == ["CreateNamespace=true"]


def test_a_draining_spoke_keeps_its_secret_and_leaves_every_application_set(
    outputs: dict[str, Path], tmp_path: Path
) -> None:
    config = load_stack(Path("."), "hub", FLEET_DIR / "Pulumi.hub.yaml")
    import yaml

    document = yaml.safe_load((FLEET_DIR / "Pulumi.hub.yaml").read_text())
    document["config"][f"{PROJECT}:fleet"]["draining"] = ["spoke-us"]
    (tmp_path / "Pulumi.hub.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "Pulumi.spoke-eu.yaml").write_text((FLEET_DIR / "Pulumi.spoke-eu.yaml").read_text())
    (tmp_path / "Pulumi.spoke-us.yaml").write_text((FLEET_DIR / "Pulumi.spoke-us.yaml").read_text())
    settings = load_stack(PROJECT_DIR, "hub", tmp_path / "Pulumi.hub.yaml")
    assert config.config != settings.config
    plan = run_plan(
        settings, references=References(PROJECT, search=[tmp_path], project_dir=PROJECT_DIR)
    )
    roles = {
        name: secret["metadata"]["labels"]["gitops-platform/fleet-role"]
        for name, secret in cluster_secrets(plan).items()
    }
    assert roles == {"spoke-eu": "spoke", "spoke-us": "draining"}
    for application_set in plan.of_type(APPLICATION_SET):
        if "-fleet-hub-" in application_set["name"]:
            selector = application_set["inputs"]["spec"]["generators"][0]["clusters"]["selector"]
            assert selector["matchLabels"]["gitops-platform/fleet-role"] == "spoke"


def test_draining_a_spoke_that_is_not_listed_is_refused() -> None:
    dev = stack_file_config("dev")
    config = with_changes(
        dev,
        fleet={"role": "hub", "spokes": ["a"], "draining": ["b"]},
        cluster={**dev[f"{PROJECT}:cluster"], "workload_identity": "pod_identity"},
    )
    with pytest.raises(ConfigError, match=r"fleet\.draining \['b'\]: not in fleet\.spokes"):
        plan_for(config, stack="dev")


def test_an_application_selected_onto_a_spoke_without_its_namespace_is_refused(
    tmp_path: Path,
) -> None:
    import yaml

    document = yaml.safe_load((FLEET_DIR / "Pulumi.hub.yaml").read_text())
    document["config"][f"{PROJECT}:fleet"]["applications"].append(
        {"name": "other", "path": "my-app/overlays/ops", "namespace": "other"}
    )
    (tmp_path / "Pulumi.hub.yaml").write_text(yaml.safe_dump(document))
    for name in ("spoke-eu", "spoke-us"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text(
            (FLEET_DIR / f"Pulumi.{name}.yaml").read_text()
        )
    settings = load_stack(PROJECT_DIR, "hub", tmp_path / "Pulumi.hub.yaml")
    with pytest.raises(Exception, match="leave out its namespace other"):
        run_plan(
            settings, references=References(PROJECT, search=[tmp_path], project_dir=PROJECT_DIR)
        )


def test_a_spoke_whose_cluster_name_cannot_be_a_label_is_refused() -> None:
    from components.fleet import checked_member

    member = {
        "version": 1,
        "cluster_name": "c" * 64,
        "server": "https://x",
        "ca_data": "y",
        "region": "eu-west-1",
        "environment": "dev",
        "argocd_role_arn": "arn:aws:iam::123456789012:role/r",
    }
    with pytest.raises(ValueError, match="longer than the 63 characters"):
        checked_member("spoke-x", member)
    assert checked_member("spoke-x", {**member, "cluster_name": "c" * 63})["cluster_name"]


def test_the_namespace_check_selects_spokes_as_the_application_sets_do() -> None:
    """By the labels the Secret carries: a contract label selects, a draining spoke is not
    selected."""
    from components.config.fleet import FleetConfig
    from components.fleet_hub import admitted

    member = {
        "cluster_name": "gitops-platform-spoke-us",
        "environment": "ops",
        "region": "us-east-1",
        "namespaces": ["my-app"],
        "labels": {},
    }
    other = {"name": "other", "path": "my-app", "namespace": "other"}
    by_environment = FleetConfig(
        role="hub",
        spokes=["spoke-us"],
        applications=[{**other, "selector": {"environment": "ops"}}],
    )
    with pytest.raises(ValueError, match="leave out its namespace other"):
        admitted({"spoke-us": member}, by_environment)
    elsewhere = FleetConfig(
        role="hub",
        spokes=["spoke-us"],
        applications=[{**other, "selector": {"environment": "dev"}}],
    )
    assert admitted({"spoke-us": member}, elsewhere) == [member]
    draining = FleetConfig(
        role="hub", spokes=["spoke-us"], draining=["spoke-us"], applications=[other]
    )
    assert admitted({"spoke-us": member}, draining) == [member]


def test_repeated_runs_give_the_same_hub_plan_whatever_order_references_are_answered_in() -> None:
    settings = load_stack(PROJECT_DIR, "hub", FLEET_DIR / "Pulumi.hub.yaml")

    def once() -> str:
        references = References(PROJECT, search=[FLEET_DIR], project_dir=PROJECT_DIR)
        return run_plan(settings, references=references).to_json()

    assert len({once() for _ in range(3)}) == 1
