"""Checks every Helm value the stack sets against the chart version it pins: `make chart-keys`.

Helm accepts any key: a key a chart renamed or never had is silently ignored, and the setting
it carried (a TLS annotation, a disabled component) is lost without an error. This reads the
offline plan (`python -m offline --json`), opens each release's chart archive as
`helm pull` saves it (`<chart>-<version>.tgz`), and builds the chart's default values the way
Helm assembles them: every chart under `charts/` (directory or archive) under its name or
alias, subcharts' `global` defaults joined to the root's, `import-values` copied into the
parent, and the `condition` and `tags` paths of the dependencies. It then reports every value
path the stack sets that the chart does not define, and every value whose kind contradicts
the chart's default (a mapping where the chart has a scalar or a list, or the reverse).

Below a default that is null or an empty mapping (annotations, selectors) any key is
accepted, and an empty mapping also takes a list (charts use `{}` for "a list or a map").
So is anything below the pass-through maps in PASS_THROUGH, which a chart copies into a
ConfigMap verbatim without listing their keys, and below the keys a chart documents outside
its values (DOCUMENTED_ELSEWHERE). Lists are not looked into.

Needs the archives in the chart cache (`--charts`): `make charts` (tools/charts.py) pulls them
with `helm pull`, which needs the network, and `make chart-keys` runs it first. The `charts` CI
job runs both on every merge request.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from offline.plan import SECRET
from tools.charts import archive_name

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
PASS_THROUGH: dict[str, tuple[tuple[str, ...], ...]] = {
    # argocd-cmd-params-cm, argocd-cm and argocd-rbac-cm: the chart renders these maps as the
    # ConfigMaps' data (its values.yaml lists only a few of their keys, some none since 9.0).
    "argo-cd": (("configs", "params"), ("configs", "cm"), ("configs", "rbac")),
}
GITLAB_GLOBALS = "https://docs.gitlab.com/charts/charts/globals/"
DOCUMENTED_ELSEWHERE: dict[str, dict[tuple[str, ...], str]] = {
    "gitlab": {
        # External PostgreSQL and Redis, as in the chart's own "external" guides.
        **{("global", "psql", key): GITLAB_GLOBALS for key in ("host", "port", "database")},
        ("global", "psql", "username"): GITLAB_GLOBALS,
        **{("global", "redis", key): GITLAB_GLOBALS for key in ("host", "port", "scheme")},
        ("global", "redis", "auth", "key"): GITLAB_GLOBALS,
        ("global", "redis", "auth", "secret"): GITLAB_GLOBALS,
        ("global", "ingress", "class"): GITLAB_GLOBALS,
        # gitlab-shell's LoadBalancer Service (git over SSH through an NLB); `annotations`
        # is read by the shared gitlab.serviceAnnotations template helper.
        ("gitlab", "gitlab-shell", "service", "loadBalancerSourceRanges"): (
            "https://docs.gitlab.com/charts/charts/gitlab/gitlab-shell/"
        ),
        ("gitlab", "gitlab-shell", "service", "annotations"): "templates/_helpers.tpl",
    },
}
"""Keys a chart takes but its values.yaml shows only in comments (or not at all), each with
where the chart documents it. Anything below them is accepted, like below a null default."""

Files = Mapping[PurePosixPath, bytes]


class ChartError(Exception):
    """A chart archive that is missing or cannot be read."""


@dataclass(frozen=True)
class Release:
    """One Helm release of the plan: what it installs and the values it sets."""

    name: str
    chart: str
    """The chart's name, without repository."""
    repository: str
    """`https://...` (a chart repository) or `oci://...` (a registry path)."""
    version: str
    values: Any

    @property
    def archive_name(self) -> str:
        return archive_name(self.chart, self.version)


@dataclass(frozen=True)
class Finding:
    path: str
    problem: str


