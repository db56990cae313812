"""Smoke tests of a live platform: GitLab and Argo CD as their users reach them, the
Applications, and the DNS names.

One line per check (pass, FAIL, or skipped with why), a summary, and optionally a JSON report.
Exit status 0 when no check failed, 1 when one did, 2 when the stack's configuration or an
option is unusable, or kubectl's context is another cluster than the stack's. Host names
come from the stack file alone (ops/scope.py); the cluster is asked with kubectl. Where the
run comes from decides some checks: `--from inside` (the default: the pipeline's runners,
within access.admin_cidrs, which reach Argo CD and the Kubernetes API) or `--from outside`
(elsewhere, where GitLab's admin area must be closed).

    python -m ops.smoke --stack dev [--stack-file PATH] [--json FILE]
                        [--from inside|outside] [--wait SECONDS] [--interval SECONDS]
                        [--timeout SECONDS] [--ca-file PATH] [--kubectl PATH] [--context NAME]
                        [--resolve HOST:PORT:ADDRESS] [--connect-to HOST:PORT:TO_HOST:TO_PORT]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

from components.config import ConfigError
from offline.stack_files import StackFileError
from ops.scope import StackScope, scope_of
from ops.smoke_cluster import Kubectl, Target, WrongClusterError, cluster_target
from ops.smoke_net import CheckError, Lookup, Network, is_address, system_lookup, trust_problem
from ops.smoke_plan import Check, plan

REPORT_VERSION = 1
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
SHOWN = {PASS: "pass", FAIL: "FAIL", SKIPPED: "skipped"}


@dataclass(frozen=True)
class Result:
    id: str
    title: str
    status: str
    """`pass`, `fail` or `skipped`."""
    detail: str
    seconds: float


def run(checks: Sequence[Check], wait: float, interval: float, out: TextIO) -> list[Result]:
    """Each check in turn, its line printed as it ends. A failing check is tried again every
    `interval` seconds until it passes or `wait` seconds from the start have gone by (one
    deadline for the run: a job's time limit holds it): after `pulumi up` DNS records,
    certificates, load balancers and Argo CD's syncs all settle a while later, the web checks'
    as much as the Applications'. The result is the last attempt's."""
    deadline = time.monotonic() + wait
    width = max(len(c.id) for c in checks)
    results = []
    for c in checks:
        started = time.monotonic()
        if c.run is None:
            status, detail = SKIPPED, c.skipped
        else:
            attempts = 0
            while True:
                attempts += 1
                status, detail = _attempt(c.run)
                if status == PASS or time.monotonic() + interval > deadline:
                    break
                time.sleep(interval)
            if attempts > 1:
                detail += f" (attempt {attempts}, after {time.monotonic() - started:.0f}s)"
        result = Result(c.id, c.title, status, detail, round(time.monotonic() - started, 3))
        results.append(result)
        print(f"{SHOWN[status]:<8} {c.id:<{width}}  {detail}", file=out, flush=True)
    return results


def _attempt(run: Callable[[], str]) -> tuple[str, str]:
    try:
        return PASS, run()
    except CheckError as failed:
        return FAIL, str(failed)
    except Exception as error:  # a bug here must not hide the other checks' results
        return FAIL, f"unexpected {type(error).__name__}: {error}"


def report(scope: StackScope, where: str, results: Sequence[Result]) -> dict[str, object]:
    """The JSON report: its keys stay as they are (a CI artifact others read)."""
    counts = _counts(results)
    return {
        "version": REPORT_VERSION,
        "stack": scope.stack,
        "from": where,
        "result": FAIL if counts[FAIL] else PASS,
        "counts": counts,
        "checks": [asdict(r) for r in results],
    }


def summary(results: Sequence[Result]) -> str:
    counts = _counts(results)
    failed = [r.id for r in results if r.status == FAIL]
    line = f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped"
    return line + (f": {', '.join(failed)}" if failed else "")


def _counts(results: Sequence[Result]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIPPED)}


def main(argv: Sequence[str] | None = None, *, lookup: Lookup = system_lookup) -> int:
    """The CLI; `lookup` replaces the system resolver (tests)."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="read this stack file instead (stack from --stack, else its name)",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this path")
    parser.add_argument(
        "--from",
        dest="where",
        choices=("inside", "outside"),
        default="inside",
        help="where this run comes from: inside access.admin_cidrs (default) or outside them",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="retry a failing check (they settle a while after `pulumi up`) until it passes, "
        "for up to this long from the start (default 0: each is tried once)",
    )
    parser.add_argument(
        "--interval",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="between retries (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="for each request, from its lookup and connect to its last read, and for each "
        "DNS lookup (default 10)",
    )
    parser.add_argument(
        "--ca-file", type=Path, help="trust these CAs (PEM) instead of the system's"
    )
    parser.add_argument("--kubectl", help="the kubectl to run (default: kubectl from PATH)")
    parser.add_argument(
        "--context",
        metavar="NAME",
        help="the kubeconfig context for kubectl (default: its current context); it must be "
        "the stack's cluster",
    )
    parser.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDRESS",
        help="as curl's: connect to ADDRESS (comma-separated for more) for HOST:PORT; the DNS "
        "checks still ask the resolver",
    )
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST:PORT:TO_HOST:TO_PORT",
        help="as curl's: connect to TO_HOST:TO_PORT for HOST:PORT (TLS still checks HOST)",
    )
    args = parser.parse_args(argv)
    problems: list[str] = []
    resolve = _resolve(args.resolve, problems)
    connect_to = _connect_to(args.connect_to, problems)
    if args.stack_file and not args.stack:
        named = re.fullmatch(r"Pulumi\.([^/]+)\.yaml", args.stack_file.name)
        if named is None:
            problems.append(
                f"--stack-file {args.stack_file}: give --stack, or name it Pulumi.<stack>.yaml"
            )
        stack = named.group(1) if named else ""
    elif args.stack:
        stack = args.stack
    else:
        parser.error("give --stack (or --stack-file)")
    if args.json and not args.json.parent.is_dir():
        problems.append(f"--json {args.json}: no such directory {args.json.parent}")
    if args.ca_file and (problem := trust_problem(args.ca_file)):
        problems.append(problem)
    kubectl = None
    if args.where == "inside":
        found = shutil.which(args.kubectl or "kubectl")
        if found is None:
            problems.append(
                f"--kubectl {args.kubectl}: not an executable"
                if args.kubectl
                else "kubectl: not on PATH (`make tools` puts one into .venv/bin); give --kubectl"
            )
        kubectl = Kubectl(found or "kubectl", args.timeout, args.context)
    scope = None
    try:
        scope = scope_of(stack, stack_file=args.stack_file) if stack else None
    except (ConfigError, StackFileError) as error:
        problems.insert(0, str(error))
    target: Target | None = None
    if kubectl is not None and scope is not None and not problems:
        try:
            target = cluster_target(kubectl, scope.cluster_name, scope.region, scope.cluster_mode)
        except (CheckError, WrongClusterError) as error:
            problems.append(str(error))
        else:
            # Every later call through this context, whatever the kubeconfig says meanwhile.
            kubectl = replace(kubectl, context=target.context)
    if problems or scope is None:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 2
    net = Network(
        timeout=args.timeout,
        ca_file=args.ca_file,
        resolve=resolve,
        connect_to=connect_to,
        lookup=lookup,
    )
    print(f"smoke tests of stack {scope.stack} (from {args.where}):")
    if target is not None and target.warning:
        print(f"warning: {target.warning} (context {target.context!r})", file=sys.stderr)
    results = run(plan(scope, net, kubectl, target), args.wait, args.interval, sys.stdout)
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(report(scope, args.where, results), indent=2) + "\n")
    return 1 if any(r.status == FAIL for r in results) else 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, 0 or more")
    return value


