"""Values the program and the policy pack both need, held equal.

The pack must not import the program (it runs as its own process, from policies/ alone), so
what both rely on is written on each side: the annotations the program sets and the rules
read, the TLS policies it may choose and the rules allow, the names of its charts, labels and
namespaces. Each test below reads both sides and fails when one changes alone. Where the
program spells a value only inline, the test reads what the program produces: the output of
its functions, or its offline plan.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pulumi_kubernetes as k8s
import pytest
import yaml
from plans import STACK_VARIANTS

import guardrails
from components import (
    alb,
    applications,
    config,
    gitlab_tokens,
    load_balancer_controller,
    security_groups,
    sign_in,
    workload_identity,
)
from components import argocd as argocd_component
from components import helm as helm_component
from components.clusters import eks as eks_cluster
from guardrails import (
    _common,
    argocd,
    edge,
    eks,
    gitops,
    graph,
    helm,
    identity,
    network,
    rendered,
    tags,
    tls,
)
from offline import plan as offline_plan
from offline import render as offline_render
from offline.plan import PROJECT_DIR, Plan

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-3-2021-06"
ALPN_POLICY = "HTTP2Preferred"
ALB_ANNOTATIONS = alb.shared_alb_annotations("group", CERTIFICATE_ARN, "sg-1", TLS_POLICY)
NLB_ANNOTATIONS = alb.tls_nlb_annotations(
    CERTIFICATE_ARN, "sg-1", TLS_POLICY, "443", "host.example.com", alpn_policy=ALPN_POLICY
)

EQUAL = {
    "ALB annotation prefix": (tls.ALB, alb.ALB),
    "NLB annotation prefix": (tls.NLB, alb.NLB),
    "readiness-gate label": (
        {edge.READINESS_GATE_LABEL: edge.READINESS_GATE_ENABLED},
        alb.TARGETS_READINESS_GATE,
    ),
    "TLS policies": (tls.DEFAULT_TLS_POLICIES, get_args(config.TlsPolicy)),
    "Argo CD ALPN policy": (helm.ARGOCD_ALPN, argocd_component.ALPN_POLICY),
    "Argo CD Swagger UI switch": (
        helm.ARGOCD_DISABLE_SWAGGER_UI,
        argocd_component.DISABLE_SWAGGER_UI,
    ),
    "Argo CD namespace": (argocd.ARGOCD_NAMESPACE, argocd_component.NAMESPACE),
    "Argo CD namespace of Applications": (argocd.ARGOCD_NAMESPACE, applications.ARGOCD_NAMESPACE),
    "reserved namespaces": (argocd.RESERVED_NAMESPACES, config.RESERVED_NAMESPACES),
    "Application finalizer": (argocd.FINALIZER, applications.FINALIZER),
    "ingress class": (helm.INGRESS_CLASS, load_balancer_controller.INGRESS_CLASS),
    "IRSA role annotation": (graph.IRSA_ROLE_ANNOTATION, workload_identity.IRSA_ROLE_ANNOTATION),
    "preserved EKS add-ons": (eks.PRESERVED, eks_cluster.PRESERVED),
    "ExternalDNS policies": (
        helm.EXTERNAL_DNS_POLICIES,
        get_args(config.DnsConfig.model_fields["external_dns_policy"].annotation),
    ),
    "public web ports": (
        tuple(sorted(network.DEFAULT_PUBLIC_WEB_PORTS)),
        tuple(sorted(security_groups.HTTPS_AND_REDIRECT)),
    ),
    "hidden value marker": (_common.HIDDEN, offline_plan.SECRET),
    "rendered source type": (_common.RENDER_SOURCE, offline_render.RENDER_SOURCE),
    "rendered object type": (_common.RENDER_OBJECT, offline_render.RENDER_OBJECT),
    "rendered kinds sent whole": (_common.RENDERED_IN_FULL, offline_render.IN_FULL),
    "namespaces releases use without creating them": (
        rendered.SYSTEM_NAMESPACES,
        helm_component.SYSTEM_NAMESPACES,
    ),
    "Helm release type": (_common.HELM_RELEASE, k8s.helm.v3.Release.pulumi_type),
    "Argo CD break-glass annotation": (
        identity.BREAK_GLASS_ANNOTATION,
        sign_in.BREAK_GLASS_ANNOTATION,
    ),
}


def test_the_pack_imports_neither_the_program_nor_the_offline_preview() -> None:
    # Why the values here are written twice. Run from the project, where both are importable.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(1, 'policies'); import guardrails; "
            "print('\\n'.join(sys.modules))",
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "guardrails.tls" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("components", "offline")] == []


@pytest.mark.parametrize("what", sorted(EQUAL))
def test_pack_and_program_agree(what: str) -> None:
    pack, program = EQUAL[what]
    assert pack == program


def test_the_program_uses_a_tls_policy_the_pack_allows_by_default() -> None:
    default = config.AccessConfig.model_fields["tls_policy"].default
    assert default in tls.DEFAULT_TLS_POLICIES


def test_the_alb_annotations_the_rules_read_are_those_the_program_sets() -> None:
    assert all(key.startswith(f"{tls.ALB}/") for key in ALB_ANNOTATIONS)
    assert ALB_ANNOTATIONS[tls.ALB_CERTIFICATE_ARN] == CERTIFICATE_ARN
    assert ALB_ANNOTATIONS[tls.ALB_SSL_POLICY] == TLS_POLICY
    assert ALB_ANNOTATIONS[tls.ALB_SSL_REDIRECT] == "443"
    assert ("HTTPS", 443) in (tls.listen_ports(ALB_ANNOTATIONS[tls.ALB_LISTEN_PORTS]) or [])


def test_the_nlb_annotations_the_rules_read_are_those_the_program_sets() -> None:
    assert all(
        key.startswith(f"{tls.NLB}/") for key in NLB_ANNOTATIONS if key != alb.EXTERNAL_DNS_HOSTNAME
    )
    assert NLB_ANNOTATIONS[tls.NLB_SSL_CERT] == CERTIFICATE_ARN
    assert NLB_ANNOTATIONS[tls.NLB_SSL_POLICY] == TLS_POLICY
    assert NLB_ANNOTATIONS[helm.ALPN_ANNOTATION] == ALPN_POLICY


@pytest.mark.parametrize(("key", "value"), edge.IP_TARGETS)
def test_the_ip_target_annotations_are_those_the_program_sets(key: str, value: str) -> None:
    assert (key, value) in {**ALB_ANNOTATIONS, **NLB_ANNOTATIONS}.items()


def test_the_eks_settings_the_rules_require_are_ones_the_program_has() -> None:
    log_types = get_args(config.ControlPlaneLogType)
    default_log_types = config.EksClusterConfig.model_fields["log_types"].default
    assert set(eks.REQUIRED_LOG_TYPES) <= set(log_types)
    assert set(eks.REQUIRED_LOG_TYPES) <= set(default_log_types)
    assert set(eks.CORE_ADDONS) <= set(get_args(config.EksAddon))
    # The program creates more add-ons before the nodes than the rule asks for.
    assert set(eks.BEFORE_NODES) <= set(eks_cluster.BEFORE_NODES)


def test_the_token_rule_reads_the_token_step_the_program_writes() -> None:
    script = gitlab_tokens.REGISTER_TOKEN.format(days=90, name="token")
    assert gitops.PERSONAL_ACCESS_TOKENS in script
    expiry = gitops.TOKEN_EXPIRY.search(script)
    assert expiry is not None
    assert expiry.group(1) == "90"
    renewal = gitops.RENEWAL.match(gitlab_tokens.renewal_period("2025-06-15", 45))
    assert renewal is not None
    assert renewal.group(1) == "45"


def test_the_oidc_rule_reads_the_secret_references_the_program_writes() -> None:
    config = yaml.safe_load(sign_in.oidc_config("https://gitlab.example.com"))
    assert identity.SECRET_REFERENCE.match(config[identity.CLIENT_SECRET])
    assert identity.oidc_secret_problem(sign_in.oidc_config("https://gitlab.example.com")) is None


def _of_type(plan: Plan, resource_type: str) -> list[dict[str, Any]]:
    return [r for r in plan.resources if r["type"] == resource_type]


def _chart(release: dict[str, Any]) -> str:
    """As the rules' `chart_of` reads it: without the repository."""
    return str(release["inputs"]["chart"]).rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    "chart",
    [
        _common.GITLAB_CHART,
        _common.ARGOCD_CHART,
        _common.EXTERNAL_DNS_CHART,
        _common.LB_CONTROLLER_CHART,
    ],
)
def test_the_charts_the_rules_name_are_charts_the_program_installs(
    chart: str, dev_plan: Plan
) -> None:
    releases = _of_type(dev_plan, _common.HELM_RELEASE)
    assert chart in {_chart(r) for r in releases}