def releases(plan: Mapping[str, Any]) -> list[Release]:
    """The Helm releases an offline plan (its JSON) registers."""
    found = []
    for resource in plan.get("resources", []):
        if resource.get("type") != HELM_RELEASE:
            continue
        inputs = resource.get("inputs", {})
        chart = str(inputs["chart"])
        repository = (inputs.get("repositoryOpts") or {}).get("repo", "")
        if chart.startswith("oci://"):  # the registry path is part of the chart reference
            repository, chart = chart.rsplit("/", 1)
        found.append(
            Release(
                name=resource["name"],
                chart=chart,
                repository=repository,
                version=str(inputs["version"]),
                values=inputs.get("values") or {},
            )
        )
    return found


def dotted(path: tuple[str, ...]) -> str:
    """A value path as the charts' docs write it: `configs.cm."timeout.reconciliation"`."""
    return ".".join(f'"{key}"' if "." in key else key for key in path)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of two values trees: mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _as_helm_reads(value: Any) -> Any:
    """Helm reads every mapping key as a string (`80:` is "80")."""
    if isinstance(value, Mapping):
        return {str(key): _as_helm_reads(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_helm_reads(item) for item in value]
    return value


def _read_archive(data: bytes, source: str) -> dict[PurePosixPath, bytes]:
    """An archive's files, relative to its top directory (the chart's name)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            files = {}
            for member in archive.getmembers():
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    parts = PurePosixPath(member.name).parts
                    files[PurePosixPath(*parts[1:])] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ChartError(f"{source}: not a chart archive ({error})") from error
    if PurePosixPath("Chart.yaml") not in files:
        raise ChartError(f"{source}: no Chart.yaml at the top of the archive")
    return files


def _yaml_mapping(files: Files, path: PurePosixPath, source: str) -> dict[str, Any]:
    """A YAML file of the chart that must hold a mapping (empty or absent: {})."""
    if path not in files:
        return {}
    try:
        document = yaml.safe_load(files[path].decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ChartError(f"{source}: {path}: not valid YAML ({error})") from error
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ChartError(f"{source}: {path}: a {type(document).__name__}, not a mapping")
    result: dict[str, Any] = _as_helm_reads(document)
    return result


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping):
            return None
        tree = tree.get(key)
    return tree


def _with(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`tree` with `value` merged in at `path` (Helm's coalescing)."""
    if not path:
        return merge(tree, value) if isinstance(value, Mapping) else tree
    head, rest = path[0], path[1:]
    below = tree.get(head)
    if rest:
        inner = _with(dict(below) if isinstance(below, Mapping) else {}, rest, value)
        return {**tree, head: inner}
    if isinstance(value, Mapping) and isinstance(below, Mapping):
        return {**tree, head: merge(below, value)}
    return {**tree, head: value}


def _allow(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """`tree` accepting `path` (a dependency's condition or tag): null where it is missing."""
    parent = _at(tree, path[:-1])
    if isinstance(parent, Mapping) and path[-1] in parent:
        return tree
    if parent is not None and not isinstance(parent, Mapping):
        return tree
    return _with(tree, path, None)


def _dependencies(meta: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    dependencies = meta.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(
        isinstance(d, Mapping) and isinstance(d.get("name"), str) for d in dependencies
    ):
        raise ChartError(f"{where}: `dependencies` must be a list of mappings with a name")
    return dependencies


def _subcharts(files: Files, root: PurePosixPath, source: str) -> list[tuple[Files, PurePosixPath]]:
    """Every chart Helm loads from `root/charts`: directories and packaged archives."""
    charts = root / "charts"
    found: list[tuple[Files, PurePosixPath]] = []
    for path in sorted(files):
        if path.parent == charts and path.suffix == ".tgz":
            found.append((_read_archive(files[path], f"{source}:{path}"), PurePosixPath()))
        elif path.name == "Chart.yaml" and path.parent.parent == charts:
            found.append((files, path.parent))
    return found


def _defaults(files: Files, root: PurePosixPath, source: str) -> dict[str, Any]:
    """The default values of the chart at `root`, with its subcharts' under their keys."""
    meta = _yaml_mapping(files, root / "Chart.yaml", source)
    values = _yaml_mapping(files, root / "values.yaml", source)
    dependencies = _dependencies(meta, f"{source}: {root / 'Chart.yaml'}")
    for sub_files, sub_root in _subcharts(files, root, source):
        name = _yaml_mapping(sub_files, sub_root / "Chart.yaml", source).get("name", sub_root.name)
        sub_defaults = _defaults(sub_files, sub_root, source)
        sub_global = sub_defaults.pop("global", None)
        declared = [d for d in dependencies if d["name"] == name] or [{"name": name}]
        for dependency in declared:
            key = str(dependency.get("alias") or name)
            values = _with(values, (key,), {})
            values = {**values, key: merge(sub_defaults, values[key])}
            for entry in dependency.get("import-values") or []:
                if isinstance(entry, str):
                    values = _with(values, (), _at(sub_defaults, ("exports", entry)))
                elif isinstance(entry, Mapping):
                    child = tuple(p for p in str(entry.get("child", "")).split(".") if p)
                    parent = tuple(p for p in str(entry.get("parent", "")).split(".") if p)
                    values = _with(values, parent, _at(sub_defaults, child))
        if isinstance(sub_global, Mapping) and sub_global:
            values = {**values, "global": merge(sub_global, values.get("global") or {})}
    for dependency in dependencies:
        for condition in str(dependency.get("condition") or "").split(","):
            if condition.strip():
                values = _allow(values, tuple(condition.strip().split(".")))
        for tag in dependency.get("tags") or []:
            values = _allow(values, ("tags", str(tag)))
    return values


def chart_defaults(archive: Path) -> dict[str, Any]:
    """The default values of a packaged chart, subcharts included."""
    if not archive.is_file():
        raise ChartError(f"{archive}: no such chart archive (make charts pulls it)")
    files = _read_archive(archive.read_bytes(), str(archive))
    return _defaults(files, PurePosixPath(), str(archive))


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def check(
    values: Mapping[str, Any],
    defaults: Mapping[str, Any],
    pass_through: tuple[tuple[str, ...], ...] = (),
    path: tuple[str, ...] = (),
) -> Iterator[Finding]:
    """What in `values` the chart does not define, or defines as another kind of value."""
    for key, value in values.items():
        here = (*path, str(key))
        if here in pass_through:
            continue
        if key not in defaults:
            yield Finding(dotted(here), "not a key of the chart")
            continue
        default = defaults[key]
        # Null removes a key; a secret's kind is hidden in the plan; a null default takes all.
        if value is None or value == SECRET or default is None:
            continue
        mapping, listing = isinstance(default, Mapping), isinstance(default, list)
        if default == {} and isinstance(value, list):
            continue  # `{}` often stands for "a list or a map" (external-dns extraArgs)
        if mapping != isinstance(value, Mapping) or (listing and not isinstance(value, list)):
            yield Finding(
                dotted(here), f"the chart has {_kind(default)} here, the stack sets {_kind(value)}"
            )
        elif mapping and default:
            yield from check(value, default, pass_through, here)


def check_release(release: Release, charts: Path) -> list[Finding]:
    """The findings for one release, against its archive in the chart cache `charts`."""
    defaults = chart_defaults(charts / release.archive_name)
    for path in DOCUMENTED_ELSEWHERE.get(release.chart, {}):
        defaults = _allow(defaults, path)
    if not isinstance(release.values, Mapping):  # all of it a secret: nothing to compare
        return []
    return list(check(release.values, defaults, PASS_THROUGH.get(release.chart, ())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--plan", action="append", required=True, type=Path, help="an offline plan's JSON"
    )
    parser.add_argument(
        "--charts", type=Path, default=Path(".charts"), help="chart archives (default .charts)"
    )
    args = parser.parse_args(argv)
    findings = errors = 0
    for plan_path in args.plan:
        try:
            plan = json.loads(plan_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            print(f"chart-keys: {plan_path}: {error}", file=sys.stderr)
            errors += 1
            continue
        for release in releases(plan):
            label = f"{plan.get('stack', plan_path.name)}: {release.name} " + (
                f"({release.chart} {release.version})"
            )
            try:
                found = check_release(release, args.charts)
            except ChartError as error:
                print(f"chart-keys: {label}: {error}", file=sys.stderr)
                errors += 1
                continue
            if not found:
                print(f"{label}: every value is a key of the chart")
            for finding in found:
                print(f"{label}: {finding.path}: {finding.problem}")
            findings += len(found)
    return 2 if errors else 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
