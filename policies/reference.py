"""Writes docs/policies.md from the pack itself: `python policies/reference.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import StackValidationPolicy

from guardrails import ALL_POLICIES

TARGET = Path(__file__).resolve().parent.parent / "docs" / "policies.md"


def render() -> str:
    lines = [
        "# Policy pack reference",
        "",
        "Generated from `policies/guardrails` by `make docs` (a test fails when it is stale).",
        "Configure per stack in `policies/config.<stack>.json`.",
        "",
        "| Rule | Scope | Level | Severity | What it enforces | Remediation |",
        "|---|---|---|---|---|---|",
    ]
    for policy in sorted(ALL_POLICIES, key=lambda p: p.name):
        scope = "stack" if isinstance(policy, StackValidationPolicy) else "resource"
        level = policy.enforcement_level.value if policy.enforcement_level else "mandatory"
        severity = policy.severity.value if policy.severity else ""
        cells = [
            f"`{policy.name}`",
            scope,
            level,
            severity,
            policy.description.replace("\n", " "),
            (policy.remediation_steps or "").replace("\n", " "),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
