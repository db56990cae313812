"""The composition root's wiring: each config value `__main__.py` (or the cluster selector)
hands to a component on its own reaches that component.

The component tests (tests/component_plans.py) build a component with the arguments a test
gives it; only a whole-stack plan shows which values the program passes. One plan of the
production stack file with every such value set to something other than its default
answers for all of them.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from plans import PROJECT, one, plan_for, stack_file_config, with_changes

from offline.plan import Plan

PROD = stack_file_config("prod")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-3-2021-06"
ADMIN_CIDRS = ["203.0.113.7/32", "198.51.100.0/28"]
SSH_CIDRS = ["203.0.113.64/28"]
EXTERNAL_DNS_VERSION = "1.20.0"
MINIO = {"repository": "oci://registry.example.com/charts", "version": "1.2.3"}
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def wired() -> Plan:
    config = with_changes(
        PROD,
        cluster={**PROD[f"{PROJECT}:cluster"], "name": "wired-eks"},
        access={**PROD[f"{PROJECT}:access"], "admin_cidrs": ADMIN_CIDRS, "tls_policy": TLS_POLICY},
        dns={"create_zone": True, "external_dns_policy": "upsert-only"},
        charts={
            "external_dns": {
                "repository": "https://kubernetes-sigs.github.io/external-dns/",
                "version": EXTERNAL_DNS_VERSION,
            }
        },
        gitlab={**PROD[f"{PROJECT}:gitlab"], "ssh": "nlb", "ssh_cidrs": SSH_CIDRS},
        argocd={**PROD[f"{PROJECT}:argocd"], "status_processors": 50},
        gitops={"minio_chart": MINIO},
    )
    return plan_for(config, stack="prod")


def values(plan: Plan, component: str) -> dict[str, Any]:
    result: dict[str, Any] = one(plan, RELEASE, f"-{component}")["inputs"]["values"]
    return result


def test_the_cluster_gets_its_name_and_the_admin_ranges(wired: Plan) -> None:
    cluster = one(wired, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["name"] == "wired-eks"
    assert cluster["inputs"]["vpcConfig"]["publicAccessCidrs"] == ADMIN_CIDRS
    assert values(wired, "alb")["clusterName"] == "wired-eks"


def test_a_created_zone_is_protected_in_production_and_records_go_to_it(wired: Plan) -> None:
    zone = one(wired, "aws:route53/zone:Zone")
    assert zone["protect"] is True
    record = one(wired, "aws:route53/record:Record")
    assert record["property_dependencies"]["zoneId"] == [zone["urn"]]
    external_dns = one(wired, RELEASE, "-external-dns")
    assert zone["urn"] in external_dns["property_dependencies"]["values"]


def test_external_dns_gets_its_chart_and_policy(wired: Plan) -> None:
    assert one(wired, RELEASE, "-external-dns")["inputs"]["version"] == EXTERNAL_DNS_VERSION
    assert values(wired, "external-dns")["policy"] == "upsert-only"


def test_the_tls_policy_reaches_gitlab_and_argo_cd(wired: Plan) -> None:
    annotations = values(wired, "gitlab")["global"]["ingress"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/ssl-policy"] == TLS_POLICY
    service = values(wired, "argocd")["server"]["service"]["annotations"]
    assert service["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] == (
        TLS_POLICY
    )


def test_the_ssh_ranges_reach_the_security_group_and_gitlab(wired: Plan) -> None:
    rules = [
        r
        for r in wired.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-access-gitlab-ssh-" in r["name"]
    ]
    assert [r["inputs"]["cidrIpv4"] for r in rules] == SSH_CIDRS
    service = values(wired, "gitlab")["gitlab"]["gitlab-shell"]["service"]
    assert service["loadBalancerSourceRanges"] == SSH_CIDRS


def test_argo_cd_and_gitlab_get_their_config_and_the_certificate(wired: Plan) -> None:
    assert values(wired, "argocd")["configs"]["params"]["controller.status.processors"] == 50
    assert values(wired, "gitlab")["gitlab"]["webservice"]["minReplicas"] == 3
    gitlab = values(wired, "gitlab")["global"]["ingress"]["annotations"]
    argocd = values(wired, "argocd")["server"]["service"]["annotations"]
    assert gitlab["alb.ingress.kubernetes.io/certificate-arn"] == wired.outputs["certificate_arn"]
    assert (
        argocd["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]
        == (wired.outputs["certificate_arn"])
    )


def test_the_gitops_config_is_what_gets_committed_and_deployed(wired: Plan) -> None:
    (chart,) = [
        f
        for f in wired.of_type("gitlab:index/repositoryFile:RepositoryFile")
        if f["inputs"]["filePath"] == "minio/Chart.yaml"
    ]
    (dependency,) = yaml.safe_load(chart["inputs"]["content"])["dependencies"]
    assert {k: dependency[k] for k in MINIO} == MINIO
    names = [
        a["inputs"]["metadata"]["name"]
        for a in wired.of_type("kubernetes:argoproj.io/v1alpha1:Application")
    ]
    assert sorted(names) == sorted(a["name"] for a in PROD[f"{PROJECT}:applications"])
