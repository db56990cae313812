"""The offline preview: run the unchanged `__main__.py` under Pulumi's mock runtime.

Prints the plan's summary, what each release and Application renders to (offline.render),
what is exposed, what it costs and what is protected (offline.review), and the policy pack's
verdict on both, and optionally writes the plan as JSON. Exit status 0,
1 when a mandatory policy is violated, 2 when the stack's configuration or stack file is
unusable, or a chart fails to render, renders an invalid object, or is required to render
and cannot, or the base plan to compare with (`--base`) cannot be read or is another
stack's.

    python -m offline --stack dev [--json plan.json] [--stack-file PATH]
                      [--policy-config PATH] [--no-policy]
                      [--charts DIR] [--require-rendered NAMES] [--no-render]
                      [--base PLAN_JSON]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from offline.diff import BaseError, check_base, compare, read_base
from offline.diff import summary as diff_summary
from offline.plan import PROJECT_DIR, run_plan, summary
from offline.policy import Analysis, PolicyConfigError, load_config, verdict
from offline.references import ReferenceError, References
from offline.render import render
from offline.review import review
from offline.sources import Tools
from offline.stack_files import StackFileError, load_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--json", type=Path, help="also write the plan as JSON to this path")
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="read this Pulumi.<stack>.yaml instead (stack from its name)",
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="policy pack configuration (default: policies/config.<stack>.json when present)",
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument(
        "--charts",
        type=Path,
        help="chart cache to render from (default: $CHARTS, else .charts/; `make charts`)",
    )
    parser.add_argument(
        "--require-rendered",
        default="",
        metavar="NAMES",
        help="releases, charts or Applications (space- or comma-separated, or `all`) that "
        "must render: one that cannot is an error",
    )
    parser.add_argument(
        "--no-render", action="store_true", help="skip rendering (the pack then says so)"
    )
    parser.add_argument(
        "--base",
        type=Path,
        metavar="PLAN_JSON",
        help="an earlier plan JSON of the stack: print what this plan changes against it, and "
        "write that into --json as `diff`",
    )
    parser.add_argument(
        "--stack-outputs",
        action="append",
        default=[],
        metavar="STACK=FILE",
        help="answer StackReferences to STACK (`<stack>` of this project, or "
        "`<organization>/<project>/<stack>`) with the outputs in FILE: a plan JSON of that "
        "stack, or `pulumi stack output --json` of it (repeatable; docs/fleet.md)",
    )
    args = parser.parse_args(argv)
    required = args.require_rendered.replace(",", " ").split()
    if args.no_render and required:
        parser.error("--no-render contradicts --require-rendered")
    if args.no_policy and args.policy_config:
        parser.error("--no-policy contradicts --policy-config")
    if args.no_render and args.charts:
        parser.error("--no-render contradicts --charts")
    if args.stack and args.stack_file:
        parser.error("--stack contradicts --stack-file (whose name gives the stack)")
    if args.stack_file and not re.fullmatch(r"Pulumi\.[^/]+\.yaml", args.stack_file.name):
        parser.error(f"--stack-file {args.stack_file}: expected a file named Pulumi.<stack>.yaml")

    # Imported late: the config module is part of the program under preview.
    from components.config import ConfigError

    unusable: list[str] = []
    if args.json and args.json.is_dir():
        unusable.append(f"--json {args.json}: a directory; expected a file path")
    elif args.json and not args.json.parent.is_dir():
        unusable.append(f"--json {args.json}: no such directory {args.json.parent}")
    named = args.charts or (Path(os.environ["CHARTS"]) if os.environ.get("CHARTS") else None)
    if not args.no_render and named is not None and not named.is_dir():
        origin = "--charts" if args.charts else "CHARTS"
        unusable.append(
            f"{origin} {named}: no such chart cache (`make charts` fills it; without a chart "
            "cache named, the preview reads .charts/ and says what it could not render)"
        )
    base = None
    if args.base:
        try:
            base = read_base(args.base)
        except BaseError as error:
            unusable.append(str(error))
    with contextlib.ExitStack() as cleanup:
        stack = (
            args.stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
            if args.stack_file
            else args.stack or "dev"
        )
        analysis = None
        if not args.no_policy:
            config_path = args.policy_config or PROJECT_DIR / "policies" / f"config.{stack}.json"
            try:
                policy_config = load_config(config_path)
            except PolicyConfigError as error:
                # Reported with the stack's own configuration problems, if any.
                unusable.append(_policy_problem(error, args.policy_config is None))
            else:
                # Started before the program runs: it analyses resources as they are
                # recorded.
                analysis = cleanup.enter_context(Analysis(lambda: policy_config))
        try:
            # What the stack file holds beside its config that would be lost: reported with
            # the config's own problems.
            settings = load_stack(PROJECT_DIR, stack, args.stack_file, problems=unusable)
            if base is not None and (
                problem := check_base(base, args.base, settings.project, settings.stack)
            ):
                unusable.append(problem)
            references = References(
                settings.project,
                files=_output_files(args.stack_outputs, settings.project, unusable),
                search=[*([args.stack_file.parent] if args.stack_file else []), PROJECT_DIR],
                project_dir=PROJECT_DIR,
            )
            plan = run_plan(
                settings,
                on_resource=analysis.add if analysis else None,
                references=references,
            )
        except (ConfigError, StackFileError, ReferenceError) as error:
            unusable.insert(0, str(error))
        # What the pack configuration names that the pack lacks: with the stack's problems.
        if analysis is not None and (named := analysis.config_problems()):
            unusable.append(
                f"{config_path}: {len(named)} problem(s):\n" + "\n".join(f"  - {p}" for p in named)
            )
        if unusable:
            print("\n".join(f"error: {e}" for e in unusable), file=sys.stderr)
            return 2
        print(summary(plan))
        problems: list[str] = []
        rendered: list[dict[str, Any]] = []
        rendering = None
        if not args.no_render:
            rendering = render(plan, Tools.find(charts=args.charts))
            plan.rendered = rendering.as_dict()
            rendered = rendering.analyzer_resources(plan)
            problems = rendering.problems(required)
            print("\n" + rendering.summary())
        # Exposure, cost and protected resources: from the renders, else the values.
        findings = review(plan, rendering)
        findings.record(plan)
        print("\n" + findings.summary())
        status = 0
        if analysis is not None:
            report = analysis.report(plan, rendered)
            plan.policy = report.as_dict()
            print("\n" + verdict(report))
            status = 1 if report.mandatory else 0
        if base is not None:
            # Compared as written: the same masked, sorted JSON as the base file.
            plan.diff = compare(base, json.loads(plan.to_json()), str(args.base))
            print("\n" + diff_summary(plan.diff))
        if problems:
            print(f"\nerror: {len(problems)} rendering problem(s):", file=sys.stderr)
            print("\n".join(f"  - {p}" for p in problems), file=sys.stderr)
            status = 2
    if args.json:
        args.json.write_text(plan.to_json())
        print(f"\nPlan written to {args.json}")
    return status


def _output_files(given: list[str], project: str, unusable: list[str]) -> dict[str, Path]:
    """`--stack-outputs` as fully qualified stack names (the organization of a self-managed
    backend, `organization`, as the preview runs in) -> files; what is wrong, to `unusable`."""
    files = {}
    for entry in given:
        stack, _, file = entry.partition("=")
        path = Path(file)
        if not stack or not file:
            unusable.append(f"--stack-outputs {entry}: expected STACK=FILE")
        elif not path.is_file():
            unusable.append(f"--stack-outputs {entry}: no such file {path}")
        else:
            parts = stack.split("/")
            qualified = "/".join(["organization", project][: 3 - len(parts)] + parts)
            files[qualified] = path
    return files


def _policy_problem(error: PolicyConfigError, default: bool) -> str:
    if not default:
        return str(error)
    return (
        f"{error}: every stack names its pack configuration (`{{}}` in that file applies the "
        "pack's defaults), or pass --policy-config"
    )


if __name__ == "__main__":
    status = main()
    # Everything the plan loaded lives until the process ends, and the interpreter's
    # collections at exit would walk all of it (the provider SDKs: some 400,000 objects,
    # about a second) only for the memory to go back to the operating system. Frozen, the
    # objects are out of the collector's reach; exit still flushes and runs atexit handlers.
    gc.freeze()
    sys.exit(status)
