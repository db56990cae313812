"""`fleet`: one Argo CD (the hub) deploying to many clusters (the spokes).

A `standalone` stack is the platform as it always was: its Argo CD deploys to its own cluster.
A `spoke` is a cluster with its edge controllers and no GitLab or Argo CD of its own, which
lets the hub's Argo CD in; a `hub` is a full platform whose Argo CD also deploys to the spokes
it lists. docs/fleet.md has the picture and the order in which they are deployed.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from components.config.gitops import RepoPath
from components.config.values import DnsLabel, _matching, _Strict

_STACK_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*/){0,2}[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
StackName = Annotated[
    str,
    _matching(
        _STACK_NAME,
        "a stack name such as 'spoke-eu', or a fully qualified '<organization>/<project>/<stack>'",
    ),
]
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
LabelValue = Annotated[
    str,
    _matching(
        _LABEL_VALUE,
        "a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', beginning "
        "and ending with a letter or digit",
    ),
]

FLEET_ROLES = ("standalone", "hub", "spoke")


class FleetApplicationConfig(_Strict):
    """An application the hub deploys to every spoke whose labels match (an ApplicationSet
    with Argo CD's cluster generator)."""

    name: DnsLabel = Field(
        description="The ApplicationSet's name; each Application is `<name>-<spoke>`."
    )
    path: RepoPath = Field(
        description="Folder in the GitOps repository (a chart or kustomization)."
    )
    namespace: DnsLabel = Field(description="Namespace it deploys into on each spoke.")
    selector: dict[DnsLabel, LabelValue] = Field(
        default={},
        description="Contract labels a spoke must carry, without the `gitops-platform/` "
        "prefix (`environment`, `region`, `cluster`, or one of the spoke's `fleet.labels`); "
        "empty: every spoke.",
    )
    overlays: bool = Field(
        default=False,
        description="Deploy `<path>/overlays/<the spoke's environment>` instead of `path`: one "
        "Kustomize overlay per environment.",
    )


class FleetConfig(_Strict):
    """The stack's place in a fleet of clusters."""

    role: Literal["standalone", "hub", "spoke"] = Field(
        default="standalone",
        description="`standalone`: the platform deploys to its own cluster only. `hub`: also to "
        "the `spokes`. `spoke`: a cluster without GitLab or Argo CD, deployed to by `hub`.",
    )
    hub: StackName | None = Field(
        default=None,
        description="Spoke: the hub's stack (a name in this project, or "
        "`<organization>/<project>/<stack>`), read through a StackReference.",
    )
    spokes: list[StackName] = Field(
        default=[],
        description="Hub: the spokes' stacks, each deployed once before it is listed here.",
    )
    draining: list[StackName] = Field(
        default=[],
        description="Hub: spokes of `spokes` being removed: their cluster Secrets stay, but no "
        "ApplicationSet selects them, so their Applications (and what they deployed) are "
        "deleted while Argo CD can still reach them; then remove them from both lists.",
    )
    namespaces: list[DnsLabel] = Field(
        default=[],
        description="Spoke: the only namespaces the hub's Argo CD may deploy into (EKS "
        "AmazonEKSAdminPolicy scoped to them, no cluster-wide objects); empty: the whole "
        "cluster (AmazonEKSClusterAdminPolicy).",
    )
    labels: dict[DnsLabel, LabelValue] = Field(
        default={},
        description="Spoke: labels of its own for the hub's ApplicationSets to select on "
        "(beside `environment`, `region` and `cluster`).",
    )
    applications: list[FleetApplicationConfig] = Field(
        default=[], description="Hub: what it deploys to the spokes that match."
    )

    @model_validator(mode="after")
    def _fits_the_role(self) -> FleetConfig:
        misplaced = {
            "hub": self.role != "spoke" and self.hub is not None,
            "spokes": self.role != "hub" and bool(self.spokes),
            "draining": self.role != "hub" and bool(self.draining),
            "applications": self.role != "hub" and bool(self.applications),
            "namespaces": self.role != "spoke" and bool(self.namespaces),
            "labels": self.role != "spoke" and bool(self.labels),
        }
        if wrong := [key for key, bad in misplaced.items() if bad]:
            raise ValueError(
                f"fleet.role is {self.role!r}, but {', '.join(f'fleet.{k}' for k in wrong)} "
                "belong to another role; remove them"
            )
        if unknown := sorted(set(self.draining) - set(self.spokes)):
            raise ValueError(
                f"fleet.draining {unknown}: not in fleet.spokes; a spoke drains while it is "
                "still listed there"
            )
        if self.role == "spoke" and self.hub is None:
            raise ValueError("fleet.role is 'spoke': expected fleet.hub, the hub's stack")
        for key, values in (
            ("spokes", self.spokes),
            ("applications", [a.name for a in self.applications]),
        ):
            if repeated := sorted({v for v in values if values.count(v) > 1}):
                raise ValueError(f"fleet.{key} must be unique; repeated: {repeated}")
        reserved = sorted(set(self.labels) & set(CONTRACT_LABELS))
        if reserved:
            raise ValueError(
                f"fleet.labels {reserved}: set by the stack itself (the contract's "
                f"{list(CONTRACT_LABELS)}); choose other names"
            )
        return self


CONTRACT_LABELS = ("environment", "region", "cluster")
"""The labels every spoke's cluster Secret carries (docs/fleet.md, "The contract")."""
