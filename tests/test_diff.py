"""What a plan changes against an earlier plan of the stack (`make plan BASE=...`): resources
added, removed and changed by URN with their changed input paths and options, outputs, the
exposure and cost deltas, secrets compared by marker only, and a base that cannot be used."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plans import PROJECT, STACK_VARIANTS, one, plan_for, stack_file_config, with_changes

import offline.__main__ as cli
from offline import diff as plan_diff
from offline.diff import compare, cost_headline, summary
from offline.plan import PROJECT_DIR, SECRET, Plan

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def document(plan: Plan) -> dict[str, Any]:
    """The plan as its JSON holds it (what a base file is)."""
    loaded: dict[str, Any] = json.loads(plan.to_json())
    return loaded


def dev_with(**changes: Any) -> Plan:
    return plan_for(with_changes(stack_file_config("dev"), **changes), stack="dev")


def more_nodes() -> Plan:
    nodes = {**stack_file_config("dev")[f"{PROJECT}:nodes"], "desired_size": 3}
    return dev_with(nodes=nodes)


def resource(urn: str, **fields: Any) -> dict[str, Any]:
    """A plan JSON resource as the recorder writes it."""
    return {
        "urn": urn,
        "type": urn.rsplit("::", 2)[1].rpartition("$")[2],
        "name": urn.rsplit("::", 1)[1],
        "parent": None,
        "provider": None,
        "custom": True,
        "protect": False,
        "dependencies": [],
        "property_dependencies": {},
        "inputs": {},
        "ignore_changes": [],
        "delete_before_replace": False,
        "retain_on_delete": False,
        "custom_timeouts": {},
        **fields,
    }


def plan_of(*resources: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "stack": "dev",
        "project": PROJECT,
        "resources": list(resources),
        "outputs": {},
        **fields,
    }


BUCKET = "urn:pulumi:dev::gitops-platform::aws:s3/bucket:Bucket::logs"
ROLE = "urn:pulumi:dev::gitops-platform::aws:iam/role:Role::reader"


def test_raising_the_node_count_changes_one_path_of_the_node_group(dev_plan: Plan) -> None:
    diff = compare(document(dev_plan), document(more_nodes()), "base-dev.json")
    (changed,) = diff["resources"]["changed"]
    assert changed["urn"] == one(dev_plan, NODE_GROUP)["urn"]
    assert changed["inputs"] == [{"path": "scalingConfig.desiredSize", "before": 2, "after": 3}]
    assert changed["options"] == []
    assert diff["resources"]["added"] == diff["resources"]["removed"] == []
    assert diff["outputs"] == []
    assert summary(diff).splitlines()[:3] == [
        "Changes against base-dev.json: 1 changed, 0 added, 0 removed resources (matched by URN)",
        f"  ~ {NODE_GROUP}  gitops-platform-dev-nodes",
        "      scalingConfig.desiredSize: 2 → 3",
    ]


def test_a_plan_against_itself_changes_nothing(dev_plan: Plan) -> None:
    diff = compare(document(dev_plan), document(dev_plan), "base-dev.json")
    assert diff["resources"] == {"added": [], "removed": [], "changed": []}
    assert diff["outputs"] == []


def test_gitlab_ssh_over_an_nlb_adds_its_security_group_and_rules(dev_plan: Plan) -> None:
    ssh = STACK_VARIANTS["ssh-nlb"]()
    diff = compare(document(dev_plan), document(ssh), "base-dev.json")
    added = diff["resources"]["added"]
    assert {r["type"] for r in added} == {
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    }
    assert "gitops-platform-dev-access-gitlab-ssh-22-203.0.113.0_28" in {r["name"] for r in added}
    assert diff["resources"]["removed"] == []
    (gitlab,) = [
        r for r in diff["resources"]["changed"] if r["name"] == "gitops-platform-dev-gitlab"
    ]
    assert {"path": "values.gitlab.gitlab-shell.enabled", "before": False, "after": True} in (
        gitlab["inputs"]
    )
    # The release waits for the new security group: an option change, named as such.
    (group,) = [r["urn"] for r in added if r["type"] == "aws:ec2/securityGroup:SecurityGroup"]
    assert gitlab["options"] == [{"path": "dependencies", "after": group}]
    # And back: the same resources, removed.
    back = compare(document(ssh), document(dev_plan), "base-dev.json")
    assert back["resources"]["removed"] == added
    assert back["resources"]["added"] == []


def test_changed_outputs_are_listed_and_secret_ones_stay_masked(dev_plan: Plan) -> None:
    moved = dev_with(domain="dev2.gitops.example.com")
    diff = compare(document(dev_plan), document(moved), "base-dev.json")
    outputs = {c["path"]: c for c in diff["outputs"]}
    assert outputs["gitlab_url"] == {
        "path": "gitlab_url",
        "before": "https://gitlab.dev.gitops.example.com",
        "after": "https://gitlab.dev2.gitops.example.com",
    }
    # The passwords and the kubeconfig are "[secret]" in both plans: no change to show.
    assert not {"gitlab_root_password", "argocd_admin_password", "kubeconfig"} & outputs.keys()
    assert "Outputs: changed" in summary(diff)


def test_a_secret_whose_value_changed_is_no_change(dev_plan: Plan) -> None:
    dev = stack_file_config("dev")
    one_token = plan_for(dev, stack="dev", secrets={"gitlab_token": "glpat-first-value"})
    other_token = plan_for(dev, stack="dev", secrets={"gitlab_token": "glpat-second-value"})
    # The token reaches the resources (the pack sees it unwrapped), as a secret.
    assert one_token.analyzer_inputs != other_token.analyzer_inputs
    diff = compare(document(one_token), document(other_token), "base-dev.json")
    assert diff["resources"]["changed"] == []
    assert diff["outputs"] == []
    for text in (json.dumps(diff), summary(diff)):
        assert "glpat-" not in text


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ("hunter2-in-clear", SECRET, "now"),
        (SECRET, "hunter2-in-clear", "no longer"),
        ({"password": "hunter2-in-clear"}, SECRET, "now"),
    ],
    ids=["becomes-secret", "stops-being-secret", "a-mapping-becomes-secret"],
)
def test_a_value_that_becomes_or_stops_being_secret_is_a_change_without_values(
    before: Any, after: Any, said: str
) -> None:
    base = plan_of(resource(BUCKET, inputs={"data": before}))
    plan = plan_of(resource(BUCKET, inputs={"data": after}))
    diff = compare(base, plan, "base-dev.json")
    (changed,) = diff["resources"]["changed"]
    assert changed["inputs"] == [{"path": "data", "secret": said}]
    text = summary(diff)
    assert f"data: {said} secret (values not shown)" in text
    for shown in (json.dumps(diff), text):
        assert "hunter2" not in shown


def test_the_options_that_change_what_the_engine_does_are_compared() -> None:
    base = plan_of(resource(BUCKET, dependencies=[ROLE], custom_timeouts={"create": "5m"}))
    plan = plan_of(
        resource(
            BUCKET,
            protect=True,
            retain_on_delete=True,
            delete_before_replace=True,
            ignore_changes=["tags"],
            custom_timeouts={"create": "10m"},
        )
    )
    (changed,) = compare(base, plan, "base-dev.json")["resources"]["changed"]
    assert changed["inputs"] == []
    assert changed["options"] == [
        {"path": "protect", "before": False, "after": True},
        {"path": "dependencies", "before": ROLE},
        {"path": "ignore_changes", "after": "tags"},
        {"path": "retain_on_delete", "before": False, "after": True},
        {"path": "delete_before_replace", "before": False, "after": True},
        {"path": "custom_timeouts.create", "before": "5m", "after": "10m"},
    ]
    assert "(option) dependencies: removed aws:iam/role:Role reader" in summary(
        compare(base, plan, "base-dev.json")
    )


def test_an_option_the_base_did_not_record_is_not_a_change() -> None:
    older = resource(BUCKET)
    del older["custom_timeouts"]
    diff = compare(plan_of(older), plan_of(resource(BUCKET)), "base-dev.json")
    assert diff["resources"]["changed"] == []


def test_paths_name_list_indexes_and_quote_keys_that_are_not_names() -> None:
    base = plan_of(
        resource(
            BUCKET,
            inputs={"tags": {"kubernetes.io/role/elb": "1"}, "rules": [{"days": 30}, {"days": 7}]},
        )
    )
    plan = plan_of(
        resource(
            BUCKET,
            inputs={"tags": {"kubernetes.io/role/elb": "2"}, "rules": [{"days": 30}, {"days": 14}]},
        )
    )
    (changed,) = compare(base, plan, "base-dev.json")["resources"]["changed"]
    assert changed["inputs"] == [
        {"path": "rules[1].days", "before": 7, "after": 14},
        {"path": 'tags["kubernetes.io/role/elb"]', "before": "1", "after": "2"},
    ]


def test_list_items_beyond_the_other_side_are_added_or_removed() -> None:
    base = plan_of(
        resource(BUCKET, inputs={"cidrs": ["192.0.2.0/24"], "ports": [80, 443], "zones": ["a"]})
    )
    plan = plan_of(
        resource(BUCKET, inputs={"cidrs": ["192.0.2.0/24", "198.51.100.0/24"], "ports": [80]})
    )
    (changed,) = compare(base, plan, "base-dev.json")["resources"]["changed"]
    assert changed["inputs"] == [
        {"path": "cidrs[1]", "after": "198.51.100.0/24"},
        {"path": "ports[1]", "before": 443},
        {"path": "zones", "before": ["a"]},
    ]


def test_long_texts_are_shown_from_where_they_differ() -> None:
    prefix = "x" * 200
    text = plan_diff.describe({"path": "query", "before": prefix + "old", "after": prefix + "new"})
    assert "old" in text
    assert "new" in text
    assert len(text) < 200


def endpoint(kind: str, host: str, ports: list[int], cidrs: list[str]) -> dict[str, Any]:
    return {
        "component": "gitlab",
        "kind": kind,
        "endpoint": host,
        "ports": ports,
        "cidrs": cidrs,
        "from": "test",
    }


def test_exposure_reports_endpoints_added_and_removed_and_their_ranges() -> None:
    web = "gitlab.dev.gitops.example.com"
    base = plan_of(
        exposure=[
            endpoint("alb", web, [443], ["198.51.100.0/24"]),
            endpoint("eks-api", "api", [443], ["192.0.2.0/24"]),
        ]
    )
    plan = plan_of(
        exposure=[
            endpoint("alb", web, [443], ["198.51.100.0/24", "203.0.113.0/24"]),
            endpoint("nlb", "gitlab-ssh.dev.gitops.example.com", [22], ["203.0.113.0/28"]),
        ]
    )
    exposure = compare(base, plan, "base-dev.json")["exposure"]
    assert [(e["kind"], e["endpoint"], e["ports"]) for e in exposure["added"]] == [
        ("nlb", "gitlab-ssh.dev.gitops.example.com", [22])
    ]
    assert [e["kind"] for e in exposure["removed"]] == ["eks-api"]
    (ranges,) = exposure["cidrs_changed"]
    assert (ranges["endpoint"], ranges["added_cidrs"], ranges["removed_cidrs"]) == (
        web,
        ["203.0.113.0/24"],
        [],
    )
    text = summary(compare(base, plan, "base-dev.json"))
    assert "  + nlb gitlab-ssh.dev.gitops.example.com port 22 from 203.0.113.0/28" in text
    assert "  - eks-api api port 443" in text
    assert f"  ~ alb {web} port 443: ranges +203.0.113.0/24" in text


def cost(**by_component: float | None) -> dict[str, Any]:
    """A cost block as the plan JSON holds it: one item per component, None for an item
    without a price (2 instances, as the table has no price for their type)."""
    items = [
        {
            "component": component,
            "item": "nodes" if component == "cluster" else "instance",
            "quantity": 2 if monthly is None else monthly / 70.08,
            "unit": "instance-month",
            "unit_price": None if monthly is None else 70.08,
            "monthly": monthly,
        }
        for component, monthly in by_component.items()
    ]
    priced = {c: m or 0.0 for c, m in by_component.items()}
    return {
        "estimate": True,
        "currency": "USD",
        "region": "eu-west-1",
        "prices": {},
        "items": items,
        "by_component": priced,
        "total": round(sum(priced.values()), 2),
        "unpriced": [i["item"] for i in items if i["monthly"] is None],
    }


def test_the_cost_delta_gives_the_total_the_components_that_moved_and_the_items() -> None:
    base = plan_of(cost=cost(cluster=140.16, gitlab=50.0))
    plan = plan_of(cost=cost(cluster=210.24, gitlab=50.0))
    delta = compare(base, plan, "base-dev.json")["cost"]
    assert delta["total"] == {"before": 190.16, "after": 260.24, "delta": 70.08}
    assert delta["by_component"] == {"cluster": 70.08}  # gitlab did not move
    (item,) = delta["items"]
    assert (item["component"], item["item"]) == ("cluster", "nodes")
    assert (item["before"]["monthly"], item["after"]["monthly"]) == (140.16, 210.24)
    assert delta["complete"] is True
    assert delta["unpriced"] == []
    text = summary(compare(base, plan, "base-dev.json"))
    assert "Cost (estimate, USD per month): 190.16 → 260.24 (+70.08)\n" in text
    assert "  cluster: +70.08\n" in text
    assert "price" not in text


def test_an_item_that_loses_its_price_is_no_saving_the_delta_says_it_is_incomplete() -> None:
    base = plan_of(cost=cost(cluster=280.32, gitlab=50.0))
    plan = plan_of(cost=cost(cluster=None, gitlab=50.0))
    delta = compare(base, plan, "base-dev.json")["cost"]
    # Not -280.32: the nodes' cost in this plan is unknown, so they are left out of both sides.
    assert delta["total"] == {"before": 50.0, "after": 50.0, "delta": 0.0}
    assert delta["complete"] is False
    assert delta["unpriced"] == [{"component": "cluster", "item": "nodes", "no_price_in": ["plan"]}]
    assert delta["by_component"] == {"cluster": 0.0}
    (item,) = delta["items"]
    assert (item["before"]["monthly"], item["after"]["monthly"]) == (280.32, None)
    text = summary(compare(base, plan, "base-dev.json")).splitlines()
    assert text[-3:] == [
        "Cost (estimate, USD per month): incomplete, 1 item without a price on a side; the "
        "items priced on every side: 50.00 → 50.00 (+0.00)",
        "  cluster: +0.00 of the priced items; incomplete: nodes has no price in this plan",
        "  ~ cluster nodes: 4.0 instance-month at 70.08 → 2 instance-month without a price, "
        "280.32 → no price a month",
    ]


@pytest.mark.parametrize(
    ("base_nodes", "plan_nodes", "where"),
    [(None, 140.16, "in the base"), (None, None, "in either plan")],
    ids=["in-the-base", "in-both"],
)
def test_an_item_without_a_price_on_either_side_is_named_with_that_side(
    base_nodes: float | None, plan_nodes: float | None, where: str
) -> None:
    base = plan_of(cost=cost(cluster=base_nodes, gitlab=50.0))
    plan = plan_of(cost=cost(cluster=plan_nodes, gitlab=60.0))
    if plan_nodes is None:  # without a price in both: changed, so its change is unknown
        plan["cost"]["items"][0]["quantity"] = 3
    delta = compare(base, plan, "base-dev.json")["cost"]
    assert delta["total"] == {"before": 50.0, "after": 60.0, "delta": 10.0}
    assert delta["by_component"] == {"cluster": 0.0, "gitlab": 10.0}
    assert not delta["complete"]
    text = summary(compare(base, plan, "base-dev.json"))
    assert f"  cluster: +0.00 of the priced items; incomplete: nodes has no price {where}" in text
    assert "  gitlab: +10.00\n" in text


def test_with_no_item_priced_on_both_sides_the_cost_is_not_compared() -> None:
    # A region the price table lacks: nothing to compare, and no "+0.00" that reads as such.
    base = plan_of(cost=cost(cluster=140.16))
    plan = plan_of(cost=cost(cluster=None))
    delta = compare(base, plan, "base-dev.json")["cost"]
    assert (delta["complete"], delta["priced"]) == (False, 0)
    assert cost_headline(delta) == (
        "Cost (estimate, USD per month): not comparable: no item has a price in both plans "
        "(1 item without a price on a side)"
    )


def test_an_item_without_a_price_in_both_plans_recorded_alike_changes_nothing() -> None:
    # The volumes of a release neither plan rendered: no price either side, the same record.
    base = plan_of(cost=cost(cluster=None, gitlab=50.0))
    plan = plan_of(cost=cost(cluster=None, gitlab=60.0))
    delta = compare(base, plan, "base-dev.json")["cost"]
    assert delta["complete"] is True
    assert delta["unpriced"] == []
    assert delta["unpriced_alike"] == [{"component": "cluster", "item": "nodes"}]
    assert delta["by_component"] == {"gitlab": 10.0}
    text = summary(compare(base, plan, "base-dev.json"))
    assert (
        "Cost (estimate, USD per month): 50.00 → 60.00 (+10.00); 1 item without a price in "
        "both plans, recorded alike, not compared"
    ) in text
    assert "cluster" not in text.split("Cost (")[1]


def test_an_older_base_without_exposure_or_cost_is_said_not_failed() -> None:
    base = plan_of()
    plan = plan_of(exposure=[], cost=cost(cluster=140.16))
    diff = compare(base, plan, "base-dev.json")
    assert diff["exposure"] == {"unavailable": "not in base"}
    assert diff["cost"] == {"unavailable": "not in base"}
    assert "Exposure: not in base" in summary(diff)
    assert compare(plan, base, "base-dev.json")["cost"] == {"unavailable": "not in this plan"}


def test_costs_in_two_currencies_are_not_subtracted() -> None:
    base = plan_of(cost={**cost(cluster=1.0), "currency": "EUR"})
    plan = plan_of(cost=cost(cluster=1.0))
    assert compare(base, plan, "base-dev.json")["cost"] == {
        "unavailable": "the base is in EUR, the plan in USD"
    }


def test_the_secret_marker_is_the_recorders() -> None:
    assert plan_diff.SECRET == SECRET


def test_the_comparison_needs_only_the_standard_library() -> None:
    # -S: no site-packages, so an import of pulumi (or anything installed) fails here.
    check = (
        "import sys; sys.path.insert(0, sys.argv[1]); import offline.diff, ci.mr_comment; "
        "print(sorted(m for m in sys.modules if m.startswith(('pulumi', 'yaml', 'google'))))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", check, str(PROJECT_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# The command line: --base, and a base that cannot be used.


@pytest.fixture
def offline_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`python -m offline` without policy or rendering, recording `plan` instead of the
    stack (a copy each time: the command writes its diff into the plan)."""

    def run(plan: Plan, *args: str | Path) -> int:
        monkeypatch.setattr(cli, "run_plan", lambda *_, **__: copy.deepcopy(plan))
        return cli.main(["--stack", "dev", "--no-policy", "--no-render", *map(str, args)])

    return run


