"""The stack's typed configuration: one model of everything a stack file may say.

`load_config()` reads the stack's configuration through the Pulumi runtime (so it behaves the
same under the CLI and in the offline preview), validates all of it in one pass and either
returns a `PlatformConfig` or raises a `ConfigError` that lists every problem at once, before
any resource is registered.

Secrets are top-level keys of their own (`SECRET_KEYS`) and stay `pulumi.Output` secrets;
the validated model never holds a secret in clear.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# --- value types -----------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EXACT_VERSION = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_KUBERNETES_MINOR = re.compile(r"^1\.(\d|[1-9]\d)$")
_KUBERNETES_RELEASE = re.compile(r"^1\.(\d|[1-9]\d)\.(0|[1-9]\d*)$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_AVAILABILITY_ZONE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]$")
_OIDC_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/[^\s]+$")
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[^\s]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_OPEN_TO_ALL = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def _dns_name(value: str) -> str:
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            "expected a DNS name such as 'example.com': two or more dot-separated labels of "
            "lower-case letters, digits and hyphens"
        )
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            "expected a DNS label: 1-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("expected a CIDR block in network form such as '203.0.113.0/24'") from None
    return str(network)


def _exact_version(value: str) -> str:
    if not _EXACT_VERSION.match(value):
        raise ValueError("expected an exact chart version such as '1.2.3' (no ranges, no 'latest')")
    return value


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


def _is_open_to_all(cidr: str) -> bool:
    return ipaddress.ip_network(cidr) in _OPEN_TO_ALL


def _admin_cidr(value: str, info: ValidationInfo) -> str:
    if (info.context or {}).get("production") and _is_open_to_all(value):
        raise ValueError(
            "expected specific ranges: a production stack may not open admin endpoints "
            "to the whole internet"
        )
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Cidr = Annotated[str, AfterValidator(_cidr)]
AdminCidr = Annotated[str, AfterValidator(_cidr), AfterValidator(_admin_cidr)]
ChartVersion = Annotated[str, AfterValidator(_exact_version)]
KubernetesVersion = Annotated[
    str, _matching(_KUBERNETES_MINOR, "a Kubernetes minor version such as '1.35'")
]
KubernetesRelease = Annotated[
    str, _matching(_KUBERNETES_RELEASE, "a Kubernetes release such as '1.35.0'")
]
Region = Annotated[str, _matching(_REGION, "an AWS region such as 'eu-west-1'")]
AvailabilityZone = Annotated[
    str, _matching(_AVAILABILITY_ZONE, "an availability zone name such as 'eu-west-1a'")
]
OidcProviderArn = Annotated[
    str,
    _matching(
        _OIDC_PROVIDER_ARN,
        "an IAM OIDC provider ARN such as 'arn:aws:iam::123456789012:oidc-provider/oidc.example'",
    ),
]
IamPrincipalArn = Annotated[str, _matching(_IAM_PRINCIPAL_ARN, "an IAM role or user ARN")]
VpcId = Annotated[str, _matching(_VPC_ID, "a VPC id such as 'vpc-0123456789abcdef0'")]
SubnetId = Annotated[str, _matching(_SUBNET_ID, "a subnet id such as 'subnet-0123456789abcdef0'")]
InstanceType = Annotated[str, _matching(_INSTANCE_TYPE, "an EC2 instance type such as 'm6i.large'")]
HttpsUrl = Annotated[str, _matching(re.compile(r"^https://[^\s/]+(/[^\s]*)?$"), "an https:// URL")]
ChartRepository = Annotated[
    str,
    _matching(
        re.compile(r"^(https|oci)://[^\s/]+(/[^\s]*)?$"),
        "a Helm repository URL (https:// or oci://)",
    ),
]
TagValue = Annotated[str, Field(min_length=1, max_length=256)]


class _Strict(BaseModel):
    """Unknown (misspelled) keys are errors, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- network ---------------------------------------------------------------------------------


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


# --- cluster ---------------------------------------------------------------------------------


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

    @model_validator(mode="after")
    def _ordered(self) -> NodeGroupConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"expected min_size <= desired_size <= max_size, got "
                f"{self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        return self


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
    ] = "AL2023_x86_64_STANDARD"
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

    @model_validator(mode="after")
    def _versions_of_installed_addons(self) -> EksClusterConfig:
        if "eks-pod-identity-agent" in self.addon_versions and self.workload_identity != (
            "pod_identity"
        ):
            raise ValueError(
                "addon_versions names eks-pod-identity-agent, which is installed only with "
                "workload_identity: pod_identity"
            )
        return self

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

    @model_validator(mode="after")
    def _vpc_given_or_created(self) -> KopsClusterConfig:
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
        return self


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


