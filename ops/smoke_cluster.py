"""The smoke tests that ask the cluster: is kubectl pointed at the stack's cluster, is every
Argo CD Application Synced and Healthy, and does every published name lead to its own load
balancer (that of the Ingress or Service publishing it).

kubectl comes from PATH (or `--kubectl`) and finds the cluster as it always does, through
KUBECONFIG or ~/.kube/config, in its current context or the one `--context` names; which
context and cluster that is, is asked once (`cluster_target`) and every later call is pinned
to that context. Nothing here reads or prints a credential (`kubectl config view` redacts
them).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.applications import ARGOCD_NAMESPACE
from ops.smoke_net import CheckError, Network, is_address

SYNCED, HEALTHY = "Synced", "Healthy"


@dataclass(frozen=True)
class Kubectl:
    path: str
    timeout: float
    context: str | None = None
    """Passed as `--context`: the kubeconfig context every call uses (None: the current)."""

    def run(self, *args: str) -> str:
        # --request-timeout bounds each API request; the process gets more, for the exec
        # credential plugin (`aws eks get-token`) to sign in first.
        pinned = ["--context", self.context] if self.context else []
        command = [self.path, *args, *pinned, f"--request-timeout={math.ceil(self.timeout)}s"]
        shown = " ".join(["kubectl", *args])  # the context: the kubectl.context check's
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=3 * self.timeout + 10, check=False
            )
        except subprocess.TimeoutExpired:
            raise CheckError(
                f"`{shown}` did not finish within {3 * self.timeout + 10:g}s"
            ) from None
        except OSError as error:
            raise CheckError(f"`{shown}`: {error.strerror or error}") from None
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()
            raise CheckError(f"`{shown}` failed ({done.returncode}): {said[-1] if said else ''}")
        return done.stdout

    def get(self, *args: str) -> list[dict[str, Any]]:
        """The items of `kubectl get ARGS -o json`."""
        out = self.run("get", *args, "-o", "json")
        try:
            items = json.loads(out)["items"]
        except (ValueError, KeyError, TypeError):
            raise CheckError(
                f"`kubectl get {' '.join(args)} -o json`: not a list of objects"
            ) from None
        if not isinstance(items, list):
            raise CheckError(f"`kubectl get {' '.join(args)} -o json`: not a list of objects")
        return [item for item in items if isinstance(item, dict)]


EKS_ARN = re.compile(r"arn:aws[a-z-]*:eks:(?P<region>[a-z0-9-]+):\d{12}:cluster/(?P<name>[^/]+)")
"""An EKS cluster's ARN: the name `aws eks update-kubeconfig` gives the cluster's entry
(https://github.com/aws/aws-cli/blob/develop/awscli/customizations/eks/update_kubeconfig.py
get_cluster_entry: `"name": arn`)."""


class WrongClusterError(Exception):
    """kubectl's context is another cluster than the stack's: no check may run against it."""


@dataclass(frozen=True)
class Target:
    """The context kubectl talks through, and its cluster's entry in the kubeconfig."""

    context: str
    cluster: str
    server: str
    stack_cluster: str
    warning: str = ""
    """Set when the cluster's entry cannot tell whether it is the stack's cluster."""

    def __str__(self) -> str:
        seen = f"context {self.context!r}, cluster {self.cluster!r} ({self.server or 'no server'})"
        if self.warning:
            return f"warning: {seen}: {self.warning}"
        return f"{seen}: the stack's cluster {self.stack_cluster!r}"


