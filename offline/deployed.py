"""What the cluster will receive, object by object, for the review sections (offline.review).

Three kinds of objects, each with the top-level component it belongs to and where it was
read from:

- the Kubernetes objects the stack creates itself (their plan inputs);
- the objects every rendered release and Application renders to (offline.render);
- for a release that did not render (its chart is not in the cache, or `--no-render`), the
  Ingresses and LoadBalancer Services its chart would make, modelled from the release's
  values for the charts this stack installs that make them (GitLab, Argo CD). Such an
  object says it comes from values, not a render; any other release that did not render
  is listed as unseen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from offline.plan import Plan, component_labels
from offline.render import APPLICATION, RELEASE, Rendering

FROM_VALUES = "values of"


@dataclass(frozen=True, eq=False)
class Manifest:
    """One Kubernetes object, where it belongs and where it was read from (each one itself:
    compared and hashed by identity)."""

    body: Mapping[str, Any]
    component: str
    """The top-level component it belongs to (offline.plan.component_labels)."""
    origin: str
    """Where it was read from, for people: `rendered Ingress argocd/argocd-server (release
    argocd)`, `Ingress gitlab/gitlab-admin-area (the stack's own)`, `values of release
    gitlab (not rendered)`."""
    source: str | None = None
    """The release or Application (`release argocd`) it came from; None for the stack's own."""

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def annotations(self) -> Mapping[str, Any]:
        found = self.metadata.get("annotations")
        return found if isinstance(found, Mapping) else {}

    @property
    def spec(self) -> Mapping[str, Any]:
        found = self.body.get("spec")
        return found if isinstance(found, Mapping) else {}

    @property
    def from_values(self) -> bool:
        return self.origin.startswith(FROM_VALUES)


@dataclass
class Deployed:
    manifests: list[Manifest]
    unseen: list[tuple[str, str]]
    """(component, label) of each release or Application that did not render and whose
    objects are not modelled from its values: what it makes is out of sight."""
    not_rendered: list[tuple[str, str]]
    """(component, label) of every release or Application that did not render, modelled or
    not: its volumes, for one, are unknown."""


def deployed(plan: Plan, rendering: Rendering | None) -> Deployed:
    """Every object the cluster will receive that the plan lets us see (module docstring)."""
    labels = component_labels(plan)
    found: list[Manifest] = []
    for resource in plan.resources:
        if not resource["type"].startswith("kubernetes:") or resource["type"] == RELEASE:
            continue
        body = resource["inputs"]
        if not isinstance(body, dict) or "kind" not in body:
            continue
        body = json.loads(json.dumps(body))
        meta = body.setdefault("metadata", {})
        meta.setdefault("name", resource["name"])
        found.append(Manifest(body, labels[resource["urn"]], f"{_named(body)} (the stack's own)"))
    unseen: list[tuple[str, str]] = []
    not_rendered: list[tuple[str, str]] = []
    sources = {s.urn: s for s in rendering.sources} if rendering is not None else {}
    for resource in plan.resources:
        if resource["type"] not in (RELEASE, APPLICATION):
            continue
        source = sources.get(resource["urn"])
        component = labels[resource["urn"]]
        if source is not None and not source.reason and not source.error:
            found += [
                Manifest(obj, component, f"rendered {_named(obj)} ({source.label})", source.label)
                for obj in source.objects
            ]
            continue
        if resource["type"] == APPLICATION:
            name = (resource["inputs"].get("metadata") or {}).get("name") or resource["name"]
            unseen.append((component, f"application {name}"))
            not_rendered.append(unseen[-1])
            continue
        release = _Release(resource)
        not_rendered.append((component, f"release {release.name}"))
        model = VALUES_MODELS.get(release.chart)
        if model is None:
            unseen.append(not_rendered[-1])
            continue
        origin = f"{FROM_VALUES} release {release.name} (not rendered)"
        label = f"release {release.name}"
        found += [Manifest(obj, component, origin, label) for obj in model(release)]
    return Deployed(found, unseen, not_rendered)


