"""Where the cluster comes from: the VPC, the worker nodes and the three `cluster.mode`s."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from components.config.values import (
    AvailabilityZone,
    Cidr,
    DnsLabel,
    DnsName,
    HttpsUrl,
    IamPrincipalArn,
    InstanceType,
    KubernetesRelease,
    KubernetesVersion,
    OidcProviderArn,
    SubnetId,
    VpcId,
    _matching,
    _Strict,
    across,
)


class NetworkConfig(_Strict):
    """The VPC the stack creates (`eks` mode, and `kops` mode with `create_vpc`)."""

    vpc_cidr: Cidr = Field(
        default="10.0.0.0/16",
        description="Private IPv4 range of the VPC, a /16 to /20.",
    )
    availability_zones: list[AvailabilityZone] = Field(
        min_length=2,
        max_length=6,
        description="Zones to spread subnets over; EKS needs at least two.",
    )
    nat_gateways: Literal["single", "per_az"] = Field(
        default="single",
        description="One NAT gateway (cheap) or one per zone (survives a zone outage).",
    )

    @field_validator("vpc_cidr")
    @classmethod
    def _private_and_sized(cls, value: str) -> str:
        network = ipaddress.ip_network(value)
        if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 20:
            raise ValueError("expected a private IPv4 range from /16 to /20, such as '10.0.0.0/16'")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _in_region_and_unique(cls, zones: list[str], info: ValidationInfo) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError("expected distinct availability zones")
        region = (info.context or {}).get("region")
        if isinstance(region, str):
            outside = [zone for zone in zones if zone[:-1] != region]
            if outside:
                raise ValueError(
                    f"expected zones of region '{region}' (aws:region); not in it: {outside}"
                )
        return zones


class NodeGroupConfig(_Strict):
    """Worker nodes: an EKS managed node group, or kOps' node instance group."""

    instance_types: list[InstanceType] = Field(
        default=["m6i.xlarge"],
        min_length=1,
        description="EC2 instance types of the nodes (two m6i.xlarge are the fewest GitLab fits "
        "on: docs/sizing.md).",
    )
    min_size: int = Field(default=2, ge=1, description="Fewest nodes.")
    desired_size: int = Field(
        default=2, ge=1, description="Nodes that run (no autoscaler is installed)."
    )
    max_size: int = Field(default=4, ge=1, description="Most nodes a scaler you add may run.")
    disk_size_gib: int = Field(
        default=50, ge=20, le=16384, description="Encrypted gp3 volume per node."
    )

    @across("min_size", "desired_size", at="desired_size")
    def _not_below_min(self) -> None:
        if self.desired_size < self.min_size:
            raise ValueError(f"expected at least min_size ({self.min_size})")

    @across("desired_size", "max_size", at="desired_size")
    def _not_above_max(self) -> None:
        if self.desired_size > self.max_size:
            raise ValueError(f"expected at most max_size ({self.max_size})")

    @across("min_size", "max_size", at="max_size")
    def _max_not_below_min(self) -> None:
        if self.max_size < self.min_size:
            raise ValueError(f"expected at least min_size ({self.min_size})")


ControlPlaneLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
EksAddon = Literal[
    "vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver", "eks-pod-identity-agent"
]
AddonVersion = Annotated[
    str,
    _matching(
        re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$"),
        "an EKS add-on version such as 'v1.20.4-eksbuild.1' (aws eks describe-addon-versions)",
    ),
]
_LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class EksClusterConfig(_Strict):
    """`cluster.mode: eks` - the stack builds VPC, EKS control plane, nodes and OIDC provider."""

    mode: Literal["eks"]
    name: DnsLabel | None = Field(
        default=None, description="Cluster name; default `<project>-<stack>`."
    )
    kubernetes_version: KubernetesVersion = Field(
        default="1.35", description="EKS Kubernetes minor version (nodes follow it)."
    )
    log_types: list[ControlPlaneLogType] = Field(
        default=["api", "audit", "authenticator", "controllerManager", "scheduler"],
        min_length=1,
        description="Control-plane log types sent to CloudWatch.",
    )
    log_retention_days: int = Field(default=90, description="CloudWatch retention of those logs.")
    ami_type: Literal[
        "AL2023_x86_64_STANDARD",
        "AL2023_ARM_64_STANDARD",
        "BOTTLEROCKET_x86_64",
        "BOTTLEROCKET_ARM_64",
    ] = Field(
        default="AL2023_x86_64_STANDARD",
        description="EKS-optimized image of the nodes (Amazon Linux 2023 or Bottlerocket, x86 "
        "or Arm: ARM types need Graviton `instance_types`).",
    )
    admin_principal_arns: list[IamPrincipalArn] = Field(
        default=[],
        description="IAM roles/users given cluster admin (CI, teammates); the creator has it.",
    )
    workload_identity: Literal["irsa", "pod_identity"] = Field(
        default="irsa",
        description="How controllers get AWS roles: IRSA, or EKS Pod Identity (with its agent).",
    )
    addon_versions: dict[EksAddon, AddonVersion] = Field(
        default={},
        description="Exact versions of EKS add-ons (vpc-cni, kube-proxy, coredns, "
        "aws-ebs-csi-driver, eks-pod-identity-agent); an add-on not listed gets EKS's default "
        "version for `kubernetes_version`, looked up at preview.",
    )

    @across("addon_versions", "workload_identity", at="addon_versions")
    def _versions_of_installed_addons(self) -> None:
        if "eks-pod-identity-agent" in self.addon_versions and self.workload_identity != (
            "pod_identity"
        ):
            raise ValueError(
                "addon_versions names eks-pod-identity-agent, which is installed only with "
                "workload_identity: pod_identity"
            )

    @field_validator("log_retention_days")
    @classmethod
    def _supported_retention(cls, days: int) -> int:
        if days not in _LOG_RETENTION_DAYS:
            raise ValueError(
                f"expected one of CloudWatch's retention periods {_LOG_RETENTION_DAYS}"
            )
        return days


