"""gitops-platform: the composition root. Config in, components in the middle, outputs out."""

import pulumi

from components.cluster import create_cluster
from components.config import load_config
from components.naming import Naming
from components.providers import create_aws_provider

config, secrets = load_config()
naming = Naming.for_stack(config)
aws_provider = create_aws_provider(naming, config.region)

cluster = create_cluster(
    naming, config, secrets, pulumi.ResourceOptions(providers={"aws": aws_provider})
)

pulumi.export("cluster_name", cluster.cluster_name)
pulumi.export("region", cluster.region)
pulumi.export("vpc_id", cluster.vpc_id)
pulumi.export("public_subnet_ids", cluster.public_subnet_ids)
pulumi.export("private_subnet_ids", cluster.private_subnet_ids)
pulumi.export("oidc_provider_arn", cluster.oidc_provider_arn)
pulumi.export("oidc_issuer_url", cluster.oidc_issuer_url)
for key, value in cluster.extra_outputs().items():
    pulumi.export(key, value)
