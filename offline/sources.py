"""How one release or Application renders: the tool, the input, the cache.

A `kubernetes:helm.sh/v3:Release` renders with `helm template` from the chart archive in the
chart cache (`CHARTS`, default `.charts/`, filled by `make charts`), with exactly the values,
release name and namespace the plan gives it. CRDs are included and test hooks skipped, as
the Release installs them: "By default, CRDs are installed if not already present"
(pulumi-kubernetes 4.34.2, `pulumi_kubernetes/helm/v3/Release.py`, `skip_crds`), and an
install runs no test hooks.

An Application renders the way Argo CD's repo server does (argo-cd v3.4.4,
`reposerver/repository/repository.go` `helmTemplate`, `util/helm/cmd.go` `template`): `helm
template <path> --name-template <app> --namespace <destination> --kube-version ...
--api-versions ... --values <valueFiles> --include-crds` for a folder with a Chart.yaml, a
Kustomize build for a folder with a kustomization (`util/app/discovery/discovery.go`), from
the files the stack commits to the GitOps repository, with the chart dependencies from the
chart cache.

Renders are cached on disk (`RENDER_CACHE`, default `.cache/render/`) by everything that
decides them: the chart archive's digest (or the committed files), the values, the release
name and namespace, the Kubernetes and API versions, the tool. An unchanged release costs a
file read. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from offline.plan import PROJECT_DIR

CACHE_FORMAT = 3
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SOURCE_FIELDS = {"repoURL", "path", "targetRevision", "helm"}
"""The fields of an Application's source the offline render applies; any other makes it
"not rendered" (argo-cd v3.4.4 `pkg/apis/application/v1alpha1/types.go`, ApplicationSource)."""
HELM_FIELDS = {"valueFiles", "values", "valuesObject", "parameters", "releaseName"}
"""The Helm fields it applies, as `helmTemplate` does (reposerver/repository/repository.go)."""
RELEASE_FIELDS_NOT_APPLIED = ("valueYamlFiles", "postrender")
"""Release inputs that change what installs and that `helm template` here does not apply."""
_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
"""This module's own text: a change to how renders are made invalidates the cache."""


@dataclass
class Source:
    """One release or Application: what it renders from, and what came out."""

    kind: Literal["release", "application"]
    name: str
    urn: str
    namespace: str
    chart: str | None = None
    version: str | None = None
    origin: str | None = None
    """Where it was rendered from; None when it was not."""
    reason: str | None = None
    """Why it was not rendered (a chart missing from the cache, a tool not installed)."""
    error: str | None = None
    """What Helm or Kustomize said when the render failed."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Objects that could not be checked (their CRD is in a chart that did not render)."""
    key: str = field(default="", repr=False)
    """The render's cache key (what decided it)."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def chart_label(self) -> str:
        return f"{self.chart} {self.version}" if self.chart else "-"

    def as_dict(self) -> dict[str, Any]:
        return {
            "chart": self.chart,
            "version": self.version,
            "namespace": self.namespace,
            "from": self.origin,
            "notRendered": self.reason,
            "error": self.error,
            "objects": dict(sorted(Counter(o.get("kind", "?") for o in self.objects).items())),
            "invalid": self.invalid,
            "unchecked": self.unchecked,
        }


def find_tool(name: str) -> str | None:
    """`helm` or `kubectl` from this virtualenv's bin (`make tools` puts them there), else
    from PATH; None when neither has it."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


