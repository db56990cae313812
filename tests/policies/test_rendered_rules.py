"""Guardrails on rendered objects: each fails its bad case and passes its good one, on objects
the real helm and kubectl render from the real charts and the stack's own values where the
case allows, and on small hand-made manifests for the cases a chart cannot be made to render.
Without helm or a chart in the cache, those tests are skipped, not passed."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import one
from policy_harness import (
    ADVISORY,
    Resource,
    analyze_stack,
    mandatory,
    plan_resources,
    render_resources,
)
from upstream import chart_archive, helm_template, kustomize, tool

from guardrails import rendered
from guardrails._common import HELM_RELEASE, RENDER_OBJECT, RENDER_SOURCE
from guardrails.argocd import APPLICATION
from guardrails.edge import INGRESS, NAMESPACE, SERVICE
from guardrails.network import INGRESS_RULE
from offline.plan import PROJECT_DIR, Plan
from offline.render import render
from offline.sources import Tools

NLB = "service.beta.kubernetes.io"
ALB = "alb.ingress.kubernetes.io"
ALPN = f"{NLB}/aws-load-balancer-alpn-policy"
SERVER_ANNOTATIONS = ("server", "service", "annotations")
INSECURE = ("configs", "params", "server.insecure")
GITOPS_DIR = PROJECT_DIR / "gitops"
ARGOCD = ("argo-cd", "10.1.1")
"""The argo-cd chart these tests render: the stack's default pin, and the chart cache's."""
NO_CRDS = {"crds": {"install": False}}
"""Argo CD's CRDs are left out of these renders: 2 MB of cluster-scoped schemas, seconds to
parse, and nothing any rule here reads (no pods, no load balancers, no namespace)."""
SG = "sg-0123456789abcdef0"
STACK_SG_RULE = Resource(
    INGRESS_RULE,
    {"securityGroupId": SG, "cidrIpv4": "192.0.2.0/24", "ipProtocol": "tcp"},
    name="access-argocd-443",
)


def violations(diagnostics: Any) -> list[str]:
    """The mandatory violations' own words (the pack puts the rule's description first)."""
    return [message.split("\n", 1)[-1] for message in mandatory(diagnostics)]


def said(diagnostics: Any) -> list[str]:
    return [d.message.split("\n", 1)[-1] for d in diagnostics]


# --- fixtures: the stack's Argo CD release, rendered --------------------------------------


def argocd_release(plan: Plan) -> Resource:
    (resource,) = [
        r for r in plan_resources(plan) if r.urn == one(plan, HELM_RELEASE, "-argocd")["urn"]
    ]
    return resource


Changes = dict[tuple[str, ...], Any]
"""Values to change: the keys leading to a value, and the value (None removes it)."""


@pytest.fixture(scope="module")
def argocd_renders(dev_plan: Plan) -> Callable[..., list[Resource]]:
    """The dev stack's Argo CD release rendered by the real chart, as render resources; with
    changes to its values, each variant rendered once."""
    release = argocd_release(dev_plan)
    cache: dict[str, list[Resource]] = {}

    def render(changes: Changes | None = None) -> list[Resource]:
        key = repr(sorted((changes or {}).items()))
        if key not in cache:
            values = copy.deepcopy(release.props["values"])
            for (*parents, last), value in (changes or {}).items():
                block = values
                for step in parents:
                    block = block.setdefault(step, {})
                if value is None:
                    block.pop(last, None)
                else:
                    block[last] = value
            objects = helm_template(
                chart_archive(*ARGOCD), {**values, **NO_CRDS}, "argocd", "argocd"
            )
            cache[key] = render_resources(
                "argocd",
                release,
                objects,
                namespace="argocd",
                chart=ARGOCD[0],
                version=ARGOCD[1],
                origin=f".charts/{ARGOCD[0]}-{ARGOCD[1]}.tgz",
            )
        return cache[key]

    return render


def objects_of(resources: list[Resource], kind: str) -> list[dict[str, Any]]:
    return [
        r.props["object"]
        for r in resources
        if r.type == RENDER_OBJECT and r.props["object"]["kind"] == kind
    ]


def argocd_server(resources: list[Resource]) -> dict[str, Any]:
    (service,) = [
        s for s in objects_of(resources, "Service") if s["metadata"]["name"] == "argocd-server"
    ]
    return service


# --- load balancers admit only the configured ranges --------------------------------------


def test_the_dev_stack_with_its_rendered_argocd_admits_only_configured_ranges(
    dev_plan: Plan, argocd_renders: Callable[..., list[Resource]]
) -> None:
    # The stack's own Ingress (GitLab's admin area) and the rendered argocd-server Service
    # sit behind the stack's security groups.
    resources = plan_resources(dev_plan) + argocd_renders()
    assert argocd_server(argocd_renders())["spec"]["type"] == "LoadBalancer"
    policy = rendered.load_balancers_admit_only_configured_ranges
    assert analyze_stack(policy, resources) == []


def test_a_rendered_argocd_service_without_the_stacks_security_group_is_judged_by_its_ranges(
    dev_plan: Plan, argocd_renders: Callable[..., list[Resource]]
) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    groups = (*SERVER_ANNOTATIONS, f"{NLB}/aws-load-balancer-security-groups")
    # Without its security group, the admin range in loadBalancerSourceRanges limits it ...
    limited = argocd_renders({groups: None})
    assert violations(analyze_stack(policy, plan_resources(dev_plan) + limited)) == []
    # ... and without that too, the controller opens it to everyone.
    opened = argocd_renders({groups: None, ("server", "service", "loadBalancerSourceRanges"): None})
    (message,) = violations(analyze_stack(policy, plan_resources(dev_plan) + opened))
    assert message.startswith(
        "Service argocd/argocd-server (rendered by release argocd) is a LoadBalancer Service "
        "that admits everyone: no loadBalancerSourceRanges"
    )


def service(
    name: str = "web",
    ranges: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    type_: str = "LoadBalancer",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": [{"port": 443}]}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "apps", "annotations": annotations or {}},
        "spec": spec,
    }


DEPLOYER = Resource(
    HELM_RELEASE, {"name": "apps", "chart": "apps", "version": "1.0.0"}, name="apps"
)


def rendered_by_apps(*objects: dict[str, Any], **source: Any) -> list[Resource]:
    return [DEPLOYER, *render_resources("apps", DEPLOYER, objects, namespace="apps", **source)]


SOURCE_RANGES = f"{NLB}/load-balancer-source-ranges"


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (service(), "no loadBalancerSourceRanges"),
        (service(ranges=["0.0.0.0/0"]), "spec.loadBalancerSourceRanges ['0.0.0.0/0']"),
        (service(ranges=["192.0.2.0/24", "::/0"]), "['192.0.2.0/24', '::/0']"),
        # The annotation counts only when spec.loadBalancerSourceRanges is empty.
        (service(ranges=[], annotations={SOURCE_RANGES: "10.0.0.0/8, 0.0.0.0/0"}), "0.0.0.0/0"),
        (
            service(annotations={f"{NLB}/aws-load-balancer-security-groups": "sg-foreign"}),
            "sg-foreign",
        ),
    ],
    ids=["no-ranges", "open", "open-ipv6", "open-annotation", "foreign-security-group"],
)
def test_loadbalancer_services_that_admit_everyone_are_refused(
    manifest: dict[str, Any], why: str
) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    (message,) = violations(analyze_stack(policy, rendered_by_apps(manifest)))
    assert "Service apps/web (rendered by release apps)" in message
    assert why in message


@pytest.mark.parametrize(
    "manifest",
    [
        service(ranges=["192.0.2.0/24"]),
        service(annotations={SOURCE_RANGES: "192.0.2.0/24"}),
        # spec.loadBalancerSourceRanges wins over the annotation.
        service(ranges=["192.0.2.0/24"], annotations={SOURCE_RANGES: "0.0.0.0/0"}),
        service(annotations={f"{NLB}/aws-load-balancer-security-group-prefix-lists": "pl-1"}),
        # Behind the stack's own security group, its rules decide (the network rules judge them).
        service(annotations={f"{NLB}/aws-load-balancer-security-groups": SG}),
        service(type_="ClusterIP"),
    ],
    ids=["ranges", "annotation", "spec-wins", "prefix-list", "stack-security-group", "cluster-ip"],
)
def test_loadbalancer_services_limited_to_ranges_pass(manifest: dict[str, Any]) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    assert analyze_stack(policy, [STACK_SG_RULE, *rendered_by_apps(manifest)]) == []


def test_the_stacks_own_services_are_judged_too() -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    own = Resource(SERVICE, service(), name="gitops-platform-dev-web")
    (message,) = violations(analyze_stack(policy, [own]))
    assert message.startswith("Service apps/web (gitops-platform-dev-web) is a LoadBalancer")


def ingress(
    name: str = "web",
    annotations: dict[str, str] | None = None,
    ingress_class: str | None = "alb",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [{"host": f"{name}.example.com"}]}
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "apps", "annotations": annotations or {}},
        "spec": spec,
    }


PUBLIC = {f"{ALB}/scheme": "internet-facing"}
HTTPS = {f"{ALB}/listen-ports": '[{"HTTPS": 443}]'}
BOTH = {f"{ALB}/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]'}
ADMINS = {f"{ALB}/inbound-cidrs": "192.0.2.0/24"}


def ingress_class(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The controller's IngressClass `alb`, with IngressClassParams `alb` when given."""
    spec: dict[str, Any] = {"controller": "ingress.k8s.aws/alb"}
    objects = []
    if params is not None:
        spec["parameters"] = {
            "apiGroup": "elbv2.k8s.aws",
            "kind": "IngressClassParams",
            "name": "alb",
        }
        objects.append(
            {
                "apiVersion": "elbv2.k8s.aws/v1beta1",
                "kind": "IngressClassParams",
                "metadata": {"name": "alb"},
                "spec": params,
            }
        )
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "alb"},
            "spec": spec,
        },
        *objects,
    ]