def test_the_repository_secret_carries_the_label_the_rules_read(dev_plan: Plan) -> None:
    labels = [
        (r["inputs"].get("metadata") or {}).get("labels") or {}
        for r in _of_type(dev_plan, argocd.SECRET)
    ]
    assert {argocd.SECRET_TYPE_LABEL: argocd.REPOSITORY_SECRET_TYPE} in labels


def test_the_argo_cd_objects_have_the_types_the_rules_read(dev_plan: Plan) -> None:
    types = {r["type"] for r in dev_plan.resources}
    assert argocd.APPLICATION in types
    assert argocd.APP_PROJECT in types
    assert argocd.APPLICATION_SET in types


def test_the_private_subnets_carry_the_tag_the_rules_read(dev_plan: Plan) -> None:
    subnets = _of_type(dev_plan, "aws:ec2/subnet:Subnet")
    assert any(graph.PRIVATE_SUBNET_TAG in (s["inputs"].get("tags") or {}) for s in subnets)


def test_the_aws_providers_set_the_tags_the_rules_require(dev_plan: Plan) -> None:
    providers = _of_type(dev_plan, tags.AWS_PROVIDER)
    assert providers
    for provider in providers:
        default_tags = _common.dig(_common.as_json(provider["inputs"].get("defaultTags")), "tags")
        assert set(tags.DEFAULT_REQUIRED_TAGS) <= set(default_tags or {}), provider["name"]