@dataclass(frozen=True)
class Tools:
    charts: Path
    cache: Path
    helm: str | None
    kubectl: str | None

    @classmethod
    def find(cls, charts: Path | None = None, cache: Path | None = None) -> Tools:
        """helm and kubectl from .venv/bin (`make tools`), else PATH; the chart cache from
        `charts`, else CHARTS, else `.charts/`; the render cache likewise (RENDER_CACHE)."""

        return cls(
            charts=charts or Path(os.environ.get("CHARTS") or PROJECT_DIR / ".charts"),
            cache=cache
            or Path(os.environ.get("RENDER_CACHE") or PROJECT_DIR / ".cache" / "render"),
            helm=find_tool("helm"),
            kubectl=find_tool("kubectl"),
        )

    def identity(self, name: str) -> str:
        """What tells one build of a tool from another, for cache keys: its path, size and
        time (a reinstall by `make tools` renders again, once)."""
        path = self.helm if name == "helm" else self.kubectl
        if path is None:
            return "missing"
        stat = Path(path).stat()
        return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def render_release(
    resource: Mapping[str, Any], tools: Tools, version: str, api: Sequence[str]
) -> Source:
    inputs = resource["inputs"]
    chart = str(inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1]
    chart_version = str(inputs.get("version", ""))
    release_name = str(inputs.get("name") or chart)
    namespace = str(inputs.get("namespace") or "default")
    source = Source("release", release_name, resource["urn"], namespace, chart, chart_version)
    archive = tools.charts / f"{chart}-{chart_version}.tgz"
    if tools.helm is None:
        source.reason = "helm is not installed (`make tools` puts it in .venv/bin)"
        return source
    if not archive.is_file():
        source.reason = (
            f"chart {chart} {chart_version} is not in the chart cache {tools.charts} "
            "(`make charts` pulls it; needs the network)"
        )
        return source
    unsupported = [f for f in RELEASE_FIELDS_NOT_APPLIED if inputs.get(f)]
    if unsupported:
        source.reason = f"{', '.join(unsupported)} not applied by the offline render"
        return source
    values = inputs.get("values") or {}
    argv = [tools.helm, "template", release_name, str(archive), "--namespace", namespace]
    # An install runs only its pre- and post-install hooks, never test hooks (helm v3.20.2
    # `pkg/action/install.go`, execHook HookPreInstall / HookPostInstall). The version is the
    # full `<minor>.0`; EKS itself reports `v1.35.x-eks-...` (README, what is not modelled).
    argv += ["--kube-version", f"{version}.0", "--skip-tests", "--values", "-"]
    argv += [] if inputs.get("skipCrds") else ["--include-crds"]
    argv += [arg for v in api for arg in ("--api-versions", v)]
    source.origin = _shown(archive)
    key = digest(
        "release",
        _file_digest(archive),
        values,
        release_name,
        namespace,
        version,
        list(api),
        bool(inputs.get("skipCrds")),
        tools.identity("helm"),
    )
    _run_cached(source, key, tools.cache, argv, json.dumps(values))
    return source


def _shown(path: Path) -> str:
    """A path as the plan shows it: relative to the project when inside it."""
    resolved = path.resolve()
    return str(
        resolved.relative_to(PROJECT_DIR) if resolved.is_relative_to(PROJECT_DIR) else resolved
    )


class Workspace:
    """The committed repository, written out once, the first time a render needs it."""

    def __init__(self, files: Mapping[str, str], scratch: Path) -> None:
        self.files = files
        self.digest = digest(sorted(files.items()))
        self.scratch = scratch
        self._root = scratch / "repository"
        self._written = False

    def root(self) -> Path:
        if not self._written:
            for path, content in self.files.items():
                target = self._root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            self._written = True
        return self._root

    def kind(self, path: str) -> str | None:
        """Argo CD's source type of a folder: helm (Chart.yaml), kustomize, or directory."""
        names = {p.removeprefix(f"{path}/") for p in self.files if p.startswith(f"{path}/")}
        # Argo CD walks the folder and the last match wins: a kustomization (lower case)
        # sorts after Chart.yaml (util/app/discovery/discovery.go, `Discover`).
        if names & set(KUSTOMIZATIONS):
            return "kustomize"
        if "Chart.yaml" in names:
            return "helm"
        return "directory" if names else None


