"""A destroy that completes and leaves nothing in AWS: what the controllers made is gone
before they are, and every bucket says what a destroy does with it.

Pulumi sees only its own resources. The load balancer controller's load balancers, target
groups and security groups, and the EBS CSI driver's volumes, are made by controllers from
Kubernetes objects, and deleted by them only while they run; so each controller has a
destroy-time step (a Command whose delete waits until its objects are gone) between itself
and everything that could ask it for one (components/teardown.py). ExternalDNS's records have
their rule in guardrails/edge.py, Argo CD's Applications theirs in guardrails/graph.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from guardrails._common import HELM_RELEASE, LB_CONTROLLER_CHART, chart_of, stack_rule
from guardrails.argocd import APPLICATION, APPLICATION_SET
from guardrails.edge import COMMAND, CONTROLLER_CHARTS, INGRESS, NAMESPACE, SERVICE
from guardrails.eks import ADDON
from guardrails.graph import creates_load_balancers, releases_of

BUCKET = "aws:s3/bucket:Bucket"
EBS_CSI_DRIVER = "aws-ebs-csi-driver"
RETAINED_TAG = "gitops-platform/retained-on-destroy"  # components/teardown.py
ARGO_CD_TYPES = (APPLICATION, APPLICATION_SET)


def _upstream(resources: Iterable[PolicyResource]) -> dict[str, set[str]]:
    """Each resource's URN → every URN it depends on, directly or through others. A parent
    counts: the engine deletes children before their parent, and the parent before what it
    depends on."""
    direct = {
        r.urn: {d.urn for d in r.dependencies} | ({r.parent.urn} if r.parent else set())
        for r in resources
    }
    closed: dict[str, set[str]] = {}

    def reach(urn: str, seen: set[str]) -> set[str]:
        if urn in closed:
            return closed[urn]
        found: set[str] = set()
        for dependency in direct.get(urn, set()):
            if dependency not in seen:
                found |= {dependency, *reach(dependency, seen | {dependency})}
        closed[urn] = found
        return found

    for urn in direct:
        reach(urn, {urn})
    return closed


def _destroy_steps(args: StackValidationArgs, holding: PolicyResource) -> list[PolicyResource]:
    """The Commands with a destroy-time action that depend directly on `holding`."""
    return [
        r
        for r in args.resources
        if r.resource_type == COMMAND
        and r.props.get("delete")
        and holding.urn in {d.urn for d in r.dependencies}
    ]


def _missing(
    args: StackValidationArgs,
    holding: PolicyResource,
    dependents: list[PolicyResource],
    nothing: str,
    missing: str,
) -> Iterator[tuple[str, str]]:
    steps = _destroy_steps(args, holding)
    if not steps:
        yield nothing, holding.urn
        return
    upstream = _upstream(args.resources)
    urns = {s.urn for s in steps}
    for dependent in dependents:
        if not upstream.get(dependent.urn, set()) & urns:
            yield f"{dependent.name} {missing}", dependent.urn


@stack_rule(
    "load-balancers-gone-before-their-controller",
    "A destroy removes the AWS Load Balancer Controller only after every load balancer, "
    "target group and security group it made is gone: a destroy-time step depends on the "
    "controller's release, and every release, Ingress and LoadBalancer Service asking it for "
    "one, and every Argo CD Application and ApplicationSet (whose manifests may), depends on "
    "that step. The controller deletes them only while it runs, from its finalizers "
    "(aws-load-balancer-controller v3.5.0 controllers/ingress/group_controller.go, "
    "controllers/service/service_controller.go); once it is gone they stay, and so do the "
    "ENIs that keep the VPC from being deleted.",
    remediation="Make them depend on LoadBalancerController.publishers_wait_for "
    "(components/load_balancer_controller.py).",
    severity=Severity.CRITICAL,
)
def load_balancers_gone_before_their_controller(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    askers = [
        r
        for r in args.resources
        if r.resource_type in ARGO_CD_TYPES
        or r.resource_type == INGRESS
        or (
            r.resource_type == SERVICE and (r.props.get("spec") or {}).get("type") == "LoadBalancer"
        )
        or (
            r.resource_type == HELM_RELEASE
            and chart_of(r) not in CONTROLLER_CHARTS
            and creates_load_balancers(r)
        )
    ]
    for controller in releases_of(args, LB_CONTROLLER_CHART):
        yield from _missing(
            args,
            controller,
            askers,
            f"Nothing holds {controller.name} on destroy until its load balancers are gone.",
            "may ask for load balancers but does not wait for the destroy-time step that holds "
            "the load balancer controller until they are gone.",
        )


@stack_rule(
    "volumes-gone-before-their-driver",
    "A destroy removes the EBS CSI driver only after the volumes it made are gone: a "
    "destroy-time step depends on the driver's EKS add-on, and every release, Application, "
    "ApplicationSet and namespace that may hold PersistentVolumeClaims depends on that step. "
    "A claim's EBS volume is deleted by the driver once the claim and its PersistentVolume "
    "go (kubernetes-csi/external-provisioner v5.3.0, sig-storage-lib-external-provisioner "
    "`deleteVolumeOperation`), and StatefulSets keep their claims after they are deleted; "
    "without the driver the volumes stay, and are billed, after the cluster is gone.",
    remediation="Make them depend on the cluster's storage_ready (components/clusters/"
    "eks_storage.py `default_storage`, which ends with the step).",
    severity=Severity.CRITICAL,
)
def volumes_gone_before_their_driver(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    releases = [
        r
        for r in args.resources
        if r.resource_type == HELM_RELEASE and chart_of(r) not in CONTROLLER_CHARTS
    ]
    release_namespaces = {str(r.props.get("namespace") or "") for r in releases}
    holders = [
        *releases,
        *(r for r in args.resources if r.resource_type in ARGO_CD_TYPES),
        *(
            r
            for r in args.resources
            if r.resource_type == NAMESPACE
            and (r.props.get("metadata") or {}).get("name") in release_namespaces
        ),
    ]
    for driver in args.resources:
        if driver.resource_type != ADDON or driver.props.get("addonName") != EBS_CSI_DRIVER:
            continue
        yield from _missing(
            args,
            driver,
            holders,
            f"Nothing holds {driver.name} on destroy until its volumes are gone.",
            "may hold volumes but does not wait for the destroy-time step that holds the "
            "volume driver until they are gone.",
        )


@stack_rule(
    "buckets-say-what-a-destroy-does",
    "Every S3 bucket is either deleted with its objects by a destroy (`forceDestroy`), kept "
    f"on purpose (tagged `{RETAINED_TAG}` with the reason, and retained by Pulumi), or "
    "protected. A bucket with none of these makes a destroy fail once it holds objects "
    "(S3 DeleteBucket: BucketNotEmpty), halfway through. (The pack cannot see Pulumi's "
    "`retainOnDelete`, which pulumi-policy's resource options lack; the tag stands for it.)",
    remediation="Create buckets with components/buckets.py `private_bucket`, which decides.",
)
def buckets_say_what_a_destroy_does(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        tags = {**(bucket.props.get("tagsAll") or {}), **(bucket.props.get("tags") or {})}
        if bucket.props.get("forceDestroy") or RETAINED_TAG in tags or bucket.opts.protect:
            continue
        message = (
            f"Bucket {bucket.name} is neither emptied on destroy, nor kept on purpose, nor "
            "protected: a destroy fails on it once it holds objects."
        )
        yield message, bucket.urn