@pytest.mark.parametrize(
    ("objects", "why"),
    [
        ([ingress(annotations=PUBLIC)], "port 80 to ['0.0.0.0/0', '::/0']"),
        (
            [ingress(annotations={**PUBLIC, **HTTPS, f"{ALB}/inbound-cidrs": "0.0.0.0/0"})],
            "port 443 to ['0.0.0.0/0']",
        ),
        # The scheme from the class's IngressClassParams.
        ([ingress(), *ingress_class({"scheme": "internet-facing"})], "port 80"),
        # IngressClassParams' inboundCIDRs win over the annotation.
        (
            [
                ingress(annotations={**PUBLIC, **ADMINS}),
                *ingress_class({"inboundCIDRs": ["0.0.0.0/0"]}),
            ],
            "port 80",
        ),
        ([ingress(annotations={**PUBLIC, f"{ALB}/security-groups": "sg-foreign"})], "sg-foreign"),
    ],
    ids=["no-inbound-cidrs", "open", "scheme-from-params", "params-win", "foreign-security-group"],
)
def test_internet_facing_ingresses_that_admit_everyone_are_refused(
    objects: list[dict[str, Any]], why: str
) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    (message,) = violations(analyze_stack(policy, rendered_by_apps(*objects)))
    assert message.startswith(
        "Ingress apps/web (rendered by release apps) is on an internet-facing ALB"
    )
    assert why in message


