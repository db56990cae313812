"""The fleet: the hub's Argo CD deploys to spoke clusters, signing in to each with IAM.

Following Argo CD's "EKS" cluster setup (argo-cd v3.4.4 docs/operator-manual/
declarative-setup.md, "EKS"): the hub has a management role, bound by EKS Pod Identity to
the Argo CD service accounts that talk to clusters; each spoke has a cluster role with no
permissions that only the management role may assume, and an EKS access entry that gives that
role its Kubernetes permissions. The hub's cluster Secret for a spoke names the cluster and the
role (`awsAuthConfig`): argocd-k8s-auth assumes the role and signs a short-lived token
(cmd/argocd-k8s-auth/commands/aws.go), so no kubeconfig, token or key is stored anywhere.

The two sides read each other's outputs through StackReferences: the spoke the hub's
management role (`fleet_hub`), the hub each spoke's `fleet_member`, the contract of
docs/fleet.md. So a hub is deployed first, then a spoke, then the hub again with the spoke
listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.clusters.outputs import ClusterOutputs
from components.config.fleet import FleetConfig
from components.iam import partition_of, policy_document

HUB_OUTPUT = "fleet_hub"
"""The hub's stack output a spoke reads: `{"management_role_arn": ...}`."""
MEMBER_OUTPUT = "fleet_member"
"""A spoke's stack output the hub reads (docs/fleet.md, "The contract")."""
CONTRACT_VERSION = 1
"""`fleet_member.version`: bumped when a key changes meaning or goes."""
LABEL_PREFIX = "gitops-platform/"
"""Of the labels and annotations a spoke's cluster Secret carries."""
SPOKE_LABEL = {f"{LABEL_PREFIX}fleet-role": "spoke"}
"""On every spoke's Secret: a selector with it never matches the hub's own (local) cluster,
which has no Secret (docs/operator-manual/applicationset/Generators-Cluster.md, "Deploying to
the local cluster")."""
DRAINING_LABEL = {f"{LABEL_PREFIX}fleet-role": "draining"}
"""Instead, on a spoke listed in the hub's `fleet.draining`: no ApplicationSet selects it, so
its Applications are deleted while Argo CD can still reach it (docs/fleet.md, "Leaving")."""
FLEET_NAMESPACE = {f"{LABEL_PREFIX}fleet-namespace": "true"}
"""On the Namespaces a namespace-scoped spoke makes for the hub."""
CLUSTER_SECRET_TYPE = {"argocd.argoproj.io/secret-type": "cluster"}
# The service accounts that talk to clusters and must assume the spokes' roles: argo-cd
# v3.4.4 docs/operator-manual/declarative-setup.md, "Argo CD Management Role". Their names are
# the chart's, whatever the release is called (argoproj/argo-helm charts/argo-cd/values.yaml at
# argo-cd-10.1.1: controller.serviceAccount.name, applicationSet.serviceAccount.name,
# server.serviceAccount.name; components/argocd.py overrides none).
MANAGEMENT_SERVICE_ACCOUNTS = (
    "argocd-application-controller",
    "argocd-applicationset-controller",
    "argocd-server",
)
FLEET_PROJECT = "fleet"
# EKS access policies (Amazon EKS User Guide, "Review access policy permissions":
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html): cluster
# admin cluster-wide, or admin in the listed namespaces only.
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
NAMESPACE_ADMIN_POLICY = "AmazonEKSAdminPolicy"


def stack_reference_name(given: str, project: str) -> str:
    """`<organization>/<project>/<stack>`, as a StackReference names a stack: a bare stack
    name is this project's in this organization (`organization` on a self-managed backend:
    https://www.pulumi.com/docs/iac/concepts/stacks/#stackreferences)."""
    parts = given.split("/")
    if len(parts) == 3:
        return given
    if len(parts) == 2:
        return f"{pulumi.get_organization()}/{given}"
    return f"{pulumi.get_organization()}/{project}/{given}"


def label(key: str) -> str:
    return f"{LABEL_PREFIX}{key}"


# -- the spoke ---------------------------------------------------------------------------


@dataclass
class FleetSpokeArgs:
    fleet: FleetConfig
    project: str
    stack: str
    region: str
    environment: str
    cluster: ClusterOutputs
    addon_role_arns: Mapping[str, pulumi.Input[str]]
    """The IAM roles of the spoke's add-ons (load balancer controller, ExternalDNS), by name:
    metadata for the hub's applications."""


