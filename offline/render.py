"""Render what ships: every Helm release and every Application source of a plan, with the
real helm and kubectl (offline.sources), and check what comes out (offline.validate).

Releases render in the order they install (the plan's dependencies), each with
`--kube-version` the stack's (its `kubernetes_version` output) and `--api-versions` of the CRDs
the releases it waits for install; Applications render after every release. Every rendered
object and every Kubernetes object the stack creates itself is then validated against the
Kubernetes schemas of that version and the CRDs the charts install. The result goes into the
plan JSON (`rendered`), the summary, and the policy pack's stack analysis.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.plan import SECRET, UNKNOWN, Plan
from offline.sources import (
    Source,
    Tools,
    Workspace,
    digest,
    render_application,
    render_release,
    write,
)

RELEASE = "kubernetes:helm.sh/v3:Release"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
REPOSITORY_FILE = "gitlab:index/repositoryFile:RepositoryFile"
RENDER_SOURCE = "gitops-platform:render:Source"
RENDER_OBJECT = "gitops-platform:render:Object"
# Kinds without a namespace: the API server's built-in cluster-scoped resources of 1.35, as
# its API reference lists them (https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.35/,
# the resources without a namespace in their path; `kubectl api-resources --namespaced=false`
# on a cluster); a custom resource's scope is its CRD's `spec.scope`.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "ClusterTrustBundle",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IngressClass",
        "IPAddress",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "ResourceSlice",
        "RuntimeClass",
        "ServiceCIDR",
        "StorageClass",
        "StorageVersionMigration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeAttributesClass",
    }
)


@dataclass
class Rendering:
    """Every source of a plan, rendered, and the stack's own objects, checked."""

    kube_version: str
    sources: list[Source]
    stack_objects: Counter[str] = field(default_factory=Counter)
    stack_invalid: list[str] = field(default_factory=list)
    stack_unchecked: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def of(kind: str) -> dict[str, Any]:
            return {s.name: s.as_dict() for s in self.sources if s.kind == kind}

        return {
            "kubeVersion": self.kube_version,
            "releases": of("release"),
            "applications": of("application"),
            "stack": {
                "objects": dict(sorted(self.stack_objects.items())),
                "invalid": self.stack_invalid,
                "unchecked": self.stack_unchecked,
            },
        }

    def problems(self, required: Sequence[str] = ()) -> list[str]:
        """What makes the plan unusable: failed renders, invalid objects, and the sources in
        `required` (names or charts, or `all`) that were not rendered."""
        found = []
        for source in self.sources:
            if source.error:
                found.append(f"{source.label} ({source.chart_label}): {source.error}")
            found += [f"{source.label}: {invalid}" for invalid in source.invalid]
        found += [f"object the stack creates: {invalid}" for invalid in self.stack_invalid]
        wanted = set(required)
        every = "all" in wanted
        for name in sorted(wanted - {"all"}):
            if not any(name in (s.name, s.chart) for s in self.sources):
                names = ", ".join(
                    sorted(
                        {s.name for s in self.sources}
                        | {s.chart or "" for s in self.sources} - {""}
                    )
                )
                found.append(
                    f"required render {name!r}: no release or Application of that name or "
                    f"chart (expected one of {names})"
                )
        for source in self.sources:
            if source.reason and (every or wanted & {source.name, source.chart}):
                found.append(f"{source.label} ({source.chart_label}) must render: {source.reason}")
        return found

    def summary(self) -> str:
        lines = [f"Rendered for Kubernetes {self.kube_version} (helm template, kubectl kustomize):"]
        for source in self.sources:
            head = f"    {source.label} ({source.chart_label})"
            if source.reason:
                lines.append(f"{head}: not rendered: {source.reason}")
            elif source.error:
                lines.append(f"{head}: render failed (see errors)")
            else:
                checked = _checked(source.invalid, source.unchecked)
                lines.append(
                    f"{head}: {len(source.objects)} objects, {checked}, from {source.origin}"
                )
        total = sum(self.stack_objects.values())
        lines.append(
            f"    objects the stack creates: {total}, "
            f"{_checked(self.stack_invalid, self.stack_unchecked)}"
        )
        lines += [f"    {note}" for s in self.sources for note in s.unchecked]
        lines += [f"    {note}" for note in self.stack_unchecked]
        return "\n".join(lines)

    def analyzer_resources(self, plan: Plan) -> list[dict[str, Any]]:
        """The rendered sources and objects as resources for the pack's stack analysis
        (policies/guardrails/_common.py reads them: RENDER_SOURCE, RENDER_OBJECT)."""
        types = {r["urn"]: r["type"] for r in plan.resources}
        return [
            resource
            for source in self.sources
            for resource in pack_resources(
                source, f"urn:pulumi:{plan.stack}::{plan.project}::{types[source.urn]}$"
            )
        ]


