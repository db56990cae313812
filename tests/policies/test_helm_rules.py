"""Helm guardrails: each fails its bad case, passes its good one, never decides on an unknown
value, and passes every stack this repository ships."""

from __future__ import annotations

from typing import Any

from plans import plan_for, stack_file_config
from policy_harness import (
    UNKNOWN,
    Resource,
    analyze,
    changed,
    mandatory,
    plan_decisions,
    undecided,
)

from guardrails import REGISTRY, helm
from guardrails._common import HELM_RELEASE
from offline.plan import SECRET as HIDDEN

NLB = "service.beta.kubernetes.io"
ALB = "alb.ingress.kubernetes.io"
# bcrypt("admin") with cost 10: the shape of what the stack hands Argo CD.
BCRYPT = "$2a$10$rRyBsGSHK6.uc8fntPwVIuLVHgsAhAX7TcdrqW/RADU0uh7CaChLa"

GITLAB_VALUES = {
    "global": {
        "hosts": {"https": True},
        "ingress": {"enabled": True, "class": "alb", "provider": "aws"},
        "gatewayApi": {"enabled": False},
        "psql": {"password": {"secret": "gitlab-postgres-password", "key": "password"}},
    },
    "installCertmanager": False,
    "nginx-ingress": {"enabled": False},
}
EXTERNAL_DNS_VALUES = {
    "txtOwnerId": "gitops-platform-dev",
    "domainFilters": ["dev.gitops.example.com"],
    "registry": "txt",
    "policy": "sync",
}
ARGOCD_VALUES = {
    "configs": {
        "params": {"server.insecure": True},
        "cm": {"users.anonymous.enabled": False},
        "rbac": {"policy.default": "role:readonly"},
        "secret": {
            "argocdServerAdminPassword": BCRYPT,
            "argocdServerAdminPasswordMtime": "2026-01-01T00:00:00Z",
        },
    },
    "server": {
        "env": [{"name": "ARGOCD_SERVER_DISABLE_SWAGGER_UI", "value": "true"}],
        "service": {
            "type": "LoadBalancer",
            "annotations": {
                f"{NLB}/aws-load-balancer-ssl-cert": "arn:aws:acm:cert",
                f"{NLB}/aws-load-balancer-alpn-policy": "HTTP2Optional",
            },
        },
    },
}


def release(chart: str, values: Any = None, **props: Any) -> Resource:
    base = {"chart": chart, "version": "1.2.3", "timeout": 1800, "values": values or {}}
    return Resource(HELM_RELEASE, {**base, **props})


def test_chart_version_pinned() -> None:
    policy = helm.helm_chart_version_pinned
    for version in ("10.4.1", "1.0.0-rc.1", "v1.14.0", "2.3.4+build.5"):
        assert mandatory(analyze(policy, release("gitlab", version=version))) == [], version
    for version in ("", "latest", "^10.4.0", "~1.2", ">=1.0.0", "10.x", "10.4", "*"):
        (message,) = mandatory(analyze(policy, release("gitlab", version=version)))
        assert f"not pinned to an exact version: {version!r}" in message
    no_version = Resource(HELM_RELEASE, {"chart": "gitlab"})
    assert "None" in mandatory(analyze(policy, no_version))[0]
    assert undecided(analyze(policy, release("gitlab", version=UNKNOWN)))


def test_timeout_minimum() -> None:
    policy = helm.helm_timeout_minimum
    assert mandatory(analyze(policy, release("gitlab", timeout=1200))) == []
    (message,) = mandatory(analyze(policy, release("gitlab", timeout=600)))
    assert "Chart 'gitlab' waits 600s, less than its minimum 1200s." in message
    assert mandatory(analyze(policy, release("argo-cd", timeout=600))) == []
    assert mandatory(analyze(policy, release("argo-cd", timeout=300)))
    assert mandatory(analyze(policy, release("external-dns", timeout=300))) == []
    assert mandatory(analyze(policy, release("external-dns", timeout=120)))
    no_timeout = Resource(HELM_RELEASE, {"chart": "gitlab", "version": "1.2.3"})
    assert "waits 300s" in mandatory(analyze(policy, no_timeout))[0]
    assert undecided(analyze(policy, release("gitlab", timeout=UNKNOWN)))


def test_timeout_minimum_from_config() -> None:
    policy = helm.helm_timeout_minimum
    config = {"minimum_timeouts": {"gitlab": 3600, "default": 60}}
    assert mandatory(analyze(policy, release("gitlab", timeout=1800), config))
    assert mandatory(analyze(policy, release("external-dns", timeout=120), config)) == []
    # Charts the config leaves out keep their default minimum.
    assert mandatory(analyze(policy, release("argo-cd", timeout=300), config))