class FleetSpoke(pulumi.ComponentResource):
    member: pulumi.Output[dict[str, Any]]
    """The `fleet_member` output."""

    def __init__(
        self, name: str, args: FleetSpokeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:fleet:FleetSpoke", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster, fleet = args.cluster, args.fleet
        assert fleet.hub is not None  # validated: a spoke names its hub
        assert cluster.api is not None  # validated: a spoke is an EKS cluster
        hub = pulumi.StackReference(
            f"{name}-hub", stack_name=stack_reference_name(fleet.hub, args.project), opts=child
        )
        management_role = hub.require_output(HUB_OUTPUT).apply(
            lambda outputs: str(outputs["management_role_arn"])
        )
        # No permission policy: the role only signs the hub's Argo CD in to this cluster.
        role = iam.role(
            f"{name}-argocd",
            policy_document(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": management_role},
                    # With Pod Identity the session is tagged (declarative-setup.md, "Cluster
                    # Role Trust Policies").
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ),
            child,
            description=f"The hub {fleet.hub}'s Argo CD, deploying to this cluster",
        )
        entry = aws.eks.AccessEntry(
            f"{name}-argocd",
            cluster_name=cluster.name,
            principal_arn=role.role.arn,
            type="STANDARD",
            opts=child,
        )
        namespaces = list(fleet.namespaces)
        # A namespace-scoped access entry cannot create Namespaces (cluster-wide objects), so
        # the ones the hub may deploy into are made here: Argo CD's CreateNamespace=true then
        # finds them and creates nothing (gitops-engine v3.4.4 pkg/sync/sync_context.go
        # autoCreateNamespace: it creates a Namespace only when the GET answers not found).
        in_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes)
        for namespace in namespaces:
            k8s.core.v1.Namespace(
                f"{name}-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=FLEET_NAMESPACE),
                opts=in_cluster,
            )
        policy = NAMESPACE_ADMIN_POLICY if namespaces else CLUSTER_ADMIN_POLICY
        aws.eks.AccessPolicyAssociation(
            f"{name}-argocd",
            cluster_name=cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=f"arn:{partition_of(args.region)}:eks::aws:cluster-access-policy/{policy}",
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                type="namespace", namespaces=namespaces
            )
            if namespaces
            else aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=child,
        )
        self.member = pulumi.Output.all(
            name=cluster.name,
            arn=cluster.api.arn,
            server=cluster.api.endpoint,
            ca=cluster.api.certificate_authority,
            vpc_id=cluster.vpc_id,
            role_arn=role.role.arn,
            addons=pulumi.Output.all(**dict(args.addon_role_arns)),
        ).apply(
            lambda v: {
                "version": CONTRACT_VERSION,
                "stack": args.stack,
                "cluster_name": v["name"],
                "cluster_arn": v["arn"],
                "server": v["server"],
                "ca_data": v["ca"],
                "region": args.region,
                "environment": args.environment,
                "vpc_id": v["vpc_id"],
                "argocd_role_arn": v["role_arn"],
                "namespaces": namespaces,
                "labels": dict(fleet.labels),
                "addon_role_arns": dict(v["addons"]),
            }
        )
        self.register_outputs({MEMBER_OUTPUT: self.member})


MEMBER_KEYS = [
    "version",
    "cluster_name",
    "server",
    "ca_data",
    "region",
    "environment",
    "argocd_role_arn",
]
"""What the hub reads of a spoke's `fleet_member` and cannot do without."""


def checked_member(spoke: str, member: Any) -> dict[str, Any]:
    """A spoke's `fleet_member`, or a clear error when it is not one this hub understands."""
    if not isinstance(member, dict):
        raise ValueError(f"fleet.spokes: {spoke}'s {MEMBER_OUTPUT} output is not a mapping")
    if missing := [k for k in MEMBER_KEYS if k not in member]:
        raise ValueError(
            f"fleet.spokes: {spoke}'s {MEMBER_OUTPUT} lacks {missing}: is it a spoke "
            "(fleet.role: spoke), deployed with this version of the stack?"
        )
    if member["version"] != CONTRACT_VERSION:
        raise ValueError(
            f"fleet.spokes: {spoke}'s {MEMBER_OUTPUT} is version {member['version']}, this "
            f"hub reads version {CONTRACT_VERSION}: update one of them"
        )
    # The contract's labels carry these values: a label value has at most 63 characters
    # (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set),
    # an EKS cluster name up to 100.
    if long := [k for k in ("cluster_name", "environment") if len(str(member[k])) > 63]:
        raise ValueError(
            f"fleet.spokes: {spoke}'s {', '.join(long)} is longer than the 63 characters a "
            "Kubernetes label value may have; rename it (cluster.name) to join the fleet"
        )
    return dict(member)


def project_destinations(
    members: Sequence[Mapping[str, Any]], namespaces: Sequence[str]
) -> list[dict[str, str]]:
    """Exactly the fleet's destinations: each spoke's API server, with each namespace the
    fleet's applications deploy into (that the spoke admits)."""
    return [
        {"server": member["server"], "namespace": namespace}
        for member in sorted(members, key=lambda m: str(m["cluster_name"]))
        for namespace in namespaces
        if not member.get("namespaces") or namespace in member["namespaces"]
    ]
