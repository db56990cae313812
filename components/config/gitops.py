"""The GitOps repository the stack seeds and the Argo CD Applications deployed from it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from components.config.charts import ChartConfig
from components.config.sync import SyncConfig
from components.config.values import DnsLabel, _matching, _Strict, across

# Segments of letters, digits, `_`, `.` and `-`, none of them `.` or `..`: a path stays inside
# the folder it is relative to.
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9_.-]+"
_REPO_PATH = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
_TOP_LEVEL = re.compile(rf"^{_SEGMENT}$")
RepoPath = Annotated[
    str,
    _matching(_REPO_PATH, "a relative path in the GitOps repository such as 'minio' (no . or ..)"),
]
ValueFile = Annotated[
    str, _matching(_REPO_PATH, "a file of the application's folder (a relative path, no . or ..)")
]
GroupPath = Annotated[
    str, _matching(_REPO_PATH, "a GitLab group path such as 'platform' or 'platform/team'")
]
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "argocd")


class ApplicationConfig(_Strict):
    """One Argo CD Application deployed from the GitOps repository."""

    name: DnsLabel = Field(description="The Application's name in Argo CD.")
    path: RepoPath = Field(
        description="Folder in the GitOps repository (a chart or kustomization)."
    )  # a well-formed path; the loader checks that gitops/ has the folder
    namespace: DnsLabel = Field(
        description="Namespace it deploys into (created by Argo CD unless "
        "`sync.create_namespace` is false)."
    )
    value_files: list[ValueFile] = Field(
        default=[], description="Helm value files in `path`; empty for Kustomize or plain charts."
    )
    sync: SyncConfig = Field(default=SyncConfig(), description="How Argo CD syncs it.")

    @field_validator("namespace")
    @classmethod
    def _not_reserved(cls, namespace: str) -> str:
        if namespace in RESERVED_NAMESPACES:
            raise ValueError(f"expected an application namespace, not one of {RESERVED_NAMESPACES}")
        return namespace


DEFAULT_APPLICATIONS = [
    ApplicationConfig(
        name="minio-helm", path="minio", namespace="minio", value_files=["values-minio.yaml"]
    ),
    ApplicationConfig(name="my-app", path="my-app/overlays/dev", namespace="my-app"),
]


class GitOpsConfig(_Strict):
    """The GitLab project the stack seeds and Argo CD deploys from."""

    group: Annotated[str, _matching(_TOP_LEVEL, "a top-level GitLab group path (no /)")] = Field(
        default="platform", description="Top-level GitLab group the stack creates."
    )
    project: Annotated[str, _matching(_TOP_LEVEL, "a GitLab project path (no /)")] = Field(
        default="test-stg", description="Private project (default branch main) it seeds."
    )
    minio_chart: ChartConfig = Field(
        default=ChartConfig(repository="https://charts.min.io/", version="5.4.0"),
        description="The MinIO chart `gitops/minio` depends on: MinIO's own chart repository.",
    )
    token_expiry_days: int = Field(
        default=90,
        ge=2,
        le=365,
        description="Lifetime of each GitLab access token the stack creates (docs/security.md).",
    )
    token_renewal_days: int = Field(
        default=30,
        ge=1,
        le=182,
        description="Each token is replaced by a new one by the first `pulumi up` once it is "
        "this old (a preview shows it); at most half its lifetime.",
    )

    @across("token_renewal_days", "token_expiry_days", at="token_renewal_days")
    def _renewed_well_before_expiry(self) -> None:
        if self.token_renewal_days * 2 > self.token_expiry_days:
            raise ValueError(
                f"expected token_renewal_days ({self.token_renewal_days}) at most half of "
                f"token_expiry_days ({self.token_expiry_days}), so a token is renewed while it "
                "still has half its life left"
            )
