"""GitLab: its chart values, its edge, and its state kept on AWS."""

from __future__ import annotations

import json
from typing import Any

import component_plans as components
import pytest
import yaml
from alb_model import Answer, rendered_ingress, route
from component_plans import component_plan
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes

from components.config import ConfigError
from components.gitlab_storage import object_storage_connection
from offline.plan import SECRET, Plan

DEV = stack_file_config("dev")
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET_TYPE = "kubernetes:core/v1:Secret"
ALB = "alb.ingress.kubernetes.io"
RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"


def gitlab(plan: Plan) -> dict[str, Any]:
    return one(plan, RELEASE, "-gitlab")


def values(plan: Plan) -> dict[str, Any]:
    result: dict[str, Any] = gitlab(plan)["inputs"]["values"]
    return result


def k8s_secret(plan: Plan, name: str) -> dict[str, Any]:
    (found,) = [s for s in plan.of_type(SECRET_TYPE) if s["inputs"]["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def ssh_plan() -> Plan:
    gitlab_config = {"ssh": "nlb", "ssh_cidrs": ["203.0.113.0/28"]}
    return component_plan(components.gitlab, with_changes(DEV, gitlab=gitlab_config))


# --- the chart values ---------------------------------------------------------------------


def test_urls_are_https_because_tls_ends_at_the_alb(dev_plan: Plan) -> None:
    hosts = values(dev_plan)["global"]["hosts"]
    assert hosts["https"] is True
    assert hosts["domain"] == "dev.gitops.example.com"
    assert hosts["gitlab"]["name"] == "gitlab.dev.gitops.example.com"
    assert dev_plan.outputs["gitlab_url"] == "https://gitlab.dev.gitops.example.com"


def test_ingress_is_the_alb_without_cert_manager_or_in_cluster_tls(dev_plan: Plan) -> None:
    ingress = values(dev_plan)["global"]["ingress"]
    assert ingress["enabled"] is True
    assert (ingress["provider"], ingress["class"]) == ("aws", "alb")
    assert ingress["configureCertmanager"] is False
    assert ingress["tls"] == {"enabled": False}


def test_gateway_api_and_its_envoy_are_off(dev_plan: Plan) -> None:
    assert values(dev_plan)["global"]["gatewayApi"] == {
        "enabled": False,
        "installEnvoy": False,
        "configureCertmanager": False,
    }


def test_bundled_extras_are_not_installed(dev_plan: Plan) -> None:
    chart_values = values(dev_plan)
    assert chart_values["installCertmanager"] is False
    assert chart_values["nginx-ingress"] == {"enabled": False}
    assert chart_values["prometheus"] == {"install": False}
    assert chart_values["gitlab-runner"] == {"install": False}


def test_alb_serves_https_with_the_stacks_certificate_and_redirects_http(dev_plan: Plan) -> None:
    annotations = values(dev_plan)["global"]["ingress"]["annotations"]
    assert annotations[f"{ALB}/scheme"] == "internet-facing"
    assert annotations[f"{ALB}/target-type"] == "ip"
    assert json.loads(annotations[f"{ALB}/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert annotations[f"{ALB}/ssl-redirect"] == "443"
    assert annotations[f"{ALB}/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert annotations[f"{ALB}/certificate-arn"] == dev_plan.outputs["certificate_arn"]
    assert annotations[f"{ALB}/success-codes"] == "200-399"
    assert annotations[f"{ALB}/group.name"] == "gitops-platform-dev"


def test_certificate_arrives_through_a_dependency_not_a_literal(dev_plan: Plan) -> None:
    validation = one(dev_plan, "aws:acm/certificateValidation:CertificateValidation")
    assert validation["urn"] in gitlab(dev_plan)["property_dependencies"]["values"]


def test_inbound_is_limited_by_gitlabs_security_group(dev_plan: Plan) -> None:
    annotations = values(dev_plan)["global"]["ingress"]["annotations"]
    assert annotations[f"{ALB}/security-groups"] == dev_plan.outputs["gitlab_security_group_id"]


def test_the_tls_policy_comes_from_config() -> None:
    access = {**DEV[f"{PROJECT}:access"], "tls_policy": "ELBSecurityPolicy-TLS13-1-3-2021-06"}
    plan = component_plan(components.gitlab, with_changes(DEV, access=access))
    annotations = values(plan)["global"]["ingress"]["annotations"]
    assert annotations[f"{ALB}/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_an_outdated_tls_policy_is_refused() -> None:
    access = {**DEV[f"{PROJECT}:access"], "tls_policy": "ELBSecurityPolicy-2016-08"}
    with pytest.raises(Exception, match=r"access\.tls_policy = 'ELBSecurityPolicy-2016-08'"):
        plan_for(with_changes(DEV, access=access), stack="dev")


def test_sign_up_is_closed(dev_plan: Plan) -> None:
    assert values(dev_plan)["global"]["appConfig"]["initialDefaults"] == {"signupEnabled": False}


# --- secrets --------------------------------------------------------------------------------


def test_root_password_is_generated_into_a_secret_the_chart_reads(dev_plan: Plan) -> None:
    pointer = values(dev_plan)["global"]["initialRootPassword"]
    secret = k8s_secret(dev_plan, pointer["secret"])
    assert secret["inputs"]["stringData"] == SECRET
    assert secret["inputs"]["metadata"]["namespace"] == "gitlab"
    assert pointer["key"] == "password"
    assert dev_plan.outputs["gitlab_root_password"] == SECRET


@pytest.mark.parametrize(
    "pointer",
    [
        ("global", "initialRootPassword"),
        ("global", "psql", "password"),
        ("global", "redis", "auth"),
        ("global", "appConfig", "object_store", "connection"),
        ("registry", "storage"),
        ("registry", "database", "password"),
        ("gitlab", "toolbox", "backups", "objectStorage", "config"),
    ],
)
def test_release_waits_for_every_secret_it_reads(dev_plan: Plan, pointer: tuple[str, ...]) -> None:
    block: Any = values(dev_plan)
    for key in pointer:
        block = block[key]
    assert depends_on(gitlab(dev_plan), k8s_secret(dev_plan, block["secret"]))


def test_no_password_appears_in_clear_anywhere(dev_plan: Plan) -> None:
    text = dev_plan.to_json()
    assert "offline-password-" not in text
    assert one(dev_plan, RDS)["inputs"]["password"] == SECRET
    assert one(dev_plan, REDIS)["inputs"]["authToken"] == SECRET


# --- GitLab's state on AWS ------------------------------------------------------------------


def test_postgres_is_rds_17_private_and_encrypted(dev_plan: Plan) -> None:
    database = one(dev_plan, RDS)
    assert database["inputs"]["engine"] == "postgres"
    assert database["inputs"]["engineVersion"] == "17"
    assert database["inputs"]["storageEncrypted"] is True
    assert database["inputs"]["publiclyAccessible"] is False
    psql = values(dev_plan)["global"]["psql"]
    assert database["urn"] in gitlab(dev_plan)["property_dependencies"]["values"]
    assert psql["host"].endswith(".rds.amazonaws.com")
    assert (psql["database"], psql["username"]) == ("gitlabhq_production", "gitlab")


def test_redis_speaks_tls_with_an_auth_token(dev_plan: Plan) -> None:
    cache = one(dev_plan, REDIS)
    assert cache["inputs"]["transitEncryptionEnabled"] is True
    assert cache["inputs"]["atRestEncryptionEnabled"] is True
    redis = values(dev_plan)["global"]["redis"]
    assert redis["scheme"] == "rediss"
    assert redis["auth"]["enabled"] is True


def test_databases_admit_only_the_vpc(dev_plan: Plan) -> None:
    rules = [
        r
        for r in dev_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-gitlab-data-data-" in r["name"]
    ]
    assert sorted((r["inputs"]["fromPort"], r["inputs"]["cidrIpv4"]) for r in rules) == [
        (5432, "10.20.0.0/16"),
        (6379, "10.20.0.0/16"),
    ]


def test_production_protects_gitlabs_state_and_makes_it_highly_available(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    database = one(prod_plan, RDS)
    assert database["protect"] is True
    assert database["inputs"]["multiAz"] is True
    assert database["inputs"]["deletionProtection"] is True
    assert database["inputs"]["skipFinalSnapshot"] is False
    cache = one(prod_plan, REDIS)
    assert cache["inputs"]["numCacheClusters"] == 2
    assert cache["inputs"]["automaticFailoverEnabled"] is True
    assert one(dev_plan, RDS)["protect"] is False
    assert one(dev_plan, RDS)["inputs"]["skipFinalSnapshot"] is True


def test_object_storage_uses_the_pods_role_and_no_keys(dev_plan: Plan) -> None:
    store = values(dev_plan)["global"]["appConfig"]["object_store"]
    assert store["enabled"] is True
    # The Secret's content is masked in the plan; check what the component writes into it.
    assert yaml.safe_load(object_storage_connection("eu-west-1")) == {
        "provider": "AWS",
        "use_iam_profile": True,
        "region": "eu-west-1",
    }
    annotation = values(dev_plan)["global"]["serviceAccount"]["annotations"]
    assert annotation["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/")


def secret_content(plan: Plan, name: str, key: str) -> str:
    """What a Secret holds (the plan masks it; the policy pack sees it, as under the CLI)."""
    content: str = plan.analyzer_inputs[k8s_secret(plan, name)["urn"]]["stringData"][key]
    return content


def test_no_gitlab_writer_sends_an_acl_to_buckets_that_refuse_them(dev_plan: Plan) -> None:
    ownership = dev_plan.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert {c["inputs"]["rule"]["objectOwnership"] for c in ownership} == {"BucketOwnerEnforced"}
    pointer = values(dev_plan)["registry"]["storage"]
    registry = yaml.safe_load(secret_content(dev_plan, pointer["secret"], pointer["key"]))
    assert registry["s3"]["objectownership"] is True
    assert "objectacl" not in registry["s3"]  # the registry refuses both together
    backups = values(dev_plan)["gitlab"]["toolbox"]["backups"]["objectStorage"]["config"]
    s3cmd = secret_content(dev_plan, backups["secret"], backups["key"])
    assert "acl_public = False" in s3cmd.splitlines()


def test_the_object_role_trusts_exactly_gitlabs_service_accounts(dev_plan: Plan) -> None:
    role = one(dev_plan, "aws:iam/role:Role", "-gitlab-data-objects")
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    (subjects,) = [
        v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")
    ]
    assert subjects == [
        f"system:serviceaccount:gitlab:gitlab-{c}"
        for c in ("webservice", "sidekiq", "toolbox", "migrations", "registry")
    ]


def test_the_object_role_reaches_gitlabs_buckets_only(dev_plan: Plan) -> None:
    policy = one(dev_plan, "aws:iam/rolePolicy:RolePolicy", "-gitlab-data-objects")
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    buckets = {
        b["inputs"].get("bucket") or b["name"]
        for b in dev_plan.of_type("aws:s3/bucket:Bucket")
        if "-gitlab-data-" in b["name"]
    }
    resources = {r for s in statements for r in s["Resource"]}
    assert len(buckets) == 7
    assert all(r.startswith("arn:aws:s3:::gitops-platform-dev-gitlab-data-") for r in resources)
    assert "*" not in resources


def test_every_gitlab_bucket_blocks_public_access(dev_plan: Plan) -> None:
    gitlab_buckets = [
        b for b in dev_plan.of_type("aws:s3/bucket:Bucket") if "-gitlab-data-" in b["name"]
    ]
    blocks = dev_plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for bucket in gitlab_buckets:
        (block,) = [b for b in blocks if depends_on(b, bucket)]
        assert block["inputs"]["blockPublicPolicy"] is True


# --- SSH, sizes, ordering -------------------------------------------------------------------


def test_ssh_is_off_by_default(dev_plan: Plan) -> None:
    assert values(dev_plan)["gitlab"]["gitlab-shell"] == {"enabled": False}


def test_ssh_gets_its_own_nlb_limited_to_its_ranges(ssh_plan: Plan) -> None:
    shell = values(ssh_plan)["gitlab"]["gitlab-shell"]
    service = shell["service"]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerSourceRanges"] == ["203.0.113.0/28"]
    annotations = service["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["external-dns.alpha.kubernetes.io/hostname"] == (
        "gitlab-ssh.dev.gitops.example.com"
    )
    assert values(ssh_plan)["global"]["hosts"]["ssh"] == "gitlab-ssh.dev.gitops.example.com"


def test_ssh_without_ranges_is_refused() -> None:
    with pytest.raises(Exception, match="expected ssh_cidrs"):
        plan_for(with_changes(DEV, gitlab={"ssh": "nlb"}), stack="dev")


def test_sizes_come_from_config(prod_plan: Plan) -> None:
    plan = component_plan(components.gitlab, with_changes(DEV, gitlab={"webservice_replicas": 3}))
    assert values(plan)["gitlab"]["webservice"]["minReplicas"] == 3
    assert one(prod_plan, RDS)["inputs"]["instanceClass"] == "db.m7g.large"


def test_release_is_pinned_patient_and_cleans_up(dev_plan: Plan) -> None:
    inputs = gitlab(dev_plan)["inputs"]
    assert inputs["version"] == "10.4.1"
    assert inputs["repositoryOpts"]["repo"] == "https://charts.gitlab.io/"
    assert inputs["timeout"] >= 1200
    assert inputs["cleanupOnFail"] is True


def test_gitlab_and_argocd_wait_for_the_controllers_not_for_each_other(dev_plan: Plan) -> None:
    argocd = one(dev_plan, RELEASE, "-argocd")
    for release in (gitlab(dev_plan), argocd):
        assert depends_on(release, one(dev_plan, RELEASE, "-alb"))
        assert depends_on(release, one(dev_plan, RELEASE, "-external-dns"))
    assert not depends_on(gitlab(dev_plan), argocd)
    assert not depends_on(argocd, gitlab(dev_plan))


def test_pod_identity_binds_each_of_gitlabs_service_accounts() -> None:
    cluster = {**DEV[f"{PROJECT}:cluster"], "workload_identity": "pod_identity"}
    plan = component_plan(components.gitlab, with_changes(DEV, cluster=cluster))
    associations = [
        a
        for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if "-gitlab-data-objects-" in a["name"]
    ]
    assert sorted(a["inputs"]["serviceAccount"] for a in associations) == sorted(
        f"gitlab-{c}" for c in ("webservice", "sidekiq", "toolbox", "migrations", "registry")
    )
    assert all(a["inputs"]["namespace"] == "gitlab" for a in associations)


# --- the admin area -------------------------------------------------------------------------


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HOST = "gitlab.dev.gitops.example.com"
ADMIN, USER = "192.0.2.10", "198.51.100.7"  # dev's admin_cidrs / gitlab_cidrs


def alb_ingresses(plan: Plan) -> list[dict[str, Any]]:
    """The IngressGroup's GitLab members: the stack's own and the one the chart renders from
    `global.ingress` (one path, `/`, to the webservice's workhorse port)."""
    ingress = values(plan)["global"]["ingress"]
    chart_rendered = rendered_ingress(
        HOST,
        ingress["annotations"],
        [],
        ingress["path"],
        ingress["pathType"],
        "gitlab-webservice-default",
        8181,
    )
    return [*(i["inputs"] for i in plan.of_type(INGRESS)), chart_rendered]


FOUR_RANGES = ["192.0.2.0/26", "192.0.2.64/26", "192.0.2.128/26", "192.0.2.192/26"]


def open_admin_area_plan() -> Plan:
    """An open admin area: then the admin ranges are not limited to three."""
    config = with_changes(
        DEV, access={"admin_cidrs": FOUR_RANGES}, gitlab={"admin_area": "everyone"}
    )
    return component_plan(components.gitlab, config)


def refused(answer: Answer) -> bool:
    return answer.action is not None and answer.action["fixedResponseConfig"]["statusCode"] == "403"


def test_the_admin_area_answers_the_admin_ranges_only(dev_plan: Plan) -> None:
    ingresses = alb_ingresses(dev_plan)
    for request in ("/admin", "/admin/", "/admin/users", "/admin/sidekiq/busy"):
        assert route(ingresses, HOST, request, ADMIN).backend == "gitlab-webservice-default"
        assert refused(route(ingresses, HOST, request, USER)), request


def test_other_spellings_of_the_admin_area_are_refused(dev_plan: Plan) -> None:
    # GitLab routes these to the admin area too: Rails' optional `(.:format)` on the admin
    # root, and Rails squeezing repeated slashes (the ALB matches the path as sent).
    ingresses = alb_ingresses(dev_plan)
    for request in ("/admin.json", "/admin.html", "//admin", "//admin/users", "///admin"):
        assert refused(route(ingresses, HOST, request, USER)), request
    for request in ("/", "/users/sign_in", "/api/v4/projects", "/administrator/project"):
        for source in (ADMIN, USER):
            assert route(ingresses, HOST, request, source).backend == "gitlab-webservice-default"
            assert route(ingresses, HOST, request, source).action is None


def test_up_to_three_admin_ranges_fit_the_alb_rules() -> None:
    ranges = ["192.0.2.0/26", "192.0.2.64/26", "192.0.2.128/25"]
    plan = component_plan(components.gitlab, with_changes(DEV, access={"admin_cidrs": ranges}))
    assert route(alb_ingresses(plan), HOST, "/admin/users", "192.0.2.200").action is None


def test_a_fourth_admin_range_is_refused_before_anything_is_created() -> None:
    with pytest.raises(ConfigError) as error:
        plan_for(with_changes(DEV, access={"admin_cidrs": FOUR_RANGES}), stack="dev")
    (problem,) = error.value.problems
    assert problem.startswith(f"{PROJECT}:access.admin_cidrs: 4 ranges, but gitlab.admin_area")
    assert "at most 3" in problem
    assert open_admin_area_plan().of_type(INGRESS) == []


def test_the_admin_area_forwards_to_the_charts_web_entry_point(dev_plan: Plan) -> None:
    # What the chart's own Ingress targets (chart 10.x: Service `<release>-webservice-default`,
    # port `gitlab.webservice.service.workhorseExternalPort`, 8181).
    (admin_area,) = dev_plan.of_type(INGRESS)
    forwards = [
        p["backend"]["service"]
        for p in admin_area["inputs"]["spec"]["rules"][0]["http"]["paths"]
        if "number" in p["backend"]["service"]["port"]
    ]
    assert forwards == [{"name": "gitlab-webservice-default", "port": {"number": 8181}}] * 2


def test_the_admin_area_ingress_joins_the_shared_alb_with_the_same_settings(
    dev_plan: Plan,
) -> None:
    (admin_area,) = dev_plan.of_type(INGRESS)
    ours = admin_area["inputs"]["metadata"]["annotations"]
    chart = values(dev_plan)["global"]["ingress"]["annotations"]
    # The controller refuses an IngressGroup whose members disagree on these.
    for key in (
        "group.name",
        "scheme",
        "listen-ports",
        "ssl-policy",
        "certificate-arn",
        "security-groups",
        "target-type",
        "success-codes",
    ):
        assert ours[f"{ALB}/{key}"] == chart[f"{ALB}/{key}"], key
    assert admin_area["inputs"]["spec"]["ingressClassName"] == "alb"


def test_the_admin_area_ingress_comes_after_gitlab_and_goes_before_the_controllers(
    dev_plan: Plan,
) -> None:
    (admin_area,) = dev_plan.of_type(INGRESS)
    assert depends_on(admin_area, gitlab(dev_plan))
    for controller in ("-alb", "-external-dns"):
        assert depends_on(admin_area, one(dev_plan, RELEASE, controller))


def test_the_admin_area_can_be_left_open() -> None:
    plan = open_admin_area_plan()
    assert plan.of_type(INGRESS) == []
    ingresses = alb_ingresses(plan)
    assert route(ingresses, HOST, "/admin/users", USER).backend == "gitlab-webservice-default"