def render_application(
    resource: Mapping[str, Any],
    workspace: Workspace,
    tools: Tools,
    version: str,
    api: Sequence[str],
) -> Source:
    inputs = resource["inputs"]
    spec = inputs.get("spec") or {}
    name = str((inputs.get("metadata") or {}).get("name") or resource["name"])
    namespace = str((spec.get("destination") or {}).get("namespace") or "default")
    source = Source("application", name, resource["urn"], namespace)
    spec_source = spec.get("source")
    if not isinstance(spec_source, Mapping):
        source.reason = "only single-source Applications (spec.source) are rendered"
        return source
    path = str(spec_source.get("path") or "").strip("/")
    kind = workspace.kind(path)
    if kind is not None and "helm" in spec_source:
        # A `helm` field makes the source a chart whatever the folder holds (argo-cd v3.4.4
        # pkg/apis/application/v1alpha1/types.go, ExplicitType).
        kind = "helm" if f"{path}/Chart.yaml" in workspace.files else None
    source.chart = path
    source.version = str(spec_source.get("targetRevision") or "HEAD")
    if kind is None:
        source.reason = (
            f"path {path!r} holds no Chart.yaml for its spec.source.helm"
            if "helm" in spec_source and workspace.kind(path)
            else f"path {path!r} holds none of the files the stack commits"
        )
        return source
    unsupported = sorted(set(spec_source) - SOURCE_FIELDS) + [
        f"helm.{k}" for k in sorted(set(spec_source.get("helm") or {}) - HELM_FIELDS)
    ]
    if unsupported:
        source.reason = (
            f"spec.source.{', spec.source.'.join(unsupported)} not applied by the offline render"
        )
        return source
    tool = tools.kubectl if kind == "kustomize" else tools.helm
    if tool is None:
        source.reason = (
            f"{'kubectl' if kind == 'kustomize' else 'helm'} is not installed (make tools)"
        )
        return source
    source.origin = f"gitops/{path} ({kind})"
    if kind == "kustomize":
        # Argo CD runs `kustomize build <path>` (argo-cd v3.4.4 util/kustomize/kustomize.go,
        # Build); kubectl 1.35.2 embeds Kustomize v5.7.1 against Argo CD's 5.8.1
        # (hack/tool-versions.sh).
        key = digest("kustomize", workspace.digest, path, tools.identity("kubectl"))
        _run_cached(
            source, key, tools.cache, lambda: [tool, "kustomize", str(workspace.root() / path)]
        )
        return source
    if kind == "directory":
        source.reason = "plain-manifest folders are not rendered yet"
        source.origin = None
        return source
    helm = spec_source.get("helm") or {}
    dependencies, missing = _dependencies(workspace.files[f"{path}/Chart.yaml"], tools.charts)
    if missing:
        source.reason = missing
        source.origin = None
        return source
    release_name = str(helm.get("releaseName") or name)

    def argv() -> list[str]:
        # A copy of its own: Applications of the same folder render at the same time.
        folder = workspace.scratch / f"{name}-chart"
        shutil.copytree(workspace.root() / path, folder, dirs_exist_ok=True)
        (folder / "charts").mkdir(exist_ok=True)
        for archive in dependencies:
            shutil.copyfile(archive, folder / "charts" / archive.name)
        args = [tool, "template", str(folder), "--name-template", release_name]
        args += ["--namespace", namespace, "--kube-version", f"{version}.0", "--include-crds"]
        for value_file in helm.get("valueFiles") or []:
            args += ["--values", str(folder / value_file)]
        for parameter in helm.get("parameters") or []:
            flag = "--set-string" if parameter.get("forceString") else "--set"
            args += [flag, f"{parameter['name']}={parameter['value']}"]
        inline = helm.get("valuesObject") or (
            yaml.safe_load(helm["values"]) if isinstance(helm.get("values"), str) else None
        )
        if inline:
            extra = workspace.scratch / f"{name}-values.json"
            extra.write_text(json.dumps(inline))
            args += ["--values", str(extra)]
        return args + [arg for v in api for arg in ("--api-versions", v)]

    key = digest(
        "helm-folder",
        workspace.digest,
        [_file_digest(a) for a in dependencies],
        path,
        helm,
        release_name,
        namespace,
        version,
        list(api),
        tools.identity("helm"),
    )
    _run_cached(source, key, tools.cache, argv)
    # Argo CD applies no test hooks: its gitops engine maps only Helm's install and upgrade
    # hooks to sync phases (argo-cd v3.4.4 `gitops-engine/pkg/sync/hook/helm/type.go`), and a
    # hook without a phase is never applied.
    source.objects = [o for o in source.objects if not _test_hook(o)]
    return source