def test_no_cleartext_credentials() -> None:
    policy = helm.helm_no_cleartext_credentials
    assert mandatory(analyze(policy, release("gitlab", GITLAB_VALUES))) == []
    (message,) = mandatory(analyze(policy, release("gitlab", {"psql": {"password": "hunter2"}})))
    assert "psql.password holds a clear-text credential." in message
    for key in ("apiToken", "api_key", "AWS_SECRET_ACCESS_KEY", "accessKey", "clientSecret"):
        values = {"provider": [{"name": "x", key: "abc123"}]}
        (message,) = mandatory(analyze(policy, release("x", values)))
        assert f"provider.0.{key} holds" in message
    assert undecided(analyze(policy, release("gitlab", {"psql": {"password": UNKNOWN}})))
    assert undecided(analyze(policy, release("gitlab", UNKNOWN)))


def test_no_cleartext_credentials_accepts_references_to_secrets() -> None:
    policy = helm.helm_no_cleartext_credentials
    references: list[Any] = [
        {"auth": {"enabled": True, "secret": "gitlab-redis-password", "key": "password"}},
        {"auth": {"existingSecret": "redis-auth", "existingSecretPasswordKey": "password"}},
        {"tls": {"secretName": "gitlab-tls"}},
        {"smtp": {"password": {"secret": "smtp", "key": "password"}}},
        {"password": ""},
        {"automountServiceAccountToken": False},
    ]
    for values in references:
        assert mandatory(analyze(policy, release("gitlab", values))) == [], values


def test_no_cleartext_credentials_argocd_admin_password() -> None:
    policy = helm.helm_no_cleartext_credentials
    path = "configs/secret/argocdServerAdminPassword"
    assert mandatory(analyze(policy, release("argo-cd", ARGOCD_VALUES))) == []
    hidden = changed(ARGOCD_VALUES, path, HIDDEN)
    assert mandatory(analyze(policy, release("argo-cd", hidden))) == []
    for clear in ("hunter2", "$2a$not-a-hash"):
        values = changed(ARGOCD_VALUES, path, clear)
        (message,) = mandatory(analyze(policy, release("argo-cd", values)))
        assert "configs.secret.argocdServerAdminPassword holds a clear-text credential" in message
    webhook = changed(ARGOCD_VALUES, "configs/secret/gitlabSecret", "webhook-secret")
    (message,) = mandatory(analyze(policy, release("argo-cd", webhook)))
    assert "configs.secret.gitlabSecret holds" in message


def test_gitlab_values_safe() -> None:
    policy = helm.gitlab_values_safe
    assert mandatory(analyze(policy, release("gitlab", GITLAB_VALUES))) == []
    cases = {
        "global/hosts/https": (False, "global.hosts.https is not true"),
        "installCertmanager": (None, "installCertmanager is not false"),
        "global/ingress/class": ("nginx", "global.ingress.class is 'nginx', not 'alb'"),
        "global/ingress/provider": (None, "global.ingress.provider is None, not 'aws'"),
        "nginx-ingress/enabled": (None, "nginx-ingress.enabled is not false"),
        "global/gatewayApi/enabled": (True, "global.gatewayApi.enabled is not false"),
    }
    for path, (value, expected) in cases.items():
        (message,) = mandatory(
            analyze(policy, release("gitlab", changed(GITLAB_VALUES, path, value)))
        )
        assert expected in message, path
    gateway_only = changed(GITLAB_VALUES, "global/ingress/enabled", False)
    gateway_only = changed(gateway_only, "global/gatewayApi/enabled", True)
    assert mandatory(analyze(policy, release("gitlab", gateway_only))) == []
    assert mandatory(analyze(policy, release("argo-cd", {}))) == []
    unknown = changed(GITLAB_VALUES, "global/hosts/https", UNKNOWN)
    assert undecided(analyze(policy, release("gitlab", unknown)))


def test_externaldns_owner_and_domain() -> None:
    policy = helm.externaldns_owner_and_domain
    assert mandatory(analyze(policy, release("external-dns", EXTERNAL_DNS_VALUES))) == []
    defaults = {
        k: v for k, v in EXTERNAL_DNS_VALUES.items() if k in ("txtOwnerId", "domainFilters")
    }
    assert mandatory(analyze(policy, release("external-dns", defaults))) == []
    cases = {
        "txtOwnerId": ("", "No txtOwnerId"),
        "domainFilters": ([], "No domainFilters"),
        "registry": ("noop", "registry is 'noop', not 'txt'"),
        "policy": ("create-only", "policy is 'create-only'"),
    }
    for key, (value, expected) in cases.items():
        values = {**EXTERNAL_DNS_VALUES, key: value}
        (message,) = mandatory(analyze(policy, release("external-dns", values)))
        assert expected in message, key
    blank = {**EXTERNAL_DNS_VALUES, "domainFilters": ["example.com", ""]}
    (message,) = mandatory(analyze(policy, release("external-dns", blank)))
    assert "domainFilters has an empty entry: ['example.com', '']" in message
    assert len(mandatory(analyze(policy, release("external-dns", {})))) == 2
    assert mandatory(analyze(policy, release("gitlab", {}))) == []
    unknown = {**EXTERNAL_DNS_VALUES, "domainFilters": UNKNOWN}
    assert undecided(analyze(policy, release("external-dns", unknown)))


