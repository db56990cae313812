"""The chart-key check: every value the stack sets must be a key of the pinned chart.

The archives here are built the way `helm package` lays them out (a top directory named after
the chart, subcharts as directories or archives under `charts/`), with made-up charts; the
stacks' own values are checked against the real archives of the chart cache (CHARTS) too.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import plan_for, stack_file_config, with_changes

from offline.plan import PROJECT_DIR, SECRET, Plan
from tools import chart_keys
from tools.chart_keys import (
    ChartError,
    chart_defaults,
    check,
    check_release,
    dotted,
    main,
    releases,
)

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def archive_bytes(name: str, files: dict[str, Any]) -> bytes:
    """A packaged chart: `files` maps paths under the chart's directory to YAML content (or
    to bytes, for a nested archive)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files.items():
            data = content if isinstance(content, bytes) else yaml.safe_dump(content).encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_chart(directory: Path, name: str, version: str, files: dict[str, Any]) -> Path:
    path = directory / f"{name}-{version}.tgz"
    chart = {"apiVersion": "v2", "name": name, "version": version}
    path.write_bytes(archive_bytes(name, {"Chart.yaml": chart, **files}))
    return path


PARENT_VALUES = {
    "global": {"hosts": {"domain": "example.com", "https": False}},
    "server": {
        "replicas": 1,
        "annotations": {},
        "env": [],
        "service": {"type": "ClusterIP", "loadBalancerSourceRanges": []},
        "nodeSelector": None,
    },
    "configs": {"cm": {"create": True}},
}


@pytest.fixture
def umbrella(tmp_path: Path) -> Path:
    """A chart with a subchart directory, an aliased packaged subchart and a nested one."""
    nested = archive_bytes(
        "cache",
        {"Chart.yaml": {"name": "cache", "version": "2.0.0"}, "values.yaml": {"size": 1}},
    )
    return write_chart(
        tmp_path,
        "umbrella",
        "1.2.3",
        {
            "Chart.yaml": {
                "apiVersion": "v2",
                "name": "umbrella",
                "version": "1.2.3",
                "dependencies": [
                    {"name": "cache", "version": "2.0.0", "alias": "redis"},
                    {"name": "cache", "version": "2.0.0", "alias": "sessions"},
                    {
                        "name": "web",
                        "version": "1.2.3",
                        "condition": "web.enabled,features.web",
                        "tags": ["frontend"],
                        "import-values": [{"child": "exports.ports", "parent": "ports"}],
                    },
                ],
            },
            "values.yaml": {**PARENT_VALUES, "redis": {"install": True}, "codes": {404: "x"}},
            "charts/cache-2.0.0.tgz": nested,
            "charts/web/Chart.yaml": {"name": "web", "version": "1.2.3"},
            "charts/web/values.yaml": {
                "global": {"web": {"port": 8080}},
                "workers": 2,
                "ingress": {"enabled": True},
                "exports": {"ports": {"http": 8080}},
            },
            "charts/web/charts/shell/Chart.yaml": {"name": "shell", "version": "1.2.3"},
            "charts/web/charts/shell/values.yaml": {"sshPort": 22},
        },
    )


def problems(values: dict[str, Any], defaults: Any, **kwargs: Any) -> dict[str, str]:
    return {f.path: f.problem for f in check(values, defaults, **kwargs)}


def test_keys_the_chart_lists_pass() -> None:
    values = {"server": {"replicas": 3, "service": {"type": "LoadBalancer"}}}
    assert problems(values, PARENT_VALUES) == {}


def test_a_key_the_chart_does_not_have_is_reported_with_its_path() -> None:
    values = {"server": {"replica": 3, "service": {"typ": "LoadBalancer"}}, "dex": {"x": 1}}
    assert set(problems(values, PARENT_VALUES)) == {"server.replica", "server.service.typ", "dex"}


def test_anything_goes_below_empty_maps_and_nulls_and_in_lists() -> None:
    values = {
        "server": {
            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "env": [{"name": "X", "value": "1"}],
            "service": {"loadBalancerSourceRanges": ["192.0.2.0/24"]},
        }
    }
    assert problems(values, PARENT_VALUES) == {}


def test_a_value_of_another_kind_is_reported() -> None:
    values = {
        "server": {"service": "LoadBalancer", "env": {"X": "1"}, "annotations": "a=b"},
        "configs": {"cm": {"create": {}}},
    }
    assert problems(values, PARENT_VALUES) == {
        "server.service": "the chart has a mapping here, the stack sets a str",
        "server.env": "the chart has a list here, the stack sets a mapping",
        "server.annotations": "the chart has a mapping here, the stack sets a str",
        "configs.cm.create": "the chart has a bool here, the stack sets a mapping",
    }


def test_an_empty_map_default_also_takes_a_list() -> None:
    # external-dns: `extraArgs: {}` in values.yaml; the template renders a list or a map.
    assert problems({"server": {"annotations": ["a=b"]}}, PARENT_VALUES) == {}


