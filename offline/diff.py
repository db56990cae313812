"""What a plan changes against an earlier plan of the same stack (its base).

Both sides are plan JSON as `python -m offline --json` writes it: resources are matched by
URN and their inputs compared path by path (`scalingConfig.desiredSize`, `ports[1]`), with
the resource options that change what the engine does to a resource; outputs likewise; and
the plan's exposure and cost estimate where both sides have them (the cost of the items
priced on every side they are on, the others named as incomplete). Secrets are `[secret]` on
both sides, so a secret whose value changed looks unchanged, and a value that became (or
stopped being) secret is reported without either value.

Only the standard library: `ci/mr_comment.py` renders the same comparison, and runs before
anything is installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

SECRET = "[secret]"
"""offline.plan.SECRET (held equal by a test: offline.plan needs pulumi)."""

OPTIONS = (
    "protect",
    "provider",
    "dependencies",
    "ignore_changes",
    "retain_on_delete",
    "delete_before_replace",
    "custom_timeouts",
)
"""Resource options that change what the engine does with a resource (`parent` is part of
the URN: a new parent is a removed and an added resource)."""

SETS = ("dependencies", "ignore_changes")
"""Options that are sets of names: reported as the members added and removed."""

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


class BaseError(Exception):
    """A base plan that cannot be compared with; the message names the file."""


def read_base(path: Path) -> dict[str, Any]:
    """The plan JSON in `path`, or BaseError saying why it is not one."""
    try:
        text = path.read_text()
    except OSError as error:
        raise BaseError(f"{path}: cannot read the base plan: {error.strerror}") from error
    try:
        document = json.loads(text)
    except ValueError as error:
        raise BaseError(f"{path}: the base plan is not JSON: {error}") from error
    if not (
        isinstance(document, dict)
        and isinstance(document.get("resources"), list)
        and isinstance(document.get("outputs"), dict)
        and {"stack", "project"} <= document.keys()
    ):
        raise BaseError(
            f"{path}: not a plan (`python -m offline --json` writes one with stack, "
            "project, resources and outputs)"
        )
    return document


def check_base(base: Mapping[str, Any], path: Path, project: str, stack: str) -> str | None:
    """Why `base` cannot be the base of a plan of `project`/`stack`, if it cannot."""
    if (base["project"], base["stack"]) != (project, stack):
        return (
            f"{path}: the base plan is of {base['project']}/{base['stack']}, "
            f"not of {project}/{stack}"
        )
    return None


def compare(base: Mapping[str, Any], plan: Mapping[str, Any], base_name: str) -> dict[str, Any]:
    """The `diff` block of `plan` against `base` (both plan JSON, as loaded)."""
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in plan["resources"]}
    changed = []
    for urn in sorted(before.keys() & after.keys()):
        inputs = changes(before[urn]["inputs"], after[urn]["inputs"])
        options = _option_changes(before[urn], after[urn])
        if inputs or options:
            changed.append({**_identity(after[urn]), "inputs": inputs, "options": options})
    return {
        "base": base_name,
        "resources": {
            "added": [_identity(after[u]) for u in sorted(after.keys() - before.keys())],
            "removed": [_identity(before[u]) for u in sorted(before.keys() - after.keys())],
            "changed": changed,
        },
        "outputs": changes(base["outputs"], plan["outputs"]),
        "exposure": _either(base, plan, "exposure", _exposure_delta),
        "cost": _either(base, plan, "cost", _cost_delta),
    }


def changes(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """Every leaf where `after` differs from `before`: `{"path", "before", "after"}`, with
    `before` missing where the value was added and `after` where it was removed. Where one
    side is a secret, `{"path", "secret": "now"|"no longer"}` instead: no value."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(before.keys() | after.keys()):
            sub = join(path, key)
            if key not in after:
                found.append({"path": sub, "before": before[key]})
            elif key not in before:
                found.append({"path": sub, "after": after[key]})
            else:
                found += changes(before[key], after[key], sub)
        return found
    if isinstance(before, list) and isinstance(after, list):
        found = []
        for i in range(max(len(before), len(after))):
            sub = f"{path}[{i}]"
            if i >= len(after):
                found.append({"path": sub, "before": before[i]})
            elif i >= len(before):
                found.append({"path": sub, "after": after[i]})
            else:
                found += changes(before[i], after[i], sub)
        return found
    if SECRET in (before, after):
        return [{"path": path, "secret": "now" if after == SECRET else "no longer"}]
    return [{"path": path, "before": before, "after": after}]


