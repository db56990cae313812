"""Tag guardrails: required tags come from the resource or its provider's defaultTags, the list
is configurable, unknown values are not decided on, and the shipped stacks pass."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from policy_harness import UNKNOWN, Resource, analyze, mandatory, undecided
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.policy import Policy

from guardrails import tags
from offline.plan import Plan

VPC = "aws:ec2/vpc:Vpc"
ALL_TAGS = {"environment": "dev", "project": "gitops-platform", "owner": "platform-team"}
# As the engine sends the stack's provider: nested configuration as JSON text.
DEFAULT_TAGS = json.dumps({"tags": {**ALL_TAGS, "managed-by": "pulumi"}})


def analyze_with_provider(
    policy: Policy,
    resource: Resource,
    provider_props: dict[str, Any],
    provider_type: str = tags.AWS_PROVIDER,
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    """`policy_harness.analyze` of `resource` with this explicit provider."""
    provider = Resource(provider_type, provider_props, name="gitops-platform-dev-aws")
    return analyze(policy, replace(resource, provider=provider))


def test_tags_on_the_resource() -> None:
    policy = tags.required_tags
    assert mandatory(analyze(policy, Resource(VPC, {"tags": {**ALL_TAGS, "Name": "v"}}))) == []
    (message,) = mandatory(analyze(policy, Resource(VPC, {"tags": {"Name": "v"}})))
    assert "Missing required tags ['environment', 'project', 'owner']" in message
    (message,) = mandatory(analyze(policy, Resource(VPC, {})))
    assert "Missing required tags" in message
    (message,) = mandatory(analyze(policy, Resource(VPC, {"tags": {**ALL_TAGS, "owner": ""}})))
    assert "Required tags ['owner'] are empty." in message
    assert undecided(analyze(policy, Resource(VPC, {"tags": UNKNOWN})))
    assert undecided(analyze(policy, Resource(VPC, {"tags": {**ALL_TAGS, "owner": UNKNOWN}})))


def test_tags_from_the_providers_default_tags() -> None:
    policy = tags.required_tags
    provider = {"region": "eu-west-1", "defaultTags": DEFAULT_TAGS}
    assert mandatory(analyze_with_provider(policy, Resource(VPC, {}), provider)) == []
    named = Resource(VPC, {"tags": {"Name": "v", "owner": "someone-else"}})
    assert mandatory(analyze_with_provider(policy, named, provider)) == []
    # Also when the engine sends defaultTags as an object rather than JSON text.
    as_object = {"defaultTags": {"tags": ALL_TAGS}}
    assert mandatory(analyze_with_provider(policy, Resource(VPC, {}), as_object)) == []

    partial = {"defaultTags": json.dumps({"tags": {"project": "gitops-platform"}})}
    (message,) = mandatory(analyze_with_provider(policy, Resource(VPC, {}), partial))
    assert "Missing required tags ['environment', 'owner']" in message
    (message,) = mandatory(analyze_with_provider(policy, Resource(VPC, {}), {"region": "x"}))
    assert "Missing required tags" in message
    other = analyze_with_provider(policy, Resource(VPC, {}), provider, "pulumi:providers:gitlab")
    assert mandatory(other)

    unknown = {"defaultTags": UNKNOWN}
    assert undecided(analyze_with_provider(policy, Resource(VPC, {}), unknown))
    # Decided without the provider when the resource carries every tag itself.
    tagged = Resource(VPC, {"tags": ALL_TAGS})
    assert mandatory(analyze_with_provider(policy, tagged, unknown)) == []


def test_the_required_tags_come_from_config() -> None:
    policy = tags.required_tags
    config = {"required_tags": ["cost-center"]}
    (message,) = mandatory(analyze(policy, Resource(VPC, {"tags": ALL_TAGS}), config))
    assert "Missing required tags ['cost-center']" in message
    assert mandatory(analyze(policy, Resource(VPC, {"tags": {"cost-center": "42"}}), config)) == []
    assert mandatory(analyze(policy, Resource(VPC, {}), {"required_tags": []})) == []


def test_which_resources_are_checked() -> None:
    policy = tags.required_tags
    # Not in the taggable list, but it has tags: checked.
    topic = Resource("aws:sns/topic:Topic", {"tags": {"Name": "t"}})
    assert mandatory(analyze(policy, topic))
    # Neither taggable nor tagged; not AWS: not checked.
    assert analyze(policy, Resource("aws:ec2/route:Route", {"routeTableId": "rtb-1"})) == []
    assert analyze(policy, Resource("kubernetes:core/v1:Namespace", {"tags": {}})) == []
    assert analyze(policy, Resource(tags.AWS_PROVIDER, {"defaultTags": "{}"})) == []
    # Autoscaling groups list their tags.
    group_tags = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in ALL_TAGS.items()]
    asg = Resource("aws:autoscaling/group:Group", {"tags": group_tags})
    assert mandatory(analyze(policy, asg)) == []


def test_the_shipped_stacks_rely_on_default_tags(dev_plan: Plan) -> None:
    """Not vacuous: without its provider, the dev stack's taggable resources would fail."""
    vpc = dev_plan.of_type(VPC)[0]
    assert mandatory(analyze(tags.required_tags, Resource(VPC, vpc["inputs"] or {})))