@pytest.mark.parametrize(
    "objects",
    [
        [ingress(annotations={**PUBLIC, **ADMINS})],
        [ingress(annotations={**PUBLIC, f"{ALB}/security-groups": SG})],
        [ingress(annotations={**PUBLIC, f"{ALB}/security-group-prefix-lists": "pl-1"})],
        [ingress(annotations=PUBLIC), *ingress_class({"inboundCIDRs": ["192.0.2.0/24"]})],
        [ingress(annotations=PUBLIC, ingress_class="nginx")],  # not the controller's
        [ingress(annotations={**PUBLIC, "kubernetes.io/ingress.class": "nginx"})],
    ],
    ids=[
        "inbound-cidrs",
        "stack-security-group",
        "prefix-list",
        "params-cidrs",
        "nginx",
        "nginx-annotation",
    ],
)
def test_ingresses_limited_to_ranges_or_not_internet_facing_pass(
    objects: list[dict[str, Any]],
) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    assert analyze_stack(policy, [STACK_SG_RULE, *rendered_by_apps(*objects)]) == []


def test_an_ingress_group_shares_scheme_and_inbound_cidrs_per_port() -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    group = {f"{ALB}/group.name": "shared"}
    # The member that names the scheme and the ranges on 443 speaks for the group there ...
    first = ingress("first", {**group, **PUBLIC, **HTTPS, **ADMINS})
    second = ingress("second", {**group, **HTTPS})
    assert analyze_stack(policy, rendered_by_apps(first, second)) == []
    # ... but nobody limits port 80, which the second one also opens.
    second = ingress("second", {**group, **BOTH})
    (message,) = violations(analyze_stack(policy, rendered_by_apps(first, second)))
    assert message.startswith(
        "Ingress apps/second (rendered by release apps) is on an internet-facing ALB (group shared)"
    )
    assert "port 80 to ['0.0.0.0/0', '::/0']" in message


