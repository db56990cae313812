"""Stack guardrails over the dependency graph: ordering that makes `up` work and `destroy`
complete, protection of what cannot be recreated, and production's availability."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, Severity, StackValidationArgs

from guardrails._common import (
    ARGOCD_CHART,
    HELM_RELEASE,
    KOPS_OIDC_SUFFIX,
    LB_CONTROLLER_CHART,
    chart_of,
    stack_rule,
)
from guardrails.argocd import APPLICATION, REPOSITORY_SECRET_TYPE, SECRET, SECRET_TYPE_LABEL
from guardrails.tls import ALB

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
PRIVATE_SUBNET_TAG = "kubernetes.io/role/internal-elb"
STATEFUL = (
    "aws:eks/cluster:Cluster",
    "aws:kms/key:Key",
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:route53/zone:Zone",
    "aws:s3/bucket:Bucket",
)
# Rebuilt from scratch by kOps at will: nothing in it needs protection.
UNPROTECTED_SUFFIXES = (KOPS_OIDC_SUFFIX,)
PRODUCTION = PolicyConfigSchema(
    properties={"production": {"type": "boolean", "default": False}},
)


def releases_of(args: StackValidationArgs, chart: str) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == HELM_RELEASE and chart_of(r) == chart]


def waits_for(resource: PolicyResource, others: list[PolicyResource]) -> bool:
    urns = {d.urn for d in resource.dependencies}
    return any(o.urn in urns for o in others)


def _walk(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        # The analyzer hands lists over as read-only sequences, not `list`s.
        for item in value:
            yield from _walk(item)


def creates_load_balancers(release: PolicyResource) -> bool:
    """The release's values ask the AWS Load Balancer Controller for a load balancer."""
    for block in _walk(release.props.get("values") or {}):
        if any(str(k).startswith(f"{ALB}/") for k in block):
            return True
        if block.get("type") == "LoadBalancer":
            return True
    return False


@stack_rule(
    "applications-wait-for-argocd-and-credentials",
    "Every Argo CD Application depends on the Argo CD release (its CRDs, and its finalizer on "
    "destroy) and on a repository Secret.",
    remediation="Create Applications with depends_on=[argocd release, repository Secret].",
)
def applications_wait_for_argocd(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    argocd = releases_of(args, ARGOCD_CHART)
    repositories = [
        r
        for r in args.resources
        if r.resource_type == SECRET
        and (r.props.get("metadata") or {}).get("labels", {}).get(SECRET_TYPE_LABEL)
        == REPOSITORY_SECRET_TYPE
    ]
    for app in (r for r in args.resources if r.resource_type == APPLICATION):
        if not waits_for(app, argocd):
            yield f"Application {app.name} does not wait for the Argo CD release.", app.urn
        if not waits_for(app, repositories):
            yield f"Application {app.name} does not wait for a repository Secret.", app.urn


@stack_rule(
    "load-balancers-wait-for-controller",
    "Every Helm release that creates Ingresses or LoadBalancer Services depends on the AWS Load "
    "Balancer Controller, so they are deleted while it still runs (and takes their load "
    "balancers with them).",
    remediation="Add the controller's release to the release's depends_on.",
    severity=Severity.CRITICAL,
)
def load_balancers_wait_for_controller(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    controllers = releases_of(args, LB_CONTROLLER_CHART)
    for release in args.resources:
        if release.resource_type != HELM_RELEASE or release in controllers:
            continue
        if creates_load_balancers(release) and not waits_for(release, controllers):
            message = f"Release {release.name} creates load balancers but not after the controller."
            yield message, release.urn


@stack_rule(
    "releases-wait-for-their-roles",
    "A release whose service accounts carry an IAM role depends on that role and its permissions.",
    remediation="Add the ServiceAccountRole's `ready` resources to the release's depends_on.",
)
def releases_wait_for_their_roles(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    permission_types = (
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    )
    for release in (r for r in args.resources if r.resource_type == HELM_RELEASE):
        annotated = any(
            IRSA_ROLE_ANNOTATION in block for block in _walk(release.props.get("values") or {})
        )
        if not annotated:
            continue
        deps = {d.urn for d in release.dependencies}
        roles = [d for d in release.dependencies if d.resource_type == "aws:iam/role:Role"]
        if not roles:
            yield (
                f"Release {release.name} has a role annotation but waits for no role.",
                release.urn,
            )
        for role in roles:
            permissions = [
                r
                for r in args.resources
                if r.resource_type in permission_types
                and role.urn in {d.urn for d in r.dependencies}
            ]
            if permissions and not any(p.urn in deps for p in permissions):
                message = (
                    f"Release {release.name} does not wait for the permissions of {role.name}."
                )
                yield message, release.urn


@stack_rule(
    "stateful-resources-protected",
    "In a production stack, what holds data or identity (cluster, keys, databases, caches, "
    "buckets, a created zone) is protected from deletion.",
    remediation="Set production: true in the stack config (it protects them).",
    config_schema=PRODUCTION,
)
def stateful_resources_protected(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    if not args.get_config().get("production"):
        return
    for resource in args.resources:
        stateful = resource.resource_type in STATEFUL
        if (
            stateful
            and not resource.name.endswith(UNPROTECTED_SUFFIXES)
            and not resource.opts.protect
        ):
            yield f"{resource.resource_type} {resource.name} is not protected.", resource.urn


@stack_rule(
    "production-highly-available",
    "A production stack survives the loss of a zone: a NAT gateway per zone, a multi-AZ "
    "database, a cache with failover.",
    remediation="Set network.nat_gateways: per_az and production: true.",
    severity=Severity.MEDIUM,
    config_schema=PRODUCTION,
)
def production_highly_available(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    if not args.get_config().get("production"):
        return
    by_type: dict[str, list[PolicyResource]] = {}
    for resource in args.resources:
        by_type.setdefault(resource.resource_type, []).append(resource)
    private = [
        s
        for s in by_type.get("aws:ec2/subnet:Subnet", [])
        if PRIVATE_SUBNET_TAG in (s.props.get("tags") or {})
    ]
    nats = by_type.get("aws:ec2/natGateway:NatGateway", [])
    if private and len(nats) < len(private):
        message = f"{len(nats)} NAT gateway(s) for {len(private)} private subnets."
        yield message, (nats or private)[0].urn
    for database in by_type.get("aws:rds/instance:Instance", []):
        if database.props.get("multiAz") is not True:
            yield f"Database {database.name} is not multi-AZ.", database.urn
    for cache in by_type.get("aws:elasticache/replicationGroup:ReplicationGroup", []):
        if cache.props.get("automaticFailoverEnabled") is not True:
            yield f"Cache {cache.name} has no automatic failover.", cache.urn
