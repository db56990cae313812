"""The AWS edge: zone, certificate, workload identity, the controllers and the security groups."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import component_plans as components
import pytest
from component_plans import component_plan
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes
from upstream import chart_archive, helm_template, selects

from components.load_balancer_controller import controller_statements
from offline.plan import Plan

DEV = stack_file_config("dev")
KOPS = stack_file_config("kops")
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CONTROLLERS = {
    "alb": ("kube-system", "aws-load-balancer-controller"),
    "external-dns": ("external-dns", "external-dns"),
}


def release(plan: Plan, component: str) -> dict[str, Any]:
    return one(plan, RELEASE, f"-{component}")


def document(resource: dict[str, Any], key: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(resource["inputs"][key])
    return parsed


def trust_of(plan: Plan, component: str) -> dict[str, Any]:
    return document(one(plan, ROLE, f"-{component}-role"), "assumeRolePolicy")


def permissions_of(plan: Plan, component: str) -> dict[str, Any]:
    return document(one(plan, ROLE_POLICY, f"-{component}-role"), "policy")


# --- zone and certificate -------------------------------------------------------------------


def test_the_zone_is_looked_up_by_default(dev_plan: Plan) -> None:
    assert dev_plan.of_type("aws:route53/zone:Zone") == []
    record = one(dev_plan, "aws:route53/record:Record")
    assert record["inputs"]["zoneId"] == dev_plan.outputs["zone_id"]


def test_a_created_zone_is_the_one_records_go_to_and_its_name_servers_are_exported() -> None:
    plan = plan_for(with_changes(DEV, dns={"create_zone": True}), stack="dev")
    zone = one(plan, "aws:route53/zone:Zone")
    assert zone["inputs"]["name"] == "dev.gitops.example.com"
    record = one(plan, "aws:route53/record:Record")
    assert record["property_dependencies"]["zoneId"] == [zone["urn"]]
    assert len(plan.outputs["name_servers"]) == 4


def test_certificate_covers_the_domain_and_its_wildcard_validated_by_dns(dev_plan: Plan) -> None:
    certificate = one(dev_plan, "aws:acm/certificate:Certificate")
    assert certificate["inputs"]["domainName"] == "dev.gitops.example.com"
    assert certificate["inputs"]["subjectAlternativeNames"] == ["*.dev.gitops.example.com"]
    assert certificate["inputs"]["validationMethod"] == "DNS"


def test_validation_record_comes_from_the_certificates_validation_options(dev_plan: Plan) -> None:
    certificate = one(dev_plan, "aws:acm/certificate:Certificate")
    record = one(dev_plan, "aws:route53/record:Record")
    assert record["property_dependencies"]["name"] == [certificate["urn"]]
    assert record["inputs"]["name"].endswith(".dev.gitops.example.com.")
    assert record["inputs"]["type"] == "CNAME"
    assert record["inputs"]["records"][0].endswith(".acm-validations.aws.")


def test_validation_waits_a_bounded_time_for_the_record(dev_plan: Plan) -> None:
    validation = one(dev_plan, "aws:acm/certificateValidation:CertificateValidation")
    certificate = one(dev_plan, "aws:acm/certificate:Certificate")
    assert depends_on(validation, certificate)
    assert depends_on(validation, one(dev_plan, "aws:route53/record:Record"))
    assert validation["custom_timeouts"] == {"create": "45m"}
    assert dev_plan.outputs["certificate_arn"] == validation["inputs"]["certificateArn"]


def test_the_certificate_does_not_wait_for_the_cluster(dev_plan: Plan) -> None:
    by_urn = dev_plan.by_urn()
    pending = ["aws:acm/certificateValidation:CertificateValidation"]
    seen: set[str] = set()
    resources = [one(dev_plan, t) for t in pending]
    while resources:
        resource = resources.pop()
        assert "aws:eks/" not in resource["type"], "the certificate waits for EKS"
        for urn in resource["dependencies"]:
            if urn not in seen:
                seen.add(urn)
                resources.append(by_urn[urn])


def test_an_existing_certificate_is_used_instead_of_requesting_one() -> None:
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f4e6c4e-2a7d-4bde-9d35-5d7f1c0c1a2b"
    plan = plan_for(with_changes(DEV, tls={"certificate_arn": arn}), stack="dev")
    assert plan.of_type("aws:acm/certificate:Certificate") == []
    assert plan.outputs["certificate_arn"] == arn


# --- workload identity ----------------------------------------------------------------------


@pytest.mark.parametrize("component", sorted(CONTROLLERS))
def test_irsa_trust_is_scoped_to_exactly_the_controllers_service_account(
    dev_plan: Plan, component: str
) -> None:
    namespace, service_account = CONTROLLERS[component]
    issuer = dev_plan.outputs["oidc_issuer_url"].removeprefix("https://")
    (statement,) = trust_of(dev_plan, component)["Statement"]
    assert statement["Principal"] == {"Federated": dev_plan.outputs["oidc_provider_arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }


@pytest.mark.parametrize("component", sorted(CONTROLLERS))
def test_the_service_account_carries_its_role(dev_plan: Plan, component: str) -> None:
    values = release(dev_plan, component)["inputs"]["values"]
    role = one(dev_plan, ROLE, f"-{component}-role")
    assert values["serviceAccount"]["name"] == CONTROLLERS[component][1]
    annotation = values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert annotation.rsplit("/", 1)[1].startswith(role["name"])


def test_kops_roles_trust_the_audience_kops_tokens_carry() -> None:
    plan = plan_for(KOPS, stack="study", secrets={"kubeconfig": "apiVersion: v1"})
    (statement,) = trust_of(plan, "external-dns")["Statement"]
    issuer = plan.outputs["oidc_issuer_url"].removeprefix("https://")
    assert statement["Condition"]["StringEquals"][f"{issuer}:aud"] == "amazonaws.com"


def test_pod_identity_binds_the_role_without_an_annotation() -> None:
    cluster = {**DEV[f"{PROJECT}:cluster"], "workload_identity": "pod_identity"}
    plan = plan_for(with_changes(DEV, cluster=cluster), stack="dev")
    (statement,) = trust_of(plan, "alb")["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    # Only this cluster's association of this service account may take it.
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": plan.outputs["cluster_name"],
            "aws:RequestTag/kubernetes-namespace": "kube-system",
            "aws:RequestTag/kubernetes-service-account": ["aws-load-balancer-controller"],
        }
    }
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "-alb-role")
    assert association["inputs"]["namespace"] == "kube-system"
    assert association["inputs"]["serviceAccount"] == "aws-load-balancer-controller"
    controller = release(plan, "alb")
    assert controller["inputs"]["values"]["serviceAccount"]["annotations"] == {}
    agent = one(plan, "aws:eks/addon:Addon", "-pod-identity-agent")
    assert agent["inputs"]["addonName"] == "eks-pod-identity-agent"
    assert depends_on(controller, association)
    assert depends_on(controller, agent)


# --- the controllers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "chart"),
    [("alb", "aws_load_balancer_controller"), ("external-dns", "external_dns")],
)
def test_releases_install_the_exact_configured_chart(
    dev_plan: Plan, component: str, chart: str
) -> None:
    from components.config import ChartsConfig

    source = getattr(ChartsConfig(), chart)
    inputs = release(dev_plan, component)["inputs"]
    assert inputs["version"] == source.version
    assert inputs["repositoryOpts"]["repo"] == source.repository


def test_a_configured_chart_version_reaches_the_release() -> None:
    charts = {
        "external_dns": {
            "repository": "https://kubernetes-sigs.github.io/external-dns/",
            "version": "1.20.0",
        }
    }
    plan = component_plan(components.edge_controllers, with_changes(DEV, charts=charts))
    assert release(plan, "external-dns")["inputs"]["version"] == "1.20.0"


def test_controller_gets_cluster_region_and_vpc_explicitly(dev_plan: Plan) -> None:
    values = release(dev_plan, "alb")["inputs"]["values"]
    assert values["clusterName"] == dev_plan.outputs["cluster_name"]
    assert values["region"] == "eu-west-1"
    assert values["vpcId"] == dev_plan.outputs["vpc_id"]
    assert values["ingressClass"] == "alb"
    assert values["createIngressClassResource"] is True


@pytest.mark.parametrize("component", sorted(CONTROLLERS))
def test_controllers_wait_for_nodes_and_for_their_role(dev_plan: Plan, component: str) -> None:
    controller = release(dev_plan, component)
    assert depends_on(controller, one(dev_plan, "aws:eks/nodeGroup:NodeGroup"))
    assert depends_on(controller, one(dev_plan, ROLE_POLICY, f"-{component}-role"))


def test_controller_policy_is_the_documented_one() -> None:
    statements = controller_statements("aws")
    actions = {a for s in statements for a in s["Action"]}
    assert len(statements) == 16
    assert len(actions) == 80
    assert not any(a.endswith(":*") or a == "*" for a in actions)


def test_controller_may_only_change_load_balancers_tagged_for_a_cluster(dev_plan: Plan) -> None:
    statements = permissions_of(dev_plan, "alb")["Statement"]
    for destructive in ("elasticloadbalancing:DeleteLoadBalancer", "ec2:DeleteSecurityGroup"):
        (statement,) = [s for s in statements if destructive in s["Action"]]
        assert statement["Condition"] == {
            "Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}
        }


def test_external_dns_changes_records_in_this_zone_only(dev_plan: Plan) -> None:
    zone_arn = f"arn:aws:route53:::hostedzone/{dev_plan.outputs['zone_id']}"
    statements = permissions_of(dev_plan, "external-dns")["Statement"]
    changing = [s for s in statements if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert [s["Resource"] for s in changing] == [[zone_arn]]
    wildcard = [s for s in statements if "*" in s["Resource"]]
    assert [s["Action"] for s in wildcard] == [["route53:ListHostedZones"]]


def test_external_dns_manages_this_domain_for_this_stack(dev_plan: Plan) -> None:
    values = release(dev_plan, "external-dns")["inputs"]["values"]
    assert values["provider"] == {"name": "aws"}
    assert values["domainFilters"] == ["dev.gitops.example.com"]
    assert f"--zone-id-filter={dev_plan.outputs['zone_id']}" in values["extraArgs"]
    assert values["txtOwnerId"] == "gitops-platform-dev"
    assert values["registry"] == "txt"
    assert sorted(values["sources"]) == ["ingress", "service"]
    assert values["policy"] == "sync"


def test_each_stack_owns_its_own_records(dev_plan: Plan, prod_plan: Plan) -> None:
    owners = {
        release(plan, "external-dns")["inputs"]["values"]["txtOwnerId"]
        for plan in (dev_plan, prod_plan)
    }
    assert owners == {"gitops-platform-dev", "gitops-platform-prod"}


def test_a_shared_zone_can_be_left_upsert_only() -> None:
    config = with_changes(DEV, dns={"external_dns_policy": "upsert-only"})
    plan = component_plan(components.edge_controllers, config)
    assert release(plan, "external-dns")["inputs"]["values"]["policy"] == "upsert-only"


def test_kops_step_one_builds_the_edge_but_nothing_in_the_cluster() -> None:
    plan = plan_for(KOPS, stack="study")
    assert plan.of_type(RELEASE) == []
    assert plan.of_type("aws:acm/certificate:Certificate")
    assert len(plan.of_type("aws:ec2/securityGroup:SecurityGroup")) == 2
    assert any("kOps step one" in d["message"] for d in plan.diagnostics)


# --- security groups ------------------------------------------------------------------------


def rules_of(plan: Plan, endpoint: str) -> list[dict[str, Any]]:
    return [
        r
        for r in plan.of_type(INGRESS_RULE)
        if f"-access-{endpoint}-" in r["name"]
        and "-ssh-" not in r["name"]
        and "-cluster-egress-" not in r["name"]
    ]


def cidr_of(rule: dict[str, Any]) -> str:
    cidr: str = rule["inputs"].get("cidrIpv4") or rule["inputs"]["cidrIpv6"]
    return cidr


def test_every_public_endpoint_rule_is_http_or_https_with_a_description(dev_plan: Plan) -> None:
    rules = rules_of(dev_plan, "argocd") + rules_of(dev_plan, "gitlab")
    assert rules
    for rule in rules:
        assert rule["inputs"]["fromPort"] == rule["inputs"]["toPort"]
        assert rule["inputs"]["fromPort"] in (80, 443)
        assert rule["inputs"]["description"]


def test_argo_cd_is_reachable_from_admin_cidrs_only(dev_plan: Plan) -> None:
    assert {cidr_of(r) for r in rules_of(dev_plan, "argocd")} == {"192.0.2.0/24"}


def test_argo_cds_load_balancer_opens_https_only(dev_plan: Plan) -> None:
    # Behind its TLS listener the server speaks plain HTTP: port 80 must stay closed.
    assert {r["inputs"]["fromPort"] for r in rules_of(dev_plan, "argocd")} == {443}


def test_gitlab_is_reachable_from_admin_and_gitlab_cidrs(dev_plan: Plan) -> None:
    assert {cidr_of(r) for r in rules_of(dev_plan, "gitlab")} == {
        "192.0.2.0/24",
        "198.51.100.0/24",
    }


def test_nothing_is_open_to_the_internet_unless_gitlab_is_public(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    for plan in (dev_plan, prod_plan):
        for rule in plan.of_type(INGRESS_RULE):
            assert ipaddress.ip_network(cidr_of(rule)).prefixlen > 0, rule["name"]


def test_a_public_gitlab_opens_only_gitlabs_web_ports_to_everyone() -> None:
    access = {**DEV[f"{PROJECT}:access"], "gitlab_public": True}
    plan = component_plan(components.access, with_changes(DEV, access=access))
    open_rules = [
        r for r in plan.of_type(INGRESS_RULE) if ipaddress.ip_network(cidr_of(r)).prefixlen == 0
    ]
    assert {cidr_of(r) for r in open_rules} == {"0.0.0.0/0", "::/0"}
    assert all("-access-gitlab-" in r["name"] for r in open_rules)
    assert {r["inputs"]["fromPort"] for r in open_rules} == {80, 443}
    assert {cidr_of(r) for r in rules_of(plan, "argocd")} == {"192.0.2.0/24"}


def test_git_over_ssh_gets_its_own_group_for_its_own_ranges() -> None:
    gitlab = {"ssh": "nlb", "ssh_cidrs": ["203.0.113.0/28"]}
    plan = component_plan(components.access, with_changes(DEV, gitlab=gitlab))
    rules = [r for r in plan.of_type(INGRESS_RULE) if "-access-gitlab-ssh-" in r["name"]]
    assert [(cidr_of(r), r["inputs"]["fromPort"]) for r in rules] == [("203.0.113.0/28", 22)]
    assert not [r for r in rules_of(plan, "gitlab") if r["inputs"]["fromPort"] == 22]


def test_ipv6_admin_ranges_become_ipv6_rules() -> None:
    access = {**DEV[f"{PROJECT}:access"], "admin_cidrs": ["2001:db8::/48"]}
    plan = component_plan(components.access, with_changes(DEV, access=access))
    (rule,) = rules_of(plan, "argocd")
    assert rule["inputs"]["cidrIpv6"] == "2001:db8::/48"
    assert "cidrIpv4" not in rule["inputs"]


def test_the_cluster_reaches_gitlab_through_its_nat_addresses(dev_plan: Plan) -> None:
    # Argo CD clones from GitLab's public load balancer; its traffic leaves through the NAT.
    (rule,) = [r for r in dev_plan.of_type(INGRESS_RULE) if "-cluster-egress-" in r["name"]]
    (address,) = dev_plan.of_type("aws:ec2/eip:Eip")
    assert rule["inputs"]["fromPort"] == 443
    assert rule["property_dependencies"]["cidrIpv4"] == [address["urn"]]
    assert rule["inputs"]["cidrIpv4"].endswith("/32")


def test_an_existing_clusters_egress_comes_from_config() -> None:
    from test_config import existing_cluster_config

    config = existing_cluster_config()
    config["gitops-platform:access"] = {
        **config["gitops-platform:access"],
        "cluster_egress_cidrs": ["198.51.100.7/32"],
    }
    plan = plan_for(config, secrets={"kubeconfig": "apiVersion: v1"})
    rules = [r for r in plan.of_type(INGRESS_RULE) if "-cluster-egress-" in r["name"]]
    assert [r["inputs"]["cidrIpv4"] for r in rules] == ["198.51.100.7/32"]


# --- load balancer targets ------------------------------------------------------------------

NAMESPACE = "kubernetes:core/v1:Namespace"


def namespace_labels(plan: Plan, name: str) -> dict[str, str]:
    (namespace,) = [r for r in plan.of_type(NAMESPACE) if r["inputs"]["metadata"]["name"] == name]
    labels: dict[str, str] = namespace["inputs"]["metadata"].get("labels") or {}
    return labels


def test_load_balancer_targets_get_readiness_gates_from_the_controllers_webhook(
    dev_plan: Plan,
) -> None:
    # The controller's own chart decides which pods its webhook gives a readiness gate: render
    # it (the pinned version, or the newest cached one: the selector is its documented
    # contract, docs/deploy/pod_readiness_gate.md) and match GitLab's and Argo CD's namespaces.
    controller = release(dev_plan, "alb")["inputs"]
    archive = chart_archive(controller["chart"], controller["version"])
    objects = helm_template(
        archive, controller["values"], "aws-load-balancer-controller", "kube-system"
    )
    (webhooks,) = [o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]
    (pods,) = [w for w in webhooks["webhooks"] if w["name"] == "mpod.elbv2.k8s.aws"]
    for name in ("gitlab", "argocd"):
        assert selects(pods["namespaceSelector"], namespace_labels(dev_plan, name)), name
    assert not selects(pods["namespaceSelector"], namespace_labels(dev_plan, "external-dns"))
