"""What the cluster will receive: the objects the offline preview renders from every Helm
release and every Application's source (`RENDER_OBJECT`), judged as the controllers that act
on them will read them, next to the Kubernetes objects the stack makes itself.

Only the offline preview sends rendered objects. Under `pulumi preview` the pack sees the
releases and Applications, not what they deploy; `sources-not-rendered` then says so for each
of them, so that the rules on rendered objects never pass in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, Severity, StackValidationArgs

from guardrails._common import (
    ADVISORY,
    ARGOCD_CHART,
    HELM_RELEASE,
    LB_CONTROLLER_CHART,
    OPEN_TO_ALL,
    Rendered,
    chart_of,
    dig,
    is_open_to_all,
    render_sources,
    rendered_objects,
    stack_rule,
)
from guardrails.argocd import APPLICATION
from guardrails.edge import INGRESS, NAMESPACE, SERVICE
from guardrails.gitops import pin_problem
from guardrails.helm import ALPN_ANNOTATION, ARGOCD_ALPN, argocd_alpn_problem, is_true
from guardrails.helm import INGRESS_CLASS as ALB_CLASS
from guardrails.network import EGRESS_RULE, INGRESS_RULE, SECURITY_GROUP, SECURITY_GROUP_RULE
from guardrails.tls import ALB, ALB_CERTIFICATE_ARN, ALB_LISTEN_PORTS, NLB, NLB_SSL_CERT

INGRESS_CLASS = "kubernetes:networking.k8s.io/v1:IngressClass"
INGRESS_CLASS_PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
# The load balancer controller's own words (aws-load-balancer-controller v3.5.0
# pkg/annotations/constants.go, pkg/ingress/class_loader.go, class_annotation_matcher.go).
ALB_CONTROLLER = "ingress.k8s.aws/alb"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
ALB_SCHEME = f"{ALB}/scheme"
ALB_GROUP = f"{ALB}/group.name"
ALB_SECURITY_GROUPS = f"{ALB}/security-groups"
ALB_INBOUND_CIDRS = f"{ALB}/inbound-cidrs"
ALB_PREFIX_LISTS = f"{ALB}/security-group-prefix-lists"
ALB_CREATE_CERTIFICATE = f"{ALB}/create-acm-cert"
NLB_SECURITY_GROUPS = f"{NLB}/aws-load-balancer-security-groups"
NLB_PREFIX_LISTS = f"{NLB}/aws-load-balancer-security-group-prefix-lists"
NLB_SOURCE_RANGES = f"{NLB}/load-balancer-source-ranges"
INTERNET_FACING = "internet-facing"
INTERNAL = "internal"
LBC = "aws-load-balancer-controller v3.5.0"
DEFAULT_SCHEME_FLAG = "--default-load-balancer-scheme"
"""The controller's default scheme, internal unless set (pkg/config/controller_config.go:179);
its chart sets it from `defaultLoadBalancerScheme` (helm/aws-load-balancer-controller
values.yaml:207, templates/deployment.yaml:187-188)."""
FEATURE_GATES_FLAG = "--feature-gates"
CERTIFICATE_MANAGEMENT = "EnableCertificateManagement"
"""The feature gate without which create-acm-cert is ignored, off by default
(pkg/config/feature_gates.go:98, pkg/ingress/model_builder.go:322-323)."""
GO_TRUE = ("1", "t", "T", "true", "TRUE", "True")
"""What Go's strconv.ParseBool reads as true, as the controller parses its booleans."""
PUBLIC_LOAD_BALANCERS = PolicyConfigSchema(
    properties={
        "public_load_balancers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Services and Ingresses, as namespace/name, that may admit everyone.",
            "default": [],
        }
    },
)
SYSTEM_NAMESPACES = ("kube-system",)
ARGOCD_PARAMS = "argocd-cmd-params-cm"
"""The ConfigMap argocd-server reads `server.insecure` from (by this name, whatever the
release is called)."""
COMPONENT_LABEL = "app.kubernetes.io/component"
ARGOCD_SERVER_COMPONENT = "server"
# Where each workload kind keeps its pod spec.
POD_SPECS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers")
MAKE_PLAN = "the offline preview (`make plan`) renders charts"
UNSEEN = "so the rules on rendered objects did not see what it deploys"


