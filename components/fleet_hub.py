"""The hub's side of the fleet (components/fleet.py has the picture): the management role
its Argo CD takes, the spokes' outputs read through StackReferences, and, after Argo CD, a
cluster Secret per spoke, the fleet's AppProject and an ApplicationSet per fleet application.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.applications import ARGOCD_NAMESPACE, FINALIZER, RETRY
from components.clusters.outputs import ClusterOutputs
from components.config.fleet import FleetApplicationConfig, FleetConfig
from components.fleet import (
    CLUSTER_SECRET_TYPE,
    DRAINING_LABEL,
    FLEET_PROJECT,
    MANAGEMENT_SERVICE_ACCOUNTS,
    MEMBER_OUTPUT,
    SPOKE_LABEL,
    checked_member,
    label,
    project_destinations,
    stack_reference_name,
)
from components.iam import policy_document
from components.workload_identity import ServiceAccountRole, ServiceAccountRoleArgs


@dataclass
class FleetHubIdentityArgs:
    fleet: FleetConfig
    project: str
    cluster: ClusterOutputs


class FleetHubIdentity(pulumi.ComponentResource):
    """The management role, and the spokes' outputs: before Argo CD, whose pods take the
    role when they start."""

    management_role_arn: pulumi.Output[str]
    members: dict[str, pulumi.Output[dict[str, Any]]]
    """Each spoke's `fleet_member`, by the stack name the config gives."""
    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: FleetHubIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:fleet:FleetHubIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.members = {}
        for spoke in args.fleet.spokes:
            reference = pulumi.StackReference(
                f"{name}-{spoke.replace('/', '-')}",
                stack_name=stack_reference_name(spoke, args.project),
                opts=child,
            )
            self.members[spoke] = reference.require_output(MEMBER_OUTPUT).apply(
                functools.partial(checked_member, spoke)
            )
        spoke_roles = [m.apply(lambda m: str(m["argocd_role_arn"])) for m in self.members.values()]
        role = ServiceAccountRole(
            f"{name}-management",
            ServiceAccountRoleArgs(
                namespace=ARGOCD_NAMESPACE,
                service_accounts=MANAGEMENT_SERVICE_ACCOUNTS,
                identity=args.cluster.identity,
                # Only the listed spokes' roles (declarative-setup.md, "IAM Permission Policy").
                policy=policy_document(
                    {
                        "Effect": "Allow",
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Resource": spoke_roles,
                    }
                )
                if spoke_roles
                else None,
            ),
            child,
        )
        self.management_role_arn = role.role_arn
        self.ready = role.ready
        self.register_outputs({"management_role_arn": self.management_role_arn})


@dataclass
class FleetHubArgs:
    fleet: FleetConfig
    identity: FleetHubIdentity
    repo_url: pulumi.Input[str]
    argocd: Sequence[pulumi.Resource]
    """The Argo CD release: the Secrets and CRDs are read by it, and go before it."""
    repository: Sequence[pulumi.Resource]
    """The repository credentials and the committed files."""


class FleetHub(pulumi.ComponentResource):
    """A cluster Secret per spoke, the fleet's AppProject, and an ApplicationSet per fleet
    application."""

    secrets: dict[str, k8s.core.v1.Secret]
    application_sets: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self, name: str, args: FleetHubArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:fleet:FleetHub", name, None, opts)
        after_argocd = pulumi.ResourceOptions(parent=self, depends_on=list(args.argocd))
        fleet = args.fleet
        members = args.identity.members
        self.secrets = {
            spoke: k8s.core.v1.Secret(
                f"{name}-{spoke.replace('/', '-')}-cluster-secret",
                metadata=member.apply(
                    functools.partial(cluster_secret_metadata, spoke in fleet.draining)
                ),
                string_data=member.apply(cluster_secret_data),
                opts=after_argocd,
            )
            for spoke, member in members.items()
        }
        namespaces = sorted({app.namespace for app in fleet.applications})
        destinations = pulumi.Output.all(*members.values()).apply(
            lambda all_members: project_destinations(
                admitted(dict(zip(members, all_members, strict=True)), fleet), namespaces
            )
        )
        project = k8s.apiextensions.CustomResource(
            f"{name}-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=FLEET_PROJECT, namespace=ARGOCD_NAMESPACE),
            spec={
                "description": "What the hub deploys to the fleet's spokes",
                "sourceRepos": [args.repo_url],
                "destinations": destinations,
                # CreateNamespace=true needs to create its Namespaces: only those, by name
                # (argo-cd v3.4.4 pkg/apis/application/v1alpha1/types.go
                # ClusterResourceRestrictionItem.Name); nothing else cluster-wide.
                "clusterResourceWhitelist": [
                    {"group": "", "kind": "Namespace", "name": namespace}
                    for namespace in namespaces
                ],
            },
            # After the Secrets, and so before them on destroy: the ApplicationSets (which
            # depend on the project) and their Applications go while Argo CD can still reach
            # the spokes to prune what they deployed there. One edge per spoke, not one per
            # spoke and application.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.argocd, *self.secrets.values()]
            ),
        )
        self.application_sets = {
            app.name: k8s.apiextensions.CustomResource(
                f"{name}-{app.name}",
                api_version="argoproj.io/v1alpha1",
                kind="ApplicationSet",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=app.name, namespace=ARGOCD_NAMESPACE),
                spec=application_set_spec(app, args.repo_url),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[*args.argocd, project, *args.repository],
                ),
            )
            for app in fleet.applications
        }
        self.register_outputs({})


