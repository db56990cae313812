"""Writes docs/configuration.md from the typed config model: `make docs`."""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import (  # noqa: E402
    CLUSTER_MODES,
    CONFIG_KEYS,
    SECRET_KEYS,
    PlatformConfig,
)

TARGET = ROOT / "docs" / "configuration.md"
PROJECT = "gitops-platform"
SECRETS = {
    "kubeconfig": "Secret. The cluster's kubeconfig: required for `existing`, and for `kops` "
    "once kOps has built the cluster.",
    "gitlab_token": "Secret. A GitLab administrator's token (scope `api`) to use instead of the "
    "bootstrap token.",
}


def _model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (types.UnionType, typing.Union):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "map"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return f"{len(value)} entries (see below)"
    return f"`{json.dumps(value)}`"


def _rows(model: type[BaseModel], prefix: str, defaults: Any = None) -> Iterator[str]:
    """One row per leaf key; `defaults` is the parent's default instance, if it has one."""
    for name, field in model.model_fields.items():
        if name == "mode" or (model is PlatformConfig and name in ("project", "stack", "region")):
            continue
        key = f"{prefix}{field.alias or name}"
        nested = _model(field.annotation)
        if nested is not None and typing.get_origin(field.annotation) is not list:
            inner = getattr(defaults, name, None) if defaults is not None else field.default
            yield from _rows(nested, f"{key}.", inner if isinstance(inner, BaseModel) else None)
            continue
        if defaults is not None:
            field = FieldInfo.merge_field_infos(field, default=getattr(defaults, name))
        description = (field.description or "").replace("\n", " ")
        if nested is not None:  # a list of objects: a row per key of an entry follows
            keys = [f.alias or n for n, f in nested.model_fields.items()]
            description += f" Each entry: {', '.join(keys)}."
        yield (f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
        if nested is not None:
            yield from _rows(nested, f"{key}[].")


def render() -> str:
    header = "| Key | Type | Default | Meaning |\n|---|---|---|---|"
    lines = [
        "# Configuration reference",
        "",
        "Generated from the typed model in `components/config/` by `make docs` (a test fails",
        f"when it is stale). Keys live in the `{PROJECT}:` namespace (set objects with",
        "`pulumi config set --path`); `aws:region` is required too. Unknown keys are errors.",
        "",
        "## Stack",
        "",
        header,
    ]
    top = [k for k in CONFIG_KEYS if k not in ("cluster",)]
    for key in top:
        field = PlatformConfig.model_fields[key]
        nested = _model(field.annotation)
        if nested is not None and typing.get_origin(field.annotation) is not list:
            default = field.default if isinstance(field.default, BaseModel) else None
            lines += list(_rows(nested, f"{key}.", default))
        else:
            lines += [
                r
                for r in _rows(PlatformConfig, "")
                if r.startswith((f"| `{key}` ", f"| `{key}[]."))
            ]
    for mode, model in CLUSTER_MODES.items():
        lines += ["", f"## `cluster.mode: {mode}`", "", (model.__doc__ or "").strip(), "", header]
        lines += list(_rows(model, "cluster."))
    lines += ["", "## Secrets", "", "| Key | Meaning |", "|---|---|"]
    lines += [f"| `{k}` | {SECRETS[k]} |" for k in SECRET_KEYS]
    lines += [
        "",
        "## Default `applications`",
        "",
        "```yaml",
        json.dumps(
            [
                a.model_dump(by_alias=True, exclude_defaults=True)
                for a in PlatformConfig.model_fields["applications"].default
            ],
            indent=2,
        ),
        "```",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