def join(path: str, key: str) -> str:
    """`path.key`, or `path["key"]` for a key that is not a plain name (`kubernetes.io/…`)."""
    step = key if _NAME.fullmatch(key) else f"[{json.dumps(key)}]"
    return f"{path}.{step}" if path and not step.startswith("[") else f"{path}{step}"


def _identity(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {"urn": resource["urn"], "type": resource["type"], "name": resource["name"]}


def _option_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for option in OPTIONS:
        # An option one side does not record (a plan written before it was) is not compared.
        if option not in before or option not in after or before[option] == after[option]:
            continue
        old, new = before[option], after[option]
        if option in SETS:
            old_set, new_set = set(old or ()), set(new or ())
            found += [{"path": option, "before": v} for v in sorted(old_set - new_set)]
            found += [{"path": option, "after": v} for v in sorted(new_set - old_set)]
        else:
            found += changes({option: old}, {option: new})
    return found


def _either(
    base: Mapping[str, Any], plan: Mapping[str, Any], field: str, delta: Any
) -> dict[str, Any]:
    # Plans written before the field existed lack it: an older base, or a newer one.
    missing = [side for side, document in (("base", base), ("plan", plan)) if field not in document]
    if missing:
        phrase = {"base": "not in base", "plan": "not in this plan"}
        return {"unavailable": "in neither plan" if len(missing) == 2 else phrase[missing[0]]}
    result: dict[str, Any] = delta(base[field], plan[field])
    return result


def _endpoint_key(entry: Mapping[str, Any]) -> str:
    ports = ",".join(str(p) for p in sorted(entry.get("ports") or []))
    return f"{entry['kind']} {entry['endpoint']} {ports}".rstrip()


def _exposure_delta(before: Iterable[Any], after: Iterable[Any]) -> dict[str, Any]:
    """Endpoints (kind, endpoint and ports) added and removed, and the source ranges of those
    on both sides."""

    def endpoints(entries: Iterable[Any]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for entry in entries:
            seen = found.setdefault(
                _endpoint_key(entry),
                {
                    "kind": entry["kind"],
                    "endpoint": entry["endpoint"],
                    "ports": sorted(entry.get("ports") or []),
                    "components": [],
                    "cidrs": [],
                },
            )
            seen["components"] = sorted({*seen["components"], entry.get("component", "")} - {""})
            seen["cidrs"] = sorted({*seen["cidrs"], *(entry.get("cidrs") or [])})
        return found

    old, new = endpoints(before), endpoints(after)
    cidrs = []
    for key in sorted(old.keys() & new.keys()):
        added = sorted(set(new[key]["cidrs"]) - set(old[key]["cidrs"]))
        removed = sorted(set(old[key]["cidrs"]) - set(new[key]["cidrs"]))
        if added or removed:
            cidrs.append({**new[key], "added_cidrs": added, "removed_cidrs": removed})
    return {
        "added": [new[k] for k in sorted(new.keys() - old.keys())],
        "removed": [old[k] for k in sorted(old.keys() - new.keys())],
        "cidrs_changed": cidrs,
    }


def _cost_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The monthly estimate's total and components that moved, and the items that changed
    (by component and item). Only items with a price on every side they are on are summed
    (an item on one side only counts as 0 on the other): one without a price on either side
    is listed in `unpriced` with the sides (`no_price_in`), and makes the delta incomplete,
    as it makes each component's it is in; one without a price on both sides but recorded
    alike in both (`unpriced_alike`) changes nothing and leaves the delta complete."""
    if before.get("currency") != after.get("currency"):
        return {
            "unavailable": f"the base is in {before.get('currency')}, the plan in "
            f"{after.get('currency')}"
        }

    def items(cost: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(i["component"], i["item"]): i for i in cost.get("items") or []}

    old_items, new_items = items(before), items(after)
    fields = ("quantity", "unit", "unit_price", "monthly")
    changed_items = []
    unpriced: list[dict[str, Any]] = []
    alike: list[dict[str, str]] = []
    sums = {"before": 0.0, "after": 0.0}
    priced = 0
    by_component: dict[str, float] = {}
    for key in sorted(old_items.keys() | new_items.keys()):
        old, new = old_items.get(key), new_items.get(key)
        sides = [s for s, e in (("base", old), ("plan", new)) if e and e.get("monthly") is None]
        if sides == ["base", "plan"] and _recorded_alike(old, new):
            # Without a price in both, and recorded alike (the volumes of a release neither
            # plan rendered): it adds nothing to the change. Said once, not per component.
            alike.append({"component": key[0], "item": key[1]})
            continue
        if sides:
            unpriced.append({"component": key[0], "item": key[1], "no_price_in": sides})
            by_component.setdefault(key[0], 0.0)
        else:
            was, now = (old or {}).get("monthly") or 0.0, (new or {}).get("monthly") or 0.0
            sums["before"] += was
            sums["after"] += now
            priced += 1
            by_component[key[0]] = by_component.get(key[0], 0.0) + now - was
        if old is not None and new is not None and all(old.get(f) == new.get(f) for f in fields):
            continue
        changed_items.append(
            {
                "component": key[0],
                "item": key[1],
                **({"before": {f: old.get(f) for f in fields}} if old else {}),
                **({"after": {f: new.get(f) for f in fields}} if new else {}),
            }
        )
    incomplete = {u["component"] for u in unpriced}
    return {
        "currency": after.get("currency"),
        "region": after.get("region"),
        "complete": not unpriced,
        "priced": priced,
        "total": {
            "before": _money(sums["before"]),
            "after": _money(sums["after"]),
            "delta": _money(sums["after"] - sums["before"]),
        },
        "by_component": {
            c: _money(d) for c, d in sorted(by_component.items()) if _money(d) or c in incomplete
        },
        "unpriced": unpriced,
        "unpriced_alike": alike,
        "items": changed_items,
    }


def _recorded_alike(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    keys = ("quantity", "unit", "unit_price", "monthly", "note")
    return old is not None and new is not None and all(old.get(k) == new.get(k) for k in keys)


def _money(amount: float) -> float:
    return round(amount, 2) + 0.0  # + 0.0: no -0.0


# Reading a diff block: shared by the summary below and the merge-request comment.


def describe(change: Mapping[str, Any], width: int = 80) -> str:
    """One change as `path: before → after`, `path: added value`, `path: removed value` or
    `path: now secret (values not shown)`; long values shortened to `width` characters."""
    if "secret" in change:
        return f"{change['path']}: {change['secret']} secret (values not shown)"
    if "before" not in change:
        return f"{change['path']}: added {value(change['after'], width)}"
    if "after" not in change:
        return f"{change['path']}: removed {value(change['before'], width)}"
    before, after = change["before"], change["after"]
    # Two long texts are shown from a little before where they first differ.
    start = _common_prefix(before, after) - 20 if isinstance(before, str) else 0
    return f"{change['path']}: {value(before, width, start)} → {value(after, width, start)}"


def value(v: Any, width: int = 80, start: int = 0) -> str:
    """A value as JSON, a URN as its type and name, shortened to `width` characters (from
    character `start` on, when the text is longer)."""
    text = short_urn(v) if isinstance(v, str) and v.startswith("urn:pulumi:") else json.dumps(v)
    if len(text) <= width:
        return text
    start = max(0, min(start, len(text) - width + 1))
    shown = ("…" if start else "") + text[start : start + width - 1 - (1 if start else 0)]
    return shown + ("…" if start + width - 1 < len(text) else "")


def _common_prefix(a: Any, b: Any) -> int:
    if not isinstance(b, str):
        return 0
    a_text, b_text = json.dumps(a), json.dumps(b)
    return next(
        (i for i, (x, y) in enumerate(zip(a_text, b_text, strict=False)) if x != y),
        min(len(a_text), len(b_text)),
    )


def short_urn(urn: str) -> str:
    """`type name` of a URN (`urn:pulumi:<stack>::<project>::<parent types$>type::name`)."""
    qualified, _, name = urn.rpartition("::")
    return f"{qualified.rpartition('::')[2].rpartition('$')[2]} {name}"


def counts(diff: Mapping[str, Any]) -> str:
    resources = diff["resources"]
    return ", ".join(f"{len(resources[k])} {k}" for k in ("changed", "added", "removed"))


def endpoint(entry: Mapping[str, Any]) -> str:
    ports = ", ".join(str(p) for p in entry["ports"])
    return f"{entry['kind']} {entry['endpoint']}" + (f" port {ports}" if ports else "")


def signed(amount: float) -> str:
    return f"{amount:+,.2f}"


def summary(diff: Mapping[str, Any]) -> str:
    """The plain-text section `python -m offline --base` prints."""
    lines = [f"Changes against {diff['base']}: {counts(diff)} resources (matched by URN)"]
    resources = diff["resources"]
    for kind, mark in (("added", "+"), ("removed", "-")):
        lines += [f"  {mark} {r['type']}  {r['name']}" for r in resources[kind]]
    for resource in resources["changed"]:
        lines.append(f"  ~ {resource['type']}  {resource['name']}")
        lines += [f"      {describe(c)}" for c in resource["inputs"]]
        lines += [f"      (option) {describe(c)}" for c in resource["options"]]
    lines.append("Outputs: " + ("unchanged" if not diff["outputs"] else "changed"))
    lines += [f"  ~ {describe(c)}" for c in diff["outputs"]]
    exposure = diff["exposure"]
    if "unavailable" in exposure:
        lines.append(f"Exposure: {exposure['unavailable']}")
    elif not any(exposure.values()):
        lines.append("Exposure: unchanged")
    else:
        lines.append("Exposure:")
        lines += [f"  + {endpoint(e)} from {', '.join(e['cidrs'])}" for e in exposure["added"]]
        lines += [f"  - {endpoint(e)}" for e in exposure["removed"]]
        for e in exposure["cidrs_changed"]:
            ranges = [*(f"+{c}" for c in e["added_cidrs"]), *(f"-{c}" for c in e["removed_cidrs"])]
            lines.append(f"  ~ {endpoint(e)}: ranges {', '.join(ranges)}")
    lines += _cost_lines(diff["cost"])
    return "\n".join(lines)


def _cost_lines(cost: Mapping[str, Any]) -> list[str]:
    if "unavailable" in cost:
        return [f"Cost: {cost['unavailable']}"]
    lines = [cost_headline(cost)]
    missing = no_price(cost)
    for component, delta in cost["by_component"].items():
        unpriced = [f"{item} has no price {where}" for item, where in missing.get(component, [])]
        lines.append(
            f"  {component}: {signed(delta)}"
            + (f" of the priced items; incomplete: {'; '.join(unpriced)}" if unpriced else "")
        )
    lines += [f"  ~ {item_change(i)}" for i in cost["items"]]
    return lines


NO_PRICE_IN = {("base",): "in the base", ("plan",): "in this plan"}


def cost_headline(cost: Mapping[str, Any], strong: Callable[[str], str] = str) -> str:
    """The cost delta's first line: the totals and their change (`strong` marks the change,
    for Markdown); when an item lacks a price on a side, only the items priced on every side
    they are on, said as such, and no change at all when no item is."""
    total = cost["total"]
    head = f"Cost (estimate, {cost['currency']} per month): "
    alike = len(cost.get("unpriced_alike") or [])
    same = (
        f"; {alike} item{'s' if alike > 1 else ''} without a price in both plans, recorded "
        "alike, not compared"
        if alike
        else ""
    )
    change = f"{total['before']:,.2f} → {total['after']:,.2f}"
    if cost["complete"]:
        return f"{head}{change} ({strong(signed(total['delta']))}){same}"
    count = len(cost["unpriced"])
    missing = f"{count} item{'s' if count > 1 else ''} without a price on a side"
    if not cost.get("priced"):
        return f"{head}not comparable: no item has a price in both plans ({missing}){same}"
    return (
        f"{head}incomplete, {missing}; the items priced on every side: {change} "
        f"({signed(total['delta'])}){same}"
    )


def no_price(cost: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Per component, each item without a price and where: `("nodes …", "in this plan")`,
    `"in the base"` or `"in either plan"`."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in cost["unpriced"]:
        where = NO_PRICE_IN.get(tuple(entry["no_price_in"]), "in either plan")
        found.setdefault(entry["component"], []).append((entry["item"], where))
    return found


def item_change(item: Mapping[str, Any]) -> str:
    """A cost item that changed: `component item: 2 instance at 156.22 → 3 instance at
    156.22, 312.44 → 468.66 a month` (`none` and `0` where it is not, `no price` where the
    table has none)."""

    def side(entry: Mapping[str, Any] | None) -> str:
        if entry is None:
            return "none"
        price = "without a price" if entry["unit_price"] is None else f"at {entry['unit_price']}"
        return f"{entry['quantity']} {entry['unit']} {price}"

    def monthly(entry: Mapping[str, Any] | None) -> str:
        if entry is None:
            return "0"
        return "no price" if entry["monthly"] is None else f"{entry['monthly']:,.2f}"

    before, after = item.get("before"), item.get("after")
    return (
        f"{item['component']} {item['item']}: {side(before)} → {side(after)}, "
        f"{monthly(before)} → {monthly(after)} a month"
    )