def test_the_public_endpoint_is_named_as_the_rules_expect(dev_plan: Plan) -> None:
    # The rule knows a public endpoint's ingress rules by the endpoint's name in theirs.
    rules = _of_type(dev_plan, network.INGRESS_RULE)
    for endpoint in network.DEFAULT_PUBLIC_ENDPOINTS:
        ports = {r["inputs"].get("fromPort") for r in rules if f"-{endpoint}-" in r["name"]}
        assert set(network.DEFAULT_PUBLIC_WEB_PORTS) <= ports, endpoint


def test_git_over_ssh_is_the_service_the_tls_rule_exempts() -> None:
    (gitlab,) = [
        r
        for r in _of_type(STACK_VARIANTS["ssh-nlb"](), _common.HELM_RELEASE)
        if _chart(r) == _common.GITLAB_CHART
    ]
    service = gitlab["inputs"]["values"]["gitlab"][tls.SSH_SERVICE]["service"]
    assert service["type"] == "LoadBalancer"


def test_the_kops_oidc_bucket_is_named_as_the_rules_expect() -> None:
    names = {
        r["type"]: r["name"]
        for r in STACK_VARIANTS["kops"]().resources
        if r["name"].endswith(_common.KOPS_OIDC_SUFFIX)
    }
    assert "aws:s3/bucket:Bucket" in names
    assert "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" in names


TYPE_TOKEN = re.compile(
    r"^(aws:[a-z0-9]+/\w+|kubernetes:[\w.]+/\w+|command:local|gitlab:index/\w+|pulumi:providers)"
    r":\w+$"
)
CUSTOM_RESOURCES = {
    argocd.APPLICATION,
    argocd.APP_PROJECT,
    argocd.APPLICATION_SET,
    rendered.INGRESS_CLASS_PARAMS,
}
"""Argo CD's kinds (checked on the plan above) and the load balancer controller's
IngressClassParams, which the Kubernetes SDK has no class for."""


def _sdk_class(token: str) -> Any:
    """The SDK class of a resource type token (`aws:eks/cluster:Cluster` is
    pulumi_aws.eks.Cluster)."""
    package, module, name = token.split(":")
    if package == "pulumi":
        return importlib.import_module(f"pulumi_{name}").Provider
    if package == "aws":
        return getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)
    if package == "kubernetes":
        group, version = module.split("/")
        path = f"pulumi_kubernetes.{group.split('.')[0]}.{version}"
        return getattr(importlib.import_module(path), name)
    if package == "command":
        return getattr(importlib.import_module(f"pulumi_command.{module}"), name)
    return getattr(importlib.import_module(f"pulumi_{package}"), name)


def _type_tokens() -> dict[str, str]:
    """Every resource type the pack's source spells, with where it does first."""
    found: dict[str, str] = {}
    for path in sorted(Path(guardrails.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and TYPE_TOKEN.match(value):
                found.setdefault(value, f"{path.name}:{node.lineno}")
    return found


def test_every_resource_type_the_pack_names_is_an_sdk_type() -> None:
    # A misspelt type makes its rule check nothing, silently.
    tokens = _type_tokens()
    assert len(tokens) > 40
    for token, where in sorted(tokens.items()):
        if token in CUSTOM_RESOURCES:
            continue
        assert _sdk_class(token).pulumi_type == token, where


def test_the_rendered_kinds_the_rules_read_arrive_whole() -> None:
    read = {*rendered.POD_SPECS, *rendered.MADE_BY_THE_STACK.values(), "ConfigMap", "Namespace"}
    assert read <= _common.RENDERED_IN_FULL
