"""Kubernetes objects checked offline the way the API server checks them.

Built-in kinds are checked against the strict JSON schemas that kubernetes-validate ships per
Kubernetes version (every field typed, unknown fields refused); custom resources against the
openAPIV3Schema of the CustomResourceDefinition that serves their version, translated to
JSON Schema the way the API server reads a structural schema. Every error of an object is
reported, each with its field path; a value the offline plan cannot know (`[unknown]`,
`[secret]`) is never an error.

What the API server does, and this follows:
- An unknown field is reported, and fails the preview, although nothing that deploys here
  refuses it: pulumi-kubernetes' Release (Helm v3.20.2, `pkg/kube/client.go` create sends no
  `fieldValidation`), Argo CD v3.4.4 (`gitops-engine/pkg/utils/kube/resource_ops.go` sets no
  validation directive) and pulumi-kubernetes' own objects (`FieldValidationWarn`) all leave
  the API server at its default, Warn: it drops the field and answers with a warning
  (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation). The
  setting the field carried is then lost without an error, which is what this check is for.
- In a custom resource, the unknown fields are the ones pruning would drop: under an object
  schema that neither sets `x-kubernetes-preserve-unknown-fields` nor has
  `additionalProperties`, at any depth (an object with no `properties` at all included); the
  root and every `x-kubernetes-embedded-resource` keep `apiVersion` and `kind` (required)
  and `metadata`, which is ObjectMeta (apiextensions-apiserver `pkg/apiserver/schema/`:
  `pruning/algorithm.go`, `objectmeta/validation.go`;
  https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
  and its sections on field pruning, IntOrString, RawExtension and embedded resources).
- `x-kubernetes-int-or-string` takes an integer or a string. A null field is kept where
  `nullable`, else dropped or, with a `default`, defaulted, so it is no error unless the field
  is required; a null list item is kept and checked (`schema/defaulting/prunenulls.go`, and
  "Defaulting and Nullable" on the same page). A missing field with a default is defaulted
  before validation, so it may be required.
Not checked: formats, enums the schemas leave as free strings (a Service `type` of
`LoadBalancr`), quantities (`"lots"`), object names, CEL rules (`x-kubernetes-validations`),
list-map key uniqueness, and what only admission webhooks decide.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as kubernetes_schemas
from referencing import Registry, Resource

from offline.plan import SECRET, UNKNOWN

PLACEHOLDERS = (UNKNOWN, SECRET)
# The definitions every strict schema of kubernetes-validate refers to (its `$id`).
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
# Errors about a value, not its type: moot when the value is only partly known.
VALUE_KEYWORDS = {"pattern", "format", "minLength", "maxLength", "enum", "const"}
SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


@dataclass(frozen=True)
class Invalid:
    """One thing the API server would refuse about one object."""

    kind: str
    name: str
    namespace: str | None
    field: str
    """Dotted path with [i] indices, e.g. spec.template.spec.containers[0].bogus; map keys
    that are not plain words in brackets, as the API server writes them."""
    message: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        field = f"{self.field}: " if self.field else ""
        return f"{self.kind} {where}: {field}{self.message}"


def crd_schemas(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON schema, from the CustomResourceDefinitions among objects:
    one entry per served version, its openAPIV3Schema read as the API server reads it."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in _flattened(objects):
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            continue
        for version in spec.get("versions") or []:
            if not version.get("served"):
                continue  # the API server refuses objects of a version it does not serve
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            # apiextensions.k8s.io/v1 requires a schema; without one nothing would be pruned.
            root = schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            schemas[(f"{group}/{version.get('name')}", kind)] = _structural(root, root=True)
    return schemas


def validate(
    objects: Iterable[Mapping[str, Any]],
    kube_version: str,
    crds: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Invalid]:
    """Every error of every object: built-in kinds against Kubernetes `kube_version` (e.g.
    "1.35"), custom resources against `crds` (from `crd_schemas`). ValueError when
    kubernetes-validate has no schemas for that version."""
    version = _schema_version(kube_version)
    # Building a validator is cheap; loading a built-in kind's schema is not (cached).
    custom = {
        key: jsonschema.Draft202012Validator(schema, registry=_registry(version))
        for key, schema in crds.items()
    }
    found: dict[Invalid, None] = {}  # in order, each once
    for obj in _flattened(objects):
        for field, message in _errors(obj, version, custom):
            found[_invalid(obj, field, message)] = None
    return list(found)


def _flattened(objects: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The objects with every List replaced by its items, as Helm and kubectl send them
    (helm pkg/kube/client.go: the resource builder's Flatten)."""
    for obj in objects:
        items = obj.get("items")
        if str(obj.get("kind", "")).endswith("List") and isinstance(items, list):
            yield from _flattened(item for item in items if isinstance(item, Mapping))
        else:
            yield obj


