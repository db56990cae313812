"""`make docs`: the README's statements about real plans, written from the plans themselves.

The README carries blocks between `<!-- facts:<name> -->` and `<!-- /facts:<name> -->`. Each
is generated here from the offline plans of the shipped stacks (no render: the figures must
not depend on which charts a machine has), with the policy pack's verdict, so that the plan
JSON example, the resource counts and the list of GitLab's buckets are what the program does.
A test fails when the README is stale.

    python -m tools.readme_facts [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from offline.diff import compare  # noqa: E402
from offline.diff import summary as diff_summary  # noqa: E402
from offline.plan import Plan, run_plan  # noqa: E402
from offline.policy import Analysis, load_config  # noqa: E402
from offline.review import Review, review  # noqa: E402
from offline.stack_files import load_stack, stack_names  # noqa: E402

README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- facts:([a-z-]+) -->\n)(.*?)(<!-- /facts:\2 -->)", re.DOTALL)
BUCKET = "aws:s3/bucket:Bucket"
CLUSTER = "aws:eks/cluster:Cluster"


@dataclass
class Planned:
    stack: str
    plan: Plan
    document: dict[str, Any]
    """The plan as `--json` writes it, with the pack's verdict."""
    review: Review


def planned(stack: str) -> Planned:
    """The offline plan of a shipped stack with its reviewer's sections and policy verdict,
    as `make plan` makes it without charts (`--no-render`)."""
    config = load_config(ROOT / "policies" / f"config.{stack}.json")
    with Analysis(lambda: config) as analysis:
        plan = run_plan(load_stack(ROOT, stack), on_resource=analysis.add)
        findings = review(plan, None)
        findings.record(plan)
        plan.policy = analysis.report(plan, []).as_dict()
    return Planned(stack, plan, json.loads(plan.to_json()), findings)


def _plan_json(plans: dict[str, Planned]) -> str:
    """The prod plan's JSON: its EKS cluster, one of each list, the rest elided."""
    document = plans["prod"].document
    (cluster,) = [r for r in document["resources"] if r["type"] == CLUSTER]
    vpc = cluster["inputs"]["vpcConfig"]
    role = cluster["property_dependencies"]["roleArn"]
    shown = {
        **cluster,
        "dependencies": [*cluster["dependencies"][:1], _more(cluster["dependencies"][1:])],
        "property_dependencies": {"roleArn": role, "...": "..."},
        "inputs": {"vpcConfig": {"publicAccessCidrs": vpc["publicAccessCidrs"], "...": "..."}},
    }
    outputs = document["outputs"]
    cost = document["cost"]
    policy = document["policy"]
    violations = [
        {**v, "message": v["message"].split(".")[0] + ". ..."} for v in policy["violations"][:1]
    ]
    example = {
        "stack": document["stack"],
        "project": document["project"],
        "resources": [shown, _more(document["resources"][1:])],
        "outputs": {
            "gitlab_url": outputs["gitlab_url"],
            "kubeconfig": outputs["kubeconfig"],
            "...": _more(outputs, 2),
        },
        "diagnostics": document["diagnostics"],
        "invokes": [document["invokes"][0], _more(document["invokes"][1:])],
        "exposure": [_nlb(document["exposure"]), _more(document["exposure"][1:])],
        "cost": {
            **cost,
            "items": [cost["items"][0], _more(cost["items"][1:])],
            "by_component": dict(list(cost["by_component"].items())[:1]) | {"...": "..."},
            "by_component_unpriced": dict(list(cost["by_component_unpriced"].items())[:1])
            | {"...": "..."},
        },
        "protected": [document["protected"][0], _more(document["protected"][1:])],
        "policy": {**policy, "violations": [*violations, _more(policy["violations"][1:])]},
    }
    return "```json\n" + json.dumps(example, indent=1) + "\n```\n"


def _nlb(exposure: list[dict[str, Any]]) -> dict[str, Any]:
    (argocd,) = [e for e in exposure if e["kind"] == "nlb" and e["endpoint"].startswith("argocd.")]
    return argocd


