"""The stack's typed configuration: one model of everything a stack file may say.

`load_config()` reads the stack's configuration through the Pulumi runtime (so it behaves the
same under the CLI and in the offline preview), validates all of it in one pass and either
returns a `PlatformConfig` or raises a `ConfigError` that lists every problem at once, before
any resource is registered.

Secrets are top-level keys of their own (`SECRET_KEYS`) and stay `pulumi.Output` secrets;
the validated model never holds a secret in clear.

The modules, each importing only those listed before it:

- `values`: the constrained value types (DNS names, CIDRs, ARNs, versions) and `_Strict`;
- `cluster`, `edge`, `gitlab`, `charts`, `sync`, `gitops`, `argocd`, `previews`: one model per area;
- `stack`: `PlatformConfig`, `PlatformSecrets` and the stack's top-level keys;
- `messages`: validation errors as user text, naming the key as the stack file writes it;
- `loader`: `load_config`, `validate` and the checks against the committed `gitops/` folder.

This package re-exports the public names, so `from components.config import X` is the one
import the rest of the program uses.
"""

from components.config.across import MAX_ALB_SOURCE_RANGES
from components.config.argocd import (
    HA_REPLICAS,
    ArgoCdConfig,
    ArgoCdRole,
    Duration,
    GroupRole,
    SsoConfig,
)
from components.config.charts import ChartConfig, ChartsConfig
from components.config.cluster import (
    CLUSTER_MODES,
    AddonVersion,
    ClusterConfig,
    ControlPlaneLogType,
    EksAddon,
    EksClusterConfig,
    ExistingClusterConfig,
    KopsClusterConfig,
    NetworkConfig,
    NodeGroupConfig,
)
from components.config.edge import AccessConfig, AcmCertificateArn, DnsConfig, TlsConfig, TlsPolicy
from components.config.gitlab import GitLabConfig
from components.config.gitops import (
    DEFAULT_APPLICATIONS,
    RESERVED_NAMESPACES,
    ApplicationConfig,
    GitOpsConfig,
    RepoPath,
)
from components.config.loader import (
    GITOPS_DIR,
    ConfigError,
    load_config,
    validate,
)
from components.config.previews import (
    PreviewLimitsConfig,
    PreviewQuotaConfig,
    PreviewsConfig,
)
from components.config.stack import CONFIG_KEYS, SECRET_KEYS, PlatformConfig, PlatformSecrets
from components.config.sync import IgnoreDifference, SyncConfig
from components.config.values import (
    AdminCidr,
    AvailabilityZone,
    ChartRepository,
    ChartVersion,
    Cidr,
    DnsLabel,
    DnsName,
    HttpsUrl,
    IamPrincipalArn,
    InstanceType,
    KubernetesRelease,
    KubernetesVersion,
    OidcProviderArn,
    Region,
    SubnetId,
    TagValue,
    VpcId,
)

__all__ = [
    "CLUSTER_MODES",
    "CONFIG_KEYS",
    "DEFAULT_APPLICATIONS",
    "GITOPS_DIR",
    "HA_REPLICAS",
    "MAX_ALB_SOURCE_RANGES",
    "RESERVED_NAMESPACES",
    "SECRET_KEYS",
    "AccessConfig",
    "AcmCertificateArn",
    "AddonVersion",
    "AdminCidr",
    "ApplicationConfig",
    "ArgoCdConfig",
    "ArgoCdRole",
    "AvailabilityZone",
    "ChartConfig",
    "ChartRepository",
    "ChartVersion",
    "ChartsConfig",
    "Cidr",
    "ClusterConfig",
    "ConfigError",
    "ControlPlaneLogType",
    "DnsConfig",
    "DnsLabel",
    "DnsName",
    "Duration",
    "EksAddon",
    "EksClusterConfig",
    "ExistingClusterConfig",
    "GitLabConfig",
    "GitOpsConfig",
    "GroupRole",
    "HttpsUrl",
    "IamPrincipalArn",
    "IgnoreDifference",
    "InstanceType",
    "KopsClusterConfig",
    "KubernetesRelease",
    "KubernetesVersion",
    "NetworkConfig",
    "NodeGroupConfig",
    "OidcProviderArn",
    "PlatformConfig",
    "PlatformSecrets",
    "PreviewLimitsConfig",
    "PreviewQuotaConfig",
    "PreviewsConfig",
    "Region",
    "RepoPath",
    "SsoConfig",
    "SubnetId",
    "SyncConfig",
    "TagValue",
    "TlsConfig",
    "TlsPolicy",
    "VpcId",
    "load_config",
    "validate",
]