ClusterConfig = Annotated[
    EksClusterConfig | KopsClusterConfig | ExistingClusterConfig, Field(discriminator="mode")
]
CLUSTER_MODES: dict[str, type[BaseModel]] = {
    "eks": EksClusterConfig,
    "kops": KopsClusterConfig,
    "existing": ExistingClusterConfig,
}


# --- DNS, TLS, access, charts, the whole stack ----------------------------------------------

AcmCertificateArn = Annotated[
    str,
    _matching(
        re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"),
        "an ACM certificate ARN such as 'arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>'",
    ),
]


class DnsConfig(_Strict):
    """The Route 53 public zone for `domain`, and how ExternalDNS treats it."""

    create_zone: bool = Field(
        default=False,
        description="Create the zone (then delegate it: see the name_servers output); "
        "default: look up an existing public zone.",
    )
    external_dns_policy: Literal["sync", "upsert-only"] = Field(
        default="sync",
        description="`sync` deletes the records it created (a destroy leaves none behind); "
        "`upsert-only` never deletes, for zones shared with others.",
    )


class TlsConfig(_Strict):
    certificate_arn: AcmCertificateArn | None = Field(
        default=None,
        description="Use this ACM certificate (for `domain` and `*.domain`) instead of "
        "requesting one.",
    )
    validation_timeout_minutes: int = Field(
        default=45, ge=5, le=240, description="How long `pulumi up` waits for DNS validation."
    )


TlsPolicy = Literal[
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
]
"""TLS 1.2/1.3-only load balancer policies; older ones (the AWS default 2016-08) are refused."""


class AccessConfig(_Strict):
    """Who may reach each public endpoint."""

    admin_cidrs: list[AdminCidr] = Field(
        min_length=1,
        description="Ranges allowed to reach the Kubernetes API, Argo CD and GitLab's admin area; "
        "at most 3 while ALB rules admit them (gitlab.admin_area: admins, argocd.exposure: "
        "ingress).",
    )
    gitlab_cidrs: list[Cidr] = Field(
        default=[],
        description="Further ranges allowed to reach GitLab's web UI and git over HTTPS.",
    )
    gitlab_public: bool = Field(
        default=False, description="Open GitLab's 80/443 to everyone (`0.0.0.0/0`)."
    )
    cluster_egress_cidrs: list[Cidr] = Field(
        default=[],
        description="Where the cluster's outbound traffic comes from, when this stack did not "
        "build its network (existing mode, kOps in an existing VPC): Argo CD reaches GitLab "
        "from there. The NAT gateways of a network the stack built are added automatically.",
    )
    tls_policy: TlsPolicy = Field(
        default="ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        description="TLS policy of every load balancer listener (TLS 1.2+ only).",
    )

    @model_validator(mode="after")
    def _public_gitlab_is_explicit(self) -> AccessConfig:
        if any(map(_is_open_to_all, self.gitlab_cidrs)) and not self.gitlab_public:
            raise ValueError(
                "gitlab_cidrs opens GitLab to everyone; set gitlab_public: true to mean it"
            )
        return self


_DURATION = re.compile(r"^[1-9]\d*(s|m|h)$")
Duration = Annotated[str, _matching(_DURATION, "a duration such as '120s', '5m' or '1h'")]


class ArgoCdConfig(_Strict):
    """Argo CD: the seed's controller tuning, how it is exposed, and its size."""

    exposure: Literal["loadbalancer", "ingress"] = Field(
        default="loadbalancer",
        description="`loadbalancer`: its own NLB with TLS (the seed's way); `ingress`: on the "
        "shared ALB with GitLab.",
    )
    hostname: DnsLabel = Field(default="argocd", description="Served at `<hostname>.<domain>`.")
    status_processors: int = Field(
        default=20, ge=1, le=500, description="controller.status.processors (the seed's 20)."
    )
    operation_processors: int = Field(
        default=10, ge=1, le=500, description="controller.operation.processors (the seed's 10)."
    )
    self_heal_timeout_seconds: int = Field(
        default=5, ge=1, le=3600, description="controller.self.heal.timeout.seconds (seed: 5)."
    )
    repo_server_timeout_seconds: int = Field(
        default=60, ge=1, le=3600, description="controller.repo.server.timeout.seconds (60)."
    )
    reconciliation_timeout: Duration = Field(
        default="120s", description="How often applications are compared with Git."
    )
    server_replicas: int = Field(default=1, ge=1, le=10, description="argocd-server pods.")
    repo_server_replicas: int = Field(
        default=1, ge=1, le=10, description="argocd-repo-server pods."
    )


