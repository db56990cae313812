"""A Kubernetes API server small enough to read, for running the real kubectl in tests.

It serves the legacy discovery documents (`/api`, `/apis`, each group version's resource
list: what kubectl falls back to when the server offers no aggregated discovery), lists of
the kinds it holds (cluster-wide, and per namespace), and DELETE of one object. Deleting a
claim deletes its PersistentVolume after `volume_delay` further lists, the way the
provisioner deletes the volume a while after its claim; objects can be made to stay.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# (group, version, plural, kind, namespaced, short names)
KINDS = (
    ("", "v1", "services", "Service", True, ["svc"]),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
    ("", "v1", "persistentvolumes", "PersistentVolume", False, ["pv"]),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True, ["ing"]),
    ("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding", True, []),
    ("gateway.networking.k8s.io", "v1", "gateways", "Gateway", True, []),
)
GATEWAY_API = "gateway.networking.k8s.io"


@dataclass
class Cluster:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """plural → objects."""
    volume_delay: int = 1
    """Lists of persistentvolumes after which a released volume is gone."""
    failing_lists: int = 0
    """The next this many list calls answer 500."""
    gateway_api: bool = False
    """Whether the Gateway API's CRDs are installed (else its group is not discovered)."""
    deleted: list[str] = field(default_factory=list)
    """`plural namespace/name` of each DELETE received."""
    _releasing: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        plural: str,
        name: str,
        namespace: str | None = None,
        metadata_extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        metadata: dict[str, Any] = {"name": name, **(metadata_extra or {})}
        if namespace:
            metadata["namespace"] = namespace
        self.objects.setdefault(plural, []).append({"metadata": metadata, **fields})

    def names(self, plural: str) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects.get(plural, [])]


def _discovery(path: str, kinds: tuple[tuple[Any, ...], ...]) -> dict[str, Any] | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"]}
    if path == "/apis":
        groups = sorted({(g, v) for g, v, *_ in kinds if g})
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                    "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                }
                for g, v in groups
            ],
        }
    for group, version in {(g, v) for g, v, *_ in kinds}:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if path == prefix:
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": [
                    {
                        "name": plural,
                        "singularName": kind.lower(),
                        "namespaced": namespaced,
                        "kind": kind,
                        "verbs": ["get", "list", "delete"],
                        "shortNames": short,
                    }
                    for g, v, plural, kind, namespaced, short in kinds
                    if (g, v) == (group, version)
                ],
            }
    return None


def _handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> tuple[str, str | None, str | None] | None:
            """(plural, namespace, name) of a resource path."""
            parts = self.path.split("?")[0].strip("/").split("/")
            parts = parts[2:] if parts[0] == "api" else parts[3:]
            namespace = None
            if parts[:1] == ["namespaces"] and len(parts) >= 3:
                namespace, parts = parts[1], parts[2:]
            if not parts or parts[0] not in {k[2] for k in KINDS}:
                return None
            return parts[0], namespace, parts[1] if len(parts) > 1 else None

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            kinds = tuple(k for k in KINDS if cluster.gateway_api or k[0] != GATEWAY_API)
            if (document := _discovery(path, kinds)) is not None:
                return self._send(200, document)
            route = self._route()
            if route is None:
                return self._send(404, {"kind": "Status", "status": "Failure", "code": 404})
            if cluster.failing_lists > 0:
                cluster.failing_lists -= 1
                return self._send(500, {"kind": "Status", "status": "Failure", "code": 500})
            plural, namespace, _ = route
            if plural == "persistentvolumes":
                for name, lists in list(cluster._releasing.items()):
                    if lists <= 1:
                        cluster.objects[plural] = [
                            o for o in cluster.objects[plural] if o["metadata"]["name"] != name
                        ]
                        del cluster._releasing[name]
                    else:
                        cluster._releasing[name] = lists - 1
            items = [
                o
                for o in cluster.objects.get(plural, [])
                if namespace is None or o["metadata"].get("namespace") == namespace
            ]
            group, version, _, kind, *_ = next(k for k in KINDS if k[2] == plural)
            api_version = f"{group}/{version}" if group else version
            items = [{"apiVersion": api_version, "kind": kind, **o} for o in items]
            self._send(200, {"kind": f"{kind}List", "apiVersion": api_version, "items": items})

        def do_DELETE(self) -> None:
            route = self._route()
            if route is None or route[2] is None:
                return self._send(404, {"kind": "Status", "status": "Failure", "code": 404})
            plural, namespace, name = route
            cluster.deleted.append(f"{plural} {namespace}/{name}")
            kept = []
            for o in cluster.objects.get(plural, []):
                meta = o["metadata"]
                if meta["name"] == name and meta.get("namespace") == namespace:
                    if plural == "persistentvolumeclaims":
                        self._release_volume_of(namespace, name)
                    continue
                kept.append(o)
            cluster.objects[plural] = kept
            self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        def _release_volume_of(self, namespace: str | None, claim: str) -> None:
            for volume in cluster.objects.get("persistentvolumes", []):
                ref = volume.get("spec", {}).get("claimRef", {})
                policy = volume.get("spec", {}).get("persistentVolumeReclaimPolicy")
                if (ref.get("namespace"), ref.get("name")) == (namespace, claim):
                    if policy == "Delete":
                        cluster._releasing[volume["metadata"]["name"]] = cluster.volume_delay
                    volume.setdefault("status", {})["phase"] = "Released"

    return Handler


@contextmanager
def serving(cluster: Cluster, directory: Path) -> Iterator[Path]:
    """Serve `cluster` on a loopback port; yield a kubeconfig file naming it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "fake",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "fake", "user": {}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": "fake",
            }
        )
    )
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