def test_null_removes_a_key_of_any_kind() -> None:
    assert problems({"server": {"service": None, "env": None}}, PARENT_VALUES) == {}


def test_a_hidden_secret_is_not_compared_by_shape() -> None:
    assert problems({"server": {"service": SECRET}}, PARENT_VALUES) == {}
    assert set(problems({"server": {"token": SECRET}}, PARENT_VALUES)) == {"server.token"}


def test_pass_through_maps_accept_their_own_keys_only() -> None:
    values = {"configs": {"cm": {"timeout.reconciliation": "120s"}, "params": {"a": 1}}}
    found = problems(values, PARENT_VALUES, pass_through=(("configs", "cm"),))
    assert found == {"configs.params": "not a key of the chart"}
    assert problems(values, PARENT_VALUES) == {
        'configs.cm."timeout.reconciliation"': "not a key of the chart",
        "configs.params": "not a key of the chart",
    }


def test_dotted_paths_quote_keys_that_contain_dots() -> None:
    assert (
        dotted(("configs", "cm", "timeout.reconciliation")) == 'configs.cm."timeout.reconciliation"'
    )


def test_subcharts_are_read_under_their_name_or_alias(umbrella: Path) -> None:
    defaults = chart_defaults(umbrella)
    assert defaults["web"]["workers"] == 2
    assert defaults["web"]["shell"] == {"sshPort": 22}
    # The parent's own values for an aliased subchart win over the subchart's defaults.
    assert defaults["redis"] == {"size": 1, "install": True}
    assert defaults["sessions"] == {"size": 1}
    assert "cache" not in defaults
    values = {"web": {"workers": 4, "shell": {"sshPort": 2222}}, "redis": {"size": 3}}
    assert problems(values, defaults) == {}
    assert set(problems({"web": {"shell": {"port": 1}}, "cache": {}}, defaults)) == {
        "web.shell.port",
        "cache",
    }


def test_conditions_tags_and_imported_values_are_keys(umbrella: Path) -> None:
    defaults = chart_defaults(umbrella)
    values = {
        "web": {"enabled": False},
        "features": {"web": True},
        "tags": {"frontend": False},
        "ports": {"http": 80},
    }
    assert problems(values, defaults) == {}
    assert set(problems({"tags": {"backend": True}, "features": {"api": 1}}, defaults)) == {
        "tags.backend",
        "features.api",
    }


def test_numeric_keys_are_read_as_helm_reads_them(umbrella: Path) -> None:
    assert problems({"codes": {"404": "y"}}, chart_defaults(umbrella)) == {}


def test_subchart_globals_join_the_parents(umbrella: Path) -> None:
    defaults = chart_defaults(umbrella)
    assert defaults["global"]["web"] == {"port": 8080}
    assert defaults["global"]["hosts"]["domain"] == "example.com"
    assert problems({"global": {"web": {"port": 80}, "hosts": {"https": True}}}, defaults) == {}


def test_a_missing_or_broken_archive_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="no such chart archive"):
        chart_defaults(tmp_path / "gitlab-1.0.0.tgz")
    broken = tmp_path / "broken-1.0.0.tgz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ChartError, match="not a chart archive"):
        chart_defaults(broken)
    good = archive_bytes("x", {"Chart.yaml": {"name": "x"}, "values.yaml": {"a": 1}})
    broken.write_bytes(good[: len(good) // 2])
    with pytest.raises(ChartError, match="not a chart archive"):
        chart_defaults(broken)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"values.yaml": b"a: [1\n"}, "values.yaml: not valid YAML"),
        ({"values.yaml": b"\xff\xfe"}, "values.yaml: not valid YAML"),
        ({"values.yaml": ["a", "b"]}, "values.yaml: a list, not a mapping"),
        ({"Chart.yaml": ["x"]}, "Chart.yaml: a list, not a mapping"),
        ({"Chart.yaml": {"name": "x", "dependencies": ["web"]}}, "`dependencies` must be"),
        ({"Chart.yaml": {"name": "x", "dependencies": [{"alias": "w"}]}}, "`dependencies` must"),
        ({"charts/web-1.0.0.tgz": b"truncated"}, "charts/web-1.0.0.tgz: not a chart archive"),
    ],
)
def test_a_malformed_chart_is_a_clear_error(
    tmp_path: Path, files: dict[str, Any], message: str
) -> None:
    archive = write_chart(tmp_path, "x", "1.0.0", files)
    with pytest.raises(ChartError, match=message.replace("[", r"\[")) as error:
        chart_defaults(archive)
    assert str(archive) in str(error.value)


def plan_with(release_values: Any, chart: str = "umbrella") -> dict[str, Any]:
    inputs = {
        "chart": chart,
        "version": "1.2.3",
        "repositoryOpts": {"repo": "https://charts.example.com"},
        "values": release_values,
    }
    resource = {"type": HELM_RELEASE, "name": "dev-umbrella", "inputs": inputs}
    return {"stack": "dev", "resources": [resource, {"type": "aws:s3/bucket:Bucket"}]}


