"""The real tools and the real charts, for tests that let the upstream decide.

`make tools` puts helm and kubectl (with Kustomize) into .venv/bin; chart archives come from
the directory `CHARTS` names (default `.charts/`, filled by `helm pull`; CI points it at the
shared chart cache). A test that needs a missing tool or archive is skipped with the reason,
never passed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.plan import PROJECT_DIR
from offline.sources import find_tool

# Charts with their CRDs render megabytes of YAML: libyaml reads them five times faster.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def tool(name: str) -> str:
    """The path of `helm` or `kubectl`: .venv/bin first, then PATH."""
    found = find_tool(name)
    if not found:
        pytest.skip(f"{name} is not installed (make tools)")
    return str(found)


def chart_archive(chart: str, version: str) -> Path:
    """The archive of `chart` at `version`, or, when the cache lacks that version, its newest
    cached one (for behaviour that version does not change; the test says which)."""
    charts = Path(os.environ.get("CHARTS", PROJECT_DIR / ".charts"))
    archive = charts / f"{chart}-{version}.tgz"
    if archive.exists():
        return archive
    cached = sorted(
        charts.glob(f"{chart}-[0-9]*.tgz"),
        key=lambda p: tuple(int(n) for n in p.name[len(chart) + 1 : -4].split(".")[:3]),
    )
    if not cached:
        pytest.skip(f"no archive of {chart} in {charts} (CHARTS=dir, or `helm pull`)")
    return cached[-1]


def helm_template(
    archive: Path,
    values: Mapping[str, Any],
    release: str,
    namespace: str,
    kube_version: str = "1.35.0",
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """The objects `helm template` renders from `archive` with `values` (JSON is YAML); with
    `include_crds`, also the chart's `crds/` folder, which an install applies first."""
    result = subprocess.run(
        [
            tool("helm"),
            "template",
            release,
            str(archive),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
            "--values",
            "-",
            *(["--include-crds"] if include_crds else []),
        ],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.load_all(result.stdout, Loader=LOADER) if doc]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects `labels`."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` builds from `folder`."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.load_all(result.stdout, Loader=LOADER) if doc]
