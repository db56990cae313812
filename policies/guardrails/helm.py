"""Helm releases: pinned, given time to finish, no credentials in their values, the
platform charts' settings that keep GitLab, ExternalDNS and Argo CD on TLS and least access,
and production's Argo CD highly available."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from guardrails._common import (
    ARGOCD_CHART,
    EXTERNAL_DNS_CHART,
    GITLAB_CHART,
    HELM_RELEASE,
    HIDDEN,
    chart_of,
    dig,
    helm_values,
    resource_rule,
)
from guardrails.graph import PRODUCTION
from guardrails.tls import ALB_CERTIFICATE_ARN, NLB, NLB_SSL_CERT, dotted, walk

EXACT_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
HELM_DEFAULT_TIMEOUT = 300  # seconds, when a release sets none
DEFAULT_MINIMUM_TIMEOUTS = {GITLAB_CHART: 1200, ARGOCD_CHART: 600, "default": 300}
MINIMUM_TIMEOUTS = PolicyConfigSchema(
    properties={
        "minimum_timeouts": {
            "type": "object",
            "description": "Seconds per chart name; `default` for every other chart.",
            "additionalProperties": {"type": "number", "minimum": 0},
            "default": DEFAULT_MINIMUM_TIMEOUTS,
        }
    },
)
# Key names (lower case, without `_`, `-` and `.`) that hold a credential.
CREDENTIAL_WORDS = ("password", "token", "secret", "apikey", "accesskey")
# Keys that name a Kubernetes Secret (or a key in one) rather than hold a credential.
SECRET_REFERENCE_KEYS = ("secret", "existingSecret", "secretName", "key")
# A sibling naming the Secret the credential-named keys of this block refer to.
SECRET_NAME_SIBLINGS = ("secret", "existingSecret", "secretName")
BCRYPT = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")
ARGOCD_RBAC = ("configs", "rbac", "policy.default")
ARGOCD_DISABLE_SWAGGER_UI = "ARGOCD_SERVER_DISABLE_SWAGGER_UI"
INGRESS_CLASS = "alb"
"""The class of the AWS Load Balancer Controller's Ingresses."""
EXTERNAL_DNS_POLICIES = ("sync", "upsert-only")
"""The ExternalDNS policies the rule accepts: `sync` deletes only records it owns, `upsert-only`
deletes none."""


def is_credential_key(key: str) -> bool:
    name = re.sub(r"[-_.]", "", key).lower()
    # `...Mtime`: when a credential last changed (Argo CD's argocdServerAdminPasswordMtime).
    if name.endswith("mtime"):
        return False
    return any(word in name for word in CREDENTIAL_WORDS)


def names_a_secret(block: Mapping[str, Any]) -> bool:
    return any(isinstance(block.get(k), str) and block.get(k) for k in SECRET_NAME_SIBLINGS)


