"""Previews per merge request: which merge requests get one, what it deploys, how many may run
at once, and what each preview namespace may use (components/previews.py builds them)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from components.config.gitops import RepoPath
from components.config.values import _matching, _Strict, across

_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
CpuQuantity = Annotated[
    str, _matching(_CPU, "a CPU quantity such as '500m' or '2' (cores; m is a thousandth)")
]
MemoryQuantity = Annotated[
    str, _matching(_MEMORY, "a memory quantity such as '512Mi' or '2Gi' (bytes; Ki, Mi, Gi, Ti)")
]
_SUFFIXES = {
    "m": Decimal("0.001"),
    "k": Decimal(1000),
    "M": Decimal(1000) ** 2,
    "G": Decimal(1000) ** 3,
    "T": Decimal(1000) ** 4,
    "Ki": Decimal(1024),
    "Mi": Decimal(1024) ** 2,
    "Gi": Decimal(1024) ** 3,
    "Ti": Decimal(1024) ** 4,
}
RESERVED_LABELS = ("none", "any")
"""`labels=None` and `labels=Any` filter GitLab's merge request list for no label and any
label, in any case (gitlab-org/gitlab-foss#52371, the list endpoints of issues and merge
requests): a label of that name would select far more than the labelled merge requests."""


def quantity(text: str) -> Decimal:
    """A well-formed CPU or memory quantity as a number (cores, bytes), for comparing."""
    number = re.match(r"^[\d.]+", text)
    assert number is not None, text
    return Decimal(number.group()) * _SUFFIXES.get(text[number.end() :], Decimal(1))


def _label(value: str) -> str:
    if value != value.strip() or not value or "," in value or len(value) > 255:
        raise ValueError(
            "expected a GitLab label name: 1-255 characters, no comma (GitLab's merge request "
            "list takes `labels` as a comma-separated list), no leading or trailing space"
        )
    if value.lower() in RESERVED_LABELS:
        raise ValueError(
            f"expected a label other than {value!r}: GitLab reads labels={value} as a filter "
            "('None': merge requests without labels, 'Any': with any label)"
        )
    return value


GitLabLabel = Annotated[str, AfterValidator(_label)]


def _at_most(small: str, large: str, what: str, of: str) -> None:
    if quantity(small) > quantity(large):
        raise ValueError(f"expected {what} ({small}) at most {of} ({large})")


class PreviewQuotaConfig(_Strict):
    """The ResourceQuota of each preview namespace: what all its pods together may take."""

    requests_cpu: CpuQuantity = Field(default="1", description="CPU all pods may request.")
    requests_memory: MemoryQuantity = Field(
        default="1Gi", description="Memory all pods may request."
    )
    limits_cpu: CpuQuantity = Field(default="2", description="Sum of all pods' CPU limits.")
    limits_memory: MemoryQuantity = Field(
        default="2Gi", description="Sum of all pods' memory limits."
    )
    pods: int = Field(default=10, ge=1, le=100, description="Pods at once.")

    @across("requests_cpu", "limits_cpu", at="requests_cpu")
    def _cpu_requests_within_limits(self) -> None:
        _at_most(self.requests_cpu, self.limits_cpu, "requests_cpu", "limits_cpu")

    @across("requests_memory", "limits_memory", at="requests_memory")
    def _memory_requests_within_limits(self) -> None:
        _at_most(self.requests_memory, self.limits_memory, "requests_memory", "limits_memory")


class PreviewLimitsConfig(_Strict):
    """The LimitRange of each preview namespace: every container's defaults (for those that
    set none, so that the quota's limits can be counted) and its maximum."""

    default_request_cpu: CpuQuantity = Field(default="50m", description="Default CPU request.")
    default_request_memory: MemoryQuantity = Field(
        default="64Mi", description="Default memory request."
    )
    default_cpu: CpuQuantity = Field(default="250m", description="Default CPU limit.")
    default_memory: MemoryQuantity = Field(default="256Mi", description="Default memory limit.")
    max_cpu: CpuQuantity = Field(default="1", description="Largest CPU limit of a container.")
    max_memory: MemoryQuantity = Field(
        default="1Gi", description="Largest memory limit of a container."
    )

    @across("default_request_cpu", "default_cpu", "max_cpu", at="default_cpu")
    def _cpu_in_order(self) -> None:
        _at_most(self.default_request_cpu, self.default_cpu, "default_request_cpu", "default_cpu")
        _at_most(self.default_cpu, self.max_cpu, "default_cpu", "max_cpu")

    @across("default_request_memory", "default_memory", "max_memory", at="default_memory")
    def _memory_in_order(self) -> None:
        _at_most(
            self.default_request_memory,
            self.default_memory,
            "default_request_memory",
            "default_memory",
        )
        _at_most(self.default_memory, self.max_memory, "default_memory", "max_memory")


class PreviewsConfig(_Strict):
    """A preview per open merge request of the GitOps project that carries `label`: an Argo CD
    Application, made by an ApplicationSet, deploying `path` at the merge request's head into
    a namespace of its own (`preview-<iid>`), removed when the merge request is closed, merged
    or unlabelled (README, Previews per merge request)."""

    enabled: bool | None = Field(
        default=None,
        description="Make previews. Default: on outside production, off in production "
        "(a preview runs a merge request's content before anyone reviewed it).",
    )
    label: GitLabLabel = Field(
        default="preview", description="The GitLab label that asks for a preview."
    )
    path: RepoPath = Field(
        default="my-app/overlays/dev",
        description="Folder of the GitOps repository a preview deploys (a chart or "
        "kustomization), as the merge request has it.",
    )  # a well-formed path; the loader checks that gitops/ has the folder
    max: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Previews at most at once; the merge requests beyond get none until one "
        "closes (a quota on Applications in namespace argocd).",
    )
    requeue_after_seconds: int = Field(
        default=60,
        ge=10,
        le=3600,
        description="How often Argo CD asks GitLab for the labelled merge requests.",
    )
    pod_security: Literal["privileged", "baseline", "restricted"] = Field(
        default="restricted",
        description="The Pod Security Standard each preview namespace enforces.",
    )
    quota: PreviewQuotaConfig = PreviewQuotaConfig()
    limits: PreviewLimitsConfig = PreviewLimitsConfig()

    @across("limits", "quota", at="limits")
    def _a_container_fits_the_quota(self) -> None:
        # A container whose default or largest limit is beyond the namespace's whole quota
        # could never start.
        _at_most(self.limits.max_cpu, self.quota.limits_cpu, "limits.max_cpu", "quota.limits_cpu")
        _at_most(
            self.limits.max_memory,
            self.quota.limits_memory,
            "limits.max_memory",
            "quota.limits_memory",
        )