def test_argocd_values_safe() -> None:
    policy = helm.argocd_values_safe
    assert mandatory(analyze(policy, release("argo-cd", ARGOCD_VALUES))) == []
    none_by_default = changed(ARGOCD_VALUES, "configs/rbac/policy.default", "")
    assert mandatory(analyze(policy, release("argo-cd", none_by_default))) == []
    cases = {
        "configs/rbac/policy.default": [
            (None, "'policy.default' is not set"),
            ("role:admin", "makes every user an admin"),
        ],
        "configs/cm/users.anonymous.enabled": [
            (True, "Anonymous users are enabled"),
            ("true", "Anonymous users are enabled"),
        ],
        "server/service/annotations": [({}, "server.insecure is true but no load balancer")],
        "configs/secret/argocdServerAdminPassword": [(None, "No configs.secret.argocdServer")],
        "server/env": [
            (None, "/swagger-ui is served"),
            ([], "/swagger-ui is served"),
            ([{"name": "ARGOCD_SERVER_DISABLE_SWAGGER_UI", "value": "false"}], "/swagger-ui"),
            ([{"name": "ARGOCD_SERVER_DISABLE_SWAGGER", "value": "true"}], "/swagger-ui"),
        ],
    }
    for path, pairs in cases.items():
        for value, expected in pairs:
            values = changed(ARGOCD_VALUES, path, value)
            (message,) = mandatory(analyze(policy, release("argo-cd", values)))
            assert expected in message, (path, value)
    hidden = changed(ARGOCD_VALUES, "configs/secret/argocdServerAdminPassword", HIDDEN)
    assert mandatory(analyze(policy, release("argo-cd", hidden))) == []
    unknown = changed(ARGOCD_VALUES, "configs/rbac/policy.default", UNKNOWN)
    assert undecided(analyze(policy, release("argo-cd", unknown)))
    unknown_env = changed(ARGOCD_VALUES, "server/env", UNKNOWN)
    assert undecided(analyze(policy, release("argo-cd", unknown_env)))


def test_argocd_server_insecure_behind_an_alb_ingress() -> None:
    policy = helm.argocd_values_safe
    env = ARGOCD_VALUES["server"]["env"]  # type: ignore[index]
    plain = changed(ARGOCD_VALUES, "server", {"replicas": 1, "env": env})
    (message,) = mandatory(analyze(policy, release("argo-cd", plain)))
    assert "server.insecure is true" in message
    ingress = {"enabled": True, "annotations": {f"{ALB}/certificate-arn": "arn:aws:acm:cert"}}
    behind_alb = changed(plain, "server/ingress", ingress)
    assert mandatory(analyze(policy, release("argo-cd", behind_alb))) == []
    disabled = changed(behind_alb, "server/ingress/enabled", False)
    assert mandatory(analyze(policy, release("argo-cd", disabled)))
    secure = changed(plain, "configs/params/server.insecure", False)
    assert mandatory(analyze(policy, release("argo-cd", secure))) == []


def _with_alpn(policy: Any) -> dict[str, Any]:
    """ARGOCD_VALUES with the NLB's ALPN policy set to `policy` (None: no annotation)."""
    annotations = {**ARGOCD_VALUES["server"]["service"]["annotations"]}  # type: ignore[index]
    annotations.pop(f"{NLB}/aws-load-balancer-alpn-policy")
    if policy is not None:
        annotations[f"{NLB}/aws-load-balancer-alpn-policy"] = policy
    return changed(ARGOCD_VALUES, "server/service/annotations", annotations)


