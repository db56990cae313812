"""The checks that relate settings of several sections of the stack configuration, each run
where the settings it needs are valid, so that they are reported with the field errors in
one pass (components/config/loader.py), not only once those are fixed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from components.config.cluster import CLUSTER_MODES
from components.config.stack import PlatformConfig
from components.config.values import _adapter

MAX_ALB_SOURCE_RANGES = 3
"""Source ranges an ALB listener rule can hold beside its host and one path pattern."""


class Sections:
    """The stack's settings for the checks across sections: `setting` gives one setting of a
    section, validated alone; `raw` a section as given, for what is read from it as given
    (the cluster's mode, how many ranges)."""

    def __init__(self, raw: Mapping[str, Any], context: dict[str, Any], config: Any) -> None:
        self._raw, self._context, self._config = raw, context, config

    def setting(self, section: str, name: str) -> Any:
        """One setting of a section, validated alone (None when it is invalid), so that a
        check needing it does not wait for the rest of its section."""
        if self._config is not None:
            return getattr(getattr(self._config, section), name)
        field = PlatformConfig.model_fields[section]
        model = field.annotation
        raw = self._raw.get(section)
        if raw is None:
            default = field.get_default(call_default_factory=True)
            return getattr(default, name, None)
        if not isinstance(raw, dict) or not (
            isinstance(model, type) and issubclass(model, BaseModel)
        ):
            return None
        if name not in raw:
            return model.model_fields[name].get_default(call_default_factory=True)
        try:
            return _adapter(model, name).validate_python(raw[name], context=self._context)
        except ValidationError:
            return None

    def given(self, name: str) -> bool:
        return self._raw.get(name) is not None

    def raw(self, name: str) -> Any:
        """A section as the stack file gives it (None when not given)."""
        return self._raw.get(name)


def across_sections(sections: Sections, project: str) -> list[str]:
    """The checks that relate several settings, each where its settings are valid."""
    problems = []
    # The mode alone: a mistake elsewhere in `cluster` does not hold these back.
    cluster = sections.raw("cluster")
    mode = cluster.get("mode") if isinstance(cluster, dict) else None
    mode = mode if mode in CLUSTER_MODES else None
    existing = mode == "existing"
    if mode is not None and not existing and not sections.given("network"):
        problems.append(
            f"{project}:network: missing; cluster.mode '{mode}' needs "
            "network.availability_zones (at least two)"
        )
    if existing and (sections.given("network") or sections.given("nodes")):
        problems.append(
            f"{project}:network/nodes: set, but cluster.mode 'existing' brings its own VPC "
            "and nodes; remove them"
        )
    role = sections.setting("fleet", "role")
    if role in ("hub", "spoke") and mode not in (None, "eks"):
        problems.append(
            f"{project}:fleet.role: {role!r}, but cluster.mode is {mode!r}; expected "
            "cluster.mode 'eks': the hub's Argo CD signs in to a spoke through an EKS access "
            "entry, and reaches AWS through the hub cluster's workload identity"
        )
    identity = cluster.get("workload_identity", "irsa") if isinstance(cluster, dict) else None
    if role == "hub" and mode == "eks" and identity != "pod_identity":
        problems.append(
            f"{project}:cluster.workload_identity: {identity!r}, but fleet.role is 'hub'; "
            "expected 'pod_identity' (with the eks-pod-identity-agent add-on): the hub binds "
            "its management role to Argo CD's service accounts by Pod Identity associations, "
            "which need nothing from the Argo CD chart"
        )
    admin_area = sections.setting("gitlab", "admin_area")
    exposure = sections.setting("argocd", "exposure")
    # Counted as given: a bad range among them does not hold the count back.
    access = sections.raw("access")
    admin_cidrs = access.get("admin_cidrs") if isinstance(access, dict) else None
    if admin_area is not None and exposure is not None and isinstance(admin_cidrs, list):
        # Features that put admin_cidrs into ALB listener-rule conditions.
        alb_source_rules = [
            feature
            for feature, on in (
                ("gitlab.admin_area: admins", admin_area == "admins"),
                ("argocd.exposure: ingress", exposure == "ingress"),
            )
            if on
        ]
        if alb_source_rules and len(admin_cidrs) > MAX_ALB_SOURCE_RANGES:
            problems.append(
                f"{project}:access.admin_cidrs: {len(admin_cidrs)} ranges, but "
                f"{' and '.join(alb_source_rules)} admit them in ALB listener rules, "
                f"which take at most {MAX_ALB_SOURCE_RANGES} (a rule has at most 5 condition "
                "values: its host, its path and the ranges); expected at most "
                f"{MAX_ALB_SOURCE_RANGES} ranges (merge neighbouring ones), or "
                "gitlab.admin_area: everyone and argocd.exposure: loadbalancer"
            )
    # A group's members get its role: only groups the stack creates (and whose paths no one
    # else can claim) may carry one.
    sso, root = sections.setting("argocd", "sso"), sections.setting("gitops", "group")
    if sso is not None and root is not None:
        for i, entry in enumerate(sso.groups or []):
            if entry.group != root and not entry.group.startswith(f"{root}/"):
                problems.append(
                    f"{project}:argocd.sso.groups[{i}].group = {entry.group!r}: expected the "
                    f"GitOps group {root!r} or a group under it (the stack creates them, so no "
                    "one else can register the path and get its role)"
                )
    # Each Application owns its namespace: MinIO's is a stack resource holding its root
    # Secret (components/applications.py), and what one prunes must not be another's. Read
    # from every entry, also from one with a mistake of its own elsewhere.
    applications = sections.raw("applications")
    entries = (
        [a for a in applications if isinstance(a, dict)] if isinstance(applications, list) else []
    )
    for field, what in (("name", "names"), ("namespace", "namespaces (each owns its own)")):
        values = [app[field] for app in entries if isinstance(app.get(field), str)]
        if repeated := sorted({v for v in values if values.count(v) > 1}):
            problems.append(f"{project}:applications: {what} must be unique; repeated: {repeated}")
    return problems
