"""The orphan audit: after `pulumi destroy`, list every AWS resource still left for a stack.

Resources are attributed by tags and names the stack file alone determines (ops/scope.py):
the stack's identity tags, the cluster tags of the controllers that ran in it, and the
ExternalDNS records of its owner id and hosts. Each is reported left over, kept by design
(tagged `gitops-platform/retained-on-destroy`) or scheduled for deletion. Exit status 0 when
nothing is left over, 1 when something is, 2 when the audit could not run (usage, the stack's
configuration, AWS credentials or an AWS error: then nothing is known).

    python -m ops.orphans --stack dev [--stack-file PATH] [--json FILE]
                          [--delete [--yes-i-mean-it STACK]]

`--delete` removes what is left over and can be deleted (docs/teardown.md lists the kinds),
after the operator types the stack's name, or, without a terminal, when `--yes-i-mean-it`
names the stack; then it audits again and reports what is still there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components.config.loader import ConfigError
from offline.stack_files import StackFileError
from ops import orphans_audit, orphans_dns, orphans_ec2
from ops.orphans_audit import Audit
from ops.orphans_delete import Outcome, by_hand, deletable, delete
from ops.orphans_report import TITLES, Finding, Report, Status, order
from ops.scope import PROJECT_DIR, StackScope, scope_of

FORMAT = 1
"""The JSON report's format: bumped when a key changes meaning or goes."""
CREDENTIAL_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidToken",
}


def audit(
    session: boto3.session.Session, scope: StackScope, page_size: int | None = None
) -> Report:
    """Everything in AWS still attributable to the stack, classified. `page_size` is passed to
    every paginated call (None: each API's default)."""
    account = session.client("sts").get_caller_identity()["Account"]
    state = Audit(session, scope, str(account), page_size)
    # The tagging API first: the VPCs it finds are where the EC2 finders look.
    orphans_audit.tagged(state)
    orphans_audit.iam(state)
    orphans_audit.eks_clusters(state)
    orphans_audit.auto_scaling_groups(state)
    orphans_audit.load_balancers(state)
    orphans_ec2.security_groups(state)
    orphans_ec2.volumes(state)
    orphans_ec2.of_a_cluster_not_the_stacks(state)
    orphans_ec2.network_interfaces(state)
    orphans_dns.records(state, orphans_dns.hosted_zones(state))
    orphans_ec2.describe_ec2(state)
    orphans_audit.classify(state)
    return Report(
        stack=scope.stack,
        project=scope.project,
        region=scope.region,
        cluster_name=scope.cluster_name,
        account=state.account,
        findings=list(state.found.values()),
        notes=state.notes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.orphans", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stack", help="the stack: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="read this Pulumi.<stack>.yaml instead (stack from its name)",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument(
        "--delete", action="store_true", help="delete what is left over (asks for the stack's name)"
    )
    parser.add_argument(
        "--yes-i-mean-it",
        metavar="STACK",
        dest="confirmed",
        help="with --delete: confirm without asking, naming the stack (runs without a terminal)",
    )
    args = parser.parse_args(argv)
    if args.stack_file and not re.fullmatch(r"Pulumi\.[^/]+\.yaml", args.stack_file.name):
        parser.error(f"--stack-file {args.stack_file}: expected a file named Pulumi.<stack>.yaml")
    from_file = (
        args.stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if args.stack_file
        else None
    )
    if args.stack and from_file and args.stack != from_file:
        parser.error(f"--stack {args.stack} contradicts --stack-file {args.stack_file}")
    stack = args.stack or from_file
    if not stack:
        parser.error("name the stack: --stack STACK (or --stack-file PATH)")
    if args.confirmed is not None and not args.delete:
        parser.error("--yes-i-mean-it confirms --delete; without --delete nothing is deleted")
    if args.confirmed is not None and args.confirmed != stack:
        parser.error(f"--yes-i-mean-it {args.confirmed}: the stack audited is {stack}")
    if args.delete and args.confirmed is None and not sys.stdin.isatty():
        parser.error(
            f"--delete without a terminal to confirm on: pass --yes-i-mean-it {stack} "
            f"(make orphans STACK={stack} DELETE=1 CONFIRM={stack})"
        )
    if args.json and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: no such directory {args.json.parent}")

    try:
        scope = scope_of(stack, PROJECT_DIR, args.stack_file)
    except (ConfigError, StackFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=scope.region)
    document: dict[str, Any] = {"format": FORMAT, "stack": scope.stack}
    try:
        report = audit(session, scope)
        print(text(report))
        document.update(as_json(report))
        final = report
        if args.delete:
            document["delete"] = remove(report, stack, args.confirmed == stack, session)
            if document["delete"]["confirmed"]:
                final = audit(session, scope)
                print("\nAfter --delete:\n" + text(final))
                document["after_delete"] = as_json(final)
    except (BotoCoreError, ClientError) as error:
        return failed(aws_problem(error), document, args.json)
    except Exception as error:  # a fault of the audit's own: still exit 2, not 1 or 0
        traceback.print_exc()
        message = f"the audit failed ({type(error).__name__}: {error}): nothing is known"
        return failed(message, document, args.json)
    if args.json:
        try:
            args.json.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        except OSError as error:  # the audit ran, but its report is lost: not a verdict
            print(f"error: --json {args.json}: cannot write the report: {error}", file=sys.stderr)
            return 2
    return 0 if final.clean else 1