def _named(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


class _Release:
    """A Helm release's inputs, as `helm template` would read them."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        inputs = resource["inputs"]
        self.chart = str(inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1]
        self.name = str(inputs.get("name") or self.chart)
        self.namespace = str(inputs.get("namespace") or "default")
        values = inputs.get("values")
        self.values: Mapping[str, Any] = values if isinstance(values, Mapping) else {}

    def value(self, *path: str, default: Any = None) -> Any:
        node: Any = self.values
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node


def _ingress(
    name: str,
    namespace: str,
    host: str,
    annotations: Mapping[str, Any],
    class_name: Any,
    paths: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations)},
        "spec": {
            **({"ingressClassName": class_name} if class_name else {}),
            "rules": [{"host": host, "http": {"paths": paths}}],
        },
    }


def _path(path: Any, service: str, port: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": port}},
    }


def _service(
    name: str, namespace: str, service: Mapping[str, Any], ports: list[tuple[str, int]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": dict(service.get("annotations") or {}),
        },
        "spec": {
            "type": service.get("type"),
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
            **(
                {"loadBalancerSourceRanges": list(service["loadBalancerSourceRanges"])}
                if service.get("loadBalancerSourceRanges")
                else {}
            ),
        },
    }


def _gitlab(release: _Release) -> list[dict[str, Any]]:
    """The GitLab chart's Ingresses (webservice, registry) and gitlab-shell's Service, from
    the values, as its templates build them (gitlab chart, integratop/gitlab-org-charts-mirror
    at 3403350c: charts/gitlab/charts/webservice/templates/ingress.yaml with
    `global.ingress.annotations` and `gitlab.gitlab.hostname`; charts/registry/templates/
    ingress.yaml with `gitlab.registry.hostname` (charts/gitlab/templates/_registry.tpl:8-11,
    `global.hosts.registry.name`, else `registry.<global.hosts.domain>`); gitlab-shell's
    templates/service.yaml, port `gitlab.shell.port` (templates/_shell.tpl:28-35, default
    22), `service.type` ClusterIP by default (charts/gitlab/charts/gitlab-shell/values.yaml)).
    The registry and gitlab-shell are on unless their `enabled` is false; the chart's other
    Ingresses (KAS, Pages, MinIO) are off unless enabled, and are not modelled."""
    found: list[dict[str, Any]] = []
    name, namespace = release.name, release.namespace
    domain = release.value("global", "hosts", "domain", default="example.com")
    ingress = release.value("global", "ingress", default={}) or {}
    if ingress.get("enabled", True) is not False:
        annotations = ingress.get("annotations") or {}
        class_name = ingress.get("class")
        path = ingress.get("path") or "/"
        host = release.value("global", "hosts", "gitlab", "name") or f"gitlab.{domain}"
        webservice = f"{name}-webservice-default"
        found.append(
            _ingress(
                webservice,
                namespace,
                host,
                annotations,
                class_name,
                [_path(path, webservice, {"number": 8181})],
            )
        )
        if release.value("registry", "enabled", default=True) is not False:
            registry = f"{name}-registry"
            host = release.value("global", "hosts", "registry", "name") or f"registry.{domain}"
            found.append(
                _ingress(
                    registry,
                    namespace,
                    host,
                    annotations,
                    class_name,
                    [_path(path, registry, {"number": 5000})],
                )
            )
    shell = release.value("gitlab", "gitlab-shell", default={}) or {}
    if shell.get("enabled", True) is not False:
        service = shell.get("service") or {}
        port = int(release.value("global", "shell", "port", default=None) or 22)
        found.append(_service(f"{name}-gitlab-shell", namespace, service, [("ssh", port)]))
    return found


def _argo_cd(release: _Release) -> list[dict[str, Any]]:
    """The argo-cd chart's server Service and Ingress, from the values, as its templates
    build them (argo-helm argo-cd-10.1.1 charts/argo-cd/templates/argocd-server/service.yaml:
    `server.service.type`, ports `servicePortHttp` 80 and `servicePortHttps` 443
    (values.yaml:2470-2472), `loadBalancerSourceRanges`; templates/argocd-server/ingress.yaml:
    with `server.ingress.enabled` and controller `generic`, one rule for
    `server.ingress.hostname` (else `global.domain`), `extraPaths` before `server.ingress.path`;
    named `<fullname>-server`, fullname the release name when it contains `nameOverride`,
    `argocd` by default, else `<release>-<nameOverride>` (templates/_common.tpl:14-25,
    values.yaml:6))."""
    override = release.value("fullnameOverride")
    chart_name = release.value("nameOverride") or "argocd"
    fullname = override or (
        release.name if chart_name in release.name else f"{release.name}-{chart_name}"
    )
    server = f"{fullname}-server"
    service = release.value("server", "service", default={}) or {}
    http = int(service.get("servicePortHttp") or 80)
    https = int(service.get("servicePortHttps") or 443)
    found = [
        _service(
            server,
            release.namespace,
            {"type": "ClusterIP", **service},
            [("http", http), ("https", https)],
        )
    ]
    ingress = release.value("server", "ingress", default={}) or {}
    if ingress.get("enabled") and ingress.get("controller", "generic") == "generic":
        host = ingress.get("hostname") or release.value("global", "domain", default="")
        paths = [dict(p) for p in ingress.get("extraPaths") or [] if isinstance(p, Mapping)]
        insecure = release.value("configs", "params", "server.insecure")
        port = http if str(insecure).lower() == "true" else https
        paths.append(_path(ingress.get("path") or "/", server, {"number": port}))
        found.append(
            _ingress(
                server,
                release.namespace,
                host,
                ingress.get("annotations") or {},
                ingress.get("ingressClassName"),
                paths,
            )
        )
    return found


VALUES_MODELS: dict[str, Callable[[_Release], list[dict[str, Any]]]] = {
    "gitlab": _gitlab,
    "argo-cd": _argo_cd,
}
"""Charts whose load-balanced objects are modelled from values when they do not render."""