@pytest.fixture(scope="module")
def controller_renders(dev_plan: Plan) -> Callable[..., list[Resource]]:
    """The dev stack's load balancer controller release rendered by the real chart, with
    values added to the stack's own; each variant rendered once."""
    releases = [r for r in plan_resources(dev_plan) if r.type == HELM_RELEASE]
    controller = next(r for r in releases if r.name.endswith("-alb"))
    archive = chart_archive("aws-load-balancer-controller", controller.props["version"])
    cache: dict[str, list[Resource]] = {}

    def render(values: dict[str, Any] | None = None) -> list[Resource]:
        key = repr(sorted((values or {}).items()))
        if key not in cache:
            objects = helm_template(
                archive, {**controller.props["values"], **(values or {})}, "alb", "kube-system"
            )
            cache[key] = [
                controller,
                *render_resources("alb", controller, objects, namespace="kube-system"),
            ]
        return cache[key]

    return render


def test_the_controllers_rendered_ingress_class_params_set_the_scheme(
    controller_renders: Callable[..., list[Resource]],
) -> None:
    # The controller's chart ships its IngressClass and IngressClassParams as one List.
    policy = rendered.load_balancers_admit_only_configured_ranges

    def with_controller(params: dict[str, Any]) -> list[Resource]:
        resources = controller_renders({"ingressClassParams": {"spec": params}})
        assert objects_of(resources, "List")
        return [*resources, *rendered_by_apps(ingress())]

    assert analyze_stack(policy, with_controller({})) == []
    (message,) = violations(analyze_stack(policy, with_controller({"scheme": "internet-facing"})))
    assert message.startswith(
        "Ingress apps/web (rendered by release apps) is on an internet-facing"
    )


DEFAULT_SCHEME = "--default-load-balancer-scheme"