def _resolve(given: Sequence[str], problems: list[str]) -> dict[tuple[str, int], tuple[str, ...]]:
    """`--resolve HOST:PORT:ADDRESS[,ADDRESS...]` (an IPv6 address in brackets)."""
    found = {}
    for value in given:
        host, port, addresses = [*value.split(":", 2), "", ""][:3]
        listed = tuple(a.strip().strip("[]") for a in addresses.split(","))
        if not (host and _port(port) and all(is_address(a) for a in listed)):
            problems.append(f"--resolve {value}: expected HOST:PORT:ADDRESS[,ADDRESS...]")
            continue
        found[(host.lower(), int(port))] = listed
    return found


def _connect_to(
    given: Sequence[str], problems: list[str]
) -> dict[tuple[str, int], tuple[str, int]]:
    """`--connect-to HOST:PORT:TO_HOST:TO_PORT` (an IPv6 address in brackets)."""
    found = {}
    for value in given:
        host, port, rest = [*value.split(":", 2), "", ""][:3]
        to_host, _, to_port = rest.rpartition(":")
        if not (host and _port(port) and to_host and _port(to_port)):
            problems.append(f"--connect-to {value}: expected HOST:PORT:TO_HOST:TO_PORT")
            continue
        found[(host.lower(), int(port))] = (to_host.strip("[]"), int(to_port))
    return found


def _port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


if __name__ == "__main__":
    sys.exit(main())
