"""Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` the way the Pulumi CLI hands them to a program."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class StackFileError(Exception):
    """A project or stack file the offline preview cannot read."""


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    config: dict[str, str]
    """`namespace:key` -> value as the CLI passes it (objects and lists as JSON text)."""
    secret_keys: list[str] = field(default_factory=list)


STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt"})
"""What a stack file holds besides `environment` (pulumi/pulumi
`sdk/go/common/workspace/project.go`, ProjectStack); the CLI reads nothing else from it."""


def project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StackFileError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise StackFileError(f"{path}: expected a mapping with a 'name'")
    if "config" in document:
        # Project-level configuration (pulumi/pulumi sdk/go/common/workspace/project.go,
        # Project.Config) would reach `pulumi up` but not this preview.
        raise StackFileError(
            f"{path}: project-level `config:` is not read by the offline preview, which would "
            "then plan other values than `pulumi up`; set those keys in each "
            "Pulumi.<stack>.yaml"
        )
    name: str = document["name"]
    return name


def stack_names(project_dir: Path) -> list[str]:
    """The stacks this checkout has: one `Pulumi.<stack>.yaml` each (the Makefile's STACKS, the
    chart cache's default stacks and the tests of the shipped stacks are these)."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in project_dir.glob("Pulumi.*.yaml")
    )


def load_stack(project_dir: Path, stack: str, path: Path | None = None) -> StackSettings:
    """The configuration of `stack` (from `Pulumi.<stack>.yaml` in `project_dir`, or `path`),
    with every `secure:` value replaced by a placeholder."""
    project = project_name(project_dir)
    path = path or project_dir / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError:
        known = stack_names(project_dir)
        raise StackFileError(
            f"no stack file {path.name}; stacks here: {', '.join(known) or 'none'}"
        ) from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise StackFileError(f"{path}: expected a mapping with a 'config' mapping")
    if "environment" in document:
        raise StackFileError(
            f"{path}: `environment:` imports Pulumi ESC environments, which the offline "
            "preview cannot open (no network, no Pulumi Cloud): its plan would lack their "
            "values; put the settings under `config:` or plan a copy of the stack file that "
            "has them (--stack-file)"
        )
    if unknown := sorted(set(document) - STACK_FILE_KEYS):
        raise StackFileError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)} (misspelled?); a stack "
            f"file has {', '.join(sorted(STACK_FILE_KEYS | {'environment'}))}"
        )
    return settings_from_config(project, stack, document.get("config") or {})


def settings_from_config(project: str, stack: str, config: dict[str, Any]) -> StackSettings:
    """Turn a stack file's `config:` mapping into what the CLI passes to the program."""
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        plain, secret = _reveal_placeholders(value, full_key)
        values[full_key] = _as_cli_string(plain)
        if secret:
            secret_keys.append(full_key)
    return StackSettings(project, stack, values, sorted(secret_keys))


def _reveal_placeholders(value: Any, key: str) -> tuple[Any, bool]:
    """Replace encrypted `{secure: ...}` values by placeholders; say whether any was found.

    The offline preview has no key to decrypt them and needs none: the program only passes
    secrets along, and the plan shows every secret as a marker anyway.
    """
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return f"offline-placeholder-for-secret-{key}", True
        pairs = {k: _reveal_placeholders(v, key) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_reveal_placeholders(v, key) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _as_cli_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)
