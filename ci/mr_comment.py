"""One comment on the merge request with each stack's plan summary and policy verdict,
edited in place on every push (found by a marker) rather than piling up.

    python ci/mr_comment.py plan-dev.json plan-prod.json

Uses GitLab's REST API with CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID and a token
in GITLAB_API_TOKEN (scope api). Only the standard library: it runs before any install.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = "<!-- gitops-platform:plan -->"
Request = Callable[[str, str, dict[str, Any] | None], Any]


def body(plans: list[Path]) -> str:
    lines = [MARKER, "### Offline plan and policy verdicts", ""]
    lines += [
        "| Stack | Resources | Mandatory | Advisory | Broken rules |",
        "|---|---|---|---|---|",
    ]
    for path in plans:
        if not path.exists():
            lines.append(
                f"| `{path.stem.removeprefix('plan-')}` | plan failed before writing JSON | | | |"
            )
            continue
        plan = json.loads(path.read_text())
        violations = (plan.get("policy") or {}).get("violations", [])
        levels = Counter(v["level"] for v in violations)
        rules = ", ".join(
            sorted({f"`{v['policy']}`" for v in violations if v["level"] == "mandatory"})
        )
        custom = sum(1 for r in plan["resources"] if r["custom"])
        counts = f"{levels['mandatory']} | {levels['advisory']}"
        lines.append(f"| `{plan['stack']}` | {custom} | {counts} | {rules or '-'} |")
    lines += ["", "Full plans and summaries are the `plan` job's artifacts."]
    return "\n".join(lines)


def upsert(request: Request, notes_url: str, text: str) -> str:
    """Edit our earlier note if there is one, else create it. Returns 'updated' or 'created'."""
    page = 1
    while notes := request("GET", f"{notes_url}?per_page=100&sort=asc&page={page}", None):
        for note in notes:
            if MARKER in note.get("body", ""):
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
    result = upsert(_gitlab(env["GITLAB_API_TOKEN"]), notes_url, body([Path(a) for a in argv]))
    print(f"merge request comment {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