def cluster_target(kubectl: Kubectl, cluster_name: str, region: str, cluster_mode: str) -> Target:
    """Which context and cluster kubectl uses (its current context, or `kubectl.context`),
    from `kubectl config view --minify` (the merged kubeconfig reduced to that context,
    https://kubernetes.io/docs/reference/kubectl/generated/kubectl_config/kubectl_config_view/).
    Raises CheckError when kubectl has no such context, WrongClusterError when its cluster is not
    the stack's.

    The cluster's entry names it: the stack's own kubeconfig names it after the cluster
    (components/clusters/eks_access.py), `aws eks update-kubeconfig` by its ARN (EKS_ARN).
    An ARN for another name or region, or (`eks` mode, whose kubeconfigs are made one of
    those two ways) another name, is another cluster. In the `kops` and `existing` modes the
    kubeconfig is made outside the stack and may name the cluster anything: a name that is
    not the cluster's cannot tell, and the target carries a warning."""
    try:
        view = json.loads(kubectl.run("config", "view", "--minify", "-o", "json"))
        (context,) = view["contexts"]
        (cluster,) = view["clusters"]
        name, entry = str(context["name"]), str(cluster["name"])
        server = str((cluster.get("cluster") or {}).get("server") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CheckError(
            "`kubectl config view --minify -o json`: not one context and its cluster"
        ) from None
    found = Target(name, entry, server, cluster_name)
    arn = EKS_ARN.fullmatch(entry)
    if arn and (arn["name"], arn["region"]) == (cluster_name, region):
        return found
    if not arn and entry == cluster_name:
        return found
    wrong = (
        f"kubectl's context {name!r} is cluster {entry!r} ({server or 'no server'}), not the "
        f"stack's cluster {cluster_name!r} in {region}: the checks would look at another "
        "cluster (set KUBECONFIG to the stack's kubeconfig, or give --context)"
    )
    if arn or cluster_mode == "eks":
        raise WrongClusterError(wrong)
    return Target(
        name,
        entry,
        server,
        cluster_name,
        warning=f"cannot tell whether this is the stack's cluster {cluster_name!r}: with "
        f"cluster.mode {cluster_mode} the kubeconfig is made outside the stack and may name "
        "its cluster anything",
    )


def applications(kubectl: Kubectl, expected: Sequence[str]) -> str:
    """Every Application in Argo CD's namespace Synced and Healthy, the stack's among them."""
    found: dict[str, tuple[str, str, str]] = {}
    for item in kubectl.get("applications.argoproj.io", "-n", ARGOCD_NAMESPACE):
        status = item.get("status") or {}
        sync, health = status.get("sync") or {}, status.get("health") or {}
        found[str(item.get("metadata", {}).get("name"))] = (
            str(sync.get("status") or "no sync status"),
            str(health.get("status") or "no health status"),
            str(health.get("message") or ""),
        )
    problems = [
        f"{name}: {sync}/{health}" + (f" ({message})" if message else "")
        for name, (sync, health, message) in sorted(found.items())
        if (sync, health) != (SYNCED, HEALTHY)
    ]
    if missing := [name for name in expected if name not in found]:
        problems.append(f"missing: {', '.join(missing)}")
    if not found:
        raise CheckError(f"no Applications in namespace {ARGOCD_NAMESPACE}")
    if problems:
        raise CheckError(f"not {SYNCED}/{HEALTHY}: {'; '.join(problems)}")
    return f"{len(found)} {SYNCED} and {HEALTHY}: {', '.join(sorted(found))}"


HOSTNAME_ANNOTATION = "external-dns.alpha.kubernetes.io/hostname"
"""Names ExternalDNS publishes for an Ingress or a Service, comma-separated (external-dns
v0.21.0 source/annotations/processors.go SplitHostnameAnnotation); components/alb.py
EXTERNAL_DNS_HOSTNAME sets it on the stack's NLB Services."""


@dataclass(frozen=True)
class Publisher:
    """An Ingress or Service publishing a name, and its load balancers (status.loadBalancer:
    the DNS names, or addresses, ExternalDNS makes the name's records point at)."""

    owner: str
    balancers: tuple[str, ...]


class LoadBalancers:
    """Which Ingress or Service publishes each name, and its load balancers, as ExternalDNS
    reads them (external-dns v0.21.0 docs/sources/ingress.md: an Ingress's `spec.rules`
    hosts, its `spec.tls` hosts and the hostname annotation; docs/sources/service.md: a
    Service's hostname annotation; the targets from `status.loadBalancer.ingress`). Asked
    once for all the names, and again after a name failed (it may pass once a load balancer
    appears)."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.found: dict[str, list[Publisher]] | None = None
        self.any_balancer = False

    def publishers(self) -> dict[str, list[Publisher]]:
        """Each published name (lower case) with the objects publishing it."""
        if self.found is None:
            self.found, self.any_balancer = {}, False
            for kind in ("ingress", "service"):
                for item in self.kubectl.get(kind, "-A"):
                    meta = item.get("metadata") or {}
                    owner = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
                    status = (item.get("status") or {}).get("loadBalancer") or {}
                    balancers = tuple(
                        dict.fromkeys(
                            str(name)
                            for entry in status.get("ingress") or []
                            if (name := entry.get("hostname") or entry.get("ip"))
                        )
                    )
                    self.any_balancer = self.any_balancer or bool(balancers)
                    for host in _hosts(kind, item):
                        self.found.setdefault(host, []).append(Publisher(owner, balancers))
        return self.found

    def forget(self) -> None:
        self.found = None


def _hosts(kind: str, item: dict[str, Any]) -> list[str]:
    """The names an Ingress or Service publishes (see LoadBalancers)."""
    annotations = (item.get("metadata") or {}).get("annotations") or {}
    hosts = str(annotations.get(HOSTNAME_ANNOTATION, "")).replace(" ", "").split(",")
    if kind == "ingress":
        spec = item.get("spec") or {}
        hosts += [str(rule.get("host") or "") for rule in spec.get("rules") or []]
        hosts += [str(h) for tls in spec.get("tls") or [] for h in tls.get("hosts") or []]
    return list(dict.fromkeys(h.rstrip(".").lower() for h in hosts if h.strip(".")))


def published_name(net: Network, balancers: LoadBalancers, host: str) -> str:
    """`host` resolves, and to (some of) the addresses of its own load balancer: the one of
    the Ingress or Service that publishes it, not any of the stack's."""
    try:
        return _published_name(net, balancers, host)
    except CheckError:
        balancers.forget()
        raise


def _published_name(net: Network, balancers: LoadBalancers, host: str) -> str:
    publishers = balancers.publishers().get(host.lower(), [])
    if not publishers:
        if not balancers.any_balancer:
            raise CheckError(
                "no Ingress or Service has a load balancer yet (status.loadBalancer is empty)"
            )
        raise CheckError(
            f"no Ingress or Service publishes {host} (in its rules, its TLS hosts or the "
            f"{HOSTNAME_ANNOTATION} annotation)"
        )
    owners = [p for p in publishers if p.balancers]
    if not owners:
        raise CheckError(
            f"{', '.join(p.owner for p in publishers)} publishes {host} but has no load "
            "balancer yet (status.loadBalancer is empty)"
        )
    addresses = set(net.addresses(host))
    seen = []
    for publisher in owners:
        for name in publisher.balancers:
            try:
                theirs = {name} if is_address(name) else set(net.addresses(name))
            except CheckError as failed:
                seen.append(f"{name} ({publisher.owner}): {failed}")
                continue
            if shared := addresses & theirs:
                return f"{host} -> {', '.join(sorted(shared))}: {name} ({publisher.owner})"
            seen.append(f"{name} ({publisher.owner}): {', '.join(sorted(theirs))}")
    raise CheckError(
        f"{host} resolves to {', '.join(sorted(addresses))}, not to its own load balancer's "
        "addresses: " + "; ".join(seen)
    )
