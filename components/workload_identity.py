"""Workload identity: the one way a Kubernetes service account gets an AWS IAM role.

IRSA works in every cluster mode: the role trusts the cluster's OIDC provider for exactly one
service account (`sub`) and audience (`aud`), and the service account carries the role's ARN
in an annotation. On EKS, Pod Identity is the alternative: the role trusts the Pod Identity
service and an association binds it to the service account; no annotation is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components import iam
from components.iam import policy_document

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


@dataclass(frozen=True)
class WorkloadIdentity:
    """What a cluster offers for giving service accounts AWS roles."""

    mechanism: Literal["irsa", "pod_identity"]
    cluster_name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    oidc_audience: str
    ready: list[pulumi.Resource]
    """What must exist before a role can be used (e.g. the Pod Identity agent)."""

    @classmethod
    def irsa(
        cls,
        cluster_name: pulumi.Output[str],
        oidc_provider_arn: pulumi.Output[str],
        oidc_issuer_url: pulumi.Output[str],
        oidc_audience: str,
    ) -> WorkloadIdentity:
        """IRSA through an OIDC provider that exists already: nothing to wait for."""
        return cls("irsa", cluster_name, oidc_provider_arn, oidc_issuer_url, oidc_audience, [])


@dataclass
class ServiceAccountRoleArgs:
    namespace: str
    service_accounts: Sequence[str]
    """Usually one; a chart whose pods run as several accounts (GitLab) names them all."""
    identity: WorkloadIdentity
    policy: pulumi.Input[str] | None = None
    """The role's own permissions, as an IAM policy document."""
    managed_policy_arns: Sequence[str] = ()
    """AWS managed policies to attach (e.g. the EBS CSI driver's)."""


class ServiceAccountRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    service_account_annotations: dict[str, pulumi.Output[str]]
    """Annotations the service account needs (the role ARN for IRSA; none for Pod Identity)."""
    ready: list[pulumi.Resource]
    """What a workload using the role must wait for: the permissions and the binding."""

    def __init__(
        self, name: str, args: ServiceAccountRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:identity:ServiceAccountRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = args.identity
        accounts = list(args.service_accounts)
        subjects = [f"system:serviceaccount:{args.namespace}:{sa}" for sa in accounts]

        if identity.mechanism == "irsa":
            trust = _irsa_trust(identity, subjects)
        else:
            # Only the associations of these service accounts in this cluster: Pod Identity
            # tags its sessions with them (Amazon EKS User Guide, "Create IAM role with trust
            # policy required by EKS Pod Identity", Setting Conditions:
            # https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html); without the
            # condition any association in the account could take the role.
            trust = policy_document(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_SERVICE},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": identity.cluster_name.apply(
                        lambda cluster: {
                            "StringEquals": {
                                "aws:RequestTag/eks-cluster-name": cluster,
                                "aws:RequestTag/kubernetes-namespace": args.namespace,
                                "aws:RequestTag/kubernetes-service-account": accounts,
                            }
                        }
                    ),
                }
            )
        role = iam.role(
            name,
            trust,
            child,
            managed_policy_arns=args.managed_policy_arns,
            inline_policy=None if args.policy is None else (name, args.policy),
            description=f"Assumed by {args.namespace}/{', '.join(accounts)}"[:1000],
        )
        self.ready = [*role.permissions, *identity.ready]
        self.role_arn = role.role.arn
        if identity.mechanism == "irsa":
            self.service_account_annotations = {IRSA_ROLE_ANNOTATION: self.role_arn}
        else:
            self.service_account_annotations = {}
            self.ready += [
                aws.eks.PodIdentityAssociation(
                    name if len(accounts) == 1 else f"{name}-{sa}",
                    cluster_name=identity.cluster_name,
                    namespace=args.namespace,
                    service_account=sa,
                    role_arn=self.role_arn,
                    opts=child,
                )
                for sa in accounts
            ]
        self._service_accounts = accounts
        self.register_outputs({"role_arn": self.role_arn})

    def service_account_values(self) -> dict[str, object]:
        """The `serviceAccount` block Helm charts conventionally take, bound to this role."""
        (account,) = self._service_accounts
        return {
            "create": True,
            "name": account,
            "annotations": self.service_account_annotations,
        }


def _irsa_trust(identity: WorkloadIdentity, subjects: list[str]) -> pulumi.Output[str]:
    """Trust the cluster's OIDC provider for exactly these service accounts and one audience."""
    subject: str | list[str] = subjects[0] if len(subjects) == 1 else subjects

    def only(issuer_url: str) -> dict[str, dict[str, str | list[str]]]:
        issuer = issuer_url.removeprefix("https://")
        return {"StringEquals": {f"{issuer}:sub": subject, f"{issuer}:aud": identity.oidc_audience}}

    return policy_document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": identity.oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": identity.oidc_issuer_url.apply(only),
        }
    )