def test_argocd_nlb_alpn_serves_browsers() -> None:
    policy = helm.argocd_nlb_alpn_serves_browsers
    assert mandatory(analyze(policy, release("argo-cd", ARGOCD_VALUES))) == []
    for bad, effect in (
        ("HTTP2Preferred", "the UI does not load"),
        ("HTTP2Only", "the UI does not load"),
        ("HTTP1Only", "falls back to gRPC-web"),
        ("None", "falls back to gRPC-web"),
        (None, "falls back to gRPC-web"),
    ):
        (message,) = mandatory(analyze(policy, release("argo-cd", _with_alpn(bad))))
        assert f"negotiates ALPN {bad!r}, not 'HTTP2Optional'" in message, bad
        assert effect in message, bad
    # TLS in argocd-server itself, or no NLB ending TLS: the load balancer's ALPN is not ours.
    secure = changed(_with_alpn(None), "configs/params/server.insecure", False)
    assert mandatory(analyze(policy, release("argo-cd", secure))) == []
    no_tls = changed(ARGOCD_VALUES, "server/service/annotations", {})
    assert mandatory(analyze(policy, release("argo-cd", no_tls))) == []
    assert mandatory(analyze(policy, release("gitlab", {}))) == []
    assert undecided(analyze(policy, release("argo-cd", _with_alpn(UNKNOWN))))


def test_rules_ignore_other_resource_types() -> None:
    other = Resource("aws:s3/bucket:Bucket", {"chart": "gitlab", "values": {"password": "x"}})
    for policy in REGISTRY.of(helm):
        assert analyze(policy, other) == []


KOPS = stack_file_config("kops")
DEV = stack_file_config("dev")


# --- argocd-highly-available-in-production ------------------------------------------------

PRODUCTION = {"production": True}
ZONE_SPREAD = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone"}]
BUDGET = {"enabled": True, "maxUnavailable": 1}
ARGOCD_HA_VALUES = {
    **ARGOCD_VALUES,
    "global": {"topologySpreadConstraints": ZONE_SPREAD},
    "redis-ha": {"enabled": True},
    "controller": {"replicas": 2, "pdb": BUDGET},
    "repoServer": {"replicas": 2, "pdb": BUDGET},
    "server": {**ARGOCD_VALUES["server"], "replicas": 2, "pdb": BUDGET},
}


def ha_violations(values: dict[str, Any], config: dict[str, Any] | None = PRODUCTION) -> list[str]:
    policy = helm.argocd_highly_available_in_production
    return mandatory(analyze(policy, release("argo-cd", values), config))


def test_a_highly_available_argo_cd_passes_in_production() -> None:
    assert ha_violations(ARGOCD_HA_VALUES) == []
    # The chart README's other HA shape: the servers autoscaled from two.
    autoscaled = changed(
        ARGOCD_HA_VALUES, "server/autoscaling", {"enabled": True, "minReplicas": 2}
    )
    assert ha_violations(changed(autoscaled, "server/replicas", 1)) == []


def test_a_single_argo_cd_trips_only_in_production() -> None:
    assert ha_violations(ARGOCD_VALUES, None) == []
    assert ha_violations(ARGOCD_VALUES, {"production": False}) == []
    problems = ha_violations(ARGOCD_VALUES)
    assert len(problems) == 10, problems
    assert "redis-ha.enabled is not true: Argo CD's cache is a single Redis pod." in problems[0]


def test_each_missing_piece_of_high_availability_is_named() -> None:
    for path, value, words in (
        ("redis-ha/enabled", False, "redis-ha.enabled is not true"),
        ("controller/replicas", 1, "controller.replicas is 1: fewer than two application"),
        ("repoServer/replicas", None, "repoServer.replicas is not set (the chart's 1)"),
        ("server/pdb", None, "server.pdb.enabled is not true: a node drain may evict every"),
        ("global/topologySpreadConstraints", None, "pods are not spread over topology."),
    ):
        problems = ha_violations(changed(ARGOCD_HA_VALUES, path, value))
        assert problems, path
        assert all(words in p for p in problems), (path, problems)
    # A service's own constraints replace the chart's global ones.
    by_host = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname"}]
    (problem,) = ha_violations(
        changed(ARGOCD_HA_VALUES, "repoServer/topologySpreadConstraints", by_host)
    )
    assert "The repo-server pods are not spread over topology.kubernetes.io/zone." in problem


def test_the_ha_rule_reads_only_argo_cd_and_never_decides_on_unknowns() -> None:
    policy = helm.argocd_highly_available_in_production
    assert mandatory(analyze(policy, release("gitlab", {}), PRODUCTION)) == []
    unknown = changed(ARGOCD_HA_VALUES, "controller/replicas", UNKNOWN)
    assert undecided(analyze(policy, release("argo-cd", unknown), PRODUCTION))


def test_the_prod_stack_runs_argo_cd_highly_available_and_dev_would_not() -> None:
    policy = helm.argocd_highly_available_in_production
    prod = plan_for(stack_file_config("prod"), stack="prod")
    assert plan_decisions([policy], prod, PRODUCTION) == []
    dev = plan_for(DEV, stack="dev")
    assert {name for name, _ in plan_decisions([policy], dev, PRODUCTION)} == {
        "gitops-platform-dev-argocd"
    }
