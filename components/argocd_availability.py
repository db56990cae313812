"""Argo CD's size: how many pods of each service, and in production highly available.

Highly available is the chart's HA mode (its README, "High Availability"): Redis with Sentinel
behind HAProxy instead of the single Redis, two application controllers sharing the clusters,
two or more of every other service, a disruption budget for each, and every workload spread
over the zones. The chart's keys are argoproj/argo-helm charts/argo-cd/values.yaml at
argo-cd-10.1.1 (`values.yaml:N` below), redis-ha's those of its subchart
charts/argo-cd/charts/redis-ha/values.yaml (redis-ha 4.38.0).
"""

from __future__ import annotations

from typing import Any

from components.config import HA_REPLICAS, ArgoCdConfig

ZONE = "topology.kubernetes.io/zone"
# Soft: the scheduler puts replicas in different zones while they have room, and a replica a
# zone outage evicts still starts in a zone that is left. DoNotSchedule would leave it Pending
# in a two-zone cluster (one zone left, any placement exceeds maxSkew 1 while the lost zone's
# nodes still count) and whenever the emptier zone's nodes are full.
MAX_SKEW = 1
WHEN_UNSATISFIABLE = "ScheduleAnyway"
# No labelSelector: the chart gives each workload its own pods' (templates/
# argocd-server/deployment.yaml:508-517 and the other workloads').
ZONE_SPREAD = {"maxSkew": MAX_SKEW, "topologyKey": ZONE, "whenUnsatisfiable": WHEN_UNSATISFIABLE}
# One pod of each at a time: a node drain never takes a service down. maxUnavailable wins
# over minAvailable (values.yaml:792-805, the controller's; the same for each service).
DISRUPTION_BUDGET = {"enabled": True, "maxUnavailable": 1}
# Clusters are spread over the controller's shards evenly (argo-cd v3.4.4 common/common.go,
# RoundRobinShardingAlgorithm; docs/operator-manual/high_availability.md: `legacy`, the
# default, distributes by uid, non-uniformly). The platform deploys to its own cluster alone,
# which is shard 0's: the second controller takes clusters as they are added.
SHARDING_ALGORITHM = "round-robin"


def replicas(configured: int | None, highly_available: bool) -> int:
    """As configured; by default two where Argo CD runs highly available, else one."""
    if configured is not None:
        return configured
    return HA_REPLICAS if highly_available else 1


def size_values(config: ArgoCdConfig, highly_available: bool) -> dict[str, Any]:
    """The chart values that size Argo CD, to layer over the rest (components/helm.py,
    `layered`)."""
    server = {"replicas": replicas(config.server_replicas, highly_available)}
    repo_server = {"replicas": replicas(config.repo_server_replicas, highly_available)}
    if not highly_available:
        return {"repoServer": repo_server, "server": server}
    budget = {"pdb": DISRUPTION_BUDGET}
    return {
        # Every Argo CD workload's, unless it sets its own (values.yaml:154).
        "global": {"topologySpreadConstraints": [ZONE_SPREAD]},
        # argocd-cmd-params-cm (values.yaml:431), read by the controller as
        # ARGOCD_CONTROLLER_SHARDING_ALGORITHM (templates/argocd-application-controller/
        # statefulset.yaml:299-303).
        "configs": {"params": {"controller.sharding.algorithm": SHARDING_ALGORITHM}},
        # `replicas` (values.yaml:769) is also every controller's ARGOCD_CONTROLLER_REPLICAS
        # (statefulset.yaml:83-84), the shard count the high-availability guide asks for.
        "controller": {"replicas": HA_REPLICAS, **budget},
        # values.yaml:2044 and :2082.
        "server": {**server, **budget},
        # values.yaml:2917 and :2955.
        "repoServer": {**repo_server, **budget},
        # values.yaml:3385 and :3393. More than one turns on leader election
        # (templates/_helpers.tpl:238): one acts, the other waits to take over.
        "applicationSet": {"replicas": HA_REPLICAS, **budget},
        # values.yaml:1500 and :1843; the single Redis renders only without redis-ha
        # (templates/redis/deployment.yaml:2), `false` says so here too.
        "redis": {"enabled": False},
        "redis-ha": {
            "enabled": True,
            # Three Redis pods (redis-ha values.yaml:36) and three HAProxy pods (:129), each
            # on a node of its own (argo-cd values.yaml:1886 and :1906, hardAntiAffinity):
            # they need three nodes, as production has. The subchart's own spread (:736),
            # for both (templates/redis-ha-statefulset.yaml:98-108,
            # redis-haproxy-deployment.yaml:97-107), soft like the rest.
            "topologySpreadConstraints": {
                "enabled": True,
                "maxSkew": MAX_SKEW,
                "topologyKey": ZONE,
                "whenUnsatisfiable": WHEN_UNSATISFIABLE,
            },
            # One of three at a time, so Sentinel keeps its quorum of two (:871; HAProxy's
            # :169).
            "podDisruptionBudget": {"maxUnavailable": 1},
            "haproxy": {"podDisruptionBudget": {"maxUnavailable": 1}},
        },
    }
