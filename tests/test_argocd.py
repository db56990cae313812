"""Argo CD: its controller tuning, TLS at the load balancer, admins only, a generated password."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from typing import Any

import component_plans as components
import pytest
from alb_model import rendered_ingress, route
from component_plans import component_plan
from plans import PROJECT, depends_on, one, plan_for, stack_file_config, with_changes

from offline.plan import SECRET, Plan

DEV = stack_file_config("dev")
RELEASE = "kubernetes:helm.sh/v3:Release"
NLB = "service.beta.kubernetes.io"


def argocd(plan: Plan) -> dict[str, Any]:
    return one(plan, RELEASE, "-argocd")


def values(plan: Plan) -> dict[str, Any]:
    result: dict[str, Any] = argocd(plan)["inputs"]["values"]
    return result


@pytest.fixture(scope="module")
def ingress_plan() -> Plan:
    return plan_for(with_changes(DEV, argocd={"exposure": "ingress"}), stack="dev")


def test_the_default_controller_tuning_is_applied(dev_plan: Plan) -> None:
    params = values(dev_plan)["configs"]["params"]
    assert params["controller.status.processors"] == 20
    assert params["controller.operation.processors"] == 10
    assert params["controller.self.heal.timeout.seconds"] == 5
    assert params["controller.repo.server.timeout.seconds"] == 60


def test_tuning_and_resync_period_come_from_config() -> None:
    argocd_config = {"status_processors": 50, "reconciliation_timeout": "5m"}
    plan = component_plan(components.argocd, with_changes(DEV, argocd=argocd_config))
    assert values(plan)["configs"]["params"]["controller.status.processors"] == 50
    assert values(plan)["configs"]["cm"]["timeout.reconciliation"] == "5m"


def test_resync_period_and_url_are_set_in_argocd_cm(dev_plan: Plan) -> None:
    cm = values(dev_plan)["configs"]["cm"]
    assert cm["timeout.reconciliation"] == "120s"
    assert cm["url"] == "https://argocd.dev.gitops.example.com"
    assert dev_plan.outputs["argocd_url"] == cm["url"]


def test_tls_ends_at_an_nlb_with_the_stacks_certificate(dev_plan: Plan) -> None:
    service = values(dev_plan)["server"]["service"]
    annotations = service["annotations"]
    assert service["type"] == "LoadBalancer"
    assert annotations[f"{NLB}/aws-load-balancer-type"] == "external"
    assert annotations[f"{NLB}/aws-load-balancer-ssl-cert"] == dev_plan.outputs["certificate_arn"]
    assert annotations[f"{NLB}/aws-load-balancer-ssl-ports"] == "https"
    assert annotations[f"{NLB}/aws-load-balancer-ssl-negotiation-policy"].startswith(
        "ELBSecurityPolicy-TLS13-"
    )
    assert values(dev_plan)["configs"]["params"]["server.insecure"] is True


def test_certificate_arrives_through_a_dependency_not_a_literal(dev_plan: Plan) -> None:
    validation = one(dev_plan, "aws:acm/certificateValidation:CertificateValidation")
    assert validation["urn"] in argocd(dev_plan)["property_dependencies"]["values"]


def test_only_admin_cidrs_reach_the_load_balancer(dev_plan: Plan) -> None:
    service = values(dev_plan)["server"]["service"]
    admin = DEV[f"{PROJECT}:access"]["admin_cidrs"]
    assert service["loadBalancerSourceRanges"] == admin
    group = service["annotations"][f"{NLB}/aws-load-balancer-security-groups"]
    assert group == dev_plan.outputs["argocd_security_group_id"]


def test_externaldns_publishes_the_argocd_hostname(dev_plan: Plan) -> None:
    annotations = values(dev_plan)["server"]["service"]["annotations"]
    hostname = annotations["external-dns.alpha.kubernetes.io/hostname"]
    assert hostname == "argocd.dev.gitops.example.com"


def test_admin_password_is_generated_hashed_and_secret(dev_plan: Plan) -> None:
    secret = values(dev_plan)["configs"]["secret"]
    assert secret["argocdServerAdminPassword"] == SECRET
    assert dev_plan.outputs["argocd_admin_password"] == SECRET
    assert one(dev_plan, "random:index/randomPassword:RandomPassword", "-argocd-admin")
    assert "offline-password-" not in dev_plan.to_json()
    assert "$2a$" not in dev_plan.to_json()


def test_a_new_password_logs_out_the_sessions_of_the_old_one(dev_plan: Plan) -> None:
    # The mtime is taken when the password is generated and again when it is replaced; a
    # constant would keep old sessions valid, an empty one would log everyone out on each up.
    password = one(dev_plan, "random:index/randomPassword:RandomPassword", "-argocd-admin")
    clock = one(dev_plan, "command:local:Command", "-argocd-admin-password-changed")
    (trigger,) = clock["inputs"]["triggers"]
    assert re.fullmatch(r"[0-9a-f]{64}", trigger)  # a digest of the hash: no secret, no hash
    assert clock["property_dependencies"]["triggers"] == [password["urn"]]
    assert clock["urn"] in argocd(dev_plan)["property_dependencies"]["values"]


def test_the_password_time_is_utc_wherever_pulumi_runs(dev_plan: Plan) -> None:
    clock = one(dev_plan, "command:local:Command", "-argocd-admin-password-changed")
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = subprocess.run(
        ["sh", "-c", clock["inputs"]["create"]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "Asia/Tokyo"},
    ).stdout.strip()
    taken = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= taken <= datetime.now(UTC), stamp


# The NLB's ALPN policies, each its protocols in the NLB's order of preference: it picks the
# first one the client offers (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/
# create-tls-listener.html#alpn-policies).
NLB_ALPN = {
    "HTTP1Only": ("http/1.1", "http/1.0"),
    "HTTP2Only": ("h2",),
    "HTTP2Optional": ("http/1.1", "http/1.0", "h2"),
    "HTTP2Preferred": ("h2", "http/1.1", "http/1.0"),
    "None": (),
}
BROWSER = ("h2", "http/1.1")
ARGOCD_CLI = ("h2",)  # grpc-go offers h2 only


def negotiated(policy: str, offered: tuple[str, ...]) -> str | None:
    return next((p for p in NLB_ALPN[policy] if p in offered), None)


def test_browsers_reach_the_ui_over_http1_and_the_cli_speaks_grpc_over_h2(
    dev_plan: Plan,
) -> None:
    # argocd-server's plain listener serves HTTP/1.x, and HTTP/2 only as gRPC (argo-cd v3.4.4
    # server/server.go, the cmux matchers): a browser's h2 request would be dropped.
    policy = values(dev_plan)["server"]["service"]["annotations"][
        f"{NLB}/aws-load-balancer-alpn-policy"
    ]
    assert negotiated(policy, BROWSER) == "http/1.1"
    assert negotiated(policy, ARGOCD_CLI) == "h2"


def test_login_needs_no_insecure_flag_and_no_password_on_the_command_line(
    dev_plan: Plan,
) -> None:
    command = dev_plan.outputs["argocd_login_command"]
    assert command == "argocd login argocd.dev.gitops.example.com --sso"
    plan = plan_for(with_changes(DEV, argocd={"sso": {"enabled": False}}), stack="dev")
    command = plan.outputs["argocd_login_command"]
    assert command == "argocd login argocd.dev.gitops.example.com --username admin"


def test_rbac_defaults_to_read_only_and_dex_is_off(dev_plan: Plan) -> None:
    assert values(dev_plan)["configs"]["rbac"]["policy.default"] == "role:readonly"
    assert values(dev_plan)["dex"] == {"enabled": False}
    assert values(dev_plan)["configs"]["cm"]["users.anonymous.enabled"] is False


def test_release_is_pinned_bounded_and_waits_for_the_controllers(dev_plan: Plan) -> None:
    release = argocd(dev_plan)
    assert release["inputs"]["version"] == "10.1.1"
    assert release["inputs"]["timeout"] >= 600
    assert release["inputs"]["name"] == "argocd"
    for controller in ("-alb", "-external-dns"):
        assert depends_on(release, one(dev_plan, RELEASE, controller))


def test_ingress_exposure_shares_the_alb_but_admits_admins_only(ingress_plan: Plan) -> None:
    server = values(ingress_plan)["server"]
    assert "service" not in server
    ingress = server["ingress"]
    assert ingress["enabled"] is True
    assert ingress["ingressClassName"] == "alb"
    annotations = ingress["annotations"]
    prefix = "alb.ingress.kubernetes.io"
    assert annotations[f"{prefix}/group.name"] == "gitops-platform-dev"
    assert annotations[f"{prefix}/ssl-redirect"] == "443"
    assert annotations[f"{prefix}/certificate-arn"] == ingress_plan.outputs["certificate_arn"]
    (condition,) = json.loads(annotations[f"{prefix}/conditions.argocd-server"])
    assert condition == {"field": "source-ip", "sourceIpConfig": {"values": ["192.0.2.0/24"]}}


def test_ingress_exposure_logs_in_over_grpc_web(ingress_plan: Plan) -> None:
    assert "--grpc-web" in ingress_plan.outputs["argocd_login_command"]


def test_the_swagger_ui_switch_is_set_on_the_server(dev_plan: Plan) -> None:
    # Argo CD >= 3.6 reads it (argo-cd PR #28717); older servers ignore an unknown variable,
    # where an unknown --disable-swagger-ui flag would stop them from starting.
    assert {"name": "ARGOCD_SERVER_DISABLE_SWAGGER_UI", "value": "true"} in values(dev_plan)[
        "server"
    ]["env"]
    assert "extraArgs" not in values(dev_plan)["server"]


def test_ingress_exposure_answers_swagger_itself(ingress_plan: Plan) -> None:
    server = values(ingress_plan)["server"]["ingress"]
    host = "argocd.dev.gitops.example.com"
    # The Ingress the chart renders: extra paths, then its own (server.ingress.path, pathType).
    ingress = rendered_ingress(
        host, server["annotations"], server["extraPaths"], "/", "Prefix", "argocd-server", 80
    )
    admin, outsider = "192.0.2.10", "198.51.100.7"
    for request in ("/swagger-ui", "/swagger-ui/", "/swagger.json"):
        for source in (admin, outsider):
            answer = route([ingress], host, request, source)
            assert answer.action is not None, (request, source)
            assert answer.action["type"] == "fixed-response"
            assert answer.action["fixedResponseConfig"]["statusCode"] == "404"
    for request in ("/", "/applications", "/api/v1/session", "/swagger-uix"):
        assert route([ingress], host, request, admin).backend == "argocd-server", request
        assert route([ingress], host, request, outsider).backend == "default", request


def test_the_load_balancer_exposure_adds_no_alb_paths(dev_plan: Plan) -> None:
    assert "ingress" not in values(dev_plan)["server"]