def is_true(value: Any) -> bool:
    """Chart values that end up in ConfigMaps accept true and "true" alike."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@resource_rule(
    "helm-chart-version-pinned",
    "Helm releases install an exact chart version, so a preview shows what `up` installs.",
    types=[HELM_RELEASE],
    remediation="Set the chart's version in the stack's charts config to an exact version "
    "such as 1.2.3.",
)
def helm_chart_version_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    version = args.props.get("version")
    if not isinstance(version, str) or not EXACT_VERSION.match(version):
        yield f"Chart {chart_of(args)!r} is not pinned to an exact version: {version!r}."


@resource_rule(
    "helm-timeout-minimum",
    "Helm releases wait long enough for their chart to come up, so an atomic install is not "
    "rolled back half-way.",
    types=[HELM_RELEASE],
    remediation="Raise the release's timeout to at least the chart's minimum.",
    severity=Severity.MEDIUM,
    config_schema=MINIMUM_TIMEOUTS,
)
def helm_timeout_minimum(args: ResourceValidationArgs) -> Iterator[str]:
    minimums = {**DEFAULT_MINIMUM_TIMEOUTS, **(args.get_config().get("minimum_timeouts") or {})}
    chart = chart_of(args)
    minimum = minimums.get(chart, minimums["default"])
    timeout = args.props.get("timeout")
    effective = HELM_DEFAULT_TIMEOUT if timeout is None else timeout
    if effective < minimum:
        yield f"Chart {chart!r} waits {effective:g}s, less than its minimum {minimum:g}s."


ARGOCD_SECRET_REFERENCE = re.compile(r"^\$[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[-._a-zA-Z0-9]+$")
"""`$<secret>:<key>`: argocd-secret's webhook secrets given as a reference, which Argo CD
replaces by that key of a Secret labelled app.kubernetes.io/part-of: argocd (argo-cd v3.4.4
util/settings/settings.go, GetWebhookGitLabSecret and the other webhook getters →
ReplaceStringSecret)."""


def _argocd_secret_reference(chart: str, path: tuple[str, ...], value: str) -> bool:
    return (
        chart == "argo-cd"
        and path[:2] == ("configs", "secret")
        and bool(ARGOCD_SECRET_REFERENCE.match(value))
    )


@resource_rule(
    "helm-no-cleartext-credentials",
    "Helm values carry no clear-text credentials: they name a Kubernetes Secret instead (or, "
    "for Argo CD's admin password, a bcrypt hash; for argocd-secret's webhook secrets, a "
    "`$<secret>:<key>` reference Argo CD resolves: argo-cd v3.4.4 util/settings/settings.go "
    "ReplaceStringSecret).",
    types=[HELM_RELEASE],
    remediation="Put the credential in a Kubernetes Secret (from a Pulumi secret) and give the "
    "chart its name and key (`secret:`/`key:` or `existingSecret`).",
    severity=Severity.CRITICAL,
)
def helm_no_cleartext_credentials(args: ResourceValidationArgs) -> Iterator[str]:
    for path, block in walk(helm_values(args)):
        for key in block:
            if not is_credential_key(key) or key in SECRET_REFERENCE_KEYS:
                continue
            value = block[key]
            if not isinstance(value, str) or not value or value == HIDDEN:
                continue
            if BCRYPT.match(value) or names_a_secret(block):
                continue
            if _argocd_secret_reference(chart_of(args), tuple(path), value):
                continue
            yield f"{dotted((*path, key))} holds a clear-text credential."


@resource_rule(
    "gitlab-values-safe",
    "GitLab builds https:// URLs and is served through the ALB's Ingress, without its own "
    "cert-manager, NGINX or Gateway API.",
    types=[HELM_RELEASE],
    remediation="Set global.hosts.https: true, installCertmanager: false, global.ingress "
    f"class: {INGRESS_CLASS} and provider: aws, nginx-ingress.enabled: false and "
    "global.gatewayApi.enabled: false (components/gitlab.py).",
)
def gitlab_values_safe(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != GITLAB_CHART:
        return
    values = helm_values(args)
    if dig(values, "global", "hosts", "https") is not True:
        yield "global.hosts.https is not true: GitLab builds http:// URLs."
    if values.get("installCertmanager") is not False:
        yield "installCertmanager is not false: the chart installs its own cert-manager."
    ingress_class = dig(values, "global", "ingress", "class")
    if ingress_class != INGRESS_CLASS:
        yield f"global.ingress.class is {ingress_class!r}, not {INGRESS_CLASS!r}."
    provider = dig(values, "global", "ingress", "provider")
    if provider != "aws":
        yield f"global.ingress.provider is {provider!r}, not 'aws'."
    if dig(values, "nginx-ingress", "enabled") is not False:
        yield "nginx-ingress.enabled is not false: the chart installs its own NGINX."
    ingress_enabled = dig(values, "global", "ingress", "enabled") is True
    if ingress_enabled and dig(values, "global", "gatewayApi", "enabled") is not False:
        yield "global.gatewayApi.enabled is not false next to the Ingress."


@resource_rule(
    "externaldns-owner-and-domain",
    "ExternalDNS owns only its own records (TXT registry with an owner id) in the stack's "
    "domains, and never deletes what it does not own.",
    types=[HELM_RELEASE],
    remediation="Set txtOwnerId, domainFilters, registry: txt and policy: sync or upsert-only "
    "(components/external_dns.py).",
)
def externaldns_owner_and_domain(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != EXTERNAL_DNS_CHART:
        return
    values = helm_values(args)
    if not values.get("txtOwnerId"):
        yield "No txtOwnerId: two clusters would fight over the same records."
    filters = values.get("domainFilters")
    if not filters:
        yield "No domainFilters: ExternalDNS may write in any zone it can reach."
    elif not all(filters):
        yield f"domainFilters has an empty entry: {list(filters)}."
    registry = values.get("registry", "txt")  # the chart's default
    if registry != "txt":
        yield f"registry is {registry!r}, not 'txt': ownership of records is not tracked."
    policy = values.get("policy", "upsert-only")  # the chart's default
    if policy not in EXTERNAL_DNS_POLICIES:
        yield f"policy is {policy!r}, not 'sync' or 'upsert-only'."


def _behind_tls(values: Mapping[str, Any]) -> bool:
    """Argo CD's server is reached only through a load balancer that ends TLS."""
    if dig(values, "server", "service", "annotations", NLB_SSL_CERT):
        return True
    return dig(values, "server", "ingress", "enabled") is True and bool(
        dig(values, "server", "ingress", "annotations", ALB_CERTIFICATE_ARN)
    )