@dataclass(frozen=True)
class _Manifest:
    """A Kubernetes object the cluster will receive: rendered, or made by the stack itself."""

    body: Mapping[str, Any]
    label: str
    """How messages name it."""
    urn: str
    """Where a violation about it is reported."""

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def key(self) -> str:
        """namespace/name, as `public_load_balancers` lists it."""
        metadata = self.body.get("metadata") or {}
        return f"{metadata.get('namespace') or 'default'}/{metadata.get('name')}"

    @property
    def annotations(self) -> Mapping[str, Any]:
        return dig(self.body, "metadata", "annotations") or {}


MADE_BY_THE_STACK = {
    SERVICE: "Service",
    INGRESS: "Ingress",
    INGRESS_CLASS: "IngressClass",
    INGRESS_CLASS_PARAMS: "IngressClassParams",
}
"""The Kubernetes objects the stack itself makes that the load-balancer rule reads, by kind."""


def _manifests(args: StackValidationArgs) -> list[_Manifest]:
    """The stack's own Services, Ingresses and IngressClasses (with their params), then every
    rendered object."""
    found = []
    for resource in args.resources:
        kind = MADE_BY_THE_STACK.get(resource.resource_type)
        if kind is not None:
            body = {**resource.props, "kind": kind}
            metadata = body.get("metadata") or {}
            where = "/".join(str(p) for p in (metadata.get("namespace"), metadata.get("name")) if p)
            found.append(_Manifest(body, f"{kind} {where} ({resource.name})", resource.urn))
    found += [_Manifest(o.object, str(o), o.urn) for o in rendered_objects(args)]
    return found


@dataclass(frozen=True)
class _Controller:
    """What the rendered load balancer controller was started with."""

    default_scheme: str | None
    """Its --default-load-balancer-scheme; None when the pack did not see its Deployment."""
    certificate_management: bool
    """Whether its EnableCertificateManagement feature gate is on."""
    unseen: str
    """Why the pack did not see it (when default_scheme is None)."""


def _flag(args: Sequence[Any], name: str) -> str | None:
    """A flag's value among a container's arguments, as pflag reads them: `--name=value` or
    `--name value`, the last one winning."""
    found = None
    for i, arg in enumerate(args):
        arg = str(arg)
        if arg.startswith(f"{name}="):
            found = arg.split("=", 1)[1]
        elif arg == name and i + 1 < len(args):
            found = str(args[i + 1])
    return found


def _gate_on(gates: str | None, gate: str) -> bool:
    """A feature gate in `--feature-gates=Name=true,...` (pkg/config/feature_gates.go,
    SplitMapStringBool: strconv.ParseBool)."""
    on = False
    for entry in (gates or "").split(","):
        name, _, value = entry.partition("=")
        if name.strip() == gate:
            on = value.strip() in GO_TRUE
    return on


def _controller_source(source: PolicyResource) -> bool:
    """A Source that renders the load balancer controller's chart (its own chart, or its
    release's)."""
    parent = source.parent
    return LB_CONTROLLER_CHART in (chart_of(source), chart_of(parent) if parent else "")


