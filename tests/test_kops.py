"""`cluster.mode: kops`: the state store, the OIDC discovery store, kOps' identity, the command."""

from __future__ import annotations

import json
import shlex

import pytest
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes

from offline.plan import SECRET, Plan

KOPS = stack_file_config("kops")
BUCKET = "aws:s3/bucket:Bucket"


@pytest.fixture(scope="module")
def kops_plan() -> Plan:
    return plan_for(KOPS, stack="study")


def bucket_settings(plan: Plan, bucket: dict, resource_type: str) -> dict:
    """The one settings resource of `resource_type` that configures `bucket`."""
    found = [r for r in plan.of_type(resource_type) if bucket["urn"] in r["dependencies"]]
    assert len(found) == 1, f"expected one {resource_type} for {bucket['name']}, found {found}"
    return found[0]


def command_flags(plan: Plan) -> dict[str, str]:
    words = shlex.split(plan.outputs["kops_create_cluster_command"])
    assert words[:3] == ["kops", "create", "cluster"]
    return dict(w.removeprefix("--").split("=", 1) for w in words[3:] if not w.startswith("--set="))


def test_state_store_is_private_versioned_and_encrypted(kops_plan: Plan) -> None:
    state = one(kops_plan, BUCKET, "-kops-state")
    versioning = bucket_settings(kops_plan, state, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    block = bucket_settings(
        kops_plan, state, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    )
    assert {k: block["inputs"][k] for k in block["inputs"] if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    encryption = bucket_settings(
        kops_plan,
        state,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    default = encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "AES256"


def test_discovery_store_publishes_only_the_oidc_documents(kops_plan: Plan) -> None:
    discovery = one(kops_plan, BUCKET, "-kops-oidc")
    policy = bucket_settings(kops_plan, discovery, "aws:s3/bucketPolicy:BucketPolicy")
    (statement,) = json.loads(policy["inputs"]["policy"])["Statement"]
    assert statement["Action"] == "s3:GetObject"
    arn = f"arn:aws:s3:::{kops_plan.outputs['kops_discovery_store'].split('/')[2]}"
    assert statement["Resource"] == [
        f"{arn}/discovery/*/.well-known/openid-configuration",
        f"{arn}/discovery/*/openid/v1/jwks",
    ]
    block = bucket_settings(
        kops_plan, discovery, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    )
    assert block["inputs"]["blockPublicAcls"] is True
    assert block["inputs"]["ignorePublicAcls"] is True
    assert depends_on(policy, block)


@pytest.mark.parametrize("suffix", ["-kops-state", "-kops-oidc"])
def test_bucket_acls_are_disabled(kops_plan: Plan, suffix: str) -> None:
    bucket = one(kops_plan, BUCKET, suffix)
    ownership = bucket_settings(
        kops_plan, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    )
    assert ownership["inputs"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_production_protects_the_state_store_and_never_force_deletes_it(kops_plan: Plan) -> None:
    assert one(kops_plan, BUCKET, "-kops-state")["protect"] is False
    assert one(kops_plan, BUCKET, "-kops-state")["inputs"]["forceDestroy"] is True
    prod = plan_for(with_changes(KOPS, production=True), stack="study")
    state = one(prod, BUCKET, "-kops-state")
    assert state["protect"] is True
    assert state["inputs"]["forceDestroy"] is False


def test_operator_role_has_the_policies_kops_documents(kops_plan: Plan) -> None:
    role = one(kops_plan, "aws:iam/role:Role", "-kops-operator")
    attached = {
        a["inputs"]["policyArn"].rsplit("/", 1)[1]
        for a in kops_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if depends_on(a, role)
    }
    assert attached == {
        "AmazonEC2FullAccess",
        "AmazonRoute53FullAccess",
        "AmazonS3FullAccess",
        "IAMFullAccess",
        "AmazonVPCFullAccess",
        "AmazonSQSFullAccess",
        "AmazonEventBridgeFullAccess",
    }
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"AWS": ["arn:aws:iam::123456789012:root"]}


def test_operator_role_trusts_only_the_configured_principals() -> None:
    admins = "arn:aws:iam::123456789012:role/platform-admins"
    cluster = {**KOPS[f"{PROJECT}:cluster"], "operator_arns": [admins]}
    plan = plan_for(with_changes(KOPS, cluster=cluster), stack="study")
    role = one(plan, "aws:iam/role:Role", "-kops-operator")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"AWS": [admins]}


def test_create_command_uses_what_the_stack_built(kops_plan: Plan) -> None:
    flags = command_flags(kops_plan)
    assert flags["name"] == "study.k8s.local"
    assert flags["state"] == kops_plan.outputs["kops_state_store"]
    assert flags["discovery-store"] == kops_plan.outputs["kops_discovery_store"]
    assert flags["network-id"] == kops_plan.outputs["vpc_id"]
    assert flags["subnets"].split(",") == kops_plan.outputs["private_subnet_ids"]
    assert flags["utility-subnets"].split(",") == kops_plan.outputs["public_subnet_ids"]
    assert flags["zones"] == "ap-northeast-2a,ap-northeast-2c"
    assert flags["admin-access"] == "192.0.2.10/32"
    assert flags["topology"] == "private"
    assert flags["kubernetes-version"] == "1.35.0"
    assert (flags["node-size"], flags["node-count"]) == ("t3.medium", "2")
    assert "owner=pkos-study" in flags["cloud-labels"].split(",")


def test_control_plane_zones_are_odd_for_etcd(kops_plan: Plan) -> None:
    assert command_flags(kops_plan)["control-plane-zones"] == "ap-northeast-2a"
    network = {**KOPS[f"{PROJECT}:network"]}
    network["availability_zones"] = [f"ap-northeast-2{z}" for z in "abcd"]
    plan = plan_for(with_changes(KOPS, network=network), stack="study")
    assert command_flags(plan)["control-plane-zones"].count(",") == 2


def test_pods_get_their_roles_through_kops_pod_identity_webhook(kops_plan: Plan) -> None:
    words = shlex.split(kops_plan.outputs["kops_create_cluster_command"])
    assert "--set=spec.podIdentityWebhook.enabled=true" in words
    assert "--set=spec.certManager.enabled=true" in words


def test_oidc_issuer_is_the_discovery_folder_kops_publishes(kops_plan: Plan) -> None:
    bucket = kops_plan.outputs["kops_discovery_store"].split("/")[2]
    issuer = f"https://{bucket}.s3.ap-northeast-2.amazonaws.com/discovery/study.k8s.local"
    assert kops_plan.outputs["oidc_issuer_url"] == issuer
    assert kops_plan.outputs["oidc_provider_arn"] == (
        f"arn:aws:iam::123456789012:oidc-provider/{issuer.removeprefix('https://')}"
    )
    # kOps creates the IAM OIDC provider itself; a second one for the same URL would fail.
    assert kops_plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []


def test_vpc_subnets_carry_the_load_balancer_tags(kops_plan: Plan) -> None:
    public = [s for s in kops_plan.of_type("aws:ec2/subnet:Subnet") if "-public-" in s["name"]]
    assert len(public) == 2
    assert all(
        s["inputs"]["tags"]["kubernetes.io/cluster/study.k8s.local"] == "shared" for s in public
    )


def test_step_one_has_no_kubernetes_provider_and_step_two_a_secret_one(kops_plan: Plan) -> None:
    assert kops_plan.of_type("pulumi:providers:kubernetes") == []
    step_two = plan_for(KOPS, stack="study", secrets={"kubeconfig": "apiVersion: v1"})
    assert one(step_two, "pulumi:providers:kubernetes")["inputs"]["kubeconfig"] == SECRET


def test_an_existing_vpc_is_used_as_given() -> None:
    cluster = {
        **KOPS[f"{PROJECT}:cluster"],
        "create_vpc": False,
        "vpc_id": "vpc-0123456789abcdef0",
        "public_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        "private_subnet_ids": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
    }
    plan = plan_for(with_changes(KOPS, cluster=cluster), stack="study")
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    flags = command_flags(plan)
    assert flags["network-id"] == "vpc-0123456789abcdef0"
    assert flags["subnets"] == "subnet-0bbbbbbbbbbbbbbb1,subnet-0bbbbbbbbbbbbbbb2"


def test_an_existing_vpc_needs_its_ids() -> None:
    cluster = {**KOPS[f"{PROJECT}:cluster"], "create_vpc": False}
    with pytest.raises(Exception, match="expected vpc_id and at least two public_subnet_ids"):
        plan_for(with_changes(KOPS, cluster=cluster), stack="study")
