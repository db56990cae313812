"""Typical create and delete durations per resource type, for the critical-path estimates.

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


# Deleting: what a `pulumi destroy` waits for per resource, once everything that depends on
# it is gone.
DELETE_DURATIONS: dict[str, float] = {
    "aws:eks/cluster:Cluster": 600,
    "aws:eks/nodeGroup:NodeGroup": 420,
    "aws:eks/addon:Addon": 60,
    "aws:ec2/natGateway:NatGateway": 90,
    "aws:ec2/subnet:Subnet": 60,
    "aws:ec2/internetGateway:InternetGateway": 30,
    "aws:ec2/securityGroup:SecurityGroup": 30,
    "aws:rds/instance:Instance": 480,
    "aws:elasticache/replicationGroup:ReplicationGroup": 480,
    "kubernetes:core/v1:Namespace": 60,
    "kubernetes:argoproj.io/v1alpha1:Application": 60,
    "kubernetes:argoproj.io/v1alpha1:ApplicationSet": 30,
}
DELETE_SOURCES: dict[str, str] = {
    "aws:eks/cluster:Cluster": "an EKS control plane takes about 10 minutes to delete",
    "aws:eks/nodeGroup:NodeGroup": "managed node groups drain and terminate their instances, "
    "5-10 minutes",
    "aws:eks/addon:Addon": "the add-on's software is removed from the cluster",
    "aws:ec2/natGateway:NatGateway": "a NAT gateway takes a minute or two to reach `deleted`",
    "aws:ec2/subnet:Subnet": "retried while the deleted load balancers' network interfaces "
    "are still being released",
    "aws:ec2/internetGateway:InternetGateway": "detached once no public address is mapped",
    "aws:ec2/securityGroup:SecurityGroup": "retried while network interfaces still use it",
    "aws:rds/instance:Instance": "an RDS instance without a final snapshot, 5-10 minutes",
    "aws:elasticache/replicationGroup:ReplicationGroup": "a replication group, 5-10 minutes",
    "kubernetes:core/v1:Namespace": "the namespace's objects finalized: claims, Ingresses "
    "(their load balancer deleted by the controller first)",
    "kubernetes:argoproj.io/v1alpha1:Application": "Argo CD prunes what it deployed, then "
    "lifts the resources finalizer",
    "kubernetes:argoproj.io/v1alpha1:ApplicationSet": "its Applications deleted first",
    "command:local:Command": "the destroy-time waits: ExternalDNS's records (about 30 s: it "
    "reacts to events), the load balancers (gone with their namespaces: 10 s), the volumes "
    "(EBS deletes a detached volume in about a minute: 60 s), the token's revocation "
    "(gitlab-rails runner: 30 s); a Command with no delete takes none",
}
DELETE_RELEASES: dict[str, float] = {
    "gitlab": 300,
    "argo-cd": 90,
    "aws-load-balancer-controller": 30,
    "external-dns": 30,
}
DELETE_SOURCES["kubernetes:helm.sh/v3:Release"] = (
    "`helm uninstall` waiting for every object to go, per chart: gitlab 300 (its Ingresses' "
    "load balancer and pods), argo-cd 90, aws-load-balancer-controller 30, external-dns 30"
)
DELETE_DEFAULT = 2.0
_COMMAND_DELETES = (
    ("records-gone", 30.0),
    ("load-balancers-gone", 10.0),
    ("volumes-gone", 60.0),
    ("-token", 30.0),
)


def delete_duration_of(resource: dict[str, Any]) -> float:
    if not resource["custom"]:
        return 0.0
    if resource["type"] == "kubernetes:helm.sh/v3:Release":
        return DELETE_RELEASES.get(str(resource["inputs"].get("chart")), 30)
    if resource["type"] == "command:local:Command":
        if not resource["inputs"].get("delete"):
            return 0.0
        name = str(resource["name"])
        return next((d for suffix, d in _COMMAND_DELETES if name.endswith(suffix)), 10.0)
    return DELETE_DURATIONS.get(resource["type"], DELETE_DEFAULT)