def _controller(args: StackValidationArgs) -> _Controller:
    """The load balancer controller's settings, from the Deployment its release renders; when
    several are rendered, internet-facing if any defaults to it."""
    schemes: list[str] = []
    gates: list[bool] = []
    reasons: list[str] = []
    for source in render_sources(args):
        if _controller_source(source) and source.props.get("reason"):
            reasons.append(f"{source.props.get('name')}: {source.props['reason']}")
    for rendered in rendered_objects(args):
        origin = rendered.source
        if rendered.kind != "Deployment" or origin is None or origin.props.get("reason"):
            continue
        if not _controller_source(origin):
            continue
        for container in dig(rendered.object, "spec", "template", "spec", "containers") or []:
            container_args = container.get("args") or []
            schemes.append(_flag(container_args, DEFAULT_SCHEME_FLAG) or INTERNAL)
            gates.append(
                _gate_on(_flag(container_args, FEATURE_GATES_FLAG), CERTIFICATE_MANAGEMENT)
            )
    if schemes:
        scheme = INTERNET_FACING if INTERNET_FACING in schemes else schemes[0]
        return _Controller(scheme, any(gates), "")
    unseen = (
        f"its release was not rendered ({'; '.join(reasons)})"
        if reasons
        else f"no {LB_CONTROLLER_CHART} release was rendered"
    )
    return _Controller(None, False, unseen)


def string_list(value: Any) -> list[str]:
    """An annotation holding a list, as the controller reads it: comma-separated, trimmed,
    empty entries dropped (aws-load-balancer-controller v3.5.0 pkg/annotations/parser.go,
    splitCommaSeparatedString)."""
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class _StackSecurityGroups:
    """The security groups the stack creates, by id (what its rules attach to) and by `Name`
    tag (the controller's annotations take either). Read only when a load balancer names a
    security group: the ids are unknown in a first real preview."""

    def __init__(self, args: StackValidationArgs) -> None:
        self._args = args
        self._known: set[str] | None = None

    def __contains__(self, group: object) -> bool:
        if self._known is None:
            self._known = set()
            for r in self._args.resources:
                if r.resource_type in (INGRESS_RULE, EGRESS_RULE, SECURITY_GROUP_RULE):
                    self._known.add(str(r.props.get("securityGroupId")))
                elif r.resource_type == SECURITY_GROUP:
                    self._known.add(str((r.props.get("tags") or {}).get("Name")))
        return group in self._known


def _foreign_groups(groups: list[str], stack: _StackSecurityGroups) -> list[str]:
    return [g for g in groups if g not in stack]


def _service_problems(service: _Manifest, stack: _StackSecurityGroups) -> Iterator[str]:
    spec = service.body.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return
    annotations = service.annotations
    groups = string_list(annotations.get(NLB_SECURITY_GROUPS))
    if groups:
        foreign = _foreign_groups(groups, stack)
        if foreign:
            yield (
                f"{service.label} is behind security groups {foreign} that the stack does not "
                "create: whom they admit is out of the pack's sight."
            )
        return
    ranges = [str(r) for r in spec.get("loadBalancerSourceRanges") or []]
    field = "spec.loadBalancerSourceRanges"
    if not ranges:
        ranges, field = string_list(annotations.get(NLB_SOURCE_RANGES)), NLB_SOURCE_RANGES
    if not ranges:
        if not string_list(annotations.get(NLB_PREFIX_LISTS)):
            yield (
                f"{service.label} is a LoadBalancer Service that admits everyone: no "
                f"loadBalancerSourceRanges, no {NLB_SOURCE_RANGES} and no security groups of "
                "the stack (the controller then opens it to 0.0.0.0/0)."
            )
        return
    if any(is_open_to_all(r) for r in ranges):
        yield f"{service.label} is a LoadBalancer Service that admits everyone: {field} {ranges}."