class GitLabConfig(_Strict):
    """GitLab: where it is served, git over SSH, and its size."""

    hostname: DnsLabel = Field(default="gitlab", description="Served at `<hostname>.<domain>`.")
    ssh: Literal["disabled", "nlb"] = Field(
        default="disabled",
        description="Git over SSH: off, or through its own NLB limited to `ssh_cidrs` "
        "(an ALB cannot carry SSH).",
    )
    ssh_cidrs: list[AdminCidr] = Field(
        default=[], description="Ranges allowed to reach git over SSH (required with ssh: nlb)."
    )
    admin_area: Literal["admins", "everyone"] = Field(
        default="admins",
        description="Who reaches GitLab's admin area (`/admin`): only `access.admin_cidrs` "
        "(the ALB answers 403 to everyone else), or everyone the GitLab security group admits.",
    )
    webservice_replicas: int = Field(
        default=2, ge=1, le=20, description="Minimum web/API pods (maximum: twice that)."
    )
    sidekiq_replicas: int = Field(
        default=1, ge=1, le=20, description="Minimum background-job pods (maximum: twice that)."
    )
    gitlab_shell_replicas: int = Field(
        default=2, ge=1, le=10, description="Minimum gitlab-shell pods (with ssh: nlb)."
    )
    registry_replicas: int = Field(
        default=2, ge=1, le=10, description="Minimum container registry pods."
    )
    registry_metadata: Literal["database", "legacy"] = Field(
        default="database",
        description="Where the container registry keeps its metadata: `database` (its own "
        "database on GitLab's RDS instance, created by the stack; GitLab's choice for new "
        "registries) or `legacy` (in the bucket, deprecated; for a registry that already "
        "holds images until they are imported: README, GitLab).",
    )
    database_instance_class: Annotated[
        str,
        _matching(
            re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$"), "an RDS class such as 'db.t4g.medium'"
        ),
    ] = Field(default="db.t4g.medium", description="RDS instance class of GitLab's database.")
    database_storage_gib: int = Field(
        default=50, ge=20, le=65536, description="RDS storage (grows automatically up to 4x)."
    )
    cache_node_type: Annotated[
        str,
        _matching(
            re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$"), "a node type such as 'cache.t4g.small'"
        ),
    ] = Field(default="cache.t4g.small", description="ElastiCache node type of GitLab's Redis.")

    @model_validator(mode="after")
    def _ssh_has_ranges(self) -> GitLabConfig:
        if self.ssh == "nlb" and not self.ssh_cidrs:
            raise ValueError("expected ssh_cidrs (at least one range) when ssh is 'nlb'")
        if self.ssh == "disabled" and self.ssh_cidrs:
            raise ValueError("ssh_cidrs is set but ssh is 'disabled'")
        return self


class ChartConfig(_Strict):
    repository: ChartRepository = Field(description="Helm repository (https:// or oci://).")
    version: ChartVersion = Field(description="Exact chart version.")


class ChartsConfig(_Strict):
    """Helm charts the platform installs, each pinned to an exact version."""

    gitlab: ChartConfig = ChartConfig(repository="https://charts.gitlab.io/", version="10.4.1")
    argo_cd: ChartConfig = ChartConfig(
        repository="https://argoproj.github.io/argo-helm", version="10.10.0"
    )
    aws_load_balancer_controller: ChartConfig = ChartConfig(
        repository="https://aws.github.io/eks-charts", version="3.6.0"
    )
    external_dns: ChartConfig = ChartConfig(
        repository="https://kubernetes-sigs.github.io/external-dns/", version="1.21.1"
    )


GITOPS_DIR = Path(__file__).resolve().parent.parent / "gitops"
_REPO_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
RepoPath = Annotated[
    str, _matching(_REPO_PATH, "a relative path in the GitOps repository such as 'minio'")
]
_RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "argocd")


