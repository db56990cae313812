"""Argo CD: its controller tuning, how it is exposed, and its size."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from components.config.values import DnsLabel, _matching, _Strict

_DURATION = re.compile(r"^[1-9]\d*(s|m|h)$")
Duration = Annotated[str, _matching(_DURATION, "a duration such as '120s', '5m' or '1h'")]


class ArgoCdConfig(_Strict):
    """Argo CD: its controller tuning, how it is exposed, and its size."""

    exposure: Literal["loadbalancer", "ingress"] = Field(
        default="loadbalancer",
        description="`loadbalancer`: its own NLB with TLS (the seed's way); `ingress`: on the "
        "shared ALB with GitLab.",
    )
    hostname: DnsLabel = Field(default="argocd", description="Served at `<hostname>.<domain>`.")
    status_processors: int = Field(
        default=20, ge=1, le=500, description="controller.status.processors (the seed's 20)."
    )
    operation_processors: int = Field(
        default=10, ge=1, le=500, description="controller.operation.processors (the seed's 10)."
    )
    self_heal_timeout_seconds: int = Field(
        default=5, ge=1, le=3600, description="controller.self.heal.timeout.seconds (seed: 5)."
    )
    repo_server_timeout_seconds: int = Field(
        default=60, ge=1, le=3600, description="controller.repo.server.timeout.seconds (60)."
    )
    reconciliation_timeout: Duration = Field(
        default="120s", description="How often applications are compared with Git."
    )
    server_replicas: int = Field(default=1, ge=1, le=10, description="argocd-server pods.")
    repo_server_replicas: int = Field(
        default=1, ge=1, le=10, description="argocd-repo-server pods."
    )