@dataclass(frozen=True)
class _AlbIngress:
    manifest: _Manifest
    params: Mapping[str, Any]
    """The spec of its class's IngressClassParams ({} without one)."""
    certificate_management: bool = False
    """Whether the controller honours create-acm-cert (its EnableCertificateManagement gate)."""

    @property
    def group(self) -> str:
        """The ALB it is on: IngressClassParams' group over the annotation; alone otherwise
        (pkg/ingress/group_loader.go, loadGroupID)."""
        named = dig(self.params, "group", "name") or self.manifest.annotations.get(ALB_GROUP)
        return str(named) if named else f"{self.manifest.key} (alone)"

    @property
    def scheme(self) -> Any:
        return self.params.get("scheme") or self.manifest.annotations.get(ALB_SCHEME)

    def ports(self) -> set[Any]:
        """The ports it asks the ALB to listen on: its listen-ports, or else 443 when it has
        certificates the controller counts before choosing (IngressClassParams' certificateArn,
        the certificate-arn annotation, or create-acm-cert with the feature gate on) and 80
        otherwise (pkg/ingress/model_build_listener.go:134-150, computeIngressListenPorts
        :237-244). spec.tls does not count: it only finds certificates for an HTTPS port that
        already exists (:163-168)."""
        raw = self.manifest.annotations.get(ALB_LISTEN_PORTS)
        try:
            entries = json.loads(raw) if isinstance(raw, str) else None
        except json.JSONDecodeError:
            entries = None
        if isinstance(entries, list) and entries:
            return {port for e in entries if isinstance(e, dict) for port in e.values()}
        annotations = self.manifest.annotations
        certificates = self.params.get("certificateArn") or string_list(
            annotations.get(ALB_CERTIFICATE_ARN)
        )
        created = self.certificate_management and (
            annotations.get(ALB_CREATE_CERTIFICATE) in GO_TRUE
        )
        return {443} if certificates or created else {80}

    def inbound_cidrs(self) -> list[str]:
        """IngressClassParams' inboundCIDRs over the annotation
        (pkg/ingress/model_build_listener.go, computeIngressExplicitInboundCIDRs)."""
        from_params = [str(c) for c in self.params.get("inboundCIDRs") or []]
        return from_params or string_list(self.manifest.annotations.get(ALB_INBOUND_CIDRS))

    def prefix_lists(self) -> bool:
        return bool(
            self.params.get("prefixListsIDs")
            or self.params.get("PrefixListsIDs")
            or string_list(self.manifest.annotations.get(ALB_PREFIX_LISTS))
        )


def _alb_ingresses(manifests: list[_Manifest], controller: _Controller) -> list[_AlbIngress]:
    """The Ingresses the load balancer controller takes, with their IngressClassParams: the
    class annotation first, then spec.ingressClassName or the default IngressClass, which
    must name the controller (pkg/ingress/group_loader.go classifyIngress,
    class_loader.go Load). A class the stack neither makes nor renders counts by its name:
    `alb` is the controller's."""
    classes = {
        dig(m.body, "metadata", "name"): m.body for m in manifests if m.kind == "IngressClass"
    }
    params = {
        dig(m.body, "metadata", "name"): m.body.get("spec") or {}
        for m in manifests
        if m.kind == "IngressClassParams"
    }
    default = next(
        (
            name
            for name, c in classes.items()
            if is_true(dig(c, "metadata", "annotations", DEFAULT_CLASS_ANNOTATION))
        ),
        None,
    )
    found = []
    for m in manifests:
        if m.kind != "Ingress":
            continue
        annotated = m.annotations.get(INGRESS_CLASS_ANNOTATION)
        if annotated is not None:
            if annotated == ALB_CLASS:
                found.append(_AlbIngress(m, {}, controller.certificate_management))
            continue
        name = dig(m.body, "spec", "ingressClassName") or default
        if name is None:
            continue
        ingress_class = classes.get(name)
        if ingress_class is None:
            if name == ALB_CLASS:
                found.append(_AlbIngress(m, {}, controller.certificate_management))
            continue
        if dig(ingress_class, "spec", "controller") != ALB_CONTROLLER:
            continue
        reference = dig(ingress_class, "spec", "parameters") or {}
        spec = (
            params.get(reference.get("name"), {})
            if reference.get("kind") == "IngressClassParams"
            else {}
        )
        found.append(_AlbIngress(m, spec, controller.certificate_management))
    return found


