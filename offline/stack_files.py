"""Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` the way the Pulumi CLI hands them to a program."""

from __future__ import annotations

import json
import re
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


def load_stack(
    project_dir: Path, stack: str, path: Path | None = None, problems: list[str] | None = None
) -> StackSettings:
    """The configuration of `stack` (from `Pulumi.<stack>.yaml` in `project_dir`, or `path`),
    with every `secure:` value replaced by a placeholder. What the file holds beside its
    `config:` that would be lost (an ESC `environment:`, unknown keys) is an error; with
    `problems` given it is added there instead, so that the configuration is still read and
    its own problems reported with it."""
    project = project_name(project_dir)
    path = path or project_dir / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.load(path.read_text(), Loader=StackFileLoader) or {}
    except OSError:
        known = stack_names(project_dir)
        raise StackFileError(
            f"no stack file {path.name}; stacks here: {', '.join(known) or 'none'}"
        ) from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise StackFileError(f"{path}: expected a mapping with a 'config' mapping")
    found = []
    if "environment" in document:
        found.append(
            f"{path}: `environment:` imports Pulumi ESC environments, which the offline "
            "preview cannot open (no network, no Pulumi Cloud): its plan would lack their "
            "values; put the settings under `config:` or plan a copy of the stack file that "
            "has them (--stack-file)"
        )
    if unknown := sorted(set(document) - STACK_FILE_KEYS - {"environment"}):
        found.append(
            f"{path}: unknown top-level key(s) {', '.join(unknown)} (misspelled?); a stack "
            f"file has {', '.join(sorted(STACK_FILE_KEYS | {'environment'}))}"
        )
    if found and problems is None:
        raise StackFileError("\n".join(found))
    if problems is not None:
        problems += found
    return settings_from_config(project, stack, document.get("config") or {})


class StackFileLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads a stack file (gopkg.in/yaml.v3: pulumi/pulumi
    `sdk/go/common/encoding/marshal.go`), where PyYAML's YAML 1.1 would differ: a key given
    twice is an error ("mapping key ... already defined", yaml.v3 decode.go), and only
    `true`/`false` are booleans and only decimal, `0o` and `0x` numbers integers (the YAML 1.2
    core schema yaml.v3 resolves; `no`, `on`, `1:20` and `012` stay text)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"mapping key {key!r} already defined at line {seen[key] + 1}",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_BOOL, _INT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int"
StackFileLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_BOOL, _INT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StackFileLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
StackFileLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def settings_from_config(project: str, stack: str, config: dict[str, Any]) -> StackSettings:
    """Turn a stack file's `config:` mapping into what the CLI passes to the program."""
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        plain, secret = _reveal_placeholders(value, full_key)
        # A key with no value reaches the program as "", as from the CLI (pulumi/pulumi
        # sdk/go/common/workspace/loaders.go, checkForEmptyConfig).
        values[full_key] = "" if plain is None else _as_cli_string(plain)
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


def platform_raw(settings: StackSettings) -> dict[str, object]:
    """The project's configuration of a stack as the program's model reads it (`validate`),
    its secrets set aside as the program sets them aside (components/config/loader.py)."""
    # Imported late: the config module is part of the program under preview.
    from components.config.loader import _decode
    from components.config.stack import SECRET_KEYS

    prefix = f"{settings.project}:"
    raw: dict[str, object] = {"project": settings.project, "stack": settings.stack}
    if "aws:region" in settings.config:
        raw["region"] = settings.config["aws:region"]
    for key, value in settings.config.items():
        if key.startswith(prefix) and key[len(prefix) :] not in SECRET_KEYS:
            raw[key[len(prefix) :]] = _decode(value)
    return raw