class SyncConfig(_Strict):
    automated: bool = Field(default=True, description="Sync on every change in Git.")
    prune: bool = Field(default=True, description="Delete what was removed from Git.")
    self_heal: bool = Field(default=True, description="Undo changes made outside Git.")


class ApplicationConfig(_Strict):
    """One Argo CD Application deployed from the GitOps repository."""

    name: DnsLabel
    path: RepoPath = Field(
        description="Folder in the GitOps repository (a chart or kustomization)."
    )
    namespace: DnsLabel = Field(description="Namespace it deploys into (created by Argo CD).")
    value_files: list[Annotated[str, _matching(_REPO_PATH, "a values file name")]] = Field(
        default=[], description="Helm value files in `path`; empty for Kustomize or plain charts."
    )
    sync: SyncConfig = SyncConfig()

    @field_validator("namespace")
    @classmethod
    def _not_reserved(cls, namespace: str) -> str:
        if namespace in _RESERVED_NAMESPACES:
            raise ValueError(
                f"expected an application namespace, not one of {_RESERVED_NAMESPACES}"
            )
        return namespace

    @field_validator("path")
    @classmethod
    def _committed(cls, path: str, info: ValidationInfo) -> str:
        folders = (info.context or {}).get("gitops_folders")
        if folders is not None and path not in folders:
            raise ValueError(
                f"expected a folder of gitops/ (committed to GitLab): {sorted(folders)}"
            )
        return path


DEFAULT_APPLICATIONS = [
    ApplicationConfig(
        name="minio-helm", path="minio", namespace="minio", value_files=["values-minio.yaml"]
    ),
    ApplicationConfig(name="my-app", path="my-app/overlays/dev", namespace="my-app"),
]


class GitOpsConfig(_Strict):
    """The GitLab project the stack seeds and Argo CD deploys from."""

    group: Annotated[str, _matching(_REPO_PATH, "a GitLab group path")] = Field(
        default="platform", description="GitLab group the stack creates."
    )
    project: Annotated[str, _matching(_REPO_PATH, "a GitLab project path")] = Field(
        default="test-stg", description="Private project (default branch main) it seeds."
    )
    minio_chart: ChartConfig = Field(
        default=ChartConfig(repository="https://charts.min.io/", version="5.4.0"),
        description="The MinIO chart `gitops/minio` depends on (Bitnami's changed in 2025).",
    )
    token_expiry_days: int = Field(
        default=90, ge=2, le=365, description="Lifetime of the bootstrap access token."
    )
    token_renewal_days: int = Field(
        default=30,
        ge=1,
        le=182,
        description="The first `pulumi up` of each period this long replaces the bootstrap "
        "token with a new one (a preview shows it); at most half its lifetime.",
    )

    @model_validator(mode="after")
    def _renewed_well_before_expiry(self) -> GitOpsConfig:
        if self.token_renewal_days * 2 > self.token_expiry_days:
            raise ValueError(
                f"expected token_renewal_days ({self.token_renewal_days}) at most half of "
                f"token_expiry_days ({self.token_expiry_days}), so a token is renewed while it "
                "still has half its life left"
            )
        return self


class PlatformConfig(_Strict):
    """Everything a stack is configured with, validated. Secrets live in `PlatformSecrets`."""

    project: str
    stack: str
    region: Region = Field(description="From `aws:region`.")
    environment: DnsLabel = Field(description="Environment name used in names and tags.")
    production: bool = Field(
        default=False,
        description="Production stack: stricter checks, stateful resources protected.",
    )
    owner: TagValue = Field(description="Team that owns the stack (the `owner` tag).")
    domain: DnsName = Field(description="Public DNS zone; GitLab and Argo CD live under it.")
    network: NetworkConfig | None = Field(
        default=None, description="The VPC and zones; required unless cluster.mode is existing."
    )
    cluster: ClusterConfig
    nodes: NodeGroupConfig | None = Field(
        default=None,
        description="Worker nodes of an eks or kops cluster (defaults apply); not for existing.",
    )
    access: AccessConfig
    dns: DnsConfig = DnsConfig()
    tls: TlsConfig = TlsConfig()
    gitlab: GitLabConfig = GitLabConfig()
    argocd: ArgoCdConfig = ArgoCdConfig()
    charts: ChartsConfig = ChartsConfig()
    gitops: GitOpsConfig = GitOpsConfig()
    applications: list[ApplicationConfig] = Field(
        default=DEFAULT_APPLICATIONS,
        description="Argo CD Applications deployed from the GitOps repository.",
    )
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], TagValue] = Field(
        default={}, description="Extra tags on every AWS resource."
    )

    def published_hosts(self) -> list[str]:
        """The DNS names the stack's load balancers are published under (by ExternalDNS):
        GitLab's, its container registry's (the chart's default `registry.<domain>`, from its
        own Ingress: https://docs.gitlab.com/charts/charts/globals/ `hosts.registry.name`),
        git over SSH's, and Argo CD's."""
        gitlab = f"{self.gitlab.hostname}.{self.domain}"
        ssh = [f"{self.gitlab.hostname}-ssh.{self.domain}"] if self.gitlab.ssh == "nlb" else []
        registry = f"registry.{self.domain}"
        return [gitlab, registry, *ssh, f"{self.argocd.hostname}.{self.domain}"]


