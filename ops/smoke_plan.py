"""Which smoke tests a stack gets, from its configuration and where the run comes from.

From inside access.admin_cidrs (kubectl given) everything but the admin area is checked; from
outside, GitLab and its closed admin area only: Argo CD and the Kubernetes API admit the admin
ranges alone (components/argocd.py, components/clusters/eks.py `public_access_cidrs`). A check
that is not run is listed as skipped, with why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ops.scope import StackScope
from ops.smoke_cluster import (
    Kubectl,
    LoadBalancers,
    Target,
    applications,
    published_name,
)
from ops.smoke_net import CheckError, Network
from ops.smoke_web import (
    BROWSER,
    HTTP1_ONLY,
    argocd_grpc,
    argocd_grpc_web,
    argocd_ui,
    gitlab_admin_closed,
    gitlab_http_redirect,
    gitlab_sign_in,
)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[], str] | None
    """Says what passed, or raises CheckError. None: skipped."""
    skipped: str = ""
    """Why it is not run."""


def check(
    id: str,
    title: str,
    run: Callable[[], str],
    skipped: str = "",
) -> Check:
    """A check, skipped when there is a reason to skip it."""
    return Check(id, title, None, skipped) if skipped else Check(id, title, run)


def plan(
    scope: StackScope, net: Network, kubectl: Kubectl | None, target: Target | None = None
) -> list[Check]:
    """The checks for the stack, in order. Without kubectl (`--from outside`) the checks that
    need the admin ranges are skipped, and the one that needs the outside is run. `target`:
    the context and cluster kubectl was found to use (ops.smoke_cluster.cluster_target)."""
    config, gitlab, argocd = scope.config, scope.gitlab_host, scope.argocd_host
    nlb = config.argocd.exposure == "loadbalancer"
    outside = kubectl is None
    argocd_skip = "from outside: Argo CD admits access.admin_cidrs only" if outside else ""
    if config.gitlab.admin_area == "everyone":
        admin_skip = "gitlab.admin_area is everyone: the ALB does not close the admin area"
    elif not outside:
        admin_skip = (
            "from inside access.admin_cidrs the ALB forwards /admin to GitLab; run with "
            "--from outside, from a network outside them, to check that it is closed"
        )
    else:
        admin_skip = ""
    grpc_skip = argocd_skip or (
        ""
        if nlb
        else "argocd.exposure is ingress: the ALB's HTTP/1.1 target group carries no "
        "native gRPC, the CLI uses --grpc-web (argocd.grpc-web)"
    )
    grpc_web_skip = argocd_skip or (
        "argocd.exposure is loadbalancer: the CLI speaks gRPC over HTTP/2 (argocd.grpc)"
        if nlb
        else ""
    )
    found = [
        check("gitlab.sign-in", "GitLab's sign-in page", lambda: gitlab_sign_in(net, gitlab)),
        check(
            "gitlab.http-redirect",
            "GitLab over HTTP redirected to HTTPS",
            lambda: gitlab_http_redirect(net, gitlab),
        ),
        check(
            "gitlab.admin-closed",
            "GitLab's admin area closed outside the admin ranges",
            lambda: gitlab_admin_closed(net, gitlab),
            admin_skip,
        ),
        check(
            "argocd.ui-http1",
            "Argo CD's UI over HTTP/1.1",
            lambda: argocd_ui(net, argocd, HTTP1_ONLY, behind_nlb=nlb),
            argocd_skip,
        ),
        check(
            "argocd.ui-browser",
            "Argo CD's UI as a browser asks (ALPN h2, http/1.1)",
            lambda: argocd_ui(net, argocd, BROWSER, behind_nlb=nlb),
            argocd_skip,
        ),
        check(
            "argocd.grpc",
            "Argo CD's API over gRPC (HTTP/2), as the CLI calls it",
            lambda: argocd_grpc(net, argocd),
            grpc_skip,
        ),
        check(
            "argocd.grpc-web",
            "Argo CD's API over gRPC-web (HTTP/1.1), as `argocd --grpc-web` calls it",
            lambda: argocd_grpc_web(net, argocd),
            grpc_web_skip,
        ),
    ]
    return found + _cluster_checks(scope, net, kubectl, target)


def _cluster_checks(
    scope: StackScope, net: Network, kubectl: Kubectl | None, target: Target | None
) -> list[Check]:
    """What the cluster says: its context, the Applications, where the names lead."""
    hosts = scope.published_hosts
    titles = [
        ("kubectl.context", "kubectl points at the stack's cluster"),
        ("argocd.applications", "every Argo CD Application Synced and Healthy"),
        *((f"dns:{host}", f"{host} published to a load balancer") for host in hosts),
    ]
    if kubectl is None:
        why = "from outside: the Kubernetes API admits access.admin_cidrs only"
        return [Check(id, title, None, why) for id, title in titles]
    balancers = LoadBalancers(kubectl)
    expected = [app.name for app in scope.config.applications]
    runs: list[Callable[[], str]] = [
        partial(_target, target),
        partial(applications, kubectl, expected),
        *(partial(published_name, net, balancers, host) for host in hosts),
    ]
    return [Check(id, title, run) for (id, title), run in zip(titles, runs, strict=True)]


def _target(target: Target | None) -> str:
    """What kubectl was found to talk to (asked before any check: a context on another cluster
    stops the run)."""
    if target is None:
        raise CheckError("kubectl's context was not asked (ops.smoke_cluster.cluster_target)")
    return str(target)
