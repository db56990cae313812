"""Tags: every taggable AWS resource says which environment, project and owner it belongs to.

A tag counts when the resource sets it or when its AWS provider adds it through `defaultTags`
(the provider arrives as `args.provider`; its `defaultTags` travels as JSON text). Which tags
are required is configurable (`required_tags`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from guardrails._common import as_json, dig, resource_rule

AWS_PROVIDER = "pulumi:providers:aws"
DEFAULT_REQUIRED_TAGS = ("environment", "project", "owner")

# Checked even without a `tags` input (the usual case: the provider's defaultTags tag them).
TAGGABLE_TYPES = frozenset(
    {
        "aws:acm/certificate:Certificate",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/instance:Instance",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:rds/cluster:Cluster",
        "aws:rds/instance:Instance",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:route53/zone:Zone",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)


class AwsTypes(tuple[str, ...]):
    """Every `aws:` resource type. `resource_rule` only asks `type in types`; the rule itself
    decides which are taggable (TAGGABLE_TYPES, and any other that has a `tags` input)."""

    def __contains__(self, resource_type: object) -> bool:
        return isinstance(resource_type, str) and resource_type.startswith("aws:")


def tag_map(tags: Any) -> Mapping[str, Any]:
    """`tags` as a mapping; a few resources (autoscaling groups) take a list of key/value."""
    if isinstance(tags, Mapping):
        return tags
    if isinstance(tags, Sequence) and not isinstance(tags, str):
        return {item["key"]: item.get("value") for item in tags if isinstance(item, Mapping)}
    return {}


def provider_default_tags(args: ResourceValidationArgs) -> Mapping[str, Any]:
    provider = args.provider
    if provider is None or provider.resource_type != AWS_PROVIDER:
        return {}
    tags = dig(as_json(provider.props.get("defaultTags")), "tags")
    return tags if isinstance(tags, Mapping) else {}


def has_value(tags: Mapping[str, Any], key: str) -> bool:
    value = tags.get(key)
    return isinstance(value, str) and value.strip() != ""


@resource_rule(
    "required-tags",
    "Taggable AWS resources carry the required tags (environment, project, owner by default), "
    "set on the resource or by the provider's defaultTags.",
    types=AwsTypes(),
    remediation="Set the tags on the stack's AWS provider defaultTags (components/providers.py) "
    "or on the resource.",
    severity=Severity.LOW,
    config_schema=PolicyConfigSchema(
        properties={
            "required_tags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": list(DEFAULT_REQUIRED_TAGS),
            }
        }
    ),
)
def required_tags(args: ResourceValidationArgs) -> Iterator[str]:
    required = [str(t) for t in args.get_config().get("required_tags", DEFAULT_REQUIRED_TAGS)]
    if args.resource_type not in TAGGABLE_TYPES and "tags" not in args.props:
        return
    own = tag_map(args.props.get("tags"))
    # The resource's own tag wins over the provider's default with the same key.
    missing = [t for t in required if t not in own]
    invalid = [t for t in required if t in own and not has_value(own, t)]
    if missing:
        defaults = provider_default_tags(args)
        missing = [t for t in missing if not has_value(defaults, t)]
    if missing:
        yield f"Missing required tags {missing} (not in tags, not in the provider's defaultTags)."
    if invalid:
        yield f"Required tags {invalid} are empty."