def cluster_secret_metadata(
    draining: bool, member: Mapping[str, Any]
) -> k8s.meta.v1.ObjectMetaArgs:
    """The Secret's name, and the contract's labels and annotations (docs/fleet.md)."""
    annotations = {
        label("stack"): member.get("stack", ""),
        label("cluster-arn"): member.get("cluster_arn", ""),
        label("vpc-id"): member.get("vpc_id", ""),
        **{
            label(f"{addon}-role-arn"): arn
            for addon, arn in sorted(member.get("addon_role_arns", {}).items())
        },
    }
    return k8s.meta.v1.ObjectMetaArgs(
        name=f"cluster-{member['cluster_name']}",  # at most 63 characters: checked_member
        namespace=ARGOCD_NAMESPACE,
        labels=secret_labels(draining, member),
        annotations={k: v for k, v in annotations.items() if v},
    )


def secret_labels(draining: bool, member: Mapping[str, Any]) -> dict[str, str]:
    """The contract's labels of a spoke's cluster Secret: what ApplicationSets select on."""
    return {
        **CLUSTER_SECRET_TYPE,
        **(DRAINING_LABEL if draining else SPOKE_LABEL),
        label("environment"): member["environment"],
        label("region"): member["region"],
        label("cluster"): member["cluster_name"],
        **{label(k): v for k, v in sorted(member.get("labels", {}).items())},
    }


def selected_by(app: FleetApplicationConfig) -> dict[str, str]:
    """The labels an application's ApplicationSet selects spokes by."""
    return {**SPOKE_LABEL, **{label(k): v for k, v in sorted(app.selector.items())}}


def admitted(members: Mapping[str, Mapping[str, Any]], fleet: FleetConfig) -> list[Any]:
    """The members, or one error naming each fleet application that would be generated for
    a spoke that does not admit its namespace (its Application would fail: "namespace ... is
    not permitted in project"). Selected as the ApplicationSets select: by the labels each
    spoke's Secret carries."""
    problems = []
    for spoke, member in members.items():
        carried = secret_labels(spoke in fleet.draining, member)
        for app in fleet.applications:
            if (
                member.get("namespaces")
                and app.namespace not in member["namespaces"]
                and all(carried.get(k) == v for k, v in selected_by(app).items())
            ):
                problems.append(
                    f"fleet.applications {app.name}: selects spoke {spoke} "
                    f"({member['cluster_name']}), whose fleet.namespaces {member['namespaces']} "
                    f"leave out its namespace {app.namespace}"
                )
    if problems:
        raise ValueError(
            "; ".join(problems) + ": add the namespace to the spoke, or narrow the "
            "application's selector"
        )
    return list(members.values())


def cluster_secret_data(member: Mapping[str, Any]) -> dict[str, str]:
    """The cluster Secret's keys (argo-cd v3.4.4 docs/operator-manual/declarative-setup.md,
    "Clusters" and "EKS"): IAM sign-in through the spoke's role, the API server's CA; with
    `namespaces`, only those, and no cluster-wide objects."""
    config = {
        "awsAuthConfig": {
            "clusterName": member["cluster_name"],
            "roleARN": member["argocd_role_arn"],
        },
        "tlsClientConfig": {"insecure": False, "caData": member["ca_data"]},
    }
    data = {
        "name": member["cluster_name"],
        "server": member["server"],
        "config": json.dumps(config, sort_keys=True),
    }
    if member.get("namespaces"):
        data["namespaces"] = ",".join(member["namespaces"])
        data["clusterResources"] = "false"
    return data


def application_set_spec(
    app: FleetApplicationConfig, repo_url: pulumi.Input[str]
) -> dict[str, Any]:
    """One Application per matching spoke (the cluster generator's `name`, `server` and
    `metadata.labels` parameters: argo-cd v3.4.4
    docs/operator-manual/applicationset/Generators-Cluster.md), in the fleet's project."""
    env = '{{ index .metadata.labels "' + label("environment") + '" }}'
    path = f"{app.path}/overlays/{env}" if app.overlays else app.path
    return {
        "goTemplate": True,
        # A parameter a template names but a cluster lacks fails the ApplicationSet rather
        # than rendering `<no value>` (Go template option; docs/operator-manual/
        # applicationset/GoTemplate.md). `index` of a missing label still gives "": the hub
        # sets the environment label on every Secret.
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"clusters": {"selector": {"matchLabels": selected_by(app)}}}],
        "template": {
            "metadata": {
                "name": "{{ .nameNormalized }}-" + app.name,
                "finalizers": [FINALIZER],
            },
            "spec": {
                "project": FLEET_PROJECT,
                "source": {"repoURL": repo_url, "path": path, "targetRevision": "HEAD"},
                "destination": {"server": "{{ .server }}", "namespace": app.namespace},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                    "retry": RETRY,
                },
            },
        },
    }