def test_an_ingress_without_a_scheme_takes_the_controllers_default(
    controller_renders: Callable[..., list[Resource]],
) -> None:
    # The stack's values leave the flag out: the controller defaults to internal
    # (aws-load-balancer-controller v3.5.0 pkg/config/controller_config.go:179).
    policy = rendered.load_balancers_admit_only_configured_ranges
    (deployment,) = objects_of(controller_renders(), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert not any(a.startswith(DEFAULT_SCHEME) for a in container["args"])
    assert analyze_stack(policy, [*controller_renders(), *rendered_by_apps(ingress())]) == []
    # With defaultLoadBalancerScheme the chart passes the flag (templates/deployment.yaml
    # :187-188), and an Ingress naming no scheme is internet-facing.
    public = controller_renders({"defaultLoadBalancerScheme": "internet-facing"})
    (message,) = violations(analyze_stack(policy, [*public, *rendered_by_apps(ingress())]))
    assert message.startswith(
        "Ingress apps/web (rendered by release apps) is on an internet-facing ALB (group "
        "apps/web (alone): no member names a scheme, and the controller's "
        f"{DEFAULT_SCHEME} is internet-facing) that admits everyone: port 80"
    )
    # A scheme the Ingress names still wins.
    internal = ingress(annotations={f"{ALB}/scheme": "internal"})
    assert analyze_stack(policy, [*public, *rendered_by_apps(internal)]) == []


def test_an_ingress_without_a_scheme_and_an_unseen_controller_is_refused_saying_why(
    controller_renders: Callable[..., list[Resource]],
) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    # No controller rendered at all ...
    (message,) = violations(analyze_stack(policy, rendered_by_apps(ingress())))
    assert message.startswith(
        "Ingress apps/web (rendered by release apps) is on an ALB (group apps/web (alone)) "
        f"whose scheme no member names, so the controller's {DEFAULT_SCHEME} decides, and the "
        "pack did not see it: no aws-load-balancer-controller release was rendered; were it "
        "internet-facing, this ALB that admits everyone: port 80"
    )
    # ... or its release not rendered, with the reason.
    controller = controller_renders()[0]
    unrendered = render_resources(
        "alb", controller, [], namespace="kube-system", reason="chart not in the cache"
    )
    resources = [controller, *unrendered, *rendered_by_apps(ingress())]
    (message,) = violations(analyze_stack(policy, resources))
    assert "did not see it: its release was not rendered (alb: chart not in the cache)" in message
    # Limited to the admins, or naming its scheme, it passes either way.
    for named in (ADMINS, {f"{ALB}/scheme": "internal"}):
        assert analyze_stack(policy, rendered_by_apps(ingress(annotations=named))) == []


CERTIFICATE = {f"{ALB}/certificate-arn": "arn:aws:acm:eu-west-1:111122223333:certificate/1"}
CREATE_CERTIFICATE = {f"{ALB}/create-acm-cert": "true"}


def tls(manifest: dict[str, Any]) -> dict[str, Any]:
    return {**manifest, "spec": {**manifest["spec"], "tls": [{"hosts": ["web.example.com"]}]}}


def test_spec_tls_alone_leaves_an_ingress_on_port_80() -> None:
    # The controller chooses 443 only with certificates it counts first; spec.tls only finds
    # certificates for an HTTPS port already there (aws-load-balancer-controller v3.5.0
    # pkg/ingress/model_build_listener.go:134-150, 163-168, 237-244).
    policy = rendered.load_balancers_admit_only_configured_ranges
    group = {f"{ALB}/group.name": "shared"}
    first = ingress("first", {**group, **PUBLIC, **HTTPS, **ADMINS})
    second = tls(ingress("second", group))
    (message,) = violations(analyze_stack(policy, rendered_by_apps(first, second)))
    assert message.startswith(
        "Ingress apps/second (rendered by release apps) is on an internet-facing ALB (group shared)"
    )
    assert "port 80 to ['0.0.0.0/0', '::/0']" in message
    # With a certificate ARN it listens on 443, where the first one's ranges hold.
    second = tls(ingress("second", {**group, **CERTIFICATE}))
    assert analyze_stack(policy, rendered_by_apps(first, second)) == []
    # A blank certificate-arn names no certificate (parsed as a comma-separated list).
    second = ingress("second", {**group, f"{ALB}/certificate-arn": " , "})
    assert violations(analyze_stack(policy, rendered_by_apps(first, second)))


def test_create_acm_cert_counts_only_with_the_controllers_feature_gate(
    controller_renders: Callable[..., list[Resource]],
) -> None:
    # pkg/ingress/model_builder.go:322-323; the gate is off by default
    # (pkg/config/feature_gates.go:98).
    policy = rendered.load_balancers_admit_only_configured_ranges
    group = {f"{ALB}/group.name": "shared"}
    first = ingress("first", {**group, **PUBLIC, **HTTPS, **ADMINS})
    second = ingress("second", {**group, **CREATE_CERTIFICATE})
    off = [*controller_renders(), *rendered_by_apps(first, second)]
    (message,) = violations(analyze_stack(policy, off))
    assert "Ingress apps/second" in message
    assert "port 80 to" in message
    gate = {"controllerConfig": {"featureGates": {"EnableCertificateManagement": True}}}
    on = [*controller_renders(gate), *rendered_by_apps(first, second)]
    assert analyze_stack(policy, on) == []


def test_the_stacks_own_ingresses_are_judged_too(dev_plan: Plan) -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    (admin_area,) = [r for r in plan_resources(dev_plan) if r.type == INGRESS]
    assert analyze_stack(policy, plan_resources(dev_plan)) == []
    opened = copy.deepcopy(admin_area.props)
    opened["metadata"]["annotations"].pop(f"{ALB}/security-groups")
    resources = [Resource(INGRESS, opened, name=admin_area.name)]
    (message,) = violations(analyze_stack(policy, resources))
    assert message.startswith(
        f"Ingress gitlab/gitlab-admin-area ({admin_area.name}) is on an internet-facing ALB"
    )


def test_a_load_balancer_listed_as_public_may_admit_everyone() -> None:
    policy = rendered.load_balancers_admit_only_configured_ranges
    resources = rendered_by_apps(service(), service("other"), ingress("site", PUBLIC))
    config = {"public_load_balancers": ["apps/web", "apps/site"]}
    (message,) = violations(analyze_stack(policy, resources, config))
    assert "Service apps/other" in message


# --- the Argo CD server's ALPN policy, held on the rendered Service ------------------------


def test_the_rendered_argocd_server_negotiates_http2_optional(
    argocd_renders: Callable[..., list[Resource]],
) -> None:
    objects = argocd_renders()
    assert argocd_server(objects)["metadata"]["annotations"][ALPN] == "HTTP2Optional"
    (params,) = [
        c
        for c in objects_of(objects, "ConfigMap")
        if c["metadata"]["name"] == "argocd-cmd-params-cm"
    ]
    assert params["data"]["server.insecure"] == "true"
    assert analyze_stack(rendered.rendered_argocd_server_alpn_serves_browsers, objects) == []


@pytest.mark.parametrize(
    ("alpn", "what"),
    [
        ("HTTP2Preferred", "the UI does not load"),
        (None, "falls back to gRPC-web"),
    ],
)
def test_the_rendered_argocd_server_with_another_alpn_policy_is_refused(
    argocd_renders: Callable[..., list[Resource]], alpn: str | None, what: str
) -> None:
    objects = argocd_renders({(*SERVER_ANNOTATIONS, ALPN): alpn})
    (message,) = violations(
        analyze_stack(rendered.rendered_argocd_server_alpn_serves_browsers, objects)
    )
    assert message.startswith("Service argocd/argocd-server (rendered by release argocd): The NLB")
    assert f"negotiates ALPN {alpn!r}, not 'HTTP2Optional'" in message
    assert what in message


def test_an_argocd_server_that_ends_tls_itself_may_negotiate_any_alpn(
    argocd_renders: Callable[..., list[Resource]],
) -> None:
    policy = rendered.rendered_argocd_server_alpn_serves_browsers
    tls = {(*SERVER_ANNOTATIONS, ALPN): "HTTP2Preferred", INSECURE: False}
    assert analyze_stack(policy, argocd_renders(tls)) == []
    # The server's own --insecure flag counts as much as the ConfigMap.
    flag = argocd_renders({**tls, ("server", "extraArgs"): ["--insecure"]})
    (message,) = violations(analyze_stack(policy, flag))
    assert "negotiates ALPN 'HTTP2Preferred'" in message


# --- rendered objects in expected namespaces ------------------------------------------------


def test_the_rendered_argocd_lands_in_its_release_namespace(
    dev_plan: Plan, argocd_renders: Callable[..., list[Resource]]
) -> None:
    policy = rendered.rendered_objects_in_expected_namespaces
    assert analyze_stack(policy, plan_resources(dev_plan) + argocd_renders()) == []


def test_a_chart_rendering_into_a_namespace_nobody_creates_is_refused(
    dev_plan: Plan, argocd_renders: Callable[..., list[Resource]]
) -> None:
    policy = rendered.rendered_objects_in_expected_namespaces
    objects = argocd_renders({("namespaceOverride",): "platform-tools"})
    messages = violations(analyze_stack(policy, plan_resources(dev_plan) + objects))
    assert messages
    assert all(
        "is in namespace 'platform-tools', which the stack neither creates nor installs "
        "argocd into ('argocd')" in m
        for m in messages
    )
    assert any(
        m.startswith("Service platform-tools/argocd-server (rendered by release argocd)")
        for m in messages
    )


def test_the_namespace_rule_cites_the_helm_pulumi_kubernetes_embeds() -> None:
    # pulumi-kubernetes' Release runs Helm v3.20.2 (provider/go.mod), not the helm CLI's v4;
    # there pkg/kube/client.go:336-341, newBuilder, puts unnamespaced objects in the release's.
    description = rendered.rendered_objects_in_expected_namespaces.description
    assert "helm v3.20.2" in description
    assert "pkg/kube/client.go:336-341, newBuilder" in description
    assert "v4." not in description


def config_map(namespace: str | None) -> dict[str, Any]:
    metadata = (
        {"name": "settings"} if namespace is None else {"name": "settings", "namespace": namespace}
    )
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


@pytest.mark.parametrize(
    ("extra", "namespace"),
    [
        ([], "apps"),  # the source's own (filled in where the template left it empty)
        ([], None),
        ([], "kube-system"),
        ([Resource(NAMESPACE, {"metadata": {"name": "shared"}}, name="shared")], "shared"),
        ([], "rendered-here"),
    ],
    ids=["own", "left-empty", "kube-system", "stack-namespace", "rendered-namespace"],
)
def test_objects_in_expected_namespaces_pass(extra: list[Resource], namespace: str | None) -> None:
    policy = rendered.rendered_objects_in_expected_namespaces
    namespace_object = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "rendered-here"},
    }
    resources = [*extra, *rendered_by_apps(config_map(namespace), namespace_object)]
    assert analyze_stack(policy, resources) == []


