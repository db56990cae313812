"""The code's shape: imports point one way, modules stay small, the cluster is one record,
and each repeated construct (an IAM role, a controller with its role) is written once."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from offline.plan import PROJECT_DIR

PACKAGES = ("components", "offline", "ops")
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((PROJECT_DIR / package).rglob("*.py"))
    }


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module of ours this file imports, at the top or inside a function: for
    `from a.b import c`, `a.b.c` when that is a module, else `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_components_and_offline() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("import b\n")
    b.write_text("def f():\n    from a import x\n")
    graph = {"a": _imports(a, {"a", "b"}), "b": _imports(b, {"a", "b"})}
    assert cycles(graph) == [["a", "b"]]


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / "components").rglob("*.py")), ids=str)
def test_no_component_module_is_over_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PROJECT_DIR)} has {lines} lines"


def test_the_cluster_record_has_no_field_a_mode_may_leave_out() -> None:
    from components.clusters import ClusterFoundation, ClusterOutputs

    for record in (ClusterFoundation, ClusterOutputs):
        params = record.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen
        assert [
            f.name
            for f in dataclasses.fields(record)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ] == []


def test_every_cluster_mode_builds_the_record_and_the_in_cluster_components_take_it() -> None:
    from components.clusters import ClusterFoundation, ClusterOutputs
    from components.clusters.eks import EksCluster
    from components.clusters.existing import ExistingCluster
    from components.clusters.kops import KopsCluster
    from components.controller import ControllerArgs
    from components.external_dns import ExternalDnsArgs
    from components.gitlab import GitLabArgs
    from components.gitlab_data import GitLabDataStoresArgs
    from components.load_balancer_controller import LoadBalancerControllerArgs

    # Annotations are strings here (postponed evaluation): compared by name.
    assert {mode: mode.__annotations__["outputs"] for mode in (EksCluster, ExistingCluster)} == {
        EksCluster: ClusterOutputs.__name__,
        ExistingCluster: ClusterOutputs.__name__,
    }
    # kOps has only the foundation until kOps has built the cluster (step one).
    assert KopsCluster.__annotations__["outputs"] == ClusterFoundation.__name__
    takers = (
        LoadBalancerControllerArgs,
        ExternalDnsArgs,
        GitLabArgs,
        GitLabDataStoresArgs,
        ControllerArgs,
    )
    assert {
        args: {f.name: f.type for f in dataclasses.fields(args)}["cluster"] for args in takers
    } == dict.fromkeys(takers, ClusterOutputs.__name__)


def _calls(path: Path) -> set[str]:
    """The dotted names this module calls, e.g. `aws.iam.Role` or `helm_release`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            names.add(ast.unparse(node.func))
    return names


def test_iam_roles_are_made_by_one_helper() -> None:
    makers = sorted(
        _module_name(path)
        for path in (PROJECT_DIR / "components").rglob("*.py")
        if {"aws.iam.Role", "aws.iam.RolePolicy", "aws.iam.RolePolicyAttachment"} & _calls(path)
    )
    assert makers == ["components.iam"]


def test_a_controller_and_its_role_are_made_by_one_helper() -> None:
    both = sorted(
        _module_name(path)
        for path in (PROJECT_DIR / "components").rglob("*.py")
        if {"ServiceAccountRole", "helm_release"} <= _calls(path)
    )
    assert both == ["components.controller"]