def pack_resources(source: Source, urn_prefix: str) -> list[dict[str, Any]]:
    """One source as the pack's stack analysis gets it: a RENDER_SOURCE resource and one
    RENDER_OBJECT per object, children of the release or Application (`source.urn`), with
    URNs under `urn_prefix` (`urn:pulumi:<stack>::<project>::<parent type>$`)."""
    props = {
        "kind": source.kind,
        "name": source.name,
        "namespace": source.namespace,
        "chart": source.chart,
        "version": source.version,
        "origin": source.origin,
        "reason": source.reason,
        "objects": len(source.objects),
        "gitops": source.kind == "application",
    }
    resources = [
        _resource(
            f"{urn_prefix}{RENDER_SOURCE}::{source.name}",
            RENDER_SOURCE,
            source.name,
            source.urn,
            props,
        )
    ]
    for obj in source.objects:
        meta = obj.get("metadata") or {}
        name = f"{source.name}/{obj.get('kind')}/{meta.get('namespace') or '-'}/{meta.get('name')}"
        resources.append(
            _resource(
                f"{urn_prefix}{RENDER_OBJECT}::{name}",
                RENDER_OBJECT,
                name,
                source.urn,
                {"source": source.name, "object": _for_pack(obj)},
            )
        )
    return resources


def _checked(invalid: Sequence[str], unchecked: Sequence[str]) -> str:
    return f"{len(invalid)} invalid" + (f", {len(unchecked)} not checked" if unchecked else "")