def _more(items: Any, shown: int = 0) -> str:
    return f"... {len(items) - shown} more"


def _counts(plans: dict[str, Planned]) -> str:
    rows = [
        "| Stack | Custom resources | Components | Evaluated by the pack |",
        "|---|---|---|---|",
    ]
    for stack, planned_stack in plans.items():
        policy = planned_stack.document["policy"]
        components = policy["evaluated"] - policy["custom"]
        rows.append(f"| `{stack}` | {policy['custom']} | {components} | {policy['evaluated']} |")
    return "\n".join(rows) + "\n"


def _buckets(plans: dict[str, Planned]) -> str:
    kinds = sorted(
        r["name"].rsplit("-", 1)[-1]
        for r in plans["dev"].document["resources"]
        if r["type"] == BUCKET and "-gitlab-data-" in r["name"]
    )
    listed = ", ".join(f"`{kind}`" for kind in kinds)
    text = f"(`<project>-<stack>-gitlab-data-<kind>`, one per kind: {listed}),"
    return textwrap.fill(text, width=94, initial_indent="  ", subsequent_indent="  ") + "\n  "


def _exposure(plans: dict[str, Planned]) -> str:
    """Dev's exposure section as `make plan` prints it, each entry's `from` line left out."""
    section = plans["dev"].review.summary().split("\n\n")[0].splitlines()
    rows = [line for line in section[1:] if line.startswith("    ") and line[4] != " "]
    return "```text\n" + "\n".join(rows) + "\n```\n"


def _cost(plans: dict[str, Planned]) -> str:
    dev, prod = (plans[s].document["cost"]["total"] for s in ("dev", "prod"))
    return (
        "With the table as it stands and nothing rendered, dev's priced items come to about "
        f"${dev:,.0f} a\nmonth and prod's to about ${prod:,.0f}; a render adds the volumes its "
        "charts claim (MinIO's\n10 GiB), and GitLab's, which never renders here, stay without "
        "a price.\n"
    )


def _protected(plans: dict[str, Planned]) -> str:
    lines = []
    for stack, each in plans.items():
        protected = each.document["protected"]
        names = sorted({p["type"] for p in protected})
        listed = ", ".join(f"`{n}`" for n in names) if names else "none"
        lines.append(f"- `{stack}`: {len(protected)} ({listed})")
    return "\n".join(lines) + "\n"


def _base_diff(plans: dict[str, Planned]) -> str:
    """What `make plan BASE=plan.json` prints for dev with `nodes.desired_size` 2 -> 3."""
    dev = load_stack(ROOT, "dev")
    nodes = json.loads(dev.config["gitops-platform:nodes"])
    raised = dict(dev.config, **{"gitops-platform:nodes": json.dumps({**nodes, "desired_size": 3})})
    plan = run_plan(replace(dev, config=raised))
    review(plan, None).record(plan)
    base = json.loads(plans["dev"].plan.to_json())
    text = diff_summary(compare(base, json.loads(plan.to_json()), "plan.json"))
    return "```text\n" + text + "\n```\n"


FACTS: dict[str, Callable[[dict[str, Planned]], str]] = {
    "plan-json": _plan_json,
    "counts": _counts,
    "buckets": _buckets,
    "exposure-dev": _exposure,
    "cost-totals": _cost,
    "protected": _protected,
    "base-diff": _base_diff,
}


def render(text: str, plans: dict[str, Planned] | None = None) -> str:
    """`text` with every facts block written anew (an unknown block name is an error)."""
    plans = plans if plans is not None else {s: planned(s) for s in stack_names(ROOT)}

    def block(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in FACTS:
            raise SystemExit(f"README.md: unknown facts block {name!r}; known: {sorted(FACTS)}")
        return match.group(1) + FACTS[name](plans) + match.group(4)

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.readme_facts", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    fresh = render(text)
    if args.check:
        return 0 if fresh == text else 1
    README.write_text(fresh)
    print(f"wrote the facts blocks of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