class KopsClusterConfig(_Strict):
    """`cluster.mode: kops` - the stack builds what kOps needs; kOps builds the cluster."""

    mode: Literal["kops"]
    name: DnsName | None = Field(
        default=None, description="kOps cluster name (a DNS name); default `<stack>.k8s.local`."
    )
    kubernetes_version: KubernetesRelease = Field(
        default="1.35.0", description="Kubernetes release kOps installs."
    )
    create_vpc: bool = Field(
        default=True, description="Create the VPC here (else give `vpc_id` and subnet ids)."
    )
    vpc_id: VpcId | None = Field(default=None, description="Existing VPC (create_vpc: false).")
    public_subnet_ids: list[SubnetId] = Field(
        default=[], description="Its public (utility) subnets, one per zone."
    )
    private_subnet_ids: list[SubnetId] = Field(
        default=[], description="Its private subnets, one per zone."
    )
    control_plane_size: InstanceType = Field(
        default="m6i.large", description="Instance type of the control-plane nodes."
    )
    operator_arns: list[IamPrincipalArn] = Field(
        default=[],
        description="Principals allowed to assume the kOps operator role; default: this account.",
    )

    @across("create_vpc", "vpc_id", "public_subnet_ids", "private_subnet_ids", at="create_vpc")
    def _vpc_given_or_created(self) -> None:
        given = self.vpc_id is not None or self.public_subnet_ids or self.private_subnet_ids
        if self.create_vpc and given:
            raise ValueError("expected either create_vpc: true or vpc_id with subnet ids, not both")
        if not self.create_vpc and not (
            self.vpc_id and len(self.public_subnet_ids) >= 2 and len(self.private_subnet_ids) >= 2
        ):
            raise ValueError(
                "expected vpc_id and at least two public_subnet_ids and private_subnet_ids "
                "when create_vpc is false"
            )


class ExistingClusterConfig(_Strict):
    """`cluster.mode: existing` - bring your own cluster; the kubeconfig is a secret key."""

    mode: Literal["existing"]
    name: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The cluster's name (used by the load balancer controller)."
    )
    vpc_id: VpcId = Field(description="The cluster's VPC.")
    public_subnet_ids: list[SubnetId] = Field(
        min_length=2, description="Subnets for internet-facing load balancers."
    )
    private_subnet_ids: list[SubnetId] = Field(
        min_length=2, description="Subnets for GitLab's database and cache."
    )
    oidc_provider_arn: OidcProviderArn = Field(description="IAM OIDC provider for IRSA.")
    oidc_issuer_url: HttpsUrl = Field(description="The cluster's service-account issuer.")
    oidc_audience: Literal["sts.amazonaws.com", "amazonaws.com"] = Field(
        default="sts.amazonaws.com",
        description="`aud` of the cluster's service-account tokens: sts.amazonaws.com on EKS, "
        "amazonaws.com on kOps.",
    )
    kubernetes_version: KubernetesVersion = Field(
        default="1.35",
        description="The cluster's Kubernetes minor version: the preview renders the charts "
        "for it and validates what they make against its schemas.",
    )


ClusterConfig = Annotated[
    EksClusterConfig | KopsClusterConfig | ExistingClusterConfig, Field(discriminator="mode")
]
CLUSTER_MODES: dict[str, type[BaseModel]] = {
    "eks": EksClusterConfig,
    "kops": KopsClusterConfig,
    "existing": ExistingClusterConfig,
}
