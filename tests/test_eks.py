"""`cluster.mode: eks`: the VPC, the control plane, the nodes and IRSA's OIDC provider."""

from __future__ import annotations

import ipaddress
import json
import re

import component_plans as components
import pytest
from component_plans import component_plan
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes

from components.config import ConfigError
from components.network import subnet_layout
from offline.plan import SECRET, Plan

SUBNET = "aws:ec2/subnet:Subnet"
CLUSTER = "aws:eks/cluster:Cluster"
KMS_KEY = "aws:kms/key:Key"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def subnets(plan: Plan, kind: str) -> list[dict]:
    return [r for r in plan.of_type(SUBNET) if f"-{kind}-" in r["name"]]


@pytest.mark.parametrize("kind", ["public", "private"])
def test_one_subnet_of_each_kind_per_availability_zone(dev_plan: Plan, kind: str) -> None:
    zones = sorted(s["inputs"]["availabilityZone"] for s in subnets(dev_plan, kind))
    assert zones == ["eu-west-1a", "eu-west-1b"]


def test_public_subnets_are_tagged_for_internet_facing_load_balancers(dev_plan: Plan) -> None:
    for subnet in subnets(dev_plan, "public"):
        assert subnet["inputs"]["tags"]["kubernetes.io/role/elb"] == "1"
        assert "kubernetes.io/role/internal-elb" not in subnet["inputs"]["tags"]
        assert subnet["inputs"]["tags"]["kubernetes.io/cluster/gitops-platform-dev"] == "shared"