def run(tmp_path: Path, plan: dict[str, Any], *extra: str) -> int:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return main(["--plan", str(path), "--charts", str(tmp_path), *extra])


def test_the_command_passes_a_plan_whose_values_the_chart_has(
    umbrella: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, plan_with({"web": {"workers": 3}})) == 0
    assert "dev: dev-umbrella (umbrella 1.2.3): every value is a key" in capsys.readouterr().out


def test_the_command_fails_on_an_unknown_key(
    umbrella: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, plan_with({"web": {"worker": 3}})) == 1
    assert "dev-umbrella (umbrella 1.2.3): web.worker: not a key of the chart" in (
        capsys.readouterr().out
    )


def test_the_command_reports_a_missing_archive_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, plan_with({})) == 2
    assert "umbrella-1.2.3.tgz: no such chart archive" in capsys.readouterr().err


def test_the_stacks_plan_lists_every_release_with_its_pinned_chart() -> None:
    plan = plan_for(stack_file_config("dev"), stack="dev")
    found = {r.chart: r for r in releases(json.loads(plan.to_json()))}
    assert set(found) == {"aws-load-balancer-controller", "external-dns", "argo-cd", "gitlab"}
    assert found["argo-cd"].archive_name == "argo-cd-10.1.1.tgz"
    assert found["gitlab"].repository == "https://charts.gitlab.io/"
    assert found["argo-cd"].values["server"]["replicas"] == 1


def test_an_oci_chart_is_named_and_pulled_from_its_registry() -> None:
    plan = plan_with({})
    inputs = plan["resources"][0]["inputs"]
    inputs["chart"] = "oci://registry.example.com/charts/argo-cd"
    del inputs["repositoryOpts"]
    (release,) = releases(plan)
    assert (release.chart, release.repository) == ("argo-cd", "oci://registry.example.com/charts")
    assert release.archive_name == "argo-cd-1.2.3.tgz"


def test_one_bad_release_does_not_hide_the_others(
    umbrella: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_with({"web": {"worker": 3}})
    missing = {**plan["resources"][0], "name": "dev-other"}
    missing["inputs"] = {**missing["inputs"], "chart": "other"}
    plan["resources"].insert(0, missing)
    assert run(tmp_path, plan) == 2
    output = capsys.readouterr()
    assert "dev-other (other 1.2.3): " in output.err
    assert "web.worker: not a key of the chart" in output.out


def test_a_release_whose_values_are_all_secret_is_not_compared(
    umbrella: Path, tmp_path: Path
) -> None:
    assert run(tmp_path, plan_with(SECRET)) == 0


def test_keys_documented_outside_values_yaml_are_accepted(
    umbrella: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documented = {("global", "psql", "host"): "docs: external database"}
    monkeypatch.setitem(chart_keys.DOCUMENTED_ELSEWHERE, "umbrella", documented)
    release = releases(plan_with({"global": {"psql": {"host": "db", "port": 5432}}}))[0]
    found = check_release(release, tmp_path)
    assert [(f.path, f.problem) for f in found] == [("global.psql.port", "not a key of the chart")]


def value_paths(values: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if not isinstance(values, dict) or not values:
        return {path}
    found = {path}
    for key, value in values.items():
        found |= value_paths(value, (*path, key))
    return found


def test_keys_documented_elsewhere_are_keys_the_stacks_set() -> None:
    # An entry the stacks no longer need would silently widen what the check accepts.
    ssh = with_changes(
        stack_file_config("dev"), gitlab={"ssh": "nlb", "ssh_cidrs": ["203.0.113.0/28"]}
    )
    set_paths: dict[str, set[tuple[str, ...]]] = {}
    for config, stack in (
        (stack_file_config("dev"), "dev"),
        (stack_file_config("prod"), "prod"),
        (ssh, "dev"),
    ):
        for release in releases(json.loads(plan_for(config, stack=stack).to_json())):
            set_paths.setdefault(release.chart, set()).update(value_paths(release.values))
    for chart, documented in chart_keys.DOCUMENTED_ELSEWHERE.items():
        assert set(documented) <= set_paths[chart], chart


def test_the_stacks_values_are_keys_of_the_cached_charts(dev_plan: Plan, prod_plan: Plan) -> None:
    # What `make chart-keys` checks, against the archives this suite has (all but GitLab's).
    cache = Path(os.environ.get("CHARTS", PROJECT_DIR / ".charts"))
    checked = 0
    for plan in (dev_plan, prod_plan):
        for release in releases(json.loads(plan.to_json())):
            if release.chart == "gitlab" and not (cache / release.archive_name).is_file():
                continue  # no machine here can obtain it: the `charts` CI job checks it
            if not (cache / release.archive_name).is_file():
                pytest.skip(f"no {release.archive_name} in {cache} (CHARTS=dir, or make charts)")
            found = check_release(release, cache)
            assert found == [], f"{plan.stack}: {release.name}: {found}"
            checked += 1
    assert checked >= 6