def _test_hook(obj: Mapping[str, Any]) -> bool:
    """A Helm test hook: `test`, or `test-success` which Helm 3 still reads as `test` (helm
    v3.20.2 `pkg/release/hook.go` HookTest, `pkg/releaseutil/manifest_sorter.go`), or Helm 2's
    `test-failure`."""
    hooks = str(((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", ""))
    return any(h.strip() in ("test", "test-success", "test-failure") for h in hooks.split(","))


def _dependencies(chart_yaml: str, charts: Path) -> tuple[list[Path], str | None]:
    """The archives of a chart folder's dependencies in the chart cache, or why not."""
    try:
        meta = yaml.safe_load(chart_yaml) or {}
    except yaml.YAMLError as error:
        return [], f"Chart.yaml is not YAML: {error}"
    archives = []
    for dependency in meta.get("dependencies") or []:
        archive = charts / f"{dependency.get('name')}-{dependency.get('version')}.tgz"
        if not archive.is_file():
            return [], (
                f"dependency {dependency.get('name')} {dependency.get('version')} "
                f"({dependency.get('repository')}) is not in the chart cache {charts} "
                "(`make charts` pulls it)"
            )
        archives.append(archive)
    return archives, None


def digest(*parts: Any) -> str:
    text = json.dumps([CACHE_FORMAT, _CODE, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        _FILE_DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _FILE_DIGESTS[key]


def _run_cached(
    source: Source,
    key: str,
    cache: Path,
    argv: list[str] | Callable[[], list[str]],
    stdin: str | None = None,
) -> None:
    """Fill `source.objects` (or `source.error`) from the cache, or by running `argv` (a
    list, or a callable that prepares the files and returns it) and caching the result."""
    entry = cache / f"{key}.json"
    source.key = key
    try:
        cached = json.loads(entry.read_text())
    except (OSError, ValueError):
        cached = None
    if cached is None:
        command = argv() if callable(argv) else argv
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
            cached = {"error": " ".join(lines[-3:])[:1500] or f"exit status {result.returncode}"}
        else:
            try:
                documents = yaml.load_all(result.stdout, Loader=_LOADER)
                cached = {"objects": _flattened(d for d in documents if isinstance(d, dict))}
            except yaml.YAMLError as error:
                cached = {"error": f"the output is not YAML: {error}"}
        if "objects" in cached:
            # Failures are not cached: a helm killed half-way must not fail every later plan.
            write(entry, cached)
    source.error = cached.get("error")
    source.objects = cached.get("objects", [])


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _flattened(documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects, with each `v1` List replaced by its items, as Helm builds them before it
    applies (helm v3.20.2, which pulumi-kubernetes' Release embeds, `pkg/kube/client.go:336-341`,
    `newBuilder`: `Flatten()`; helm v4.1.4 the same)."""
    objects: list[dict[str, Any]] = []
    for document in documents:
        if document.get("kind", "").endswith("List") and isinstance(document.get("items"), list):
            objects += _flattened(i for i in document["items"] if isinstance(i, dict))
        else:
            objects.append(document)
    return objects


def write(path: Path, document: Any) -> None:
    """Write JSON atomically (concurrent plans may fill the same cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        json.dump(document, out, sort_keys=True, default=str)
    os.replace(out.name, path)
