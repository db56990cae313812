"""Argo CD: its controller tuning, how it is exposed, and its size."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from components.config.values import DnsLabel, _matching, _Strict

_DURATION = re.compile(r"^[1-9]\d*(s|m|h)$")
Duration = Annotated[str, _matching(_DURATION, "a duration such as '120s', '5m' or '1h'")]


class ArgoCdConfig(_Strict):
    """Argo CD: its controller tuning, how it is exposed, and its size. The tuning keys are
    argocd-cmd-params-cm's (argo-cd docs/operator-manual/argocd-cmd-params-cm.yaml)."""

    exposure: Literal["loadbalancer", "ingress"] = Field(
        default="loadbalancer",
        description="`loadbalancer`: its own NLB, TLS ending there, for the UI and the CLI's "
        "gRPC; `ingress`: on the shared ALB with GitLab.",
    )
    hostname: DnsLabel = Field(default="argocd", description="Served at `<hostname>.<domain>`.")
    status_processors: int = Field(
        default=20,
        ge=1,
        le=500,
        description="controller.status.processors: application status processors.",
    )
    operation_processors: int = Field(
        default=10,
        ge=1,
        le=500,
        description="controller.operation.processors: application sync processors.",
    )
    self_heal_timeout_seconds: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="controller.self.heal.timeout.seconds: time between self-heal attempts.",
    )
    repo_server_timeout_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="controller.repo.server.timeout.seconds: timeout of calls to the repo server.",
    )
    reconciliation_timeout: Duration = Field(
        default="120s", description="How often applications are compared with Git."
    )
    server_replicas: int = Field(default=1, ge=1, le=10, description="argocd-server pods.")
    repo_server_replicas: int = Field(
        default=1, ge=1, le=10, description="argocd-repo-server pods."
    )
