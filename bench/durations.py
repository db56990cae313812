"""Typical create durations per resource type, for the critical-path estimate.

These are planning figures, not measurements: what AWS documents or what is commonly seen,
rounded. Replace them with your own `pulumi up` timings (`pulumi up --json` or the console
shows each resource's duration) when they differ.
"""

from __future__ import annotations

import re
from typing import Any

DURATIONS: dict[str, float] = {
    "aws:eks/cluster:Cluster": 600,
    "aws:eks/nodeGroup:NodeGroup": 240,
    "aws:eks/addon:Addon": 60,
    "aws:ec2/natGateway:NatGateway": 120,
    "aws:acm/certificateValidation:CertificateValidation": 120,
    "aws:rds/instance:Instance": 600,
    "aws:elasticache/replicationGroup:ReplicationGroup": 720,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 5,
    "aws:iam/role:Role": 3,
    "aws:kms/key:Key": 5,
    "command:local:Command": 30,
    "kubernetes:argoproj.io/v1alpha1:Application": 5,
    "kubernetes:batch/v1:Job": 30,
}
SOURCES: dict[str, str] = {
    "aws:eks/cluster:Cluster": "EKS control planes take about 10 minutes to become ACTIVE",
    "aws:eks/nodeGroup:NodeGroup": "managed node groups: instances launch and join, 3-5 minutes",
    "aws:eks/addon:Addon": "add-ons become ACTIVE once their pods run, about a minute",
    "aws:ec2/natGateway:NatGateway": "NAT gateways take 1-2 minutes to become available",
    "aws:acm/certificateValidation:CertificateValidation": "DNS validation: minutes once the "
    "record resolves (longer, up to the timeout, without delegation)",
    "aws:rds/instance:Instance": "a new RDS PostgreSQL instance takes about 10 minutes",
    "aws:elasticache/replicationGroup:ReplicationGroup": "a TLS-enabled replication group "
    "takes about 12 minutes",
    "command:local:Command": "kubectl exec of gitlab-rails runner (Rails boot); a Command "
    "with nothing to do on create (the destroy-time DNS wait) takes none, a `sleep N` N",
    "kubernetes:batch/v1:Job": "the registry database Job: an image pull and a few SQL statements",
}
# Helm releases: the chart's pods must start (and GitLab migrates its database).
RELEASES: dict[str, float] = {
    "gitlab": 600,
    "argo-cd": 120,
    "aws-load-balancer-controller": 60,
    "external-dns": 30,
}
SOURCES["kubernetes:helm.sh/v3:Release"] = (
    "per chart: gitlab 600 (first install runs migrations), argo-cd 120, "
    "aws-load-balancer-controller 60, external-dns 30"
)
DEFAULT = 2.0
SLEEP = re.compile(r"^sleep (\d+)$")


def duration_of(resource: dict[str, Any]) -> float:
    if not resource["custom"]:
        return 0.0  # components are bookkeeping
    if resource["type"] == "kubernetes:helm.sh/v3:Release":
        return RELEASES.get(str(resource["inputs"].get("chart")), 60)
    if resource["type"] == "command:local:Command":
        create = str(resource["inputs"].get("create") or "")
        if not create:
            return 0.0
        if wait := SLEEP.match(create):  # a fixed wait, e.g. for GitLab's settings cache
            return float(wait.group(1))
    return DURATIONS.get(resource["type"], DEFAULT)