def test_the_command_prints_the_changes_and_writes_the_diff_block(
    dev_plan: Plan, offline_cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base-dev.json"
    assert offline_cli(dev_plan, "--json", base) == 0  # the base as the command writes it
    out = tmp_path / "plan-dev.json"
    capsys.readouterr()
    assert offline_cli(more_nodes(), "--base", base, "--json", out) == 0
    printed = capsys.readouterr().out
    assert f"Changes against {base}: 1 changed, 0 added, 0 removed" in printed
    assert "      scalingConfig.desiredSize: 2 → 3" in printed
    written = json.loads(out.read_text())
    assert written["diff"] == compare(json.loads(base.read_text()), written, str(base))
    # The cost delta is one more node of the stack's type with its root volume, and only that.
    cost = written["diff"]["cost"]
    items = {i["item"].split(" gitops-platform")[0]: i for i in written["cost"]["items"]}
    node, disk = items["nodes"], items["root volumes of nodes"]
    one_more = round(node["unit_price"] + disk["unit_price"] * disk["quantity"] / 3, 2)
    assert node["quantity"] == 3
    assert cost["total"]["delta"] == one_more
    assert cost["by_component"] == {node["component"]: one_more}
    # Nothing rendered: the releases' volumes have no price in either plan, recorded alike:
    # the delta is still whole, and says what it did not compare.
    assert cost["complete"]
    assert cost["unpriced"] == []
    assert {u["item"] for u in cost["unpriced_alike"]} == set(written["cost"]["unpriced"])
    assert written["diff"]["exposure"] == {"added": [], "removed": [], "cidrs_changed": []}
    # Without --base there is no diff block.
    assert offline_cli(more_nodes(), "--json", out) == 0
    assert "diff" not in json.loads(out.read_text())


def test_an_instance_type_the_table_lacks_is_compared_not_a_crash_nor_a_saving(
    dev_plan: Plan, offline_cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base-dev.json"
    assert offline_cli(dev_plan, "--json", base) == 0
    nodes = {**stack_file_config("dev")[f"{PROJECT}:nodes"], "instance_types": ["m7i.xlarge"]}
    out = tmp_path / "plan-dev.json"
    capsys.readouterr()
    assert offline_cli(dev_with(nodes=nodes), "--base", base, "--json", out) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    cost = written["diff"]["cost"]
    name = "nodes gitops-platform-dev-nodes"
    (node,) = [i for i in written["cost"]["items"] if i["item"] == name]
    assert node["monthly"] is None  # m7i.xlarge: not in offline/prices.json
    assert cost["complete"] is False
    assert {"component": node["component"], "item": name, "no_price_in": ["plan"]} in (
        cost["unpriced"]
    )
    # Everything else is as in the base: no delta, not the nodes' cost as a saving.
    assert cost["total"]["delta"] == 0
    assert cost["by_component"][node["component"]] == 0
    assert f"{name} has no price in this plan" in printed
    assert f"{name}: 2 m6i.xlarge instance at " in printed
    assert " → 2 m7i.xlarge instance without a price, " in printed
    assert "Cost (estimate, USD per month): incomplete, 1 item without a price on a side" in printed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the base plan: No such file or directory"),
        ("{not json", "the base plan is not JSON"),
        ("[1, 2]", "not a plan (`python -m offline --json` writes one"),
        (json.dumps(plan_of() | {"stack": "prod"}), "the base plan is of gitops-platform/prod"),
    ],
    ids=["missing", "not-json", "not-a-plan", "another-stack"],
)
def test_a_base_that_cannot_be_used_is_an_error_naming_the_file(
    dev_plan: Plan,
    offline_cli: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    base = tmp_path / "base-dev.json"
    if content is not None:
        base.write_text(content)
    assert offline_cli(dev_plan, "--base", base) == 2
    output = capsys.readouterr()
    assert output.out == ""  # refused before the plan is shown
    assert f"error: {base}: {message}" in output.err


def test_make_plan_passes_base_to_the_command() -> None:
    dry_run = subprocess.run(
        ["make", "-s", "-n", "--no-print-directory", "plan", "BASE=base-dev.json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--base base-dev.json" in dry_run.splitlines()[-1]
