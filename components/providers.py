"""The stack's explicit AWS provider: region, tags on everything, and tags others own."""

from __future__ import annotations

import pulumi_aws as aws

from components.naming import Naming

# Tag namespaces that other systems write onto our VPC and subnets (kOps, Karpenter, the
# cluster autoscaler). Ignoring them keeps the next `pulumi up` from removing their tags.
FOREIGN_TAG_PREFIXES = ("kops.k8s.io/", "karpenter.sh/", "k8s.io/cluster-autoscaler/")
FOREIGN_TAG_KEYS = ("SubnetType", "KubernetesCluster")


def create_aws_provider(naming: Naming, region: str) -> aws.Provider:
    return aws.Provider(
        f"{naming.prefix}-aws",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=naming.tags),
        ignore_tags=aws.ProviderIgnoreTagsArgs(
            key_prefixes=list(FOREIGN_TAG_PREFIXES), keys=list(FOREIGN_TAG_KEYS)
        ),
    )