def test_an_object_in_someone_elses_namespace_is_refused() -> None:
    policy = rendered.rendered_objects_in_expected_namespaces
    (message,) = violations(analyze_stack(policy, rendered_by_apps(config_map("kube-public"))))
    assert message.startswith(
        "ConfigMap kube-public/settings (rendered by release apps) is in namespace 'kube-public'"
    )


# --- images pinned in what the stack deploys from gitops/ -----------------------------------


def application(name: str, namespace: str) -> Resource:
    props = {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"destination": {"namespace": namespace}},
    }
    return Resource(APPLICATION, props, name=f"apps-{name}")


def rendered_from_gitops(
    name: str, namespace: str, objects: list[dict[str, Any]], origin: str
) -> list[Resource]:
    app = application(name, namespace)
    return [
        app,
        *render_resources(
            name, app, objects, namespace=namespace, kind="application", origin=origin
        ),
    ]


@pytest.fixture(scope="module")
def my_app() -> list[dict[str, Any]]:
    return kustomize(GITOPS_DIR / "my-app" / "overlays" / "dev")


def test_the_gitops_folders_as_rendered_pin_their_images(
    my_app: list[dict[str, Any]], tmp_path: Path
) -> None:
    policy = rendered.rendered_gitops_images_pinned
    chart = tmp_path / "minio"
    shutil.copytree(GITOPS_DIR / "minio", chart)
    (dependency,) = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    archive = chart_archive(dependency["name"], dependency["version"])
    (chart / "charts").mkdir()
    shutil.copy(archive, chart / "charts")
    values = yaml.safe_load((chart / "values-minio.yaml").read_text())
    minio = helm_template(chart, values, "minio-helm", "minio")
    resources = rendered_from_gitops(
        "my-app", "my-app", my_app, "gitops/my-app/overlays/dev"
    ) + rendered_from_gitops("minio-helm", "minio", minio, "gitops/minio")
    assert any(o["kind"] == "Deployment" for o in minio)
    assert analyze_stack(policy, resources) == []


