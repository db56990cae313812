"""StackReferences, offline: the other stack's outputs from a file, or stand-ins derived from
its stack file.

Under the CLI a StackReference reads the referenced stack's last outputs from the backend.
Offline there is no backend: `--stack-outputs STACK=FILE` gives them (a plan JSON of that
stack, whose `outputs` are taken, or `pulumi stack output --json` of it); without one, a stack
of this project whose `Pulumi.<stack>.yaml` lies next to the referencing stack file (or in the
project) is answered with the fleet outputs its configuration implies (components/fleet.py),
with stand-in ids, and the plan says so. Any other reference is an error naming the flag.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.stack_files import StackFileError, load_stack

ACCOUNT_ID = "123456789012"
"""The account every offline ARN names (offline.mocks imports it from here)."""


class ReferenceError(Exception):
    """A StackReference the offline preview cannot answer."""


@dataclass
class References:
    """How the offline preview answers StackReferences, and what it answered."""

    project: str
    files: Mapping[str, Path] = field(default_factory=dict)
    """Fully qualified stack name -> a file of its outputs."""
    search: Sequence[Path] = ()
    """Where to look for a referenced stack's `Pulumi.<stack>.yaml`."""
    project_dir: Path | None = None
    answered: list[str] = field(default_factory=list)
    """One line per reference answered, for the plan's diagnostics."""

    def outputs(self, reference: str) -> dict[str, Any]:
        if reference in self.files:
            outputs = read_outputs(self.files[reference])
            self.answered.append(
                f"StackReference {reference}: outputs from {self.files[reference]}"
            )
            return outputs
        _organization, _, rest = reference.partition("/")
        project, _, stack = rest.partition("/")
        path = next(
            (
                d / f"Pulumi.{stack}.yaml"
                for d in self.search
                if (d / f"Pulumi.{stack}.yaml").is_file()
            ),
            None,
        )
        if project != self.project or path is None or self.project_dir is None:
            raise ReferenceError(
                f"StackReference {reference}: offline there is no backend to read its outputs "
                f"from; pass --stack-outputs {reference}=FILE (a plan JSON of that stack, or "
                "`pulumi stack output --json` of it)"
            )
        outputs = stand_in_outputs(reference, self.project_dir, stack, path)
        self.answered.append(
            f"StackReference {reference}: stand-in outputs derived from {path} (ids are "
            f"offline stand-ins; --stack-outputs {reference}=FILE gives real ones)"
        )
        return outputs


def read_outputs(path: Path) -> dict[str, Any]:
    """A plan JSON's `outputs`, or a JSON object of outputs."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReferenceError(f"--stack-outputs {path}: cannot read it as JSON: {error}") from None
    if not isinstance(document, dict):
        raise ReferenceError(f"--stack-outputs {path}: expected a JSON object of outputs")
    outputs = document.get("outputs", document) if "resources" in document else document
    if not isinstance(outputs, dict):
        raise ReferenceError(f"--stack-outputs {path}: its `outputs` is not an object")
    return outputs


def stand_in_outputs(reference: str, project_dir: Path, stack: str, path: Path) -> dict[str, Any]:
    """The fleet outputs (`fleet_hub`, `fleet_member`) the stack's configuration implies."""
    # Imported late: the program's modules are part of the program under preview.
    from components.clusters import cluster_name
    from components.config.loader import ConfigError, validate
    from components.fleet import CONTRACT_VERSION, HUB_OUTPUT, MEMBER_OUTPUT
    from components.iam import partition_of
    from components.naming import Naming
    from offline.stack_files import platform_raw

    try:
        settings = load_stack(project_dir, stack, path)
    except StackFileError as error:
        raise ReferenceError(f"StackReference {reference}: {error}") from None
    config, problems = validate(platform_raw(settings), settings.project)
    if config is None:
        raise ReferenceError(
            f"StackReference {reference}: {path} does not validate:\n"
            + str(ConfigError(settings.stack, problems))
        )
    naming = Naming.for_stack(config)
    partition = partition_of(config.region)
    name = cluster_name(config, naming)
    digest = hashlib.sha256(reference.encode()).hexdigest()

    def role(suffix: str) -> str:
        return f"arn:{partition}:iam::{ACCOUNT_ID}:role/{naming.prefix}-{suffix}"

    outputs: dict[str, Any] = {}
    if config.fleet.role == "hub":
        outputs[HUB_OUTPUT] = {"management_role_arn": role("fleet-management")}
    if config.fleet.role == "spoke":
        authority = base64.b64encode(f"stand-in CA of {reference}".encode()).decode()
        outputs[MEMBER_OUTPUT] = {
            "version": CONTRACT_VERSION,
            "stack": config.stack,
            "cluster_name": name,
            "cluster_arn": f"arn:{partition}:eks:{config.region}:{ACCOUNT_ID}:cluster/{name}",
            "server": f"https://{digest[:32].upper()}.gr7.{config.region}.eks.amazonaws.com",
            "ca_data": authority,
            "region": config.region,
            "environment": config.environment,
            "vpc_id": f"vpc-{digest[:17]}",
            "argocd_role_arn": role("fleet-argocd"),
            "namespaces": list(config.fleet.namespaces),
            "labels": dict(config.fleet.labels),
            "addon_role_arns": {
                "external-dns": role("external-dns"),
                "load-balancer-controller": role("alb"),
            },
        }
    return outputs