def _ingress_problems(
    ingresses: list[_AlbIngress],
    stack: _StackSecurityGroups,
    public: set[str],
    controller: _Controller,
) -> Iterator[tuple[str, str]]:
    groups: dict[str, list[_AlbIngress]] = {}
    for ingress in ingresses:
        groups.setdefault(ingress.group, []).append(ingress)
    for group, members in groups.items():
        # The group's scheme is what any member asks for; the controller's default when none
        # does (pkg/ingress/model_build_load_balancer.go:152-153, buildLoadBalancerScheme).
        explicit = {m.scheme for m in members if m.scheme}
        if explicit:
            if INTERNET_FACING not in explicit:
                continue
            where = f"an internet-facing ALB (group {group})"
        elif controller.default_scheme == INTERNET_FACING:
            where = (
                f"an internet-facing ALB (group {group}: no member names a scheme, and the "
                f"controller's {DEFAULT_SCHEME_FLAG} is {INTERNET_FACING})"
            )
        elif controller.default_scheme is None:
            where = (
                f"an ALB (group {group}) whose scheme no member names, so the controller's "
                f"{DEFAULT_SCHEME_FLAG} decides, and the pack did not see it: "
                f"{controller.unseen}; were it {INTERNET_FACING}, this ALB"
            )
        else:
            continue
        judged = [m for m in members if m.manifest.key not in public]
        fronted = [string_list(m.manifest.annotations.get(ALB_SECURITY_GROUPS)) for m in members]
        security_groups = next((g for g in fronted if g), None)
        if security_groups is not None:
            foreign = _foreign_groups(security_groups, stack)
            if foreign:
                for member in judged:
                    yield (
                        f"{member.manifest.label} is on {where} behind security groups "
                        f"{foreign} that the stack does not create: whom they admit is out of "
                        "the pack's sight.",
                        member.manifest.urn,
                    )
            continue
        # Per listener port, the one set of inbound-cidrs a member gives; everyone when none
        # does (pkg/ingress/model_builder.go, mergeListenPortConfigs).
        for member in judged:
            open_ports = []
            for port in sorted(member.ports(), key=str):
                on_port = [m for m in members if port in m.ports()]
                cidrs = [c for m in on_port for c in m.inbound_cidrs()]
                if not cidrs and any(m.prefix_lists() for m in on_port):
                    continue
                if not cidrs or any(is_open_to_all(c) for c in cidrs):
                    open_ports.append((port, cidrs or list(OPEN_TO_ALL)))
            if open_ports:
                detail = ", ".join(f"port {port} to {cidrs}" for port, cidrs in open_ports)
                yield (
                    f"{member.manifest.label} is on {where} that admits everyone: {detail} "
                    f"(its group's {ALB_INBOUND_CIDRS}, or the controller's default where no "
                    "member sets them; no security groups).",
                    member.manifest.urn,
                )