def with_image(objects: list[dict[str, Any]], image: str | None) -> list[dict[str, Any]]:
    changed = copy.deepcopy(objects)
    (deployment,) = [o for o in changed if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    if image is None:
        container.pop("image")
    else:
        container["image"] = image
    return changed


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("docker.io/nginxinc/nginx-unprivileged:latest", "uses the moving tag `latest`"),
        ("docker.io/nginxinc/nginx-unprivileged", "has no tag"),
        ("registry.example:5000/nginx-unprivileged", "has no tag"),
        ("docker.io/nginxinc/nginx-unprivileged@sha256:abc", "has a malformed digest"),
        (None, "has no image"),
    ],
    ids=["latest", "no-tag", "port-no-tag", "bad-digest", "no-image"],
)
def test_gitops_images_that_may_move_are_refused(
    my_app: list[dict[str, Any]], image: str | None, problem: str
) -> None:
    policy = rendered.rendered_gitops_images_pinned
    resources = rendered_from_gitops(
        "my-app", "my-app", with_image(my_app, image), "gitops/my-app/overlays/dev"
    )
    (message,) = violations(analyze_stack(policy, resources))
    assert message.startswith(
        "Deployment my-app/my-app (rendered by application my-app): "
        "spec.template.spec.containers[0] ('my-app')"
    )
    assert problem in message


@pytest.mark.parametrize(
    "image",
    [
        "registry.example:5000/nginx-unprivileged:1.28.2",
        "docker.io/nginxinc/nginx-unprivileged@sha256:" + "a" * 64,
        "docker.io/nginxinc/nginx-unprivileged:1.28.2@sha256:" + "b" * 64,
        "nginx:1.28.2",  # pinned; where it comes from is gitops-images-pinned's concern
    ],
)
def test_gitops_images_with_a_tag_or_digest_pass(my_app: list[dict[str, Any]], image: str) -> None:
    policy = rendered.rendered_gitops_images_pinned
    resources = rendered_from_gitops(
        "my-app", "my-app", with_image(my_app, image), "gitops/my-app/overlays/dev"
    )
    assert analyze_stack(policy, resources) == []


