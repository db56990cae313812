"""User text for validation errors: the key as the user wrote it, the value, what was expected."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from components.config.cluster import CLUSTER_MODES
from components.config.stack import _RUNTIME_FIELDS, PlatformConfig


def _show(value: Any) -> str:
    # A cross-field check reports its field as validated: models are shown as the keys given.
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=_given)
    return text if len(text) <= 80 else text[:77] + "..."


def _given(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True, by_alias=True)
    raise TypeError(f"cannot show {type(value).__name__}")


def _key_path(loc: tuple[int | str, ...], project: str) -> str:
    parts = list(loc)
    if parts and parts[0] == "region":
        return "aws:region"
    if len(parts) > 1 and parts[0] == "cluster" and parts[1] in CLUSTER_MODES:
        del parts[1]  # the union's tag, not a key the user wrote
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return f"{project}:{path}"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the object at `loc` accepts, for 'unknown key' messages."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is not None and part in _keys(model):
            model = _model_of(_keys(model)[part].annotation)
        else:
            model = CLUSTER_MODES.get(part)  # the union's tag picks the cluster model
    return [k for k in _keys(model) if k not in _RUNTIME_FIELDS] if model else []


def _keys(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the key the stack file writes: its alias, if it has one."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _describe(error: Any, project: str) -> str:
    loc = tuple(error["loc"])
    key = _key_path(loc, project)
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{key}: missing; this key is required"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc))
        return f"{key} = {_show(value)}: unknown key (misspelled?); expected one of {allowed}"
    if kind == "union_tag_invalid":
        modes = ", ".join(repr(m) for m in CLUSTER_MODES)
        return (
            f"{key}.mode = {_show(ctx.get('tag'))}: unknown cluster mode; expected one of {modes}"
        )
    if kind == "union_tag_not_found":
        modes = ", ".join(repr(m) for m in CLUSTER_MODES)
        return f"{key}.mode: missing; expected one of {modes}"
    if kind == "value_error":
        expected = str(ctx.get("error", error["msg"]))
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le")))
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}[kind]
        expected = f"expected a number {op} {bound}"
    elif kind == "too_short":
        expected = f"expected at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        expected = f"expected at most {ctx.get('max_length')} item(s)"
    else:
        expected = "expected: " + error["msg"][0].lower() + error["msg"][1:]
    shown = "" if kind == "value_error" and value is None else f" = {_show(value)}"
    return f"{key}{shown}: {expected}"


def _position(loc: tuple[int | str, ...]) -> tuple[int, ...]:
    """Where pydantic reports an error at `loc` among the others: a model's fields in their
    order and then its unknown keys, a list's entries by index."""
    model: Any = PlatformConfig
    position = []
    for part in loc:
        if isinstance(part, int):
            position.append(part)
            continue
        fields = list(_keys(model)) if model is not None else []
        if part in fields:
            position.append(fields.index(part))
            model = _model_of(_keys(model)[part].annotation)
        else:
            position.append(len(fields))
            model = CLUSTER_MODES.get(part)  # the union's tag picks the cluster model
    return tuple(position)
