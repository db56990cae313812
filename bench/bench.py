"""`make bench`: offline plan speed, scale with many applications, and the deploy critical path.

Everything is measured on this machine, in one run, and written to docs/BENCHMARKS.md:
whole processes timed from outside (wall time, peak resident memory of the child), the
median and spread of several runs, beside the import floor (a fresh Python that imports
exactly the pulumi and provider modules a plan loads, and nothing else).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.durations import (  # noqa: E402
    DELETE_DURATIONS,
    DELETE_SOURCES,
    DURATIONS,
    SOURCES,
    delete_duration_of,
    duration_of,
)

PYTHON = sys.executable
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
APPLICATION_COUNTS = (10, 100, 500)
SPOKE_COUNTS = (1, 50)
FLEET_APPLICATIONS = 500


@dataclass
class Sample:
    wall: list[float]
    peak_mib: list[float]

    def median(self) -> float:
        return statistics.median(self.wall)

    def spread(self) -> str:
        return f"{min(self.wall):.2f}-{max(self.wall):.2f}"

    def peak(self) -> float:
        return statistics.median(self.peak_mib)


def measure(
    command: list[str], runs: int = RUNS, warmup: int = 1, ok: tuple[int, ...] = (0,)
) -> Sample:
    """Wall time and the child's own peak RSS (wait4), over `runs` after `warmup`; a run that
    exits other than `ok` stops the benchmark (a crash is not a fast run)."""
    walls, peaks = [], []
    for i in range(warmup + runs):
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) not in ok:
            raise SystemExit(f"benchmark command failed: {' '.join(command)}")
        if i >= warmup:
            walls.append(elapsed)
            peaks.append(usage.ru_maxrss / 1024)
    return Sample(walls, peaks)


def measure_pairs(a: list[str], b: list[str], runs: int = RUNS) -> tuple[Sample, Sample, float]:
    """`a` and `b` in turn (a b a b ...), and the median of the per-pair ratios a/b: the
    machine's speed drifts over minutes, and a ratio of two separately taken medians moves
    with it."""
    first, second = Sample([], []), Sample([], [])
    for _ in range(runs):
        for command, sample in ((a, first), (b, second)):
            one = measure(command, runs=1, warmup=0)
            sample.wall += one.wall
            sample.peak_mib += one.peak_mib
    ratio = statistics.median(x / y for x, y in zip(first.wall, second.wall, strict=True))
    return first, second, ratio


def rendered_sources() -> str:
    """Which releases and Applications the dev plan renders from this machine's chart cache."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dev.json"
        subprocess.run(
            [PYTHON, "-m", "offline", "--stack", "dev", "--no-policy", "--json", str(out)],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        rendered = json.loads(out.read_text())["rendered"]
    sources = {**rendered["releases"], **rendered["applications"]}
    done = sorted(name for name, s in sources.items() if s["from"])
    missing = sorted(name for name, s in sources.items() if not s["from"])
    return f"rendered: {', '.join(done) or 'none'}; not rendered: {', '.join(missing) or 'none'}"


def plan_modules() -> list[str]:
    """The pulumi and provider modules a dev plan imports (the SDKs load submodules lazily)."""
    probe = (
        "import sys, json\n"
        "from offline.plan import run_plan, PROJECT_DIR\n"
        "from offline.stack_files import load_stack\n"
        "run_plan(load_stack(PROJECT_DIR, 'dev'))\n"
        "names = [m for m in sys.modules if m.split('.')[0].startswith('pulumi')]\n"
        "print(json.dumps(sorted(names)))\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    modules: list[str] = json.loads(out.strip().splitlines()[-1])
    return modules


def scaled_stack(directory: Path, count: int) -> Path:
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config["gitops-platform:applications"] = [
        # The dev overlay: one Application each (a `minio` path also gets MinIO credentials).
        {"name": f"app-{i:03d}", "path": "my-app/overlays/dev", "namespace": f"team-{i:03d}"}
        for i in range(count)
    ]
    path = directory / f"Pulumi.scale{count}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def fleet_stacks(directory: Path, spokes: int, applications: int) -> Path:
    """A hub of `spokes` spokes (stack files next to it, answered offline from them) with
    `applications` fleet applications, from the example fleet (examples/fleet/)."""
    examples = ROOT / "examples" / "fleet"
    directory.mkdir(parents=True, exist_ok=True)
    spoke = yaml.safe_load((examples / "Pulumi.spoke-eu.yaml").read_text())["config"]
    names = [f"spoke-{i:03d}" for i in range(spokes)]
    for name in names:
        config = {**spoke, "gitops-platform:domain": f"{name}.gitops.example.com"}
        (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    hub = yaml.safe_load((examples / "Pulumi.hub.yaml").read_text())["config"]
    hub["gitops-platform:fleet"] = {
        "role": "hub",
        "spokes": names,
        "applications": [
            {"name": f"app-{i:03d}", "path": "my-app", "namespace": f"team-{i:03d}",
             "overlays": True}
            for i in range(applications)
        ],
    }  # fmt: skip
    path = directory / "Pulumi.hub.yaml"
    path.write_text(yaml.safe_dump({"config": hub}))
    return path


Chain = list[tuple[str, str, float]]


def critical_path(plan: dict[str, Any]) -> tuple[float, float, Chain]:
    """Longest chain of create durations through the dependency graph (a resource also waits
    for its provider), against the sum of all of them (a fully serialised `pulumi up`)."""
    return _longest(plan, duration_of, reverse=False)


def destroy_path(plan: dict[str, Any]) -> tuple[float, float, Chain]:
    """The same for `pulumi destroy`: a resource is deleted once everything depending on it
    is gone, so the graph is walked the other way, with delete durations."""
    return _longest(plan, delete_duration_of, reverse=True)


def _longest(
    plan: dict[str, Any], duration: Callable[[dict[str, Any]], float], *, reverse: bool
) -> tuple[float, float, Chain]:
    resources = {r["urn"]: r for r in plan["resources"]}
    edges: dict[str, set[str]] = {urn: set() for urn in resources}
    for urn, r in resources.items():
        deps = set(r["dependencies"])
        for prop_deps in r["property_dependencies"].values():
            deps |= set(prop_deps)
        if r["provider"] in resources:
            deps.add(r["provider"])
        for dep in deps & resources.keys():
            if reverse:
                edges[dep].add(urn)  # `dep` is deleted after `urn`
            else:
                edges[urn].add(dep)

    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}

    def done(urn: str) -> float:
        if urn not in finish:
            # sorted: ties resolve the same way in every run (set order follows str hashing)
            before = max(sorted(edges[urn]), key=done, default=None)
            via[urn] = before
            own = duration(resources[urn])
            finish[urn] = own + (finish[before] if before else 0.0)
        return finish[urn]

    for urn in resources:
        done(urn)
    last: str | None = max(finish, key=lambda u: finish[u])
    chain = []
    while last:
        r = resources[last]
        chain.append((r["type"], r["name"], duration(r)))
        last = via[last]
    total = sum(duration(r) for r in resources.values())
    return finish[max(finish, key=lambda u: finish[u])], total, list(reversed(chain))


def main() -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    plan_cmd = [PYTHON, "-m", "offline", "--no-policy", "--stack"]
    print("measuring plans ...", flush=True)
    modules = plan_modules()
    floor_code = f"import importlib\nfor m in {modules!r}: importlib.import_module(m)"
    floor_cmd = [PYTHON, "-c", floor_code]
    # `python -m offline` freezes its heap before exit (no exit-time collection over the
    # SDKs' objects); this floor does the same, for the like-for-like ratio.
    frozen_floor_cmd = [PYTHON, "-c", f"{floor_code}\nimport gc\ngc.freeze()"]
    for command in ([*plan_cmd, "dev"], floor_cmd):
        measure(command, runs=0)  # the warm-up run measure() gives the others
    dev, floor, ratio = measure_pairs([*plan_cmd, "dev"], floor_cmd)
    prod = measure([*plan_cmd, "prod"])
    # `make plan`: the policy pack included, paired against the floor the same way.
    dev_policy_cmd = [PYTHON, "-m", "offline", "--stack", "dev"]
    measure(dev_policy_cmd, runs=0)
    dev_policy, policy_floor, policy_ratio = measure_pairs(dev_policy_cmd, floor_cmd)
    measure(frozen_floor_cmd, runs=0)
    _, frozen_floor, frozen_ratio = measure_pairs(dev_policy_cmd, frozen_floor_cmd)
    # The same with nothing rendered yet: every run gets an empty render cache of its own.
    with tempfile.TemporaryDirectory() as caches:
        cold_cmd = ["sh", "-c", f'RENDER_CACHE="$(mktemp -d -p {caches})" exec "$@"', "sh"]
        dev_cold = measure([*cold_cmd, *dev_policy_cmd], warmup=0)
    rendered = rendered_sources()

    print("measuring scale ...", flush=True)
    scale: dict[int, Sample] = {}
    resources_per_count: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in APPLICATION_COUNTS:
            stack_file = scaled_stack(Path(tmp), count)
            scale[count] = measure(
                [PYTHON, "-m", "offline", "--no-policy", "--stack-file", str(stack_file)],
                runs=3,
            )
            out = Path(tmp) / f"scale{count}.json"
            subprocess.run(
                [PYTHON, "-m", "offline", "--no-policy", "--stack-file", str(stack_file),
                 "--json", str(out)],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            resources_per_count[count] = len(json.loads(out.read_text())["resources"])

        print("measuring the fleet ...", flush=True)
        fleet: dict[int, Sample] = {}
        fleet_resources: dict[int, int] = {}
        for spokes in SPOKE_COUNTS:
            hub_file = fleet_stacks(Path(tmp) / f"fleet{spokes}", spokes, FLEET_APPLICATIONS)
            hub_cmd = [PYTHON, "-m", "offline", "--no-policy", "--stack-file", str(hub_file)]
            fleet[spokes] = measure(hub_cmd, runs=3)
            out = Path(tmp) / f"fleet{spokes}.json"
            subprocess.run(
                [*hub_cmd, "--json", str(out)], cwd=ROOT, check=True, capture_output=True
            )
            fleet_resources[spokes] = len(json.loads(out.read_text())["resources"])

        print("critical path ...", flush=True)
        dev_json = Path(tmp) / "dev.json"
        subprocess.run(
            [*plan_cmd, "dev", "--json", str(dev_json)], cwd=ROOT, check=True, capture_output=True
        )
        dev_plan = json.loads(dev_json.read_text())
    estimate, serial, chain = critical_path(dev_plan)
    destroy_estimate, destroy_serial, destroy_chain = destroy_path(dev_plan)

    print("test suite ...", flush=True)

    def suite_run(*options: str) -> tuple[float, str]:
        """Wall time and pytest's summary line of one whole run of the suite."""
        start = time.perf_counter()
        tests = subprocess.run(
            [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *options],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        return elapsed, tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else "?"

    # What `make pytest` runs (every core), and the same suite in one process.
    suite, summary_line = suite_run("-n", "auto")
    serial_suite, serial_summary = suite_run()

    small, large = scale[APPLICATION_COUNTS[0]], scale[APPLICATION_COUNTS[-1]]
    per_app = (large.median() - small.median()) / (APPLICATION_COUNTS[-1] - APPLICATION_COUNTS[0])
    write_report(
        stamp=stamp,
        machine=machine,
        dev=dev,
        prod=prod,
        dev_policy=dev_policy,
        dev_cold=dev_cold,
        rendered=rendered,
        floor=floor,
        ratio=ratio,
        policy_floor=policy_floor,
        policy_ratio=policy_ratio,
        frozen_floor=frozen_floor,
        frozen_ratio=frozen_ratio,
        modules=len(modules),
        scale=scale,
        resources_per_count=resources_per_count,
        fleet=fleet,
        fleet_resources=fleet_resources,
        per_app=per_app,
        estimate=estimate,
        serial=serial,
        chain=chain,
        destroy_estimate=destroy_estimate,
        destroy_serial=destroy_serial,
        destroy_chain=destroy_chain,
        suite=suite,
        summary_line=summary_line,
        serial_suite=serial_suite,
        serial_summary=serial_summary,
        resource_count=len(dev_plan["resources"]),
    )


def write_report(**f: Any) -> None:
    def row(name: str, s: Sample) -> str:
        return f"| {name} | {s.median():.2f} | {s.spread()} | {s.peak():.0f} |"

    scale_rows = [
        f"| {n} | {f['resources_per_count'][n]} | {s.median():.2f} | {s.spread()} "
        f"| {s.peak():.0f} |"
        for n, s in f["scale"].items()
    ]
    small = f["scale"][APPLICATION_COUNTS[0]]
    large = f["scale"][APPLICATION_COUNTS[-1]]
    growth = large.median() / small.median()
    fleet_rows = [
        f"| {n} | {f['fleet_resources'][n]} | {s.median():.2f} | {s.spread()} | {s.peak():.0f} |"
        for n, s in f["fleet"].items()
    ]
    fleet_growth = f["fleet"][SPOKE_COUNTS[-1]].median() / f["fleet"][SPOKE_COUNTS[0]].median()
    fleet_memory = f["fleet"][SPOKE_COUNTS[-1]].peak() / f["fleet"][SPOKE_COUNTS[0]].peak()
    chain_rows = [f"| {t} | {n} | {d:.0f} |" for t, n, d in f["chain"]]
    table = [
        f"| `{t}` | {d:.0f} | {SOURCES.get(t, 'estimate')} |" for t, d in sorted(DURATIONS.items())
    ]
    destroy_rows = [f"| {t} | {n} | {d:.0f} |" for t, n, d in f["destroy_chain"]]
    delete_table = [
        f"| `{t}` | {d:.0f} | {DELETE_SOURCES.get(t, 'estimate')} |"
        for t, d in sorted(DELETE_DURATIONS.items())
    ] + [
        f"| `{t}` | per chart or step | {DELETE_SOURCES[t]} |"
        for t in ("kubernetes:helm.sh/v3:Release", "command:local:Command")
    ]
    text = f"""# Benchmarks

Measured by `make bench` on {f["stamp"]} ({f["machine"]}). Whole processes timed from outside;
median and min-max of {RUNS} runs after a warm-up (scale: 3 runs); peak memory is the child's
own maximum resident set. Reproduce with `make bench` (`BENCH_RUNS=N` for more runs).

## Offline plan time

| Command | Median s | Min-max s | Peak MiB |
|---|---|---|---|
{row("plan dev (no policy pack)", f["dev"])}
{row("plan prod (no policy pack)", f["prod"])}
{row("plan dev with the policy pack (`make plan`)", f["dev_policy"])}
{row("the same, nothing rendered yet (empty render cache)", f["dev_cold"])}
{row(f"import floor ({f['modules']} pulumi/provider modules)", f["floor"])}
{row("import floor, heap frozen before exit", f["frozen_floor"])}

Dev plan / import floor: **{f["ratio"]:.2f}x** (target 1.5x; the median of {RUNS} ratios of
runs taken in turn, so that the machine's drift cancels out).
Dev plan with the policy pack (`make plan`) / import floor: **{f["policy_ratio"]:.2f}x**
(target 1.3x; paired the same way, against a floor of {f["policy_floor"].median():.2f} s median
in those pairs). `python -m offline` freezes its heap before it exits, so the interpreter's
exit-time collections do not walk the SDKs' objects; the floor above still pays them. Against
a floor that freezes too, paired the same way: **{f["frozen_ratio"]:.2f}x**.
The dev plan holds {f["resource_count"]} resources. Every plan renders the charts from the
chart cache (`CHARTS`; {f["rendered"]}); all but the cold row find their renders cached.

## Scale with applications

| Applications | Resources | Median s | Min-max s | Peak MiB |
|---|---|---|---|---|
{chr(10).join(scale_rows)}

{APPLICATION_COUNTS[-1]} / {APPLICATION_COUNTS[0]} applications: **{growth:.2f}x**
(target 5x); marginal cost **{f["per_app"] * 1000:.1f} ms per application**.

## Scale with a fleet

A hub (examples/fleet/Pulumi.hub.yaml) with {FLEET_APPLICATIONS} fleet applications
(ApplicationSets) and 1 or {SPOKE_COUNTS[-1]} spokes, each spoke's outputs answered offline
from its stack file (docs/fleet.md): one cluster Secret per spoke, the fleet's project after
every Secret, and every ApplicationSet after the project.

| Spokes | Resources | Median s | Min-max s | Peak MiB |
|---|---|---|---|---|
{chr(10).join(fleet_rows)}

{SPOKE_COUNTS[-1]} / {SPOKE_COUNTS[0]} spokes: **{fleet_growth:.2f}x** plan time,
**{fleet_memory:.2f}x** peak memory.

## Deploy critical path (dev, estimated)

Estimated `pulumi up` wall time: **{f["estimate"] / 60:.0f} min**, against
{f["serial"] / 60:.0f} min if every create ran one after another. The critical path:

| Type | Resource | Typical create s |
|---|---|---|
{chr(10).join(chain_rows)}

Typical create durations used (per resource type; anything else counts 2 s):

| Type | s | Where the figure comes from |
|---|---|---|
{chr(10).join(table)}

## Destroy critical path (dev, estimated)

Estimated `pulumi destroy` wall time: **{f["destroy_estimate"] / 60:.0f} min**, against
{f["destroy_serial"] / 60:.0f} min if every delete ran one after another. A resource is
deleted once everything that depends on it is gone; the destroy-time waits
(docs/teardown.md) sit on this path by design. The critical path, first deletion first:

| Type | Resource | Typical delete s |
|---|---|---|
{chr(10).join(destroy_rows)}

Typical delete durations used (per resource type; anything else counts 2 s):

| Type | s | Where the figure comes from |
|---|---|---|
{chr(10).join(delete_table)}

## Test suite

`make pytest` (`python -m pytest -n auto`, {os.cpu_count()} workers): {f["suite"]:.1f} s wall
({f["summary_line"]}). In one process (`python -m pytest`): {f["serial_suite"]:.1f} s wall
({f["serial_summary"]}).
"""
    (ROOT / "docs" / "BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