def _invalid(obj: Mapping[str, Any], field: str, message: str) -> Invalid:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace = metadata.get("namespace")
    return Invalid(
        kind=str(obj.get("kind") or "object"),
        name=str(metadata.get("name") or metadata.get("generateName") or "?"),
        namespace=str(namespace) if namespace else None,
        field=field,
        message=message,
    )


def _errors(
    obj: Mapping[str, Any],
    version: str,
    custom: Mapping[tuple[str, str], jsonschema.Draft202012Validator],
) -> Iterator[tuple[str, str]]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        yield "", "no apiVersion and kind"
        return
    validator = _builtin(version, api_version, kind)
    if validator is None:
        validator = custom.get((api_version, kind))
    if validator is None:
        minor = kubernetes_schemas.major_minor(version)
        yield (
            "",
            (
                f"no schema for {api_version} {kind} in Kubernetes {minor}"
                " or the CRDs the stack installs"
            ),
        )
        return
    for error in validator.iter_errors(obj):
        yield from _explain(error)


def _schema_version(kube_version: str) -> str:
    """The kubernetes-validate schema version ("1.35.0") of a Kubernetes version."""
    minor: str = kubernetes_schemas.major_minor(kube_version.removeprefix("v"))
    versions: list[str] = kubernetes_schemas.all_versions()
    for version in versions:
        if kubernetes_schemas.major_minor(version) == minor:
            return version
    raise ValueError(
        f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for Kubernetes"
        f" {kube_version!r}: it has {kubernetes_schemas.major_minor(versions[0])} to"
        f" {kubernetes_schemas.major_minor(versions[-1])}"
    )


@functools.cache
def _registry(version: str) -> Registry[Any]:
    """The shared definitions of one Kubernetes version, for every schema's `$ref`s."""
    definitions: dict[str, Any] = kubernetes_schemas.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    registry: Registry[Any] = Registry().with_resource(
        DEFINITIONS, Resource.from_contents(definitions)
    )
    return registry