@stack_rule(
    "load-balancers-admit-only-configured-ranges",
    "Every LoadBalancer Service and every internet-facing ALB Ingress, made by the stack or "
    "rendered from its releases and Applications, admits only the ranges the stack "
    "configures: it sits behind security groups the stack creates (whose rules the network "
    "rules judge), or it lists its own ranges and none of them is the whole internet, unless "
    "`public_load_balancers` names it. A Service's own ranges are spec.loadBalancerSourceRanges, "
    f"the {NLB_SOURCE_RANGES} annotation only when those are empty, and 0.0.0.0/0 when both "
    f"are ({LBC} pkg/service/model_build_managed_sg.go, buildCIDRsFromSourceRanges); an "
    "Ingress's are its IngressClassParams' inboundCIDRs or its inbound-cidrs annotation, "
    "merged per listener port over its IngressGroup, and 0.0.0.0/0 and ::/0 when no member "
    "sets any (pkg/ingress/model_builder.go, mergeListenPortConfigs), on its listen-ports, "
    "or else 443 with certificates the controller counts (IngressClassParams' certificateArn, "
    "the certificate-arn annotation, create-acm-cert with EnableCertificateManagement) and 80 "
    "without; spec.tls does not count (pkg/ingress/model_build_listener.go, "
    "computeIngressListenPortConfigByPort). An Ingress's scheme is its IngressClassParams' or "
    "its annotation's, internet-facing when any member of the group asks for it, and the "
    f"controller's {DEFAULT_SCHEME_FLAG} when none names one "
    "(pkg/ingress/model_build_load_balancer.go, buildLoadBalancerScheme), read from the "
    "controller's rendered Deployment (internal when the flag is absent, "
    "pkg/config/controller_config.go); when the pack did not see that Deployment, a group "
    "without a scheme is judged as if internet-facing, and the message says why. A Service is "
    "judged whatever its scheme. With the security-groups annotation those ranges are "
    "ignored and the groups alone decide (docs/guide/ingress/annotations.md, inbound-cidrs; "
    "docs/guide/service/annotations.md, load-balancer-source-ranges).",
    remediation="Put the load balancer behind the stack's security group for its endpoint "
    "(components.security_groups.EndpointAccess) or set loadBalancerSourceRanges / "
    f"{ALB_INBOUND_CIDRS} to access.admin_cidrs; list a load balancer meant for everyone in "
    "the rule's `public_load_balancers`; where the pack cannot see the controller's default "
    f"scheme, name the scheme ({ALB_SCHEME} or IngressClassParams' scheme).",
    severity=Severity.CRITICAL,
    config_schema=PUBLIC_LOAD_BALANCERS,
)
def load_balancers_admit_only_configured_ranges(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    public = {str(p) for p in args.get_config().get("public_load_balancers") or []}
    stack = _StackSecurityGroups(args)
    manifests = _manifests(args)
    for manifest in manifests:
        if manifest.kind == "Service" and manifest.key not in public:
            for message in _service_problems(manifest, stack):
                yield message, manifest.urn
    controller = _controller(args)
    yield from _ingress_problems(_alb_ingresses(manifests, controller), stack, public, controller)


def _sources(args: StackValidationArgs) -> dict[str, list[Rendered]]:
    """Rendered objects by the URN of their Source."""
    by_source: dict[str, list[Rendered]] = {}
    for rendered in rendered_objects(args):
        if rendered.source is not None:
            by_source.setdefault(rendered.source.urn, []).append(rendered)
    return by_source


def _serves_plain_http(objects: list[Rendered]) -> bool:
    """argocd-server runs without TLS: `--insecure` among its arguments, or else
    `server.insecure: "true"` in argocd-cmd-params-cm, which the chart hands it as
    ARGOCD_SERVER_INSECURE (argo-helm argo-cd-10.1.1
    charts/argo-cd/templates/argocd-server/deployment.yaml; argo-cd v3.4.4
    cmd/argocd-server/commands/argocd_server.go, the `insecure` flag's default)."""
    for server in objects:
        if server.kind != "Deployment" or _component(server) != ARGOCD_SERVER_COMPONENT:
            continue
        for container in dig(server.object, "spec", "template", "spec", "containers") or []:
            for arg in container.get("args") or []:
                if arg in ("--insecure", "--insecure=true"):
                    return True
                if arg == "--insecure=false":
                    return False
    params = next((o for o in objects if o.kind == "ConfigMap" and o.name == ARGOCD_PARAMS), None)
    return params is not None and is_true(dig(params.object, "data", "server.insecure"))


def _component(rendered: Rendered) -> Any:
    return dig(rendered.object, "metadata", "labels", COMPONENT_LABEL)


@stack_rule(
    "rendered-argocd-server-alpn-serves-browsers",
    "The argocd-server Service an argo-cd release renders, when it is a LoadBalancer whose NLB "
    "ends TLS (the ssl-cert annotation) in front of an argocd-server that serves plain HTTP "
    f'(argocd-cmd-params-cm server.insecure: "true"), negotiates ALPN {ARGOCD_ALPN}: the '
    "rule argocd-nlb-alpn-serves-browsers, held on what the chart makes of the values. The "
    "chart passes server.insecure to the server as ARGOCD_SERVER_INSECURE (argo-helm "
    "argo-cd-10.1.1 charts/argo-cd/templates/argocd-server/deployment.yaml), its plain "
    "listener accepts only HTTP/1.x and gRPC over HTTP/2 (argo-cd v3.4.4 server/server.go, "
    "the cmux matchers), and the NLB forwards what it agreed by ALPN "
    f"({LBC} docs/guide/service/annotations.md, aws-load-balancer-alpn-policy).",
    remediation=f"Set server.service.annotations.'{ALPN_ANNOTATION}' to {ARGOCD_ALPN} "
    "(components/argocd.py).",
)
def rendered_argocd_server_alpn_serves_browsers(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    objects = _sources(args)
    for source in render_sources(args):
        if source.props.get("kind") != "release" or chart_of(source) != ARGOCD_CHART:
            continue
        mine = objects.get(source.urn, [])
        if not _serves_plain_http(mine):
            continue
        for service in mine:
            spec = service.object.get("spec") or {}
            if service.kind != "Service" or spec.get("type") != "LoadBalancer":
                continue
            if _component(service) != ARGOCD_SERVER_COMPONENT:
                continue
            annotations = dig(service.object, "metadata", "annotations") or {}
            if not annotations.get(NLB_SSL_CERT):
                continue
            problem = argocd_alpn_problem(annotations.get(ALPN_ANNOTATION))
            if problem:
                yield f"{service}: {problem}", service.urn


@stack_rule(
    "rendered-objects-in-expected-namespaces",
    "Every namespaced object a release or Application renders lands in a namespace the stack "
    "expects: one it creates, kube-system, the namespace its release installs into or its "
    "Application deploys to (which Argo CD may create: CreateNamespace), or one a rendered "
    "Namespace creates. Helm installs a chart's objects where their templates say "
    "(`metadata.namespace`) and puts them in the release namespace only where they say "
    "nothing (helm v3.20.2, the Helm pulumi-kubernetes' Release embeds, pkg/kube/client.go:"
    "336-341, newBuilder: NamespaceParam(c.namespace()).DefaultNamespace()); an object "
    "elsewhere lands in a namespace that belongs to someone "
    "else, or in one that does not exist and fails the install.",
    remediation="Render the object into its release's namespace (the chart's namespaceOverride "
    "or the template's metadata.namespace), or create the namespace in the stack "
    "(components/helm.py owned namespace).",
)
def rendered_objects_in_expected_namespaces(
    args: StackValidationArgs,
) -> Iterator[tuple[str, str]]:
    objects = [o for o in rendered_objects(args) if o.namespace is not None]
    if not objects:
        return
    expected = set(SYSTEM_NAMESPACES)
    for resource in args.resources:
        if resource.resource_type == NAMESPACE:
            expected.add(str(dig(resource.props, "metadata", "name")))
    expected.update(o.name for o in rendered_objects(args) if o.kind == "Namespace")
    for rendered in objects:
        own = rendered.source.props.get("namespace") if rendered.source is not None else None
        if rendered.namespace not in expected and rendered.namespace != own:
            yield (
                f"{rendered} is in namespace {rendered.namespace!r}, which the stack neither "
                f"creates nor installs {rendered.source_name} into ({own!r}).",
                rendered.urn,
            )


def _pod_spec(rendered: Rendered) -> tuple[str, Mapping[str, Any]] | None:
    path = POD_SPECS.get(rendered.kind)
    if path is None:
        return None
    spec = dig(rendered.object, *path)
    return (".".join(path), spec) if isinstance(spec, Mapping) else None


@stack_rule(
    "rendered-gitops-images-pinned",
    "Every container and init container that an Application renders from `gitops/` (Pods and "
    "the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and "
    "CronJobs) has an image with a tag other than `latest`, or a digest: without a tag "
    "Kubernetes pulls `latest`, and `latest` is whatever was pushed last "
    "(https://kubernetes.io/docs/concepts/containers/images/#image-names, which also shows "
    "a registry with a port, `fictional.registry.example:10443/imagename`: the tag is what "
    "follows the last `:` after the last `/`, never the port).",
    remediation="Give the image an exact tag (or @sha256:<digest>) in the gitops/ manifest or "
    "the chart's values (gitops/<app>/values-*.yaml), e.g. "
    "docker.io/nginxinc/nginx-unprivileged:1.28.0.",
    severity=Severity.MEDIUM,
)
def rendered_gitops_images_pinned(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    for rendered in rendered_objects(args):
        if rendered.source is None or rendered.source.props.get("gitops") is not True:
            continue
        found = _pod_spec(rendered)
        if found is None:
            continue
        path, spec = found
        for field in CONTAINER_LISTS:
            containers = spec.get(field)
            if not isinstance(containers, Sequence):
                continue
            for i, container in enumerate(containers):
                where = f"{path}.{field}[{i}] ({container.get('name')!r})"
                image = container.get("image")
                problem = pin_problem(image) if isinstance(image, str) and image else None
                if not isinstance(image, str) or not image:
                    yield f"{rendered}: {where} has no image.", rendered.urn
                elif problem:
                    yield f"{rendered}: {where} image {image!r} {problem}.", rendered.urn


def _deployer(resource: PolicyResource) -> str:
    if resource.resource_type == HELM_RELEASE:
        props = resource.props
        chart = " ".join(str(p) for p in (chart_of(resource), props.get("version")) if p)
        return f"Release {props.get('name') or resource.name} ({chart})"
    return f"Application {dig(resource.props, 'metadata', 'name') or resource.name}"


@stack_rule(
    "sources-not-rendered",
    "Every Helm release and Application whose objects the pack did not see is named, with "
    "the reason: the rules on rendered objects judge only what the offline preview renders. "
    "The Pulumi CLI hands policy packs the release and the Application, never their objects; "
    "the offline preview renders charts from its chart cache and GitOps folders with "
    "Kustomize, and says why when it cannot.",
    remediation="Run the offline preview (`make plan`, CHARTS=dir naming the chart cache) "
    "with the release's chart in the cache, so the pack checks what it deploys.",
    severity=Severity.LOW,
    level=ADVISORY,
)
def sources_not_rendered(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    sources: dict[str, list[PolicyResource]] = {}
    for source in render_sources(args):
        if source.parent is not None:
            sources.setdefault(source.parent.urn, []).append(source)
    for resource in args.resources:
        if resource.resource_type not in (HELM_RELEASE, APPLICATION):
            continue
        mine = sources.get(resource.urn)
        if not mine:
            yield (
                f"{_deployer(resource)} not rendered: this preview sent the pack none of its "
                f"objects; {MAKE_PLAN}, {UNSEEN}.",
                resource.urn,
            )
            continue
        for source in mine:
            reason = source.props.get("reason")
            if reason:
                yield (
                    f"{_deployer(resource)} not rendered: {reason}; {MAKE_PLAN}, {UNSEEN}.",
                    resource.urn,
                )


RENDERED_RULES = (
    load_balancers_admit_only_configured_ranges,
    rendered_argocd_server_alpn_serves_browsers,
    rendered_objects_in_expected_namespaces,
    rendered_gitops_images_pinned,
)
"""The rules that judge rendered objects, which `sources-not-rendered` speaks for."""
