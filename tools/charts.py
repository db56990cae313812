"""`make charts`: every chart the stacks pin, pulled once with `helm pull` into the chart cache.

The charts are the ones a stack's configuration pins (`charts.*`, read with the program's own
loader, as `pulumi preview` reads it) and the dependencies of every chart the stack commits
under `gitops/` (with `gitops.minio_chart` written in, as committed). Each lands where
`helm pull` puts it, as `<chart>-<version>.tgz` in the cache directory (`--charts`, the
Makefile's CHARTS, default `.charts/`), which the offline preview and `make chart-keys` read.

A published archive carries its own dependencies in its `charts/` directory, so none of those
is pulled on its own: argo-cd's redis-ha comes inside argo-cd's archive. (argo-helm publishes
with helm/chart-releaser-action: argoproj/argo-helm `.github/workflows/publish.yml` at tag
argo-cd-10.1.1, which adds redis-ha's repository first; the action's `cr package`, cr.sh at
v1.7.0, packages with `helmClient.DependencyUpdate = true`, helm/chart-releaser
`pkg/packager/packager.go` at v1.7.0, like `helm package --dependency-update`.)

An archive already in the cache is kept and not pulled again (delete it to fetch it anew). A
pull goes to a staging directory inside the cache and is moved into place only when helm
succeeded, so a failed one leaves nothing behind.

    python -m tools.charts [--stack dev --stack prod] [--stack-file PATH] [--charts .charts]
                           [--list]

`--list` prints what would be pulled and needs no network and no helm. Exit status 0; 1 when
a chart could not be pulled (each failure names the chart, version and repository); 2 when a
stack cannot be read or its pins contradict each other.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from pydantic import TypeAdapter, ValidationError

from components.config import ChartRepository, ChartsConfig, ChartVersion, ConfigError, load_config
from components.gitops_repository import repository_content
from components.previews import preview_folders
from offline.plan import PROJECT_DIR, record
from offline.sources import find_tool
from offline.stack_files import StackFileError, StackSettings, load_stack, stack_names

_REPOSITORY = TypeAdapter(ChartRepository)
_VERSION = TypeAdapter(ChartVersion)


class ChartsError(Exception):
    """A stack whose charts cannot be listed, or a chart that cannot be pulled."""


def archive_name(chart: str, version: str) -> str:
    """The file `helm pull` saves a chart version as (and the chart cache holds)."""
    return f"{chart}-{version}.tgz"


@dataclass(frozen=True)
class Chart:
    """One chart version from one repository."""

    name: str
    version: str
    repository: str
    """`https://...` (a chart repository) or `oci://...` (the registry path above the chart)."""

    @property
    def archive_name(self) -> str:
        return archive_name(self.name, self.version)

    def pull_command(self, helm: str, directory: Path) -> list[str]:
        """`helm pull` of this chart version into `directory`."""
        if self.repository.startswith("oci://"):  # the registry path is part of the reference
            reference = [f"{self.repository.rstrip('/')}/{self.name}"]
        else:
            reference = [self.name, "--repo", self.repository]
        return [helm, "pull", *reference, "--version", self.version, "-d", str(directory)]

    def __str__(self) -> str:
        return f"{self.name} {self.version} from {self.repository}"


@dataclass(frozen=True)
class Pin:
    """Where a stack pins a chart: `charts.argo_cd`, or a gitops/ Chart.yaml."""

    stack: str
    where: str


def chart_name(key: str) -> str:
    """The chart a `charts.<key>` pins: the key as the chart spells it (`argo_cd`: argo-cd)."""
    return key.replace("_", "-")


def configured(charts: ChartsConfig) -> list[tuple[Chart, str]]:
    """The charts `charts.*` pins, each with its key."""
    pinned = []
    for key in type(charts).model_fields:
        source = getattr(charts, key)
        pinned.append((Chart(chart_name(key), source.version, source.repository), f"charts.{key}"))
    return pinned


def dependencies(path: str, chart_yaml: str) -> list[Chart]:
    """The charts `helm dependency build` fetches for the chart whose Chart.yaml this is.

    A dependency without a repository is a folder already in the chart's `charts/`, and a
    `file://` one a chart on disk (helm v4.1.4 internal/resolver/resolver.go, the
    `d.Repository == ""` and `file://` cases): nothing to pull. Versions must be exact and
    repositories https:// or oci://, as a stack's own pins: a range would depend on the day,
    and a repository alias (`alias:` or `@`, names of `helm repo add`,
    https://helm.sh/docs/helm/helm_dependency) on the machine."""
    try:
        document = yaml.safe_load(chart_yaml) or {}
    except yaml.YAMLError as error:
        raise ChartsError(f"gitops/{path}: not valid YAML ({error})") from None
    found = []
    for dependency in document.get("dependencies") or []:
        name = dependency.get("name") if isinstance(dependency, Mapping) else None
        if not isinstance(name, str):
            raise ChartsError(f"gitops/{path}: a dependency without a name")
        repository = str(dependency.get("repository") or "")
        if not repository or repository.startswith("file://"):
            continue
        try:
            _REPOSITORY.validate_python(repository)
            version = _VERSION.validate_python(str(dependency.get("version") or ""))
        except ValidationError as error:
            problem = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise ChartsError(f"gitops/{path}: dependency {name}: {problem}") from None
        found.append(Chart(name, version, repository))
    return found


def stack_pins(settings: StackSettings) -> list[tuple[Chart, str]]:
    """Every chart one stack pins, with where: its configuration, read by the program's own
    loader under the offline runtime, and the Chart.yaml files it commits under gitops/."""
    loaded = []
    record(settings, lambda: loaded.append(load_config()[0]))
    (config,) = loaded
    pinned = configured(config.charts)
    committed = repository_content(
        config.gitops.minio_chart, config.applications, preview_folders(config)
    )
    for path, content in committed.items():
        if PurePosixPath(path).name == "Chart.yaml":
            pinned += [(chart, f"gitops/{path}") for chart in dependencies(path, content)]
    return pinned


def collect(stacks: Iterable[tuple[str, list[tuple[Chart, str]]]]) -> dict[Chart, list[Pin]]:
    """Each chart once, with every pin of it, in the order first pinned. Two pins of the same
    chart version from different repositories are refused: the cache holds one archive per
    name, and nothing says the two repositories serve the same one."""
    charts: dict[Chart, list[Pin]] = {}
    for stack, pinned in stacks:
        for chart, where in pinned:
            charts.setdefault(chart, []).append(Pin(stack, where))
    by_archive: dict[str, list[Chart]] = {}
    for chart in charts:
        by_archive.setdefault(chart.archive_name, []).append(chart)
    clashes = [
        f"{name}: {' and '.join(f'{c.repository} ({describe(charts[c])})' for c in same)}"
        for name, same in by_archive.items()
        if len(same) > 1
    ]
    if clashes:
        raise ChartsError(
            "one chart version pinned from more than one repository: " + "; ".join(clashes)
        )
    return charts


def describe(pins: list[Pin]) -> str:
    """`charts.argo_cd (dev, prod)`: each place, with the stacks that pin there."""
    places: dict[str, list[str]] = {}
    for pin in pins:
        places.setdefault(pin.where, []).append(pin.stack)
    return "; ".join(f"{where} ({', '.join(stacks)})" for where, stacks in places.items())


def listing(charts: Mapping[Chart, list[Pin]], directory: Path) -> str:
    """One line per chart: name, version, repository, archive, present or missing, pinned by."""
    rows = [("chart", "version", "repository", "archive", "cache", "pinned by")]
    for chart, pins in charts.items():
        present = (directory / chart.archive_name).is_file()
        rows.append(
            (
                chart.name,
                chart.version,
                chart.repository,
                chart.archive_name,
                "present" if present else "missing",
                describe(pins),
            )
        )
    # Every column but the last padded to its widest cell.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    padded = (
        [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        for row in rows
    )
    return "\n".join("  ".join(cells) for cells in padded)


def helm() -> str:
    """helm from the virtualenv (`make tools`), else from PATH."""
    found = find_tool("helm")
    if not found:
        raise ChartsError("helm is not installed (make tools)")
    return found


def pull(chart: Chart, directory: Path, helm_path: str) -> Path:
    """`helm pull` one chart version into `directory` as `<chart>-<version>.tgz`."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".pull-") as staging:
        command = chart.pull_command(helm_path, Path(staging))
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            raise ChartsError(f"cannot pull {chart}: {error}") from None
        saved = sorted(Path(staging).glob("*.tgz"))
        if result.returncode != 0 or len(saved) != 1:
            said = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            detail = said[-1].strip() if said else f"helm saved {len(saved)} archives"
            raise ChartsError(f"cannot pull {chart}: {detail}")
        # helm names the file after the path of its URL in the repository's index (helm v4.1.4
        # pkg/downloader/chart_downloader.go, `filepath.Base(u.Path)`); the cache after the chart.
        return saved[0].replace(directory / chart.archive_name)


def _listed(charts: Iterable[Chart]) -> str:
    return ", ".join(chart.archive_name for chart in charts)


def fill(charts: Mapping[Chart, list[Pin]], directory: Path) -> int:
    """Pull every missing chart; report each one. The exit status: 1 when any pull failed."""
    failed = pulled = 0
    missing = [chart for chart in charts if not (directory / chart.archive_name).is_file()]
    try:
        helm_path = helm() if missing else ""
    except ChartsError as error:  # said once, not once per chart
        print(
            f"error: {error}; {len(missing)} chart(s) to pull: {_listed(missing)}", file=sys.stderr
        )
        return 1
    for chart in charts:
        archive = directory / chart.archive_name
        if chart not in missing:
            print(f"present  {archive}")
            continue
        try:
            pull(chart, directory, helm_path)
        except ChartsError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"pulled   {archive}  ({chart})")
        pulled += 1
    present = len(charts) - pulled - failed
    summary = f"charts: {pulled} pulled, {present} present in {directory}"
    if failed:
        print(f"{summary}; {failed} could not be pulled", file=sys.stderr)
        return 1
    print(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.charts", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--stack", action="append", default=[], help="a stack (Pulumi.<stack>.yaml); repeatable"
    )
    parser.add_argument(
        "--stack-file", action="append", default=[], type=Path, help="a stack file; repeatable"
    )
    parser.add_argument(
        "--charts", type=Path, default=Path(".charts"), help="the chart cache (default .charts)"
    )
    parser.add_argument(
        "--list", action="store_true", help="print what would be pulled; no network"
    )
    args = parser.parse_args(argv)
    names = args.stack or ([] if args.stack_file else stack_names(PROJECT_DIR))
    try:
        stacks = [load_stack(PROJECT_DIR, name) for name in names] + [
            load_stack(PROJECT_DIR, path.name.removeprefix("Pulumi.").removesuffix(".yaml"), path)
            for path in args.stack_file
        ]
        charts = collect((settings.stack, stack_pins(settings)) for settings in stacks)
    except (ConfigError, StackFileError, ChartsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.list:
        print(listing(charts, args.charts))
        return 0
    return fill(charts, args.charts)


if __name__ == "__main__":
    sys.exit(main())