@functools.cache
def _builtin(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """The validator of a built-in kind, or None when Kubernetes `version` has none."""
    group, _, gv_version = api_version.rpartition("/")
    # kubernetes-validate's file naming: the group's first label, e.g. rbac-v1, apps-v1, v1.
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kubernetes_schemas.schema_contents(
            f"kubernetes-json-schema/v{version}-local-strict/{kind.lower()}-{short}.json", version
        )
    except FileNotFoundError:
        return None
    # Files of the same name also describe parts of objects (Affinity, rbac-v1 of another
    # group): only a kind that the API serves at exactly this group and version counts.
    served = {"group": group, "version": gv_version, "kind": kind}
    if served not in schema.get("x-kubernetes-group-version-kind", []):
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


# Rewritten below, or annotations only; value validations (enum, pattern, bounds, and
# allOf/anyOf/oneOf/not, inside which a structural schema declares no fields) stay as they are.
REWRITTEN = {
    "type", "nullable", "properties", "additionalProperties", "items", "required", "default",
    "description", "example", "externalDocs", "format", "title",
}  # fmt: skip


def _structural(node: Mapping[str, Any], *, null_ok: bool = False, root: bool = False) -> Any:
    """One node of a CRD's structural schema as JSON Schema (see the module's docstring)."""
    schema: dict[str, Any] = {
        key: value
        for key, value in node.items()
        if key not in REWRITTEN and not key.startswith("x-kubernetes-")
    }
    declared: Mapping[str, Any] = node.get("properties") or {}
    # A missing field with a default is defaulted; a null one is dropped (or defaulted, or
    # kept when nullable), which only a required field without a default does not survive.
    required = {
        name for name in node.get("required", []) if "default" not in declared.get(name, {})
    }
    properties = {
        name: _structural(child, null_ok=bool(child.get("nullable")) or name not in required)
        for name, child in declared.items()
    }
    if root or node.get("x-kubernetes-embedded-resource"):
        required |= {"apiVersion", "kind"}
        for name in ("apiVersion", "kind"):
            properties.setdefault(name, {"type": "string"})
        properties["metadata"] = {"$ref": OBJECT_META}
        metadata = declared.get("metadata") or {}
        if set(metadata) - {"type", "description"}:
            # A CRD may restrict metadata.name and generateName; the rest is ObjectMeta.
            restricted = _structural({**metadata, "x-kubernetes-preserve-unknown-fields": True})
            properties["metadata"] = {"allOf": [{"$ref": OBJECT_META}, restricted]}
    types = ["integer", "string"] if node.get("x-kubernetes-int-or-string") else []
    if not types and "type" in node:
        types = [node["type"]]
    if required:
        schema["required"] = sorted(required)
    if properties:
        schema["properties"] = properties
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        schema["additionalProperties"] = _structural(additional, null_ok=True)
    elif (
        additional is None
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and ("object" in types or properties)
    ):
        schema["additionalProperties"] = False  # the API server would prune the rest
    if isinstance(node.get("items"), Mapping):
        schema["items"] = _structural(node["items"])  # a null item is kept: nullable or not
    null_ok = null_ok or bool(node.get("nullable"))
    if types:
        schema["type"] = [*types, "null"] if null_ok else types
    if null_ok and {"enum", "const", "allOf", "anyOf", "oneOf", "not"} & set(schema):
        return {"if": {"type": "null"}, "else": schema}
    return schema


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[str, str]]:
    """(field path, short message) for one error, none when the value is not known offline."""
    instance: Any = error.instance
    keyword: Any = error.validator
    expected: Any = error.validator_value
    if instance in PLACEHOLDERS:
        return
    partly_known = isinstance(instance, str) and any(p in instance for p in PLACEHOLDERS)
    if partly_known and keyword in VALUE_KEYWORDS:
        return
    path = _path(error.absolute_path)
    if keyword == "additionalProperties" and expected is False:
        schema: Any = error.schema
        known = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        for name in instance:
            if name not in known:
                yield (
                    _path([*error.absolute_path, name]),
                    f"unknown field {name!r} (the API server drops it)",
                )
    elif keyword == "required":
        for name in expected:
            if name not in instance:
                yield _path([*error.absolute_path, name]), "missing required field"
    elif keyword in {"oneOf", "anyOf"} and instance is None:
        # Kubernetes-validate lets every form of IntOrString and Quantity be null, so a null
        # matches both; the API server reads it as unset.
        return
    else:
        yield path, _message(error)


def _message(error: jsonschema.ValidationError) -> str:
    instance: Any = error.instance
    keyword: Any = error.validator
    expected: Any = error.validator_value
    got = JSON_TYPES.get(type(instance), type(instance).__name__)
    if keyword == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {' or '.join(n for n in names if n != 'null')}, got {got}"
    if keyword in {"oneOf", "anyOf"}:
        branches = [b for b in expected if isinstance(b, Mapping)]
        if branches and all(set(b) <= {"type", "format", "description"} for b in branches):
            names = [n for b in branches for n in _types(b.get("type")) if n != "null"]
            return f"expected {' or '.join(names)}, got {got}"
        if keyword == "oneOf" and not error.context:
            return "matches more than one of the allowed forms"
        return "matches none of the allowed forms"
    if keyword == "enum":
        options = ", ".join(_short(option) for option in expected[:8])
        more = ", ..." if len(expected) > 8 else ""
        return f"expected one of {options}{more}, got {_short(instance)}"
    if keyword == "const":
        return f"expected {_short(expected)}, got {_short(instance)}"
    if keyword == "pattern":
        return f"{_short(instance)} does not match {expected!r}"
    limits = {
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minItems": "at least {} items",
        "maxItems": "at most {} items",
        "minProperties": "at least {} fields",
        "maxProperties": "at most {} fields",
    }
    if keyword in limits:
        return f"expected {limits[keyword].format(expected)}"
    return " ".join(error.message.split())[:160]


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif SIMPLE_KEY.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part}]"
    return path
