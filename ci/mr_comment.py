"""One comment on the merge request with each stack's plan summary and policy verdict, and
what the plan changes against the target branch's, edited in place on every push (found by a
marker) rather than piling up.

    python -m ci.mr_comment plan-dev.json plan-prod.json

The changes come from each plan's `diff` block (`make plan BASE=...`, which the `plan` job
runs against the target branch's plan); a plan without one is reported as not compared.
Uses GitLab's REST API with CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID and a token
in GITLAB_API_TOKEN (scope api). Only the standard library (offline.diff is too): it runs
before any install.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline.diff import (
    cost_headline,
    counts,
    describe,
    endpoint,
    item_change,
    no_price,
    short_urn,
    signed,
)

MARKER = "<!-- gitops-platform:plan -->"
Request = Callable[[str, str, dict[str, Any] | None], Any]
MAX_ROWS = 30
"""Resources listed per stack; the rest are counted."""
MAX_CHANGES = 5
"""Changed paths listed per resource (and outputs, endpoints, cost items per stack)."""


def body(plans: list[Path]) -> str:
    lines = [MARKER, "### Offline plan and policy verdicts", ""]
    lines += [
        "| Stack | Resources | Mandatory | Advisory | Broken rules |",
        "|---|---|---|---|---|",
    ]
    changes: list[str] = []
    for path in plans:
        if not path.exists():
            lines.append(
                f"| `{path.stem.removeprefix('plan-')}` | plan failed before writing JSON | | | |"
            )
            continue
        plan = json.loads(path.read_text())
        changes += ["", *_changes(plan)]
        violations = (plan.get("policy") or {}).get("violations", [])
        levels = Counter(v["level"] for v in violations)
        rules = ", ".join(
            sorted({f"`{v['policy']}`" for v in violations if v["level"] == "mandatory"})
        )
        custom = sum(1 for r in plan["resources"] if r["custom"])
        verdicts = f"{levels['mandatory']} | {levels['advisory']}"
        lines.append(f"| `{plan['stack']}` | {custom} | {verdicts} | {rules or '-'} |")
    lines += changes
    lines += ["", "Full plans and summaries are the `plan` job's artifacts."]
    return "\n".join(lines)


def _changes(plan: dict[str, Any]) -> list[str]:
    """What the plan changes against its base, from its `diff` block."""
    stack = plan["stack"]
    lines = [f"#### `{stack}` against the target branch", ""]
    diff = plan.get("diff")
    if diff is None:
        return [
            *lines,
            "Not compared: the target branch could not be planned "
            f"(`base-{stack}.txt` in the `plan` job's artifacts says why).",
        ]
    resources = diff["resources"]
    rows = [
        *(("added", r, []) for r in resources["added"]),
        *(("removed", r, []) for r in resources["removed"]),
        *(("changed", r, r["inputs"] + _options(r["options"])) for r in resources["changed"]),
    ]
    lines.append(f"Resources: {counts(diff)} (matched by URN).")
    if rows:
        lines += ["", "| Change | Resource | What changed |", "|---|---|---|"]
        for kind, resource, found in rows[:MAX_ROWS]:
            what = "<br>".join(_capped([_code(describe(c, width=60)) for c in found]))
            name = f"{_code(resource['type'])} {_code(resource['name'])}"
            lines.append(f"| {kind} | {_cell(name)} | {_cell(what)} |")
        if len(rows) > MAX_ROWS:
            lines.append(f"| … and {len(rows) - MAX_ROWS} more | | |")
    if diff["outputs"]:
        outputs = _capped([_code(describe(c, width=60)) for c in diff["outputs"]])
        lines += ["", "Outputs: " + ", ".join(outputs) + "."]
    lines += ["", *_exposure(diff["exposure"]), *_cost(diff["cost"])]
    return lines


def _options(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "path": f"(option) {c['path']}"} for c in changes]


def _exposure(exposure: dict[str, Any]) -> list[str]:
    if "unavailable" in exposure:
        return [f"- Exposure: {exposure['unavailable']}."]
    found = [
        *(
            f"added {_code(endpoint(e))} from {_code(', '.join(e['cidrs']) or 'nowhere')}"
            for e in exposure["added"]
        ),
        *(f"removed {_code(endpoint(e))}" for e in exposure["removed"]),
        *(
            f"{_code(endpoint(e))} ranges "
            + ", ".join(
                [
                    *(f"added {_code(c)}" for c in e["added_cidrs"]),
                    *(f"removed {_code(c)}" for c in e["removed_cidrs"]),
                ]
            )
            for e in exposure["cidrs_changed"]
        ),
    ]
    if not found:
        return ["- Exposure: unchanged."]
    return ["- Exposure:", *(f"  - {line}" for line in _capped(found))]


def _cost(cost: dict[str, Any]) -> list[str]:
    if "unavailable" in cost:
        return [f"- Cost: {cost['unavailable']}."]
    lines = [f"- {cost_headline(cost, lambda change: f'**{change}**')}"]
    missing = no_price(cost)
    for component, delta in cost["by_component"].items():
        unpriced = [
            f"{_code(item)} has no price {where}" for item, where in missing.get(component, [])
        ]
        lines.append(
            f"  - {_code(component)}: {signed(delta)}"
            + (
                f" of the priced items; incomplete: {'; '.join(_capped(unpriced))}"
                if unpriced
                else ""
            )
        )
    lines += [f"  - {_code(line)}" for line in _capped([item_change(i) for i in cost["items"]])]
    return lines


def _capped(items: list[str], limit: int = MAX_CHANGES) -> list[str]:
    if len(items) <= limit:
        return items
    return [*items[:limit], f"… and {len(items) - limit} more"]


def _code(text: str) -> str:
    """`text` as a code span, whatever backticks it holds (CommonMark: a span ends at a run
    of backticks as long as the one it opened with, https://spec.commonmark.org/0.31.2/#code-spans)."""
    text = short_urn(text) if text.startswith("urn:pulumi:") else text
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    """Text for a table cell: a pipe escaped, even inside a code span, and no line break (GFM
    tables: https://github.github.com/gfm/#tables-extension-, "Include a pipe in a cell's
    content by escaping it, including inside other inline spans")."""
    return text.replace("|", "\\|").replace("\n", " ")


def upsert(request: Request, notes_url: str, text: str, author: int) -> str:
    """Edit our earlier note if there is one, else create it. Returns 'updated' or 'created'.
    Ours: it carries the marker and was written by `author`, the token's user (anyone can
    quote the marker; editing another's note is refused with 403)."""
    page = 1
    while notes := request("GET", f"{notes_url}?per_page=100&sort=asc&page={page}", None):
        for note in notes:
            if MARKER in note.get("body", "") and (note.get("author") or {}).get("id") == author:
                request("PUT", f"{notes_url}/{note['id']}", {"body": text})
                return "updated"
        page += 1
    request("POST", notes_url, {"body": text})
    return "created"


def _gitlab(token: str) -> Request:
    def request(method: str, url: str, payload: dict[str, Any] | None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("PRIVATE-TOKEN", token)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"null")

    return request


def main(argv: list[str]) -> int:
    env = os.environ
    notes_url = (
        f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}"
        f"/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes"
    )
    request = _gitlab(env["GITLAB_API_TOKEN"])
    # The token's user (a project access token's bot): GitLab REST API, "Get the current
    # user", GET /user (https://docs.gitlab.com/api/users/).
    author = request("GET", f"{env['CI_API_V4_URL']}/user", None)["id"]
    result = upsert(request, notes_url, body([Path(a) for a in argv]), author)
    print(f"merge request comment {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
