"""How an ALB of the AWS Load Balancer Controller answers a request, from Ingress objects.

A model of the controller's documented behaviour, for tests that must show where a request
ends up (not a re-implementation of the controller):
- IngressGroup: rules of Ingresses with a lower `group.order` come first ("Ingress
  annotations", `group.order`, default 0).
- Within an Ingress (LBC >= 2.4.3, "Ingress specification"): Exact paths first, then Prefix
  paths longest first, then ImplementationSpecific paths in the order listed.
- Prefix `/a` matches `/a` and `/a/...`; ImplementationSpecific is an ALB path pattern with
  `*` wildcards.
- `conditions.<backend name>` (here only `source-ip`) must also hold for a rule to match;
  `actions.<backend name>` replaces the forward for backends on port `use-annotation`.
- A listener rule takes at most 5 condition values (host, path patterns, source ranges; a
  Prefix path other than `/` becomes two patterns, `/a` and `/a/*`): the controller cannot
  create a larger one, and then reconciles none of the group. `route` refuses such a rule.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ALB = "alb.ingress.kubernetes.io"
TYPE_ORDER = {"Exact": 0, "Prefix": 1, "ImplementationSpecific": 2}


@dataclass(frozen=True)
class Answer:
    backend: str
    """The service forwarded to, or the action's name."""
    action: Mapping[str, Any] | None
    """The action's JSON when the backend is an action (`use-annotation`)."""


def rendered_ingress(
    host: str,
    annotations: Mapping[str, Any],
    extra_paths: list[Mapping[str, Any]],
    path: str,
    path_type: str,
    service: str,
    port: int,
) -> dict[str, Any]:
    """An Ingress as a chart renders it from its values: extra paths, then its own path to
    its Service (offline, the charts are never rendered)."""
    own = {
        "path": path,
        "pathType": path_type,
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }
    rule = {"host": host, "http": {"paths": [*extra_paths, own]}}
    return {"metadata": {"annotations": dict(annotations)}, "spec": {"rules": [rule]}}


def _matches(path: Mapping[str, Any], request: str) -> bool:
    kind, value = path["pathType"], path["path"]
    if kind == "Exact":
        return bool(request == value)
    if kind == "Prefix":
        stem = value.rstrip("/")
        return request == stem or request.startswith(f"{stem}/") or stem == ""
    return fnmatch.fnmatchcase(request, value)


MAX_CONDITION_VALUES = 5


def _condition_values(
    rule: Mapping[str, Any], path: Mapping[str, Any], conditions: list[Any]
) -> int:
    patterns = 2 if path["pathType"] == "Prefix" and path["path"].rstrip("/") else 1
    ranges = sum(
        len(c["sourceIpConfig"]["values"]) for c in conditions if c["field"] == "source-ip"
    )
    return (1 if rule.get("host") else 0) + patterns + ranges


def _conditions_hold(conditions: list[Any], source: str) -> bool:
    for condition in conditions:
        if condition["field"] == "source-ip":
            ranges = condition["sourceIpConfig"]["values"]
            address = ipaddress.ip_address(source)
            if not any(address in ipaddress.ip_network(cidr) for cidr in ranges):
                return False
    return True


def route(ingresses: list[Mapping[str, Any]], host: str, request: str, source: str) -> Answer:
    """Where the ALB sends `request` for `host` from the client address `source`.

    `ingresses` are Ingress objects as dicts (`metadata.annotations`, `spec.rules`)."""
    ordered = sorted(
        ingresses,
        key=lambda i: int((i["metadata"].get("annotations") or {}).get(f"{ALB}/group.order", 0)),
    )
    for ingress in ordered:
        annotations = ingress["metadata"].get("annotations") or {}
        for rule in ingress["spec"]["rules"]:
            if rule.get("host", host) != host:
                continue
            paths = list(rule["http"]["paths"])
            paths.sort(
                key=lambda p: (
                    TYPE_ORDER[p["pathType"]],
                    -len(p["path"]) if p["pathType"] == "Prefix" else 0,
                )
            )
            for path in paths:
                backend = path["backend"]["service"]
                name = str(backend["name"])
                conditions = json.loads(annotations.get(f"{ALB}/conditions.{name}", "[]"))
                values = _condition_values(rule, path, conditions)
                if values > MAX_CONDITION_VALUES:
                    raise ValueError(f"a rule for {path['path']} needs {values} condition values")
                if not _matches(path, request) or not _conditions_hold(conditions, source):
                    continue
                if backend["port"] == {"name": "use-annotation"}:
                    return Answer(name, json.loads(annotations[f"{ALB}/actions.{name}"]))
                return Answer(name, None)
    return Answer("default", None)
