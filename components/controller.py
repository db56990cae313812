"""A controller that calls AWS from the cluster: its service account's IAM role and its Helm
release, installed once the cluster can run it and the role can be used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.clusters.outputs import ClusterOutputs
from components.config import ChartConfig
from components.helm import HelmReleaseArgs, helm_release
from components.workload_identity import ServiceAccountRole, ServiceAccountRoleArgs


@dataclass
class ControllerArgs:
    chart: str
    source: ChartConfig
    namespace: str
    service_account: str
    cluster: ClusterOutputs
    policy: pulumi.Input[str]
    """The role's permissions, as an IAM policy document."""
    values: Mapping[str, Any]
    """The chart's values, but for `serviceAccount`, which binds the role."""


@dataclass(frozen=True)
class Controller:
    role: ServiceAccountRole
    release: k8s.helm.v3.Release


def controller(name: str, args: ControllerArgs, parent: pulumi.Resource) -> Controller:
    role = ServiceAccountRole(
        f"{name}-role",
        ServiceAccountRoleArgs(
            namespace=args.namespace,
            service_accounts=[args.service_account],
            identity=args.cluster.identity,
            policy=args.policy,
        ),
        pulumi.ResourceOptions(parent=parent),
    )
    release = helm_release(
        name,
        HelmReleaseArgs(
            chart=args.chart,
            source=args.source,
            namespace=args.namespace,
            values={**args.values, "serviceAccount": role.service_account_values()},
            depends_on=[*args.cluster.workloads_ready, *role.ready],
        ),
        parent=parent,
    )
    return Controller(role, release)