def test_every_pod_template_and_init_container_is_read() -> None:
    policy = rendered.rendered_gitops_images_pinned
    pod = {
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "app:1"}],
    }
    cron_job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once"}, "spec": pod}
    messages = violations(
        analyze_stack(policy, rendered_from_gitops("jobs", "jobs", [cron_job, bare], "gitops/jobs"))
    )
    assert messages == [
        "CronJob jobs/nightly (rendered by application jobs): spec.jobTemplate.spec.template.spec."
        "initContainers[0] ('init') image 'busybox' has no tag (Kubernetes then pulls `latest`, "
        "whatever that is today). Remediation: " + policy.remediation_steps,
        "Pod jobs/once (rendered by application jobs): spec.initContainers[0] ('init') image "
        "'busybox' has no tag (Kubernetes then pulls `latest`, whatever that is today). "
        "Remediation: " + policy.remediation_steps,
    ]


def test_charts_the_stack_installs_itself_are_not_held_to_gitops_pins() -> None:
    policy = rendered.rendered_gitops_images_pinned
    deployment = with_image(
        [
            {
                "kind": "Deployment",
                "metadata": {"name": "x"},
                "spec": {"template": {"spec": {"containers": [{"name": "x"}]}}},
            }
        ],
        "app:latest",
    )
    assert analyze_stack(policy, rendered_by_apps(*deployment)) == []


# --- what was not rendered is said, once per release or Application -----------------------


def test_a_preview_without_rendered_objects_names_every_release_and_application(
    dev_plan: Plan,
) -> None:
    diagnostics = analyze_stack(rendered.sources_not_rendered, plan_resources(dev_plan))
    assert {d.enforcementLevel for d in diagnostics} == {ADVISORY}
    named = sorted(m.split(" not rendered: ")[0] for m in said(diagnostics))
    releases = sorted(
        f"Release {r['inputs']['name']} ({r['inputs']['chart']} {r['inputs']['version']})"
        for r in dev_plan.of_type(HELM_RELEASE)
    )
    applications = sorted(
        f"Application {r['inputs']['metadata']['name']}" for r in dev_plan.of_type(APPLICATION)
    )
    assert named == sorted(releases + applications)
    for message in said(diagnostics):
        assert (
            "this preview sent the pack none of its objects; the offline preview (`make plan`) "
            "renders charts, so the rules on rendered objects did not see what it deploys."
            in message
        )


def test_a_source_not_rendered_is_named_with_its_reason(
    dev_plan: Plan, argocd_renders: Callable[..., list[Resource]]
) -> None:
    resources = plan_resources(dev_plan)
    gitlab = next(r for r in resources if r.type == HELM_RELEASE and r.name.endswith("-gitlab"))
    reason = "chart gitlab-10.4.1 is not in the chart cache /work/shared/charts"
    unrendered = render_resources(
        "gitlab", gitlab, [], namespace="gitlab", chart="gitlab", version="10.4.1", reason=reason
    )
    rendered_sources = argocd_renders() + unrendered
    messages = [
        d.message
        for d in analyze_stack(rendered.sources_not_rendered, resources + rendered_sources)
    ]
    assert (
        f"Release gitlab (gitlab 10.4.1) not rendered: {reason}; the offline preview "
        "(`make plan`) renders charts" in "\n".join(messages)
    )
    assert not [m for m in messages if m.startswith("Release argocd ")]


# --- the shipped stacks, rendered ----------------------------------------------------------


def render_stack(plan: Plan) -> list[Resource]:
    """A plan's resources with what the offline preview renders of it (offline.render, from
    the chart cache CHARTS), as the pack's stack analysis gets them."""
    tool("helm")
    tool("kubectl")
    rendering = render(plan, Tools.find())
    return plan_resources(plan) + [
        Resource(r["type"], r["inputs"], name=r["name"], parent=r["parent"], plan_urn=r["urn"])
        for r in rendering.analyzer_resources(plan)
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stacks_as_rendered_pass_and_only_gitlab_goes_unseen(
    stack: str, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    resources = render_stack(plan)
    sources = [r for r in resources if r.type == RENDER_SOURCE]
    unrendered = [s.props["reason"] for s in sources if s.props["reason"]]
    if len(unrendered) > 1:  # GitLab's chart is never at hand here; the others must be
        pytest.skip(f"not rendered here: {unrendered}")
    assert {s.props["name"] for s in sources if not s.props["reason"]} == {
        "argocd",
        "aws-load-balancer-controller",
        "external-dns",
        "minio-helm",
        "my-app",
    }
    for policy in rendered.RENDERED_RULES:
        assert analyze_stack(policy, resources) == [], policy.name
    (notice,) = said(analyze_stack(rendered.sources_not_rendered, resources))
    assert notice.startswith("Release gitlab (gitlab ")