def _resource(
    urn: str, type_: str, name: str, parent: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    """A plan-shaped resource record (what offline.policy sends the pack)."""
    return {
        "urn": urn,
        "type": type_,
        "name": name,
        "parent": parent,
        "provider": None,
        "custom": True,
        "protect": False,
        "dependencies": [],
        "property_dependencies": {},
        "inputs": inputs,
        "ignore_changes": [],
        "delete_before_replace": False,
    }


IN_FULL = frozenset(
    {
        "ConfigMap",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "Ingress",
        "IngressClass",
        "IngressClassParams",
        "Job",
        "Namespace",
        "Pod",
        "ReplicaSet",
        "Service",
        "StatefulSet",
    }
)
"""The kinds the pack receives whole (its rules read their specs and data: exposure, the
Argo CD server's parameters, images); every other kind arrives as its apiVersion, kind and
metadata (guardrails._common.RENDERED_IN_FULL, held equal by tests/test_shared_constants.py).
The pack's runtime turns every resource back into Python once per stack rule, so what it
gets is what every plan pays for."""


def _for_pack(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") in IN_FULL:
        return obj
    if isinstance(obj.get("items"), list):  # a List (the preview sends its items instead)
        return {**obj, "items": [_for_pack(i) for i in obj["items"] if isinstance(i, dict)]}
    return {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}


def kube_version(plan: Plan) -> str | None:
    """The stack's Kubernetes minor version (its `kubernetes_version` output), as `1.35`."""
    value = plan.outputs.get("kubernetes_version")
    if not isinstance(value, str) or value in (UNKNOWN, SECRET):
        return None
    return ".".join(value.removeprefix("v").split(".")[:2])


def render(plan: Plan, tools: Tools, check: bool = True) -> Rendering:
    """Render every release (in dependency order, each seeing the API versions the releases it
    waits for install) and then every Application; with `check`, validate what came out and
    the Kubernetes objects the stack creates itself."""
    version = kube_version(plan) or "1.35"
    releases = plan.of_type(RELEASE)
    below = _releases_below(plan, releases)
    levels = _levels(below)
    provided: dict[str, list[str]] = {}
    sources: dict[str, Source] = {}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for level in sorted(set(levels.values())):
            wave = [r for r in releases if levels[r["urn"]] == level]
            done = pool.map(
                lambda r: render_release(
                    r, tools, version, sorted({v for u in below[r["urn"]] for v in provided[u]})
                ),
                wave,
            )
            for resource, source in zip(wave, done, strict=True):
                sources[resource["urn"]] = source
                provided[resource["urn"]] = api_versions(source.objects)
        every_api = sorted({v for versions in provided.values() for v in versions})
        files = _committed_files(plan)
        with tempfile.TemporaryDirectory(prefix="gitops-render-") as scratch:
            workspace = Workspace(files, Path(scratch))
            applications = plan.of_type(APPLICATION)
            for resource, source in zip(
                applications,
                pool.map(
                    lambda r: render_application(r, workspace, tools, version, every_api),
                    applications,
                ),
                strict=True,
            ):
                sources[resource["urn"]] = source
    ordered = [sources[r["urn"]] for r in releases] + [
        sources[r["urn"]] for r in plan.of_type(APPLICATION)
    ]
    fill_namespaces(ordered)
    rendering = Rendering(kube_version=version, sources=ordered)
    stack_objects = _stack_objects(plan)
    rendering.stack_objects = Counter(o["kind"] for o in stack_objects)
    if check:
        _check(rendering, stack_objects, tools)
    return rendering


def api_versions(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """`group/version` and `group/version/Kind` of each served CRD version among `objects`:
    the two forms a cluster's API versions take for Helm (helm v3.20.2 `pkg/action/action.go`
    GetVersionSet: each GroupVersion, and GroupVersion joined with each Kind), which
    `.Capabilities.APIVersions.Has` compares exactly (`pkg/chartutil/capabilities.go`)."""
    found = set()
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for served in spec.get("versions") or []:
            if served.get("served") is False:
                continue
            group_version = f"{spec.get('group')}/{served.get('name')}"
            found |= {group_version, f"{group_version}/{kind}"}
    return sorted(found)


def _releases_below(plan: Plan, releases: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """For each release, the releases it depends on, directly or through other resources:
    they are installed before it."""
    by_urn = plan.by_urn()
    release_urns = {r["urn"] for r in releases}
    below: dict[str, set[str]] = {}

    def upstream(urn: str) -> set[str]:
        if urn not in below:
            below[urn] = set()  # a cycle ends here
            found: set[str] = set()
            for dependency in by_urn.get(urn, {}).get("dependencies", []):
                found |= ({dependency} & release_urns) | upstream(dependency)
            below[urn] = found - {urn}
        return below[urn]

    return {r["urn"]: upstream(r["urn"]) for r in releases}


def _levels(below: Mapping[str, set[str]]) -> dict[str, int]:
    """Each release's install wave: one after the deepest release it depends on."""
    levels: dict[str, int] = {}

    def level(urn: str) -> int:
        if urn not in levels:
            levels[urn] = 1 + max((level(u) for u in below[urn]), default=-1)
        return levels[urn]

    return {urn: level(urn) for urn in below}


def _committed_files(plan: Plan) -> dict[str, str]:
    """The GitOps repository as the stack commits it: path -> text."""
    return {
        r["inputs"]["filePath"]: r["inputs"]["content"]
        for r in plan.of_type(REPOSITORY_FILE)
        if isinstance(r["inputs"].get("content"), str)
    }


def fill_namespaces(sources: Sequence[Source]) -> None:
    """Namespaced objects without a namespace go to their source's, and cluster-scoped ones
    (the built-in kinds above, custom resources whose CRD says Cluster) lose any namespace a
    template gave them, as Helm and Argo CD apply them (pulumi-kubernetes' Release through
    helm v3.20.2 `pkg/kube/client.go` and cli-runtime; argo-cd v3.4.4 `controller/state.go`,
    `DeduplicateTargetObjects`, which also clears the namespace of cluster-scoped kinds)."""
    cluster_scoped = set(CLUSTER_SCOPED)
    for source in sources:
        for obj in source.objects:
            if obj.get("kind") == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                if spec.get("scope") == "Cluster":
                    cluster_scoped.add(str((spec.get("names") or {}).get("kind")))
    for source in sources:
        for obj in source.objects:
            meta = obj.get("metadata")
            if not isinstance(meta, dict):
                meta = obj["metadata"] = {}
            if obj.get("kind") in cluster_scoped:
                meta.pop("namespace", None)
            elif not meta.get("namespace"):
                meta["namespace"] = source.namespace
        if source.kind == "application":
            source.objects = _deduplicated(source.objects)


def _deduplicated(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One object per group, kind, namespace and name, the last one winning, as Argo CD
    keeps them (argo-cd v3.4.4 `controller/state.go`, `DeduplicateTargetObjects`)."""
    last: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        key = (group, str(obj.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
        last.pop(key, None)
        last[key] = obj
    return list(last.values())


def _stack_objects(plan: Plan) -> list[dict[str, Any]]:
    """The Kubernetes objects the stack creates itself, as the plan gives their inputs."""
    objects = []
    for resource in plan.resources:
        if not resource["type"].startswith("kubernetes:") or resource["type"] == RELEASE:
            continue
        obj = json.loads(json.dumps(resource["inputs"]))
        if "kind" not in obj or "apiVersion" not in obj:
            continue
        obj.setdefault("metadata", {}).setdefault("name", resource["name"])
        objects.append(obj)
    return objects


def _check(rendering: Rendering, stack_objects: list[dict[str, Any]], tools: Tools) -> None:
    """Validate every rendered object and every object the stack creates against the
    Kubernetes schemas of the stack's version and the CRDs the rendered charts install
    (offline.validate); results cached beside the renders."""
    crds = [
        o
        for s in rendering.sources
        for o in s.objects
        if o.get("kind") == "CustomResourceDefinition"
    ]
    crd_key = digest(sorted(digest(c) for c in crds), _validator())
    served = set(api_versions(crds))
    not_rendered = sorted(s.chart_label for s in rendering.sources if s.reason or s.error)
    schemas: Any = None

    why = f", and {len(not_rendered)} did not render" if not_rendered else ""

    def checkable(objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """The objects that can be checked, and the custom resources that cannot: their CRD
        is none of the rendered ones (a chart that did not render, or the cluster, may
        install it)."""
        unchecked = [o for o in objects if _custom(o) and _served_as(o) not in served]
        return [o for o in objects if o not in unchecked], [
            f"{_named(o)}: not checked: no rendered chart defines {_served_as(o)}{why}"
            for o in unchecked
        ]

    def checked(key: str, objects: list[dict[str, Any]]) -> list[str]:
        nonlocal schemas
        entry = tools.cache / f"{key}-valid.json"
        try:
            found: list[str] = json.loads(entry.read_text())
            return found
        except (OSError, ValueError):
            pass
        from offline import validate

        if schemas is None:
            schemas = validate.crd_schemas(crds)
        found = [str(i) for i in validate.validate(objects, rendering.kube_version, schemas)]
        write(entry, found)
        return found

    for source in rendering.sources:
        if source.objects:
            objects, source.unchecked = checkable(source.objects)
            source.invalid = checked(
                digest(source.key, source.namespace, rendering.kube_version, crd_key, objects),
                objects,
            )
    objects, rendering.stack_unchecked = checkable(stack_objects)
    rendering.stack_invalid = checked(
        digest("stack", objects, rendering.kube_version, crd_key), objects
    )


BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "extensions",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)
"""The API groups the Kubernetes API server itself serves (the API reference,
https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.35/); anything else is a
custom resource. `extensions` is long removed: its objects fail as having no schema."""


def _validator() -> str:
    """What decides a verdict besides the objects: offline/validate.py and the libraries it
    drives (their versions read without importing them)."""
    from importlib import metadata

    code = hashlib.sha256((Path(__file__).parent / "validate.py").read_bytes()).hexdigest()
    return digest(code, [metadata.version(p) for p in ("kubernetes-validate", "jsonschema")])


def _custom(obj: Mapping[str, Any]) -> bool:
    """Whether an object belongs to an API group the API server does not serve itself."""
    return str(obj.get("apiVersion", "")).rpartition("/")[0] not in BUILTIN_GROUPS


def _served_as(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('apiVersion')}/{obj.get('kind')}"


def _named(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"