@dataclass(frozen=True)
class PlatformSecrets:
    """Secret configuration, kept as Pulumi secret Outputs end to end."""

    kubeconfig: pulumi.Output[str] | None
    gitlab_token: pulumi.Output[str] | None
    """A GitLab access token (scope api) to use instead of bootstrapping one."""


# --- loading ---------------------------------------------------------------------------------

SECRET_KEYS = ("kubeconfig", "gitlab_token")
_RUNTIME_FIELDS = ("project", "stack", "region")
CONFIG_KEYS = tuple(k for k in PlatformConfig.model_fields if k not in _RUNTIME_FIELDS)


class ConfigError(pulumi.RunError):
    """Invalid stack configuration: every problem, one per line, before anything is created."""

    def __init__(self, stack: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration for stack '{stack}' ({count}):\n{lines}")


def load_config() -> tuple[PlatformConfig, PlatformSecrets]:
    """Read and validate this stack's configuration from the Pulumi runtime."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    present = _present_keys(project)
    raw: dict[str, Any] = {"project": project, "stack": stack}
    if (region := pulumi.runtime.get_config("aws:region")) is not None:
        raw["region"] = region
    problems: list[str] = []
    for key in sorted(present):
        value = pulumi.runtime.get_config(f"{project}:{key}")
        if key in SECRET_KEYS:
            if not pulumi.runtime.is_config_secret(f"{project}:{key}"):
                problems.append(
                    f"{project}:{key}: is stored in clear; set it with "
                    f"`pulumi config set --secret {key}`"
                )
        elif key in CONFIG_KEYS:
            if pulumi.runtime.is_config_secret(f"{project}:{key}"):
                problems.append(
                    f"{project}:{key}: holds a secret value; secrets are top-level keys of "
                    f"their own ({', '.join(SECRET_KEYS)})"
                )
            raw[key] = _decode(value)
        else:
            problems.append(
                f"{project}:{key} = {_show(value)}: unknown key (misspelled?); expected one of "
                f"{', '.join(CONFIG_KEYS + SECRET_KEYS)}"
            )

    config, model_problems = validate(raw, project)
    problems += model_problems
    mode = raw.get("cluster", {}).get("mode") if isinstance(raw.get("cluster"), dict) else None
    if mode == "existing" and "kubeconfig" not in present:
        problems.append(
            f"{project}:kubeconfig: missing; cluster.mode 'existing' needs the cluster's "
            "kubeconfig (`pulumi config set --secret kubeconfig < kubeconfig.yaml`)"
        )
    if problems or config is None:
        raise ConfigError(stack, problems)

    stack_config = pulumi.Config()
    return config, PlatformSecrets(
        kubeconfig=stack_config.get_secret("kubeconfig"),
        gitlab_token=stack_config.get_secret("gitlab_token"),
    )


MAX_ALB_SOURCE_RANGES = 3
"""Source ranges an ALB listener rule can hold beside its host and one path pattern."""


def validate(raw: Mapping[str, Any], project: str) -> tuple[PlatformConfig | None, list[str]]:
    """Validate raw config values; return the model or every problem found, as user text."""
    production = raw.get("production")
    context = {
        "region": raw.get("region") if isinstance(raw.get("region"), str) else None,
        "production": production is True or str(production).lower() == "true",
        "gitops_folders": _gitops_folders(),
    }
    try:
        config = PlatformConfig.model_validate(raw, context=context)
    except ValidationError as error:
        return None, [_describe(e, project) for e in error.errors()]
    problems = []
    existing = isinstance(config.cluster, ExistingClusterConfig)
    if config.network is None and not existing:
        problems.append(
            f"{project}:network: missing; cluster.mode '{config.cluster.mode}' needs "
            "network.availability_zones (at least two)"
        )
    if existing and (config.network is not None or config.nodes is not None):
        problems.append(
            f"{project}:network/nodes: set, but cluster.mode 'existing' brings its own VPC "
            "and nodes; remove them"
        )
    # Features that put admin_cidrs into ALB listener-rule conditions.
    alb_source_rules = [
        feature
        for feature, on in (
            ("gitlab.admin_area: admins", config.gitlab.admin_area == "admins"),
            ("argocd.exposure: ingress", config.argocd.exposure == "ingress"),
        )
        if on
    ]
    if alb_source_rules and len(config.access.admin_cidrs) > MAX_ALB_SOURCE_RANGES:
        problems.append(
            f"{project}:access.admin_cidrs: {len(config.access.admin_cidrs)} ranges, but "
            f"{' and '.join(alb_source_rules)} admit them in ALB listener rules, "
            f"which take at most {MAX_ALB_SOURCE_RANGES} (a rule has at most 5 condition "
            "values: its host, its path and the ranges); expected at most "
            f"{MAX_ALB_SOURCE_RANGES} ranges (merge neighbouring ones), or gitlab.admin_area: "
            "everyone and argocd.exposure: loadbalancer"
        )
    names = [app.name for app in config.applications]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        problems.append(f"{project}:applications: names must be unique; repeated: {duplicates}")
    if problems:
        return None, problems
    if config.nodes is None and not existing:
        config = config.model_copy(update={"nodes": NodeGroupConfig()})
    return config, []


def _gitops_folders() -> set[str]:
    """Folders of gitops/ that the stack commits: where an application may point."""
    return {str(p.relative_to(GITOPS_DIR)) for p in GITOPS_DIR.rglob("*") if p.is_dir()}


def _present_keys(project: str) -> set[str]:
    """Keys of this project's namespace that the stack sets (CLI env or runtime config)."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    prefix = f"{project}:"
    return {k[len(prefix) :] for k in keys if k.startswith(prefix)}


def _decode(value: Any) -> Any:
    """Config arrives as strings; objects and lists as JSON text. Scalars stay strings for
    pydantic to coerce ('true' -> True, '3' -> 3) so a bad scalar is reported, not a crash."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_path(loc: tuple[int | str, ...], project: str) -> str:
    parts = list(loc)
    if parts and parts[0] == "region":
        return "aws:region"
    if len(parts) > 1 and parts[0] == "cluster" and parts[1] in CLUSTER_MODES:
        del parts[1]  # the union's tag, not a key the user wrote
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return f"{project}:{path}"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the object at `loc` accepts, for 'unknown key' messages."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is not None and part in model.model_fields:
            model = _model_of(model.model_fields[part].annotation)
        else:
            model = CLUSTER_MODES.get(part)  # the union's tag picks the cluster model
    return [k for k in model.model_fields if k not in _RUNTIME_FIELDS] if model else []


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _describe(error: Any, project: str) -> str:
    loc = tuple(error["loc"])
    key = _key_path(loc, project)
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{key}: missing; this key is required"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc))
        return f"{key} = {_show(value)}: unknown key (misspelled?); expected one of {allowed}"
    if kind == "union_tag_invalid":
        modes = ", ".join(repr(m) for m in CLUSTER_MODES)
        return (
            f"{key}.mode = {_show(ctx.get('tag'))}: unknown cluster mode; expected one of {modes}"
        )
    if kind == "union_tag_not_found":
        modes = ", ".join(repr(m) for m in CLUSTER_MODES)
        return f"{key}.mode: missing; expected one of {modes}"
    if kind == "value_error":
        expected = str(ctx.get("error", error["msg"]))
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le")))
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}[kind]
        expected = f"expected a number {op} {bound}"
    elif kind == "too_short":
        expected = f"expected at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        expected = f"expected at most {ctx.get('max_length')} item(s)"
    else:
        expected = "expected: " + error["msg"][0].lower() + error["msg"][1:]
    shown = "" if kind == "value_error" and value is None else f" = {_show(value)}"
    return f"{key}{shown}: {expected}"
