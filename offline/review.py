"""What a reviewer asks of a plan beyond its resources: what is reachable from outside the VPC
and from where (offline.exposure), what it costs a month (offline.cost), and which resources
are protected. Read from the plan and, where a chart rendered, from what it renders to
(offline.deployed); `--no-render` falls back on the releases' values.

In the plan JSON: `exposure` (a list of `{component, kind, endpoint, ports, cidrs, from}`,
sorted by kind, endpoint and ports), `cost` and `protected` (a list of `{type, name, urn}` by
URN).

`cost` is `{estimate, currency, region, prices, items, by_component, by_component_unpriced,
total, complete, unpriced}`. An item without a price has `unit_price` and `monthly` null and is in
no sum: `total` and each `by_component` figure are sums of priced items only (0.0 for
a component none of whose items has a price), `by_component_unpriced` names, per component
that has any, its items without a price, `unpriced` all of them, and `complete` is true only
when there is none. Printed, an incomplete total reads "Total of the priced items $X; N items
have no price: ...", and a total or a component without a priced item "no price", never
$0.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline.cost import EXCLUDED, estimate
from offline.deployed import Deployed, deployed
from offline.exposure import CLUSTER, INTERNET_FACING, LoadBalancer, exposure
from offline.plan import Plan
from offline.render import Rendering

NO_CLUSTER = (
    "No EKS cluster in this plan (cluster.mode kops or existing): the cluster itself, its "
    "nodes and its API endpoint are made outside it and are not counted."
)


@dataclass
class Review:
    exposure: list[dict[str, Any]]
    cost: dict[str, Any]
    protected: list[dict[str, str]]
    kept: list[dict[str, str]]
    """What a destroy leaves in place on purpose (docs/teardown.md, "What a destroy keeps")."""
    load_balancers: list[LoadBalancer]
    seen: Deployed
    clusters: int
    """How many EKS clusters the plan creates."""

    def record(self, plan: Plan) -> None:
        """Into the plan's JSON."""
        plan.exposure, plan.cost, plan.protected = self.exposure, self.cost, self.protected
        plan.kept = self.kept

    def summary(self) -> str:
        return "\n\n".join([self._exposure(), self._cost(), self._protected(), self._kept()])

    def _exposure(self) -> str:
        lines = [
            "Exposure (reachable from outside the VPC; from the rendered objects, else the "
            "release's values, and the plan's security groups):"
        ]
        rows = [
            (e["kind"], e["endpoint"], ",".join(map(str, e["ports"])), ", ".join(e["cidrs"]))
            for e in self.exposure
        ]
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
        for entry, row in zip(self.exposure, rows, strict=True):
            cidrs = row[3] or "unknown (see where from)"
            lines.append(
                f"    {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {cidrs}"
            )
            lines.append(f"        from {entry['from']}")
        if not self.exposure:
            lines.append("    nothing")
        if not self.clusters:
            lines.append(f"    {NO_CLUSTER}")
        internal = [b.name for b in self.load_balancers if b.scheme != INTERNET_FACING]
        if internal:
            lines.append(f"  Not exposure (internal or not modelled): {', '.join(internal)}")
        notes = [n for b in self.load_balancers for n in b.notes]
        lines += [f"  Note: {n}" for n in notes]
        if self.seen.unseen:
            unseen = ", ".join(label for _, label in self.seen.unseen)
            lines.append(f"  Not seen (not rendered, and no values model): {unseen}")
        return "\n".join(lines)

    def _cost(self) -> str:
        cost = self.cost
        prices = cost["prices"]
        table = (
            f"{cost['region']} prices recorded {prices['date']} in {prices['file']}"
            if prices["date"]
            else f"{prices['file']} has no prices for {cost['region'] or 'an unknown region'}"
        )
        lines = [f"Cost per month (estimate, USD, list prices, no traffic, no taxes; {table}):"]
        if not self.clusters:
            lines.append(f"    {NO_CLUSTER}")
        for component, total in cost["by_component"].items():
            lines.append(f"    {component}  {_component_total(cost, component, total)}")
            for item in (i for i in cost["items"] if i["component"] == component):
                quantity = f"{item['quantity']:g} x {item['unit']}"
                if item["monthly"] is None:
                    priced = f"{quantity}: no price"
                else:
                    each = _usd(item["unit_price"], places=4)
                    priced = f"{quantity} at {each} = {_usd(item['monthly'])}"
                lines.append(f"        {item['item']}: {priced} ({item['note']})")
        unpriced = "; ".join(cost["unpriced"])
        if cost["complete"]:
            lines.append(f"    Total {_usd(cost['total'])}")
        elif len(cost["unpriced"]) == len(cost["items"]):
            lines.append(f"    Total: no price (no item has a price): {unpriced}")
        else:
            count = _items(len(cost["unpriced"]))
            lines.append(
                f"    Total of the priced items {_usd(cost['total'])}; {count} no price: {unpriced}"
            )
        lines.append(f"    Not counted: {EXCLUDED}")
        return "\n".join(lines)

    def _protected(self) -> str:
        lines = [f"Protected resources ({len(self.protected)}; a destroy or replace refuses them):"]
        lines += [f"    {p['type']}  {p['name']}" for p in self.protected] or ["    none"]
        return "\n".join(lines)

    def _kept(self) -> str:
        lines = [
            f"Kept by a destroy ({len(self.kept)}; Pulumi forgets them, they stay in AWS, "
            "`make orphans` reports them as kept):"
        ]
        lines += [f"    {p['type']}  {p['name']}" for p in self.kept] or ["    none"]
        return "\n".join(lines)


def _component_total(cost: dict[str, Any], component: str, total: float) -> str:
    """A component's sum, said to be of its priced items when some have no price."""
    unpriced = len(cost["by_component_unpriced"].get(component, []))
    priced = sum(1 for i in cost["items"] if i["component"] == component) - unpriced
    if not unpriced:
        return _usd(total)
    if not priced:
        return "no price"
    return f"{_usd(total)} of the priced items; {_items(unpriced)} no price"


def _items(count: int) -> str:
    return f"{count} item has" if count == 1 else f"{count} items have"


def _usd(amount: float, places: int = 2) -> str:
    """Dollars, with cents and up to `places` decimals."""
    shown = f"{amount:,.{places}f}"
    if places > 2:
        shown = shown.rstrip("0")
        shown += "0" * (2 - len(shown.split(".")[1]))
    return f"${shown}"


def review(plan: Plan, rendering: Rendering | None) -> Review:
    seen = deployed(plan, rendering)
    found = exposure(plan, seen.manifests)
    protected = [
        {"type": r["type"], "name": r["name"], "urn": r["urn"]}
        for r in sorted(plan.resources, key=lambda r: r["urn"])
        if r["protect"]
    ]
    kept = [
        {"type": r["type"], "name": r["name"], "urn": r["urn"]}
        for r in sorted(plan.resources, key=lambda r: r["urn"])
        if r.get("retain_on_delete")
    ]
    return Review(
        exposure=found.entries,
        cost=estimate(plan, seen, found.load_balancers),
        protected=protected,
        kept=kept,
        load_balancers=found.load_balancers,
        seen=seen,
        clusters=len(plan.of_type(CLUSTER)),
    )
