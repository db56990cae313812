"""The Helm charts the platform installs, each pinned to an exact version."""

from __future__ import annotations

from pydantic import Field

from components.config.values import ChartRepository, ChartVersion, _Strict


class ChartConfig(_Strict):
    repository: ChartRepository = Field(description="Helm repository (https:// or oci://).")
    version: ChartVersion = Field(description="Exact chart version.")


class ChartsConfig(_Strict):
    """Helm charts the platform installs, each pinned to an exact version."""

    gitlab: ChartConfig = ChartConfig(repository="https://charts.gitlab.io/", version="10.4.1")
    argo_cd: ChartConfig = ChartConfig(
        repository="https://argoproj.github.io/argo-helm", version="10.10.0"
    )
    aws_load_balancer_controller: ChartConfig = ChartConfig(
        repository="https://aws.github.io/eks-charts", version="3.6.0"
    )
    external_dns: ChartConfig = ChartConfig(
        repository="https://kubernetes-sigs.github.io/external-dns/", version="1.21.1"
    )