@resource_rule(
    "argocd-values-safe",
    "Argo CD grants nothing by default, admits no anonymous users, serves plain HTTP only "
    "behind a load balancer that ends TLS, has a stack-generated admin password and sets the "
    "switch that turns the unauthenticated Swagger UI off (honoured from Argo CD 3.6).",
    types=[HELM_RELEASE],
    remediation="Set configs.rbac.'policy.default' (role:readonly or ''), users.anonymous."
    "enabled: false, TLS on the server's Service or Ingress when server.insecure is true, "
    f"configs.secret.argocdServerAdminPassword and {ARGOCD_DISABLE_SWAGGER_UI}=true in "
    "server.env (components/argocd.py).",
)
def argocd_values_safe(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != ARGOCD_CHART:
        return
    values = helm_values(args)
    default_role = dig(values, *ARGOCD_RBAC)
    if default_role is None:
        yield "configs.rbac.'policy.default' is not set."
    elif default_role == "role:admin":
        yield "configs.rbac.'policy.default' makes every user an admin."
    if is_true(dig(values, "configs", "params", "server.insecure")) and not _behind_tls(values):
        yield "server.insecure is true but no load balancer ends TLS in front of the server."
    if is_true(dig(values, "configs", "cm", "users.anonymous.enabled")):
        yield "Anonymous users are enabled."
    if not dig(values, "configs", "secret", "argocdServerAdminPassword"):
        yield "No configs.secret.argocdServerAdminPassword: the initial admin secret is used."
    if not _swagger_ui_off(dig(values, "server", "env")):
        yield f"server.env does not set {ARGOCD_DISABLE_SWAGGER_UI}=true: /swagger-ui is served."


ALPN_ANNOTATION = f"{NLB}/aws-load-balancer-alpn-policy"
ARGOCD_ALPN = "HTTP2Optional"


@resource_rule(
    "argocd-nlb-alpn-serves-browsers",
    "An NLB that ends TLS in front of a plain-HTTP argocd-server negotiates ALPN "
    f"{ARGOCD_ALPN}: browsers then speak HTTP/1.1 and the argocd CLI gRPC over h2. The plain "
    "listener accepts only HTTP/1.x and gRPC over HTTP/2 (argo-cd v3.4.4 server/server.go, the "
    "cmux matchers), so HTTP2Preferred or HTTP2Only break the web UI; with HTTP1Only or no "
    "ALPN policy the CLI's gRPC handshake fails and it falls back to gRPC-web with a warning "
    "(argo-cd pkg/apiclient/apiclient.go) (aws-load-balancer-controller v3.5.0 "
    "docs/guide/service/annotations.md, aws-load-balancer-alpn-policy).",
    types=[HELM_RELEASE],
    remediation=f"Set server.service.annotations.'{ALPN_ANNOTATION}' to {ARGOCD_ALPN} "
    "(components/argocd.py).",
)
def argocd_nlb_alpn_serves_browsers(args: ResourceValidationArgs) -> Iterator[str]:
    if chart_of(args) != ARGOCD_CHART:
        return
    values = helm_values(args)
    annotations = dig(values, "server", "service", "annotations") or {}
    ends_tls = bool(annotations.get(NLB_SSL_CERT))
    if not ends_tls or not is_true(dig(values, "configs", "params", "server.insecure")):
        return
    problem = argocd_alpn_problem(annotations.get(ALPN_ANNOTATION))
    if problem:
        yield problem


def argocd_alpn_problem(alpn: Any) -> str | None:
    """What goes wrong when an NLB that ends TLS in front of a plain-HTTP argocd-server
    negotiates ALPN `alpn` (the annotation's value, None when absent), or None."""
    if alpn in ("HTTP2Preferred", "HTTP2Only"):
        return (
            f"The NLB in front of argocd-server negotiates ALPN {alpn!r}, not {ARGOCD_ALPN!r}: "
            "browsers speak HTTP/2 to a listener that serves it only as gRPC; the UI does not "
            "load."
        )
    if alpn != ARGOCD_ALPN:
        return (
            f"The NLB in front of argocd-server negotiates ALPN {alpn!r}, not {ARGOCD_ALPN!r}: "
            "the argocd CLI cannot speak gRPC over h2 and falls back to gRPC-web."
        )
    return None


def _swagger_ui_off(env: Any) -> bool:
    if not isinstance(env, Sequence) or isinstance(env, str):
        return False
    return any(
        isinstance(var, Mapping)
        and var.get("name") == ARGOCD_DISABLE_SWAGGER_UI
        and is_true(var.get("value"))
        for var in env
    )


ZONE = "topology.kubernetes.io/zone"
ARGOCD_HA_CHART = "argo-helm argo-cd-10.1.1 charts/argo-cd"
# The chart's values of the services that must run twice, and how messages name them.
ARGOCD_SERVICES = {
    "controller": "application controller",
    "server": "argocd-server",
    "repoServer": "repo-server",
}


def _count(value: Any) -> int | None:
    """A replica count as the chart reads it (JSON numbers arrive as floats); None if not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _zone_spread(constraints: Any) -> bool:
    return isinstance(constraints, Sequence) and any(
        isinstance(c, Mapping) and c.get("topologyKey") == ZONE for c in constraints
    )


@resource_rule(
    "argocd-highly-available-in-production",
    "In a production stack Argo CD survives the loss of a node or a zone: the argo-cd "
    "release runs Redis HA (`redis-ha.enabled`), at least two application controllers, "
    "argocd-servers and repo-servers (`<service>.replicas`, or autoscaling with minReplicas "
    "2 or more for the two servers), each with a PodDisruptionBudget (`<service>.pdb.enabled`) "
    f"and spread over {ZONE} (its own `topologySpreadConstraints` or the chart's "
    f"`global.topologySpreadConstraints`) ({ARGOCD_HA_CHART} values.yaml and README, "
    '"High Availability"; the chart\'s defaults are one of each and the single Redis).',
    types=[HELM_RELEASE],
    remediation="Set production: true, which sizes Argo CD for it "
    "(components/argocd_availability.py), and leave argocd.server_replicas and "
    "argocd.repo_server_replicas unset or at 2 or more.",
    severity=Severity.MEDIUM,
    config_schema=PRODUCTION,
)
def argocd_highly_available_in_production(args: ResourceValidationArgs) -> Iterator[str]:
    if not args.get_config().get("production") or chart_of(args) != ARGOCD_CHART:
        return
    values = helm_values(args)
    if dig(values, "redis-ha", "enabled") is not True:
        yield "redis-ha.enabled is not true: Argo CD's cache is a single Redis pod."
    spread_everywhere = _zone_spread(dig(values, "global", "topologySpreadConstraints"))
    for key, service in ARGOCD_SERVICES.items():
        replicas = _count(dig(values, key, "replicas"))
        if key != "controller" and dig(values, key, "autoscaling", "enabled") is True:
            replicas = _count(dig(values, key, "autoscaling", "minReplicas"))
        if replicas is None or replicas < 2:
            shown = "not set (the chart's 1)" if replicas is None else replicas
            yield f"{key}.replicas is {shown}: fewer than two {service} pods."
        if dig(values, key, "pdb", "enabled") is not True:
            yield f"{key}.pdb.enabled is not true: a node drain may evict every {service} pod."
        own = dig(values, key, "topologySpreadConstraints")
        if not (_zone_spread(own) if own else spread_everywhere):
            yield f"The {service} pods are not spread over {ZONE}."
