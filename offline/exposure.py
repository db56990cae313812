"""What is reachable from outside the VPC, and from where: the load balancers the AWS Load
Balancer Controller makes of the stack's Ingresses and LoadBalancer Services (offline.deployed:
rendered, the stack's own, or modelled from values), and the EKS API's public endpoint.

Each entry is `{component, kind, endpoint, ports, cidrs, from}` (offline.review's contract).
The controller's behaviour is read from aws-load-balancer-controller v3.5.0, the version the
stack pins; "LBC" below is that tag of kubernetes-sigs/aws-load-balancer-controller.

- Which Ingresses: class `alb` (the IngressClass the controller's chart makes), by
  `spec.ingressClassName`, the `kubernetes.io/ingress.class` annotation, or the default
  IngressClass (LBC pkg/ingress/group_loader.go classifyIngress, class_loader.go Load).
  IngressClassParams are not read (this stack makes none).
- One ALB per IngressGroup, `alb.ingress.kubernetes.io/group.name`, else per Ingress (LBC
  pkg/ingress/group_loader.go:245, loadGroupID). Its scheme is the one any member names, else
  the controller's `--default-load-balancer-scheme`, internal unless set
  (pkg/ingress/model_build_load_balancer.go:138-167 buildLoadBalancerScheme;
  pkg/config/controller_config.go:179); members naming different schemes make the
  controller refuse the group (:155-157), and it is listed as internet-facing, with a note.
  An internal load balancer is listed as internal, not as exposure (its cost still counts).
- Ports: each member's `listen-ports`, else HTTPS 443 with a `certificate-arn` and HTTP 80
  without (pkg/ingress/model_build_listener.go:237-272 computeIngressListenPorts); a member's
  rules apply only on its own ports (docs/guide/ingress/annotations.md, listen-ports). With
  `ssl-redirect` the HTTP listeners answer every request with a redirect and carry no rules
  (pkg/ingress/model_builder.go:514-552, model_build_listener_rules.go:20-22).
- Who gets in: with `security-groups` the ALB has those groups only, and their rules decide
  (pkg/ingress/model_build_load_balancer.go:285-337; the groups are joined with the plan's
  security group rules, by id or `Name` tag); without, the controller's own group admits
  the group's `inbound-cidrs` per port, 0.0.0.0/0 when no member sets any
  (pkg/ingress/model_builder.go:387-498 mergeListenPortConfigs, model_build_managed_sg.go:
  76-118). A path's backend with a `conditions.<service>` source-ip condition reaches the
  service only from those ranges (docs/guide/ingress/annotations.md, conditions;
  pkg/ingress/enhanced_backend_builder.go:172); a backend that is an `actions.<name>` fixed
  response or redirect reaches no service and is not an endpoint (:203).
- Services: `type: LoadBalancer`, taken by the controller with `loadBalancerClass`
  `service.k8s.aws/nlb`, or the `aws-load-balancer-type` annotation `external` (with an ip or
  instance target type) or `nlb-ip` (pkg/service/service_utils.go:47-77); the chart's
  service mutator webhook, on by default (helm/aws-load-balancer-controller/values.yaml:485),
  gives every other new one that class (webhooks/core/service_mutator.go:51). Scheme from
  `aws-load-balancer-scheme`, else the legacy `aws-load-balancer-internal`, else the
  controller's default (pkg/service/model_build_load_balancer.go:231-285). One listener per
  `spec.ports[].port` (pkg/service/model_build_listener.go:25-38). Who gets in (NLBs have
  security groups: the NLBSecurityGroup feature gate is on by default,
  pkg/config/feature_gates.go:86): the `aws-load-balancer-security-groups` groups' rules,
  else `spec.loadBalancerSourceRanges`, else
  `service.beta.kubernetes.io/load-balancer-source-ranges`, else 0.0.0.0/0
  (pkg/service/model_build_load_balancer.go:101-165; model_build_managed_sg.go:149-172
  buildCIDRsFromSourceRanges).
- Hostnames: ExternalDNS points an Ingress's rule hosts, its TLS hosts and the names in its
  hostname annotation alike at its load balancer, and a Service's
  `external-dns.alpha.kubernetes.io/hostname` names, comma-separated, at its own. An
  Ingress entry is per rule, named by the rule's host; a rule without a host, which the ALB
  answers for any name that reaches it, is named by the annotation's names
  (kubernetes-sigs/external-dns
  v0.21.0, the chart 1.21.1's app: source/ingress.go:249-310 endpointsFromIngress,
  source/service.go:498-520, source/annotations/processors.go:122-150).
- The EKS API: `vpcConfig.endpointPublicAccess` (true unless set) and `publicAccessCidrs`
  (0.0.0.0/0 unless set) (https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html).
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.deployed import Manifest
from offline.plan import Plan, component_labels

ALB = "alb.ingress.kubernetes.io/"
NLB = "service.beta.kubernetes.io/"
HOSTNAME = "external-dns.alpha.kubernetes.io/hostname"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
ALB_CONTROLLER = "ingress.k8s.aws/alb"
ALB_CLASS = "alb"
NLB_CLASS = "service.k8s.aws/nlb"
LB_CONTROLLER_CHART = "aws-load-balancer-controller"
INTERNET_FACING = "internet-facing"
INTERNAL = "internal"
UNMODELLED = "not modelled"
"""The scheme of a load balancer the controller does not make (the in-tree cloud provider's)."""
EVERYONE = ("0.0.0.0/0", "::/0")
USE_ANNOTATION = "use-annotation"
CLUSTER = "aws:eks/cluster:Cluster"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EC2_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
GO_TRUE = ("1", "t", "T", "true", "TRUE", "True")
"""What Go's strconv.ParseBool reads as true, as the controller parses its booleans."""


@dataclass
class LoadBalancer:
    """One load balancer the controller makes, whatever its scheme."""

    kind: str
    """`alb` or `nlb`."""
    name: str
    """For people: `ALB of IngressGroup gitops-platform-dev`, `NLB of Service
    argocd/argocd-server`."""
    component: str
    scheme: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Exposure:
    entries: list[dict[str, Any]]
    load_balancers: list[LoadBalancer]


def exposure(plan: Plan, manifests: Sequence[Manifest]) -> Exposure:
    groups = _SecurityGroups(plan)
    default_scheme = _default_scheme(plan, manifests)
    balancers = _albs(manifests, groups, default_scheme)
    balancers += _nlbs(plan, manifests, groups, default_scheme)
    entries = [e for b in balancers if b.scheme == INTERNET_FACING for e in b.entries]
    entries += _eks_api(plan)
    entries.sort(key=lambda e: (e["kind"], e["endpoint"], e["ports"], e["cidrs"]))
    return Exposure(entries, balancers)


def _entry(
    component: str,
    kind: str,
    endpoint: str,
    ports: Iterable[int],
    cidrs: Iterable[str],
    origin: str,
) -> dict[str, Any]:
    return {
        "component": component,
        "kind": kind,
        "endpoint": endpoint,
        "ports": sorted(set(ports)),
        "cidrs": sorted(set(cidrs)),
        "from": origin,
    }


def string_list(value: Any) -> list[str]:
    """An annotation holding a list, as the controller reads it: comma-separated, trimmed,
    empty entries dropped (LBC pkg/annotations/parser.go, splitCommaSeparatedString)."""
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        return None


class _SecurityGroups:
    """The stack's security groups, by id and by `Name` tag (the controller takes either),
    with the ranges their ingress rules admit per port."""

    def __init__(self, plan: Plan) -> None:
        self.names: dict[str, str] = {}
        """Group URN -> the group's resource name."""
        self._urns: dict[str, str] = {}
        self._rules: dict[str, list[tuple[str, int, int, list[str]]]] = defaultdict(list)
        for resource in plan.resources:
            inputs = resource["inputs"]
            if resource["type"] == SECURITY_GROUP:
                self.names[resource["urn"]] = resource["name"]
                tag = (inputs.get("tags") or {}).get("Name")
                if tag:
                    self._urns[str(tag)] = resource["urn"]
                for rule in inputs.get("ingress") or []:
                    self._add(resource["urn"], rule, rule.get("protocol"))
        for resource in plan.resources:
            inputs = resource["inputs"]
            if resource["type"] not in (INGRESS_RULE, EC2_RULE):
                continue
            if resource["type"] == EC2_RULE and inputs.get("type") != "ingress":
                continue
            group = next(iter(resource["property_dependencies"].get("securityGroupId", [])), None)
            if group is None:
                continue
            self._urns[str(inputs.get("securityGroupId"))] = group
            protocol = inputs.get("ipProtocol", inputs.get("protocol"))
            self._add(group, inputs, protocol)

    def _add(self, group: str, rule: Mapping[str, Any], protocol: Any) -> None:
        cidrs = [rule[k] for k in ("cidrIpv4", "cidrIpv6") if isinstance(rule.get(k), str)]
        cidrs += [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
        low, high = rule.get("fromPort"), rule.get("toPort")
        every = str(protocol) in ("-1", "all")
        first = 0 if every or low is None else int(low)
        last = 65535 if every or high is None else int(high)
        if every or str(protocol).lower() in ("tcp", "6"):
            self._rules[group].append((str(protocol), first, last, [str(c) for c in cidrs]))

    def resolve(self, references: Sequence[str]) -> tuple[list[str], list[str]]:
        """The URNs of the referenced groups the stack creates, and the references it does
        not know."""
        known = [self._urns[r] for r in references if r in self._urns]
        return known, [r for r in references if r not in self._urns]

    def cidrs(self, groups: Sequence[str], port: int) -> list[str]:
        return sorted(
            {
                cidr
                for group in groups
                for _, low, high, cidrs in self._rules[group]
                if low <= port <= high
                for cidr in cidrs
            }
        )

    def label(self, groups: Sequence[str], foreign: Sequence[str]) -> str:
        named = [f"security group {self.names[g]}" for g in groups]
        named += [f"security group {f} (not the stack's: its rules are unknown)" for f in foreign]
        return ", ".join(named)


def _default_scheme(plan: Plan, manifests: Sequence[Manifest]) -> str:
    """The controller's --default-load-balancer-scheme, from its rendered Deployment, else
    its release's `defaultLoadBalancerScheme` value (the chart passes it as that flag:
    helm/aws-load-balancer-controller values.yaml:207, templates/deployment.yaml:187-188),
    else internal."""
    for manifest in manifests:
        if manifest.kind != "Deployment" or LB_CONTROLLER_CHART not in manifest.name:
            continue
        template = (manifest.spec.get("template") or {}).get("spec") or {}
        for container in template.get("containers") or []:
            for arg in container.get("args") or []:
                if str(arg).startswith("--default-load-balancer-scheme="):
                    return str(arg).split("=", 1)[1]
            return INTERNAL
    for resource in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if str(resource["inputs"].get("chart", "")).endswith(LB_CONTROLLER_CHART):
            scheme = (resource["inputs"].get("values") or {}).get("defaultLoadBalancerScheme")
            if scheme:
                return str(scheme)
    return INTERNAL


def _service_mutator(plan: Plan) -> bool:
    """Whether the controller's chart installs its service mutator webhook (values.yaml:485,
    on by default)."""
    for resource in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if str(resource["inputs"].get("chart", "")).endswith(LB_CONTROLLER_CHART):
            values = resource["inputs"].get("values") or {}
            return values.get("enableServiceMutatorWebhook", True) is not False
    return False


def _alb_classes(manifests: Sequence[Manifest]) -> tuple[set[str], str | None]:
    """The IngressClass names the controller serves, and the default class."""
    names = {ALB_CLASS}
    default = None
    for manifest in manifests:
        if manifest.kind != "IngressClass":
            continue
        if manifest.spec.get("controller") == ALB_CONTROLLER:
            names.add(manifest.name)
        if str(manifest.annotations.get(DEFAULT_CLASS)) in GO_TRUE:
            default = manifest.name
    return names, default


def _listen_ports(ingress: Manifest) -> dict[int, str]:
    """Port -> protocol (computeIngressListenPorts)."""
    entries = _json(ingress.annotations.get(f"{ALB}listen-ports"))
    if isinstance(entries, list) and entries:
        return {
            int(port): str(protocol)
            for entry in entries
            if isinstance(entry, dict)
            for protocol, port in entry.items()
        }
    if string_list(ingress.annotations.get(f"{ALB}certificate-arn")):
        return {443: "HTTPS"}
    return {80: "HTTP"}


def _source_ips(ingress: Manifest, service: str) -> frozenset[str] | None:
    """The source-ip values of the `conditions.<service>` annotation, None without one."""
    conditions = _json(ingress.annotations.get(f"{ALB}conditions.{service}"))
    found: set[str] = set()
    seen = False
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("field") == "source-ip":
            seen = True
            found |= {str(v) for v in (condition.get("sourceIpConfig") or {}).get("values", [])}
    return frozenset(found) if seen else None


def _forwards(ingress: Manifest, backend: Mapping[str, Any]) -> str | None:
    """The service a path's backend forwards to; None when it is an action that answers
    itself (a fixed response, a redirect)."""
    service = backend.get("service") or {}
    name = str(service.get("name", ""))
    if (service.get("port") or {}).get("name") != USE_ANNOTATION:
        return name
    action = _json(ingress.annotations.get(f"{ALB}actions.{name}"))
    if isinstance(action, dict) and action.get("type") in ("forward", None):
        return name
    return None


def narrowed(allowed: Iterable[str], condition: Iterable[str]) -> list[str]:
    """The ranges in both lists: two CIDR blocks either nest or are disjoint, so each
    overlapping pair gives the smaller one."""
    found = set()
    for a in allowed:
        for c in condition:
            try:
                left, right = (
                    ipaddress.ip_network(a, strict=False),
                    ipaddress.ip_network(c, strict=False),
                )
            except ValueError:
                continue
            if left.version == right.version and left.overlaps(right):
                found.add(str(left if left.prefixlen >= right.prefixlen else right))
    return sorted(found)


def _albs(
    manifests: Sequence[Manifest], groups: _SecurityGroups, default_scheme: str
) -> list[LoadBalancer]:
    classes, default_class = _alb_classes(manifests)
    members: dict[str, list[Manifest]] = defaultdict(list)
    for manifest in manifests:
        if manifest.kind != "Ingress":
            continue
        annotated = manifest.annotations.get(INGRESS_CLASS_ANNOTATION)
        class_name = annotated or manifest.spec.get("ingressClassName") or default_class
        if class_name not in classes:
            continue
        group = manifest.annotations.get(f"{ALB}group.name")
        members[str(group) if group else f"{manifest.namespace}/{manifest.name}"].append(manifest)
    balancers = []
    for group, ingresses in sorted(members.items()):
        ingresses.sort(key=lambda m: (_order(m), m.name))
        named = {str(m.annotations.get(f"{ALB}scheme")) for m in ingresses} - {"None"}
        scheme = INTERNET_FACING if INTERNET_FACING in named else next(iter(named), default_scheme)
        kind = "Ingress" if "/" in group else "IngressGroup"  # group names have no "/"
        balancer = LoadBalancer("alb", f"ALB of {kind} {group}", ingresses[0].component, scheme)
        if len(named) > 1:
            balancer.notes.append(
                f"{balancer.name}: its members name the schemes {sorted(named)}, which the "
                "controller refuses (conflicting scheme); listed as internet-facing"
            )
        balancer.entries = _alb_entries(balancer, ingresses, groups)
        balancers.append(balancer)
    return balancers


def _alb_entries(
    balancer: LoadBalancer, ingresses: Sequence[Manifest], groups: _SecurityGroups
) -> list[dict[str, Any]]:
    references = next(
        (
            string_list(m.annotations.get(f"{ALB}security-groups"))
            for m in ingresses
            if string_list(m.annotations.get(f"{ALB}security-groups"))
        ),
        [],
    )
    known, foreign = groups.resolve(references)
    redirect = any(m.annotations.get(f"{ALB}ssl-redirect") for m in ingresses)

    def admitted(port: int) -> tuple[list[str], str]:
        if references:
            return groups.cidrs(known, port), groups.label(known, foreign)
        on_port = [m for m in ingresses if port in _listen_ports(m)]
        cidrs = [c for m in on_port for c in string_list(m.annotations.get(f"{ALB}inbound-cidrs"))]
        if cidrs:
            return cidrs, "inbound-cidrs"
        return [EVERYONE[0]], "no security groups or inbound-cidrs: everyone"

    found: dict[tuple[str, str, tuple[str, ...], str], set[int]] = defaultdict(set)
    for host in sorted({_host(m, rule) for m in ingresses for rule in _rules(m)}):
        # port -> the condition of each forwarded path of this host -> (paths, Ingresses)
        paths_on: dict[int, dict[frozenset[str] | None, tuple[list[str], set[Manifest]]]] = {}
        redirected: dict[int, set[Manifest]] = defaultdict(set)
        for ingress in ingresses:
            for rule in _rules(ingress):
                if _host(ingress, rule) != host:
                    continue
                for path in (rule.get("http") or {}).get("paths") or []:
                    service = _forwards(ingress, path.get("backend") or {})
                    if service is None:
                        continue
                    for port, protocol in _listen_ports(ingress).items():
                        if redirect and protocol == "HTTP":
                            redirected[port].add(ingress)
                            continue
                        paths, origins = paths_on.setdefault(port, {}).setdefault(
                            _source_ips(ingress, service), ([], set())
                        )
                        paths.append(str(path.get("path") or "/"))
                        origins.add(ingress)
        # The host is one endpoint when all its forwarded paths carry the same condition.
        distinct = {c for by_condition in paths_on.values() for c in by_condition}
        for port, origins in redirected.items():
            cidrs, through = admitted(port)
            origin = f"{_origins(origins)}; {through}; answered with a redirect to HTTPS"
            found[(_component(origins), host, tuple(cidrs), origin)].add(port)
        for port, by_condition in paths_on.items():
            allowed, through = admitted(port)
            for condition, (paths, origins) in by_condition.items():
                cidrs = allowed if condition is None else narrowed(allowed, condition)
                shown = " ".join(dict.fromkeys(paths))
                if not cidrs and not foreign:
                    balancer.notes.append(f"{host} {shown}: port {port} admits no one")
                    continue
                endpoint = host if len(distinct) == 1 or condition is None else f"{host} {shown}"
                origin = f"{_origins(origins)}; {through}"
                if condition is not None:
                    origin += "; a source-ip condition"
                found[(_component(origins), endpoint, tuple(sorted(set(cidrs))), origin)].add(port)
    return [
        _entry(component, "alb", endpoint, ports, cidrs, origin)
        for (component, endpoint, cidrs, origin), ports in sorted(found.items())
    ]


def _origins(ingresses: Iterable[Manifest]) -> str:
    return ", ".join(sorted({i.origin for i in ingresses}))


def _component(ingresses: Iterable[Manifest]) -> str:
    """The component an endpoint belongs to: that of the Ingresses serving it (the first by
    name when several components share a host)."""
    return sorted(i.component for i in ingresses)[0]


def _order(ingress: Manifest) -> int:
    """Its `group.order` (0 unless set): the shared ALB's component is its first member's."""
    try:
        return int(ingress.annotations.get(f"{ALB}group.order") or 0)
    except ValueError:
        return 0


def _rules(ingress: Manifest) -> list[Mapping[str, Any]]:
    return [r for r in ingress.spec.get("rules") or [] if isinstance(r, Mapping)]


def _host(ingress: Manifest, rule: Mapping[str, Any]) -> str:
    """A rule's host; for a rule without one, the hostnames ExternalDNS gives the Ingress,
    else any host the ALB is asked for."""
    if rule.get("host"):
        return str(rule["host"])
    named = string_list(ingress.annotations.get(HOSTNAME))
    return ",".join(named) if named else f"any host of Ingress {ingress.namespace}/{ingress.name}"


def _nlbs(
    plan: Plan, manifests: Sequence[Manifest], groups: _SecurityGroups, default_scheme: str
) -> list[LoadBalancer]:
    mutated = _service_mutator(plan)
    balancers = []
    for service in manifests:
        if service.kind != "Service" or service.spec.get("type") != "LoadBalancer":
            continue
        annotations = service.annotations
        where = f"{service.namespace}/{service.name}"
        lb_type = annotations.get(f"{NLB}aws-load-balancer-type")
        target = annotations.get(f"{NLB}aws-load-balancer-nlb-target-type")
        class_name = service.spec.get("loadBalancerClass")
        ours = class_name == NLB_CLASS or lb_type == "nlb-ip"
        ours |= lb_type == "external" and target in ("ip", "instance")
        if class_name is None and not ours and mutated:
            ours = True  # the webhook gives it the controller's class at admission
        if not ours:
            balancer = LoadBalancer(
                "nlb", f"load balancer of Service {where}", service.component, UNMODELLED
            )
            balancer.notes.append(
                f"Service {where}: not the controller's (class {class_name!r}): not modelled"
            )
            balancers.append(balancer)
            continue
        scheme = annotations.get(f"{NLB}aws-load-balancer-scheme")
        if scheme is None and f"{NLB}aws-load-balancer-internal" in annotations:
            internal = str(annotations[f"{NLB}aws-load-balancer-internal"]) in GO_TRUE
            scheme = INTERNAL if internal else INTERNET_FACING
        balancer = LoadBalancer(
            "nlb", f"NLB of Service {where}", service.component, str(scheme or default_scheme)
        )
        references = string_list(annotations.get(f"{NLB}aws-load-balancer-security-groups"))
        known, foreign = groups.resolve(references)
        ranges = [str(r) for r in service.spec.get("loadBalancerSourceRanges") or []]
        through = "spec.loadBalancerSourceRanges"
        if not ranges:
            ranges = string_list(annotations.get(f"{NLB}load-balancer-source-ranges"))
            through = f"{NLB}load-balancer-source-ranges"
        if not ranges:
            ranges, through = [EVERYONE[0]], "no security groups or source ranges: everyone"
        if references:
            through = groups.label(known, foreign)
        hosts = string_list(annotations.get(HOSTNAME)) or [f"NLB of Service {where}"]
        by_cidrs: dict[tuple[str, ...], set[int]] = defaultdict(set)
        for port in service.spec.get("ports") or []:
            if not isinstance(port, Mapping) or not str(port.get("port", "")).isdigit():
                continue
            number = int(port["port"])
            cidrs = groups.cidrs(known, number) if references else ranges
            if not cidrs and not foreign:
                balancer.notes.append(f"{where}: listener {number} admits no one")
                continue
            by_cidrs[tuple(cidrs)].add(number)
        for host in hosts:
            for allowed, numbers in sorted(by_cidrs.items()):
                balancer.entries.append(
                    _entry(
                        service.component,
                        "nlb",
                        host,
                        numbers,
                        allowed,
                        f"{service.origin}; {through}",
                    )
                )
        balancers.append(balancer)
    return balancers


def _eks_api(plan: Plan) -> list[dict[str, Any]]:
    labels = component_labels(plan)
    found = []
    for cluster in plan.of_type(CLUSTER):
        vpc = cluster["inputs"].get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess", True) is False:
            continue
        cidrs = vpc.get("publicAccessCidrs") or [EVERYONE[0]]
        name = cluster["inputs"].get("name") or cluster["name"]
        found.append(
            _entry(
                labels[cluster["urn"]],
                "eks-api",
                f"EKS API of {name} (public endpoint)",
                [443],
                [str(c) for c in cidrs],
                f"{CLUSTER} {cluster['name']}",
            )
        )
    return found