def test_private_subnets_are_tagged_for_internal_load_balancers(dev_plan: Plan) -> None:
    for subnet in subnets(dev_plan, "private"):
        assert subnet["inputs"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert "kubernetes.io/role/elb" not in subnet["inputs"]["tags"]
        assert subnet["inputs"]["tags"]["kubernetes.io/cluster/gitops-platform-dev"] == "shared"


def test_subnet_blocks_lie_inside_the_vpc_and_never_overlap() -> None:
    for zones in (["z1a", "z1b"], ["z1a", "z1b", "z1c", "z1d", "z1e", "z1f"]):
        layout = subnet_layout("10.20.0.0/20", zones)
        blocks = [ipaddress.ip_network(b) for s in layout for b in (s.public, s.private)]
        assert all(b.subnet_of(ipaddress.IPv4Network("10.20.0.0/20")) for b in blocks)
        assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_dev_has_one_nat_gateway_and_prod_one_per_zone(dev_plan: Plan, prod_plan: Plan) -> None:
    assert len(dev_plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(prod_plan.of_type("aws:ec2/natGateway:NatGateway")) == 3


def test_every_private_zone_routes_to_the_internet_through_a_nat_gateway(prod_plan: Plan) -> None:
    nat_urns = {n["urn"] for n in prod_plan.of_type("aws:ec2/natGateway:NatGateway")}
    private_routes = [
        r for r in prod_plan.of_type("aws:ec2/route:Route") if "-private-" in r["name"]
    ]
    assert len(private_routes) == 3
    used = {urn for r in private_routes for urn in r["property_dependencies"]["natGatewayId"]}
    assert used == nat_urns


def test_secrets_are_encrypted_with_a_rotating_kms_key(dev_plan: Plan) -> None:
    cluster, key = one(dev_plan, CLUSTER), one(dev_plan, KMS_KEY)
    assert key["inputs"]["enableKeyRotation"] is True
    encryption = cluster["inputs"]["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert cluster["property_dependencies"]["encryptionConfig"] == [key["urn"]]


def test_public_endpoint_admits_exactly_the_admin_cidrs(dev_plan: Plan) -> None:
    vpc_config = one(dev_plan, CLUSTER)["inputs"]["vpcConfig"]
    admin = stack_file_config("dev")[f"{PROJECT}:access"]["admin_cidrs"]
    assert vpc_config["publicAccessCidrs"] == admin
    assert vpc_config["endpointPrivateAccess"] is True


def test_public_endpoint_follows_a_change_of_admin_cidrs() -> None:
    dev = stack_file_config("dev")
    access = {**dev[f"{PROJECT}:access"], "admin_cidrs": ["203.0.113.7/32", "198.51.100.0/28"]}
    plan = component_plan(components.cluster, with_changes(dev, access=access))
    cidrs = one(plan, CLUSTER)["inputs"]["vpcConfig"]["publicAccessCidrs"]
    assert cidrs == ["203.0.113.7/32", "198.51.100.0/28"]


def test_control_plane_logs_every_type_to_a_group_created_first(dev_plan: Plan) -> None:
    cluster = one(dev_plan, CLUSTER)
    log_group = one(dev_plan, "aws:cloudwatch/logGroup:LogGroup")
    assert set(cluster["inputs"]["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    assert log_group["inputs"]["name"] == "/aws/eks/gitops-platform-dev/cluster"
    assert log_group["inputs"]["retentionInDays"] == 90
    assert depends_on(cluster, log_group)


def test_nodes_launch_from_a_template_that_requires_imdsv2(dev_plan: Plan) -> None:
    nodes, template = one(dev_plan, NODE_GROUP), one(dev_plan, LAUNCH_TEMPLATE)
    metadata = template["inputs"]["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1
    assert nodes["property_dependencies"]["launchTemplate"] == [template["urn"]]


def test_nodes_run_in_private_subnets_with_the_configured_sizes(dev_plan: Plan) -> None:
    nodes = one(dev_plan, NODE_GROUP)
    private = {s["urn"] for s in subnets(dev_plan, "private")}
    assert set(nodes["property_dependencies"]["subnetIds"]) == private
    assert nodes["inputs"]["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 3}
    assert nodes["inputs"]["instanceTypes"] == ["m6i.xlarge"]


def test_nodes_wait_for_their_role_policies(dev_plan: Plan) -> None:
    nodes = one(dev_plan, NODE_GROUP)
    attachments = [
        a
        for a in dev_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "-nodes-" in a["name"]
    ]
    assert len(attachments) == 3
    assert all(depends_on(nodes, a) for a in attachments)


def test_cluster_role_may_use_only_its_secrets_key(dev_plan: Plan) -> None:
    policy = one(dev_plan, "aws:iam/rolePolicy:RolePolicy", "-cluster-secrets-key")
    document = json.loads(policy["inputs"]["policy"])
    key_arn = one(dev_plan, CLUSTER)["inputs"]["encryptionConfig"]["provider"]["keyArn"]
    assert [s["Resource"] for s in document["Statement"]] == [key_arn]


def test_oidc_provider_trusts_the_clusters_issuer_for_sts(dev_plan: Plan) -> None:
    provider, cluster = one(dev_plan, OIDC_PROVIDER), one(dev_plan, CLUSTER)
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    assert provider["property_dependencies"]["url"] == [cluster["urn"]]
    assert dev_plan.outputs["oidc_issuer_url"] == provider["inputs"]["url"]
    assert dev_plan.outputs["oidc_provider_arn"].endswith(
        provider["inputs"]["url"].removeprefix("https://")
    )


def test_kubeconfig_is_a_secret_in_outputs_and_in_the_kubernetes_provider(dev_plan: Plan) -> None:
    assert dev_plan.outputs["kubeconfig"] == SECRET
    provider = one(dev_plan, "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert depends_on(provider, one(dev_plan, CLUSTER))


def test_a_created_zone_is_protected_in_production() -> None:
    prod = stack_file_config("prod")
    plan = component_plan(
        components.zone_and_certificate, with_changes(prod, dns={"create_zone": True}), "prod"
    )
    assert one(plan, "aws:route53/zone:Zone")["protect"] is True


def test_production_protects_the_cluster_and_its_secrets_key(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    for resource_type in (CLUSTER, KMS_KEY):
        assert one(prod_plan, resource_type)["protect"] is True
        assert one(dev_plan, resource_type)["protect"] is False


def test_every_aws_resource_uses_the_tagging_provider(dev_plan: Plan) -> None:
    provider = one(dev_plan, "pulumi:providers:aws")
    # Provider configuration travels as JSON text, as the engine receives it.
    assert json.loads(provider["inputs"]["defaultTags"])["tags"] == {
        "environment": "dev",
        "managed-by": "pulumi",
        "owner": "platform-team",
        "project": "gitops-platform",
        "stack": "dev",
    }
    aws_resources = [r for r in dev_plan.resources if r["type"].startswith("aws:")]
    assert {r["provider"] for r in aws_resources} == {provider["urn"]}


def test_tags_written_by_kops_and_autoscalers_are_not_fought(dev_plan: Plan) -> None:
    ignored = json.loads(one(dev_plan, "pulumi:providers:aws")["inputs"]["ignoreTags"])
    assert "kops.k8s.io/" in ignored["keyPrefixes"]
    assert "karpenter.sh/" in ignored["keyPrefixes"]
    assert "SubnetType" in ignored["keys"]
    # ...but never the tags the load balancer controller needs from us.
    assert not any("kubernetes.io/role" in p for p in ignored["keyPrefixes"])


def test_nodes_keep_their_way_out_until_they_are_gone(dev_plan: Plan) -> None:
    # A destroy deletes dependents first: while anything runs on the nodes (the controllers
    # deleting load balancers and DNS records), their NAT route must still exist.
    nodes = one(dev_plan, NODE_GROUP)
    egress = [
        *dev_plan.of_type("aws:ec2/natGateway:NatGateway"),
        *[r for r in dev_plan.of_type("aws:ec2/route:Route") if "-private-" in r["name"]],
        *dev_plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"),
    ]
    assert len(egress) == 1 + 2 + 4
    assert all(depends_on(nodes, e) for e in egress)


def test_nodes_follow_the_control_plane_version(dev_plan: Plan) -> None:
    nodes, cluster = one(dev_plan, NODE_GROUP), one(dev_plan, CLUSTER)
    assert nodes["inputs"]["version"] == cluster["inputs"]["version"] == "1.35"


def test_bottlerocket_nodes_size_their_data_volume() -> None:
    dev = stack_file_config("dev")
    cluster = {**dev[f"{PROJECT}:cluster"], "ami_type": "BOTTLEROCKET_x86_64"}
    plan = component_plan(components.cluster, with_changes(dev, cluster=cluster))
    (device,) = one(plan, LAUNCH_TEMPLATE)["inputs"]["blockDeviceMappings"]
    assert device["deviceName"] == "/dev/xvdb"
    (default,) = one(stack_plan("dev"), LAUNCH_TEMPLATE)["inputs"]["blockDeviceMappings"]
    assert default["deviceName"] == "/dev/xvda"


def test_volumes_get_a_driver_and_an_encrypted_default_class(dev_plan: Plan) -> None:
    driver = one(dev_plan, "aws:eks/addon:Addon", "-ebs-csi")
    assert driver["inputs"]["addonName"] == "aws-ebs-csi-driver"
    role = one(dev_plan, "aws:iam/role:Role", "-ebs-csi")
    assert driver["property_dependencies"]["serviceAccountRoleArn"] == [role["urn"]]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in json.dumps(trust)
    storage = one(dev_plan, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage["inputs"]["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"
    }
    parameters = storage["inputs"]["parameters"]
    assert (parameters["type"], parameters["encrypted"]) == ("gp3", "true")
    # The rest tag the volumes (tests/test_teardown.py).
    others = set(parameters) - {"type", "encrypted"}
    assert all(key.startswith("tagSpecification_") for key in others)
    assert depends_on(storage, driver)
    gitlab = one(dev_plan, "kubernetes:helm.sh/v3:Release", "-gitlab")
    assert depends_on(gitlab, storage)


def test_configured_principals_become_cluster_admins() -> None:
    dev = stack_file_config("dev")
    ci = "arn:aws:iam::123456789012:role/gitlab-ci-deployer"
    cluster = {**dev[f"{PROJECT}:cluster"], "admin_principal_arns": [ci]}
    plan = component_plan(components.cluster, with_changes(dev, cluster=cluster))
    entry = one(plan, "aws:eks/accessEntry:AccessEntry")
    assert entry["inputs"]["principalArn"] == ci
    association = one(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association["inputs"]["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert association["inputs"]["accessScope"] == {"type": "cluster"}
    assert stack_plan("dev").of_type("aws:eks/accessEntry:AccessEntry") == []


def stack_plan(stack: str) -> Plan:
    return plan_for(stack_file_config(stack), stack=stack)


# vCPU and GiB per instance type (EC2 user guide, general purpose instances, hardware
# specifications): the types the shipped stacks use, and the one dev used to.
INSTANCE_SIZES = {"t3.large": (2, 8), "m6i.xlarge": (4, 16), "m6i.2xlarge": (8, 32)}
# GitLab's cloud-native chart fits a cluster of at least 8 vCPU and 30 GB
# (https://docs.gitlab.com/charts/installation/cloud/); docs/sizing.md adds up the requests.
GITLAB_MINIMUM = (8, 30)


def capacity(plan: Plan) -> tuple[int, int]:
    nodes = one(plan, NODE_GROUP)["inputs"]
    (instance_type,) = nodes["instanceTypes"]
    vcpu, gib = INSTANCE_SIZES[instance_type]
    count = nodes["scalingConfig"]["desiredSize"]
    return vcpu * count, gib * count


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_nodes_hold_at_least_gitlabs_documented_minimum(stack: str) -> None:
    vcpu, gib = capacity(stack_plan(stack))
    assert vcpu >= GITLAB_MINIMUM[0], f"{stack}: {vcpu} vCPU"
    assert gib >= GITLAB_MINIMUM[1], f"{stack}: {gib} GiB"
    (instance_type,) = one(stack_plan(stack), NODE_GROUP)["inputs"]["instanceTypes"]
    assert not instance_type.startswith("t"), "GitLab advises against burstable types"


def test_prod_runs_more_nodes_than_dev_and_none_smaller(dev_plan: Plan, prod_plan: Plan) -> None:
    dev, prod = one(dev_plan, NODE_GROUP)["inputs"], one(prod_plan, NODE_GROUP)["inputs"]
    assert dev["scalingConfig"]["desiredSize"] < prod["scalingConfig"]["desiredSize"]
    assert capacity(dev_plan) < capacity(prod_plan)
    (dev_type,), (prod_type,) = dev["instanceTypes"], prod["instanceTypes"]
    assert INSTANCE_SIZES[dev_type] <= INSTANCE_SIZES[prod_type]
    assert len(prod_plan.of_type("aws:ec2/subnet:Subnet")) == 6  # three zones


# --- EKS add-ons ----------------------------------------------------------------------------

ADDON = "aws:eks/addon:Addon"
LOOKUP = "aws:eks/getAddonVersion:getAddonVersion"


def addons(plan: Plan) -> dict[str, dict]:
    return {a["inputs"]["addonName"]: a for a in plan.of_type(ADDON)}


def test_core_addons_are_eks_addons_at_the_default_version_for_the_cluster(
    dev_plan: Plan,
) -> None:
    found = addons(dev_plan)
    assert set(found) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}
    for name, addon in found.items():
        # Looked up (offline: a stand-in that says so) for the cluster's Kubernetes version.
        assert addon["inputs"]["addonVersion"] == f"offline-default-of-{name}-for-1.35"
        assert {"token": LOOKUP, "args": {"addonName": name, "kubernetesVersion": "1.35"}} in (
            dev_plan.invokes
        )
        # EKS installed vpc-cni, kube-proxy and CoreDNS self-managed: adopt them.
        assert addon["inputs"]["resolveConflictsOnCreate"] == "OVERWRITE"
        assert addon["inputs"]["clusterName"] == "gitops-platform-dev"


def test_a_destroy_keeps_cluster_dns_until_the_workloads_are_gone(dev_plan: Plan) -> None:
    found = addons(dev_plan)
    assert {n for n, a in found.items() if a["inputs"].get("preserve")} == {
        "vpc-cni",
        "kube-proxy",
        "coredns",
    }
    # The controllers (and through them everything in the cluster) wait for CoreDNS, so a
    # destroy deletes them first: they need DNS to delete load balancers and records.
    for controller in ("-alb", "-external-dns"):
        release = one(dev_plan, "kubernetes:helm.sh/v3:Release", controller)
        assert depends_on(release, found["coredns"]), controller


def test_a_kubernetes_upgrade_moves_every_addon_to_the_new_version() -> None:
    dev = stack_file_config("dev")
    cluster = {**dev[f"{PROJECT}:cluster"], "kubernetes_version": "1.36"}
    plan = component_plan(components.cluster, with_changes(dev, cluster=cluster))
    for name, addon in addons(plan).items():
        assert addon["inputs"]["addonVersion"] == f"offline-default-of-{name}-for-1.36"


def test_the_cni_comes_before_the_nodes_and_coredns_after_them(dev_plan: Plan) -> None:
    found, nodes = addons(dev_plan), one(dev_plan, NODE_GROUP)
    for name in ("vpc-cni", "kube-proxy"):
        assert depends_on(nodes, found[name]), name
    for name in ("coredns", "aws-ebs-csi-driver"):
        assert depends_on(found[name], nodes), name
    cluster = one(dev_plan, CLUSTER)
    assert all(depends_on(a, cluster) for a in found.values())  # upgraded after the cluster


def test_configured_addon_versions_are_used_exactly_and_not_looked_up() -> None:
    dev = stack_file_config("dev")
    pins = {"vpc-cni": "v1.20.4-eksbuild.1", "coredns": "v1.12.1-eksbuild.2"}
    cluster = {**dev[f"{PROJECT}:cluster"], "addon_versions": pins}
    plan = component_plan(components.cluster, with_changes(dev, cluster=cluster))
    for name, version in pins.items():
        assert addons(plan)[name]["inputs"]["addonVersion"] == version
        assert not [
            i for i in plan.invokes if i["token"] == LOOKUP and i["args"]["addonName"] == name
        ]
    assert addons(plan)["kube-proxy"]["inputs"]["addonVersion"].startswith("offline-default-")


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ({"vpc-cni": "latest"}, "expected an EKS add-on version such as 'v1.20.4-eksbuild.1'"),
        ({"metrics-server": "v0.7.2-eksbuild.1"}, "addon_versions.metrics-server"),
        ({"eks-pod-identity-agent": "v1.3.4-eksbuild.1"}, "installed only with workload_identity"),
    ],
)
def test_bad_addon_versions_are_refused_naming_the_key(versions: dict, message: str) -> None:
    dev = stack_file_config("dev")
    cluster = {**dev[f"{PROJECT}:cluster"], "addon_versions": versions}
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_for(with_changes(dev, cluster=cluster), stack="dev")


def test_the_pod_identity_agent_is_a_versioned_addon_too() -> None:
    dev = stack_file_config("dev")
    cluster = {**dev[f"{PROJECT}:cluster"], "workload_identity": "pod_identity"}
    plan = component_plan(components.cluster, with_changes(dev, cluster=cluster))
    agent = addons(plan)["eks-pod-identity-agent"]
    assert agent["inputs"]["addonVersion"] == "offline-default-of-eks-pod-identity-agent-for-1.35"