def failed(message: str, document: dict[str, Any], path: Path | None) -> int:
    """Exit status 2, and the report so far with the error when one is asked for."""
    print(f"error: {message}", file=sys.stderr)
    if path:
        path.write_text(json.dumps({**document, "error": message}, indent=2, sort_keys=True) + "\n")
    return 2


def remove(
    report: Report, stack: str, confirmed: bool, session: boto3.session.Session
) -> dict[str, Any]:
    """Ask (unless confirmed), delete, and say what came of each."""
    todo = deletable(report.findings)
    if not todo:
        print("\nNothing to delete.")
        return {"confirmed": False, "outcomes": []}
    print(f"\n--delete would delete these {len(todo)}, in this order:")
    for finding in todo:
        print(f"  {finding.kind}  {finding.id}")
    if not confirmed:
        try:
            answer = input(f"Type the stack's name ({stack}) to delete them: ")
        except EOFError:
            answer = ""
        confirmed = answer.strip() == stack
    if not confirmed:
        print("Not confirmed: nothing deleted.")
        return {"confirmed": False, "outcomes": []}
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[service, region] = session.client(service, region_name=region)
        return clients[service, region]

    outcomes = delete(report.findings, client)
    print()
    for outcome in outcomes:
        print(f"  {outcome.result:<8}  {outcome.finding.kind}  {outcome.finding.id}")
    return {"confirmed": True, "outcomes": [outcome_json(o) for o in outcomes]}


def text(report: Report) -> str:
    lines = [
        f"Orphan audit of stack {report.stack} ({report.project}) in account {report.account}, "
        f"{report.region}; cluster {report.cluster_name}"
    ]
    for status in Status:
        findings = order(report.with_status(status))
        if not findings:
            continue
        lines += ["", f"{TITLES[status]} ({len(findings)}):"]
        width = max(len(f.kind) for f in findings)
        for finding in findings:
            lines.append(
                f"  {finding.kind:<{width}}  {finding.id}  {finding.region}  {why(finding)}"
            )
    if report.notes:
        lines += ["", "Notes:", *(f"  {note}" for note in report.notes)]
    left = report.with_status(Status.LEFT_OVER)
    hand = [f for f in left if by_hand(f)]
    lines.append("")
    if left:
        lines.append(
            f"{len(left)} left over: {len(left) - len(hand)} can be deleted with --delete "
            f"(make orphans DELETE=1), {len(hand)} by hand."
        )
    else:
        lines.append("Nothing left over.")
    return "\n".join(lines)


def why(finding: Finding) -> str:
    parts = ["; ".join(finding.reasons)]
    if finding.notes:
        parts.append(f"({'; '.join(finding.notes)})")
    if finding.status is Status.LEFT_OVER and (reason := by_hand(finding)):
        parts.append(f"[by hand: {reason}]")
    return " ".join(parts)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "project": report.project,
        "region": report.region,
        "account": report.account,
        "cluster_name": report.cluster_name,
        "clean": report.clean,
        "counts": {s.value: len(report.with_status(s)) for s in Status},
        "resources": [finding_json(f) for f in order(report.findings)],
        "notes": report.notes,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    left_over = finding.status is Status.LEFT_OVER
    return {
        "kind": finding.kind,
        "id": finding.id,
        "region": finding.region,
        "status": finding.status.value,
        "attributed_by": finding.reasons,
        "notes": finding.notes,
        "by_hand": by_hand(finding) if left_over else None,
    }


def outcome_json(outcome: Outcome) -> dict[str, str]:
    return {"kind": outcome.finding.kind, "id": outcome.finding.id, "result": outcome.result}


def aws_problem(error: BotoCoreError | ClientError) -> str:
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: sign in (aws sso login, AWS_PROFILE, or the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables) and run the audit again"
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        operation = error.operation_name
        if code in CREDENTIAL_ERRORS:
            return f"AWS rejected the credentials ({code} on {operation}): sign in again and rerun"
        message = error.response.get("Error", {}).get("Message", "")
        return f"{operation} failed ({code}: {message}): the audit is incomplete, nothing is known"
    return f"AWS could not be reached: {error}: the audit is incomplete, nothing is known"


if __name__ == "__main__":
    sys.exit(main())
