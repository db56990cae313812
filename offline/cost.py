"""An estimate of what a plan costs per month: list prices from offline/prices.json, 730 hours a
month, no traffic, no taxes.

Counted: EKS control planes; managed node groups (desired size x instance type) and their
root volumes; NAT gateways; every load balancer the controller makes, internal ones too
(hourly charge only: LCUs, NLCUs and traffic are not); RDS instances and their storage (both
doubled with Multi-AZ: "Compute costs: Billed per DB instance-hour for both the primary and
standby instances. Storage costs: Charged per GB-month for the storage provisioned for both",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_OnDemandDBInstances.html);
ElastiCache nodes; and the EBS volumes of the rendered PersistentVolumeClaims, StatefulSet
volumeClaimTemplates included. Not counted: data transfer and NAT data processing, public
IPv4 addresses, S3, CloudWatch Logs, KMS keys, Route 53, backups and snapshots, EKS extended
support (a control plane is priced at the standard-support rate, and says so). An instance
type, class, volume type or region the table lacks is listed as having no price
(`unit_price` and `monthly` null, and in `unpriced`), never as zero: the totals are of the
priced items, and the estimate says it is not `complete`.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from offline.deployed import Deployed, Manifest
from offline.exposure import UNMODELLED, LoadBalancer
from offline.plan import PROJECT_DIR, SECRET, UNKNOWN, Plan, component_labels

PRICES = Path(__file__).with_name("prices.json")
EXCLUDED = (
    "LCUs, NLCUs and data transfer, NAT data processing, public IPv4 addresses, S3, "
    "CloudWatch Logs, KMS keys, Route 53, backups and snapshots, EKS extended support"
)
# EKS charges a version's extended-support rate from its end of standard support, "the first
# 14 months after it's released" on EKS, for 12 months more (awsdocs/amazon-eks-user-guide
# 4d52b4d, 2024-12-18, latest/ug/clusters/kubernetes-versions.adoc:24, and its release
# calendar, :61-130). That calendar stops at 1.31, and whether a version is past the date
# depends on the day it runs, which a plan does not say: the estimate does not apply the rate.
EXTENDED_SUPPORT = (
    "extended support's, charged once a version is 14 months past its EKS release, not applied"
)
EBS_PROVISIONERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs")
# The EBS CSI driver's default volume type (kubernetes-sigs/aws-ebs-csi-driver v1.64.0
# docs/parameters.md:11,30); the in-tree provisioner's was gp2.
EBS_DEFAULT_TYPE = {"ebs.csi.aws.com": "gp3", "kubernetes.io/aws-ebs": "gp2"}
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
# EKS's instance type for a node group that names none, in its launch template or its
# instanceTypes (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html).
EKS_DEFAULT_INSTANCE_TYPE = "t3.medium"
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i|[kMGTPE])?$")
_FACTORS: dict[str | None, int] = {
    None: 1,
    **{f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPE")},
    **{p: 1000 ** (i + 1) for i, p in enumerate("kMGTPE")},
}


class Prices:
    """The price table of one region (None when the table has no such region)."""

    def __init__(self, region: str | None, path: Path = PRICES) -> None:
        document = json.loads(path.read_text())
        self.path = path
        self.region = region
        self.hours = float(document["hours_per_month"])
        self.table: Mapping[str, Any] | None = document["regions"].get(region)

    def entry(self, *keys: str) -> Mapping[str, Any] | None:
        node: Any = self.table
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node if isinstance(node, Mapping) and "price" in node else None

    def about(self) -> dict[str, Any]:
        shown = self.path.resolve()
        return {
            "file": str(shown.relative_to(PROJECT_DIR))
            if shown.is_relative_to(PROJECT_DIR)
            else str(shown),
            "source": sorted({str(e["source"]) for e in _entries(self.table) if e.get("source")}),
            "date": (self.table or {}).get("recorded"),
        }


def _entries(node: Any) -> list[Mapping[str, Any]]:
    if not isinstance(node, Mapping):
        return []
    if "price" in node:
        return [node]
    return [e for value in node.values() for e in _entries(value)]


def region_of(plan: Plan) -> str | None:
    """The stack's AWS region: its `region` output, else its AWS provider's."""
    region = plan.outputs.get("region")
    if isinstance(region, str) and region not in (SECRET, UNKNOWN):
        return region
    for provider in plan.of_type("pulumi:providers:aws"):
        if isinstance(provider["inputs"].get("region"), str):
            return str(provider["inputs"]["region"])
    return None


class _Items:
    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.items: list[dict[str, Any]] = []

    def add(
        self,
        component: str,
        item: str,
        quantity: float,
        unit: str,
        price: Mapping[str, Any] | None,
        hourly: bool,
        note: str = "",
        missing: str = "",
        why: str = "",
    ) -> None:
        """One line: `quantity` units at the table's `price` (hourly ones x the month's
        hours). Without a price, the note says why: `why`, else that the table has no price
        for `missing` (default: the unit) in this region."""
        found: dict[str, Any] = {
            "component": component,
            "item": item,
            "quantity": quantity,
            "unit": unit,
            "unit_price": None,
            "monthly": None,
        }
        notes = [note] if note else []
        if price is None:
            region = self.prices.region or "an unknown region"
            file = self.prices.about()["file"]
            notes.append(why or f"no price for {missing or unit} in {region} in {file}")
        else:
            per_unit = float(price["price"]) * (self.prices.hours if hourly else 1)
            found["unit_price"] = round(per_unit, 4)
            found["monthly"] = round(per_unit * quantity, 2)
            rate = _rate(float(price["price"])) + (
                f"/h x {self.prices.hours:g} h" if hourly else f" per {unit.split(' ')[0]}-month"
            )
            notes.append(rate + ("" if price.get("confirmed") else ", price not confirmed"))
        found["note"] = "; ".join(notes)
        self.items.append(found)


def _rate(price: float) -> str:
    """A list price as AWS prints it: at least cents, up to four decimals."""
    shown = f"{price:.4f}".rstrip("0")
    return "$" + (shown if len(shown.split(".")[1]) >= 2 else f"{price:.2f}")


def estimate(
    plan: Plan, seen: Deployed, balancers: Sequence[LoadBalancer], prices: Prices | None = None
) -> dict[str, Any]:
    """The `cost` section of the plan (offline.review's contract)."""
    prices = prices or Prices(region_of(plan))
    labels = component_labels(plan)
    items = _Items(prices)
    by_urn = plan.by_urn()
    for cluster in plan.of_type("aws:eks/cluster:Cluster"):
        name = cluster["inputs"].get("name") or cluster["name"]
        version = cluster["inputs"].get("version")
        items.add(
            labels[cluster["urn"]],
            f"EKS control plane {name}",
            1,
            "cluster",
            prices.entry("eks_cluster_hour"),
            hourly=True,
            note=f"Kubernetes {version or '(EKS default)'} at the standard-support rate; "
            f"{EXTENDED_SUPPORT}",
            missing="EKS clusters",
        )
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        _node_group(items, group, by_urn, labels[group["urn"]])
    nat: dict[str, int] = defaultdict(int)
    for gateway in plan.of_type("aws:ec2/natGateway:NatGateway"):
        nat[labels[gateway["urn"]]] += 1
    for component, count in sorted(nat.items()):
        items.add(
            component,
            "NAT gateways",
            count,
            "gateway",
            prices.entry("nat_gateway_hour"),
            hourly=True,
            note="data processing excluded",
            missing="NAT gateways",
        )
    for balancer in balancers:
        # A Service the controller does not take gets a load balancer of a kind not modelled.
        modelled = balancer.scheme != UNMODELLED
        items.add(
            balancer.component,
            balancer.name,
            1,
            "load balancer",
            prices.entry(f"{balancer.kind}_hour") if modelled else None,
            hourly=True,
            note=f"{balancer.scheme}; hourly charge only, LCUs and traffic excluded",
            missing=f"{balancer.kind.upper()}s" if modelled else "a load balancer not modelled",
        )
    for database in plan.of_type("aws:rds/instance:Instance"):
        _database(items, database, labels[database["urn"]])
    for cache in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        _cache(items, cache, labels[cache["urn"]])
    _volumes(items, seen)
    return _totals(items.items, prices)


def _node_group(
    items: _Items, group: Mapping[str, Any], by_urn: Mapping[str, Any], component: str
) -> None:
    inputs = group["inputs"]
    template = next(
        (
            by_urn[u]
            for u in group["property_dependencies"].get("launchTemplate", [])
            if u in by_urn
        ),
        None,
    )
    template_inputs = template["inputs"] if template else {}
    types = inputs.get("instanceTypes") or [template_inputs.get("instanceType")]
    types = [t for t in types if t] or [EKS_DEFAULT_INSTANCE_TYPE]
    count = int((inputs.get("scalingConfig") or {}).get("desiredSize") or 0)
    notes = []
    if len(types) > 1:
        notes.append(f"priced as {types[0]}, the first of {', '.join(types)}")
    if inputs.get("capacityType") == "SPOT":
        notes.append("spot capacity priced at on-demand")
    items.add(
        component,
        f"nodes {group['name']}",
        count,
        f"{types[0]} instance",
        items.prices.entry("ec2_instance_hour", types[0]),
        hourly=True,
        note="; ".join(["desired size", *notes]),
    )
    mappings = template_inputs.get("blockDeviceMappings") or []
    ebs = next((m.get("ebs") or {} for m in mappings if m.get("ebs")), None)
    if ebs is not None:
        size, volume_type = ebs.get("volumeSize"), ebs.get("volumeType")
    else:
        # Without a launch template: diskSize, 20 GiB unless set (API_CreateNodegroup.html);
        # the volume type is the AMI's, which the plan does not show.
        size, volume_type = inputs.get("diskSize") or 20, None
    items.add(
        component,
        f"root volumes of nodes {group['name']}",
        count * int(size or 0),
        f"GB ({volume_type or 'volume type not set'})",
        items.prices.entry("ebs_gb_month", str(volume_type)) if volume_type else None,
        hourly=False,
        note=f"{count} x {size} GB",
    )


def _database(items: _Items, database: Mapping[str, Any], component: str) -> None:
    inputs = database["inputs"]
    engine, instance_class = str(inputs.get("engine")), str(inputs.get("instanceClass"))
    copies = 2 if inputs.get("multiAz") else 1
    standby = "Multi-AZ: primary and standby" if copies == 2 else "Single-AZ"
    items.add(
        component,
        f"RDS {engine} {database['name']}",
        copies,
        f"{instance_class} instance",
        items.prices.entry("rds_instance_hour", engine, instance_class),
        hourly=True,
        note=standby,
    )
    storage_type = inputs.get("storageType")
    size = int(inputs.get("allocatedStorage") or 0)
    grows = inputs.get("maxAllocatedStorage")
    items.add(
        component,
        f"RDS storage {database['name']}",
        size * copies,
        f"GB ({storage_type or 'storage type not set'})",
        items.prices.entry("rds_storage_gb_month", str(storage_type)) if storage_type else None,
        hourly=False,
        note=f"{copies} x {size} GB allocated"
        + (f" (may grow to {grows} GB, not counted)" if grows else ""),
    )


def _cache(items: _Items, cache: Mapping[str, Any], component: str) -> None:
    inputs = cache["inputs"]
    node_type = str(inputs.get("nodeType"))
    nodes = inputs.get("numCacheClusters")
    if nodes is None:
        shards = int(inputs.get("numNodeGroups") or 1)
        nodes = shards * (int(inputs.get("replicasPerNodeGroup") or 0) + 1)
    items.add(
        component,
        f"ElastiCache {inputs.get('engine', 'redis')} {cache['name']}",
        int(nodes),
        f"{node_type} node",
        items.prices.entry("elasticache_node_hour", node_type),
        hourly=True,
    )


def gib(quantity: Any) -> int | None:
    """A Kubernetes storage quantity in whole GiB, rounded up as the EBS CSI driver sizes
    volumes (aws-ebs-csi-driver v1.64.0 pkg/util/util.go:86-89, RoundUpBytes); None when
    it cannot be read."""
    match = _QUANTITY.match(str(quantity).strip())
    if not match:
        return None
    size = float(match.group(1)) * _FACTORS[match.group(2)]
    return math.ceil(size / 1024**3)


def _volumes(items: _Items, seen: Deployed) -> None:
    classes = {m.name: m for m in seen.manifests if m.kind == "StorageClass"}
    default = next(
        (c for c in classes.values() if str(c.annotations.get(DEFAULT_CLASS)) == "true"), None
    )
    for manifest in seen.manifests:
        if manifest.from_values:
            continue
        claims: list[tuple[str, Mapping[str, Any], int]] = []
        if manifest.kind == "PersistentVolumeClaim":
            claims.append((f"{manifest.namespace}/{manifest.name}", manifest.spec, 1))
        elif manifest.kind == "StatefulSet":
            replicas = int(manifest.spec.get("replicas", 1) or 0)
            for template in manifest.spec.get("volumeClaimTemplates") or []:
                name = (template.get("metadata") or {}).get("name")
                where = f"{manifest.namespace}/{name}-{manifest.name}-*"
                claims.append((where, template.get("spec") or {}, replicas))
        for where, spec, copies in claims:
            _claim(items, manifest, where, spec, copies, classes, default)
    for component, label in seen.not_rendered:
        items.add(
            component,
            f"volumes of {label}",
            0,
            "GB (unknown)",
            None,
            hourly=False,
            why="not rendered: its PersistentVolumeClaims are unknown",
        )


def _claim(
    items: _Items,
    manifest: Manifest,
    where: str,
    spec: Mapping[str, Any],
    copies: int,
    classes: Mapping[str, Manifest],
    default: Manifest | None,
) -> None:
    size = gib(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    named = spec.get("storageClassName")
    storage_class = classes.get(str(named)) if named else default
    volume_type = None
    if storage_class is not None:
        provisioner = str(storage_class.body.get("provisioner"))
        parameters = storage_class.body.get("parameters") or {}
        if provisioner in EBS_PROVISIONERS:
            volume_type = str(parameters.get("type") or EBS_DEFAULT_TYPE[provisioner])
    class_name = storage_class.name if storage_class else (named or "no default class")
    items.add(
        manifest.component,
        f"PVC {where} ({manifest.source or 'the stack'})",
        (size or 0) * copies,
        f"GB ({volume_type or f'class {class_name}'})",
        items.prices.entry("ebs_gb_month", volume_type) if volume_type and size else None,
        hourly=False,
        note=f"{copies} x {size} GiB, storage class {class_name}",
        missing="" if volume_type else f"storage class {class_name} (not an EBS class seen)",
        why="" if size is not None else "its storage request cannot be read",
    )


def _totals(items: list[dict[str, Any]], prices: Prices) -> dict[str, Any]:
    by_component: dict[str, float] = defaultdict(float)
    unpriced: dict[str, list[str]] = defaultdict(list)
    items.sort(key=lambda i: (i["component"], i["item"]))
    for item in items:
        by_component[item["component"]] += item["monthly"] or 0
        if item["monthly"] is None:
            unpriced[item["component"]].append(item["item"])
    return {
        "estimate": True,
        "currency": "USD",
        "region": prices.region,
        "prices": prices.about(),
        "items": items,
        "by_component": {k: round(v, 2) for k, v in sorted(by_component.items())},
        "by_component_unpriced": dict(sorted(unpriced.items())),
        "total": round(sum(by_component.values()), 2),
        "complete": not unpriced,
        "unpriced": [i["item"] for i in items if i["monthly"] is None],
    }
