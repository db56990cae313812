"""The Helm charts the platform installs, each pinned to an exact version."""

from __future__ import annotations

from pydantic import Field

from components.config.values import ChartRepository, ChartVersion, _Strict


class ChartConfig(_Strict):
    repository: ChartRepository = Field(description="Helm repository (https:// or oci://).")
    version: ChartVersion = Field(description="Exact chart version.")


class ChartsConfig(_Strict):
    """Helm charts the platform installs, each pinned to an exact version."""

    # The defaults are versions the test suite renders with real Helm (the chart cache, CHARTS),
    # except GitLab's, which no machine here can obtain: it is checked by keys only (README,
    # "Upgrading a chart safely"). argo-cd 10.1.1 ships Argo CD v3.4.4 (argoproj/argo-helm
    # charts/argo-cd/Chart.yaml at argo-cd-10.1.1, appVersion); aws-load-balancer-controller
    # 3.5.0 ships the controller v3.5.0 (kubernetes-sigs/aws-load-balancer-controller
    # helm/aws-load-balancer-controller/Chart.yaml at v3.5.0).
    gitlab: ChartConfig = ChartConfig(repository="https://charts.gitlab.io/", version="10.4.1")
    argo_cd: ChartConfig = ChartConfig(
        repository="https://argoproj.github.io/argo-helm", version="10.1.1"
    )
    aws_load_balancer_controller: ChartConfig = ChartConfig(
        repository="https://aws.github.io/eks-charts", version="3.5.0"
    )
    external_dns: ChartConfig = ChartConfig(
        repository="https://kubernetes-sigs.github.io/external-dns/", version="1.21.1"
    )
