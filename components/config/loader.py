"""Loading: read the stack's configuration from the Pulumi runtime and validate it in one pass.

`load_config()` either returns the model and the secrets or raises a `ConfigError` that lists
every problem at once (unknown keys, secrets in clear, field errors, cross-field checks),
before any resource is registered.

The models check values only; what depends on this checkout, that each application's `path`
and `previews.path` is a folder of `gitops/`, is checked here, and reported among the field
errors just where pydantic would have reported it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pydantic import TypeAdapter, ValidationError

from components.config.across import Sections, across_sections
from components.config.cluster import ExistingClusterConfig, NodeGroupConfig
from components.config.gitops import RepoPath, ValueFile
from components.config.messages import _describe, _position, _show
from components.config.namespaces import foreign_key_problems
from components.config.stack import CONFIG_KEYS, SECRET_KEYS, PlatformConfig, PlatformSecrets

GITOPS_DIR = Path(__file__).resolve().parents[2] / "gitops"
"""The GitOps repository's content as committed here; the stack seeds GitLab with it."""


class ConfigError(pulumi.RunError):
    """Invalid stack configuration: every problem, one per line, before anything is created."""

    def __init__(self, stack: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration for stack '{stack}' ({count}):\n{lines}")


def load_config() -> tuple[PlatformConfig, PlatformSecrets]:
    """Read and validate this stack's configuration from the Pulumi runtime."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    present = _present_keys(project)
    raw: dict[str, Any] = {"project": project, "stack": stack}
    if (region := pulumi.runtime.get_config("aws:region")) is not None:
        raw["region"] = region
    problems: list[str] = []
    for key in sorted(present):
        value = pulumi.runtime.get_config(f"{project}:{key}")
        if key in SECRET_KEYS:
            if not pulumi.runtime.is_config_secret(f"{project}:{key}"):
                problems.append(
                    f"{project}:{key}: is stored in clear; set it with "
                    f"`pulumi config set --secret {key}`"
                )
        elif key in CONFIG_KEYS:
            if pulumi.runtime.is_config_secret(f"{project}:{key}"):
                problems.append(
                    f"{project}:{key}: holds a secret value; secrets are top-level keys of "
                    f"their own ({', '.join(SECRET_KEYS)})"
                )
            raw[key] = _decode(value)
        else:
            problems.append(
                f"{project}:{key} = {_show(value)}: unknown key (misspelled?); expected one of "
                f"{', '.join(CONFIG_KEYS + SECRET_KEYS)}"
            )

    every_key = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    problems += foreign_key_problems(every_key, project)
    config, model_problems = validate(raw, project)
    problems += model_problems
    mode = raw.get("cluster", {}).get("mode") if isinstance(raw.get("cluster"), dict) else None
    if mode == "existing" and "kubeconfig" not in present:
        problems.append(
            f"{project}:kubeconfig: missing; cluster.mode 'existing' needs the cluster's "
            "kubeconfig (`pulumi config set --secret kubeconfig < kubeconfig.yaml`)"
        )
    if problems or config is None:
        raise ConfigError(stack, problems)

    stack_config = pulumi.Config()
    return config, PlatformSecrets(
        kubeconfig=stack_config.get_secret("kubeconfig"),
        gitlab_token=stack_config.get_secret("gitlab_token"),
    )


def validate(raw: Mapping[str, Any], project: str) -> tuple[PlatformConfig | None, list[str]]:
    """Validate raw config values; return the model or every problem found, as user text."""
    production = raw.get("production")
    context = {
        "region": raw.get("region") if isinstance(raw.get("region"), str) else None,
        "production": production is True or str(production).lower() == "true",
    }
    config: PlatformConfig | None = None
    errors: list[Any] = []
    try:
        config = PlatformConfig.model_validate(raw, context=context)
    except ValidationError as error:
        errors = list(error.errors())
    folders = _gitops_folders()
    errors = _merged(
        errors,
        _uncommitted_paths(raw, folders) + _preview_path(raw, folders) + _fleet_paths(raw, folders),
    )
    # The checks across fields run on every section that validated on its own, so that they
    # are reported with the field errors, not only once those are fixed.
    problems = [_describe(e, project) for e in errors] + across_sections(
        Sections(raw, context, config), project
    )
    if problems or config is None:
        return None, problems
    existing = isinstance(config.cluster, ExistingClusterConfig)
    if config.nodes is None and not existing:
        config = config.model_copy(update={"nodes": NodeGroupConfig()})
    return config, []


def _gitops_folders() -> set[str]:
    """Folders of gitops/ that the stack commits: where an application may point."""
    return {str(p.relative_to(GITOPS_DIR)) for p in GITOPS_DIR.rglob("*") if p.is_dir()}


_AS_REPO_PATH = TypeAdapter(RepoPath)


KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The file names that make a folder a Kustomization for Argo CD (argo-cd v3.4.4
`util/kustomize/kustomize.go`, KustomizationNames), as for `kustomize build`."""


def _uncommitted_paths(raw: Mapping[str, Any], folders: set[str]) -> list[dict[str, Any]]:
    """Errors, shaped like pydantic's, for each application whose `path` is a well-formed
    path (the model reports any other) but not a folder of gitops/, or not a Helm chart
    (Chart.yaml) or a kustomization; for each `value_files` entry its folder lacks; and for
    value files given to a Kustomize folder, which Argo CD would render as a chart instead
    (an explicit `helm` source makes it one: argo-cd v3.4.4
    `pkg/apis/application/v1alpha1/types.go`, ExplicitType)."""
    errors = []
    for index, application, path in _with_paths(raw.get("applications")):
        at = ("applications", index)
        problem = _folder_problem(path, folders)
        if problem:
            errors.append(_error((*at, "path"), application["path"], problem))
            continue
        folder = GITOPS_DIR / path
        kustomize = any((folder / name).is_file() for name in KUSTOMIZATIONS)
        value_files = application.get("value_files")
        if not isinstance(value_files, list) or not value_files:
            continue
        if kustomize:
            message = f"gitops/{path} is a Kustomize folder: it takes no value files"
            errors.append(_error((*at, "value_files"), value_files, message))
            continue
        present = sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
        for position, name in enumerate(value_files):
            if _is_value_file(name) and not (folder / name).is_file():
                message = f"expected a file of gitops/{path}: {present}"
                errors.append(_error((*at, "value_files", position), name, message))
    return errors


def _with_paths(entries: Any) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, entry, path) of each entry of a list with a well-formed `path`: the model
    reports any other, and a value that is no list."""
    if not isinstance(entries, list | tuple):
        return
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "path" not in entry:
            continue
        try:
            yield index, entry, _AS_REPO_PATH.validate_python(entry["path"])
        except ValidationError:
            continue


def _folder_problem(path: str, folders: set[str]) -> str | None:
    """Why a well-formed `path` is no folder Argo CD can deploy from, or None: it must be a
    folder of gitops/ holding a Helm chart (Chart.yaml) or a kustomization."""
    if path not in folders:
        return f"expected a folder of gitops/ (committed to GitLab): {sorted(folders)}"
    folder = GITOPS_DIR / path
    chart = (folder / "Chart.yaml").is_file()
    if not chart and not any((folder / name).is_file() for name in KUSTOMIZATIONS):
        return f"expected a Helm chart (Chart.yaml) or a kustomization in gitops/{path}"
    return None


def _preview_path(raw: Mapping[str, Any], folders: set[str]) -> list[dict[str, Any]]:
    """An error, shaped like pydantic's, when `previews.path` is well-formed (the model
    reports any other) but no folder a preview can deploy (`_folder_problem`)."""
    previews = raw.get("previews")
    if not isinstance(previews, dict) or "path" not in previews:
        return []  # the default path, or not a mapping: the model reports that
    try:
        path = _AS_REPO_PATH.validate_python(previews["path"])
    except ValidationError:
        return []
    problem = _folder_problem(path, folders)
    return [_error(("previews", "path"), previews["path"], problem)] if problem else []


def _fleet_paths(raw: Mapping[str, Any], folders: set[str]) -> list[dict[str, Any]]:
    """Errors, shaped like pydantic's, for each fleet application whose well-formed `path`
    is no folder a spoke can be deployed from: with `overlays`, `<path>/overlays` must hold
    at least one overlay (each spoke gets its environment's)."""
    fleet = raw.get("fleet")
    errors = []
    for index, application, path in _with_paths(
        fleet.get("applications") if isinstance(fleet, dict) else None
    ):
        at = ("fleet", "applications", index, "path")
        if application.get("overlays") is True:
            overlays = sorted(
                f.rsplit("/", 1)[-1]
                for f in folders
                if f.startswith(f"{path}/overlays/") and f.count("/") == path.count("/") + 2
            )
            problem = (
                None if overlays else f"expected overlays in gitops/{path}/overlays/<environment>"
            )
            problem = problem or next(
                (p for o in overlays if (p := _folder_problem(f"{path}/overlays/{o}", folders))),
                None,
            )
        else:
            problem = _folder_problem(path, folders)
        if problem:
            errors.append(_error(at, application["path"], problem))
    return errors


def _is_value_file(name: Any) -> bool:
    """A well-formed value file name (the model reports any other)."""
    try:
        _AS_VALUE_FILE.validate_python(name)
    except ValidationError:
        return False
    return True


_AS_VALUE_FILE = TypeAdapter(ValueFile)


def _error(loc: tuple[str | int, ...], given: Any, message: str) -> dict[str, Any]:
    """A problem shaped like a pydantic error, so that it is described like one."""
    return {
        "type": "value_error",
        "loc": loc,
        "msg": f"Value error, {message}",
        "input": given,
        "ctx": {"error": message},
    }


def _merged(errors: list[Any], more: list[dict[str, Any]]) -> list[Any]:
    """`errors` as pydantic reported them, each of `more` placed where pydantic would have
    reported it (a model's fields in their order, then its unknown keys)."""
    merged = list(errors)
    for error in more:
        at = _position(error["loc"])
        index = next((i for i, e in enumerate(merged) if _position(e["loc"]) > at), len(merged))
        merged.insert(index, error)
    return merged


def _present_keys(project: str) -> set[str]:
    """Keys of this project's namespace that the stack sets (CLI env or runtime config)."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    prefix = f"{project}:"
    return {k[len(prefix) :] for k in keys if k.startswith(prefix)}


def _decode(value: Any) -> Any:
    """Config arrives as strings; objects and lists as JSON text. Scalars stay strings for
    pydantic to coerce ('true' -> True, '3' -> 3) so a bad scalar is reported, not a crash."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
