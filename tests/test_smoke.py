"""`make smoke` against local fakes of the dev stack's platform (tests/fakes.py): every
connection goes to 127.0.0.1 through `--connect-to`, every name resolves through `--resolve`,
TLS is checked against a test CA (`--ca-file`) with the real host names, and kubectl is a
script printing fixtures. No network, no cluster.

The fakes' load balancers agree ALPN as the AWS ALPN policies do (fakes.ALPN_POLICIES); the
working platform's NLB is `HTTP2Optional` (components/argocd.py ALPN_POLICY)."""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakes
import pytest
import trustme
from fakes import (
    ALPN_POLICIES,
    FakeServer,
    SelfSigned,
    application,
    argocd_grpc,
    argocd_http,
    fake_kubectl,
    gitlab,
    kubeconfig,
    listing,
    ssl_redirect,
    with_load_balancer,
)

from components.gitlab_edge import ADMIN_AREA_CLOSED_TO
from ops.smoke import main
from ops.smoke_cluster import Kubectl, Target, WrongClusterError, cluster_target
from ops.smoke_net import CheckError
from ops.smoke_web import ADMIN_PROBES

PROJECT_DIR = Path(__file__).resolve().parent.parent
GITLAB = "gitlab.dev.gitops.example.com"
REGISTRY = "registry.dev.gitops.example.com"
ARGOCD = "argocd.dev.gitops.example.com"
ALB = "k8s-gitopsplatformdev-0123456789.eu-west-1.elb.amazonaws.com"
NLB = "k8s-argocd-argocdse-0123456789.elb.eu-west-1.amazonaws.com"
ALB_ADDRESSES, NLB_ADDRESSES = "192.0.2.10,192.0.2.11", "192.0.2.20"
CLUSTER = "gitops-platform-dev"
CLUSTER_ARN = f"arn:aws:eks:eu-west-1:123456789012:cluster/{CLUSTER}"
ENDPOINT = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
# Only what the DNS checks see (the resolver's answers, `Platform.lookup`): connections go to
# the fakes (--connect-to).
DNS = {
    GITLAB: ALB_ADDRESSES,
    REGISTRY: "192.0.2.11",
    ARGOCD: NLB_ADDRESSES,
    ALB: ALB_ADDRESSES,
    NLB: NLB_ADDRESSES,
}
APPLICATIONS = [application("minio-helm"), application("my-app")]
LOAD_BALANCERS = {
    "get ingress -A -o json": listing(
        with_load_balancer("Ingress", "gitlab", "gitlab-webservice-default", ALB, GITLAB),
        with_load_balancer("Ingress", "gitlab", "gitlab-registry", ALB, REGISTRY),
    ),
    "get service -A -o json": listing(
        {"kind": "Service", "metadata": {"namespace": "default", "name": "kubernetes"}},
        with_load_balancer("Service", "argocd", "argocd-server", NLB, ARGOCD),
    ),
}
# The verdicts for a working dev stack, from inside the admin ranges.
WORKING = {
    "gitlab.sign-in": "pass",
    "gitlab.http-redirect": "pass",
    "gitlab.admin-closed": "skipped",
    "argocd.ui-http1": "pass",
    "argocd.ui-browser": "pass",
    "argocd.grpc": "pass",
    "argocd.grpc-web": "skipped",
    "kubectl.context": "pass",
    "argocd.applications": "pass",
    f"dns:{GITLAB}": "pass",
    f"dns:{REGISTRY}": "pass",
    f"dns:{ARGOCD}": "pass",
}


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"a real DNS lookup of {host}")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str
    report: dict[str, Any]

    @property
    def statuses(self) -> dict[str, str]:
        return {c["id"]: c["status"] for c in self.report["checks"]}

    def detail(self, check: str) -> str:
        (found,) = [c["detail"] for c in self.report["checks"] if c["id"] == check]
        return str(found)


@dataclass
class Platform:
    """The dev stack's endpoints as fakes; change any before `run`."""

    ca: trustme.CA
    ca_file: Path
    tmp: Path
    capsys: pytest.CaptureFixture[str]
    gitlab: FakeServer | None = None
    gitlab_http: FakeServer | None = None
    argocd: FakeServer | None = None
    kubectl: dict[str, Any] = field(default_factory=dict)
    dns: dict[str, str] = field(default_factory=lambda: dict(DNS))

    def cert(self, *hosts: str, **kwargs: Any) -> trustme.LeafCert:
        return self.ca.issue_cert(*hosts, **kwargs)

    def args(self, *extra: str, stack: tuple[str, ...] = ("--stack", "dev")) -> list[str]:
        routes = [
            (GITLAB, 443, self.gitlab),
            (GITLAB, 80, self.gitlab_http),
            (ARGOCD, 443, self.argocd),
        ]
        args = [*stack, "--ca-file", str(self.ca_file), "--timeout", "2", "--interval", "0.05"]
        if self.kubectl:
            args += ["--kubectl", str(fake_kubectl(self.tmp, self.kubectl))]
        for host, port, server in routes:
            if server is not None:
                args += ["--connect-to", f"{host}:{port}:127.0.0.1:{server.port}"]
        return [*args, *extra]

    def lookup(self, fallback: Callable[[str], list[str]] = no_dns) -> Callable[[str], list[str]]:
        """The resolver the DNS checks ask: `dns`, else `fallback`."""

        def resolve(host: str) -> list[str]:
            return self.dns[host].split(",") if host in self.dns else fallback(host)

        return resolve

    def sitecustomize(self) -> dict[str, str]:
        """The environment of a `python -m ops.smoke` subprocess whose resolver answers
        `dns` (a sitecustomize module replacing socket.getaddrinfo), fails on other names
        and passes addresses through."""
        directory = self.tmp / "resolver"
        directory.mkdir(exist_ok=True)
        (directory / "sitecustomize.py").write_text(
            "import ipaddress, socket\n"
            f"DNS = {self.dns!r}\n"
            "real = socket.getaddrinfo\n"
            "def getaddrinfo(host, port, *args, **kwargs):\n"
            "    try:\n"
            "        ipaddress.ip_address(host)\n"
            "        return real(host, port, *args, **kwargs)\n"
            "    except ValueError:\n"
            "        pass\n"
            "    if host not in DNS:\n"
            "        raise socket.gaierror(socket.EAI_NONAME, 'not in the fake DNS')\n"
            "    return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (a, port or 0))\n"
            "            for a in DNS[host].split(',')]\n"
            "socket.getaddrinfo = getaddrinfo\n"
        )
        return {**os.environ, "PYTHONPATH": str(directory)}

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for server in (self.gitlab, self.gitlab_http, self.argocd):
                if server is not None:
                    stack.enter_context(server)
            yield

    def run(
        self,
        *extra: str,
        stack: tuple[str, ...] = ("--stack", "dev"),
        lookup: Callable[[str], list[str]] = no_dns,
    ) -> Run:
        report_file = self.tmp / "smoke.json"
        args = self.args("--json", str(report_file), *extra, stack=stack)
        with self.serving():
            code = main(args, lookup=self.lookup(lookup))
        out, err = self.capsys.readouterr()
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        return Run(code, out, err, report)


@pytest.fixture
def platform(
    ca: trustme.CA,
    ca_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Platform:
    """A working dev stack: GitLab on the ALB, Argo CD on an HTTP2Optional NLB, every
    Application Synced and Healthy, every name on a load balancer; KUBECONFIG the stack's
    own kubeconfig (components/clusters/eks_access.py: context and cluster named after it)."""
    config = kubeconfig(
        tmp_path / "kubeconfig.json", CLUSTER, {CLUSTER: ENDPOINT}, {CLUSTER: CLUSTER}
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    return Platform(
        ca=ca,
        ca_file=ca_file,
        tmp=tmp_path,
        capsys=capsys,
        gitlab=FakeServer(http1=gitlab(), cert=ca.issue_cert(GITLAB), alpn=("h2", "http/1.1")),
        gitlab_http=FakeServer(http1=ssl_redirect()),
        argocd=argocd_nlb(ca, "HTTP2Optional"),
        kubectl={
            "get applications.argoproj.io -n argocd -o json": listing(*APPLICATIONS),
            **LOAD_BALANCERS,
        },
    )


def argocd_nlb(ca: trustme.CA, policy: str, h2: fakes.Handler | None = None) -> FakeServer:
    """argocd-server's plain listener behind an NLB ending TLS with `policy`: HTTP/1.1 for
    the UI and gRPC-web, HTTP/2 only as gRPC (argo-cd v3.4.4 server/server.go, cmux)."""
    return FakeServer(
        http1=argocd_http(),
        h2=h2 or argocd_grpc(),
        cert=ca.issue_cert(ARGOCD),
        alpn=ALPN_POLICIES[policy],
    )


# The whole platform.


def test_a_working_platform_passes_and_says_what_it_skipped(platform: Platform) -> None:
    run = platform.run()
    assert run.code == 0, run.out
    assert run.statuses == WORKING
    assert "from inside access.admin_cidrs" in run.detail("gitlab.admin-closed")
    assert "--from outside" in run.detail("gitlab.admin-closed")
    assert "exposure is loadbalancer" in run.detail("argocd.grpc-web")
    assert "10 passed, 0 failed, 2 skipped" in run.out


def test_the_report_has_stable_keys_for_the_pipeline(platform: Platform) -> None:
    report = platform.run().report
    assert set(report) == {"version", "stack", "from", "result", "counts", "checks"}
    assert (report["version"], report["stack"], report["from"]) == (1, "dev", "inside")
    assert (report["result"], report["counts"]) == ("pass", {"pass": 10, "fail": 0, "skipped": 2})
    for entry in report["checks"]:
        assert set(entry) == {"id", "title", "status", "detail", "seconds"}


def test_one_line_per_check_then_a_summary(platform: Platform) -> None:
    platform.argocd = argocd_nlb(platform.ca, "HTTP1Only")
    lines = platform.run().out.splitlines()
    assert lines[0] == "smoke tests of stack dev (from inside):"
    assert [line.split()[:2] for line in lines[1:-1]] == [
        [{"pass": "pass", "fail": "FAIL", "skipped": "skipped"}[s], check]
        for check, s in {**WORKING, "argocd.grpc": "fail"}.items()
    ]
    assert lines[-1] == "9 passed, 1 failed, 2 skipped: argocd.grpc"


# Argo CD: the UI as browsers reach it, the API as the CLI does.


def test_fails_when_argocd_serves_http1_but_not_grpc_over_http2(platform: Platform) -> None:
    # HTTP1Only: the NLB never agrees h2, so the CLI's gRPC cannot get through.
    platform.argocd = argocd_nlb(platform.ca, "HTTP1Only")
    run = platform.run()
    assert run.code == 1
    assert run.statuses == {**WORKING, "argocd.grpc": "fail"}
    assert "ALPN agreed no protocol with a client offering only h2" in run.detail("argocd.grpc")
    assert run.report["result"] == "fail"


def test_fails_when_http2_carries_no_grpc(platform: Platform) -> None:
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Optional", h2=lambda seen: None)
    run = platform.run()
    assert run.statuses == {**WORKING, "argocd.grpc": "fail"}
    assert "closed the connection without answering POST" in run.detail("argocd.grpc")


def test_reports_the_grpc_status_and_message_of_a_failed_call(platform: Platform) -> None:
    failing = argocd_grpc(status=14, message="connection%20refused")
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Optional", h2=failing)
    run = platform.run()
    assert run.code == 1
    assert "grpc-status 14 (UNAVAILABLE): connection refused" in run.detail("argocd.grpc")


def test_the_grpc_call_is_a_unary_call_as_grpc_frames_it(platform: Platform) -> None:
    run = platform.run()
    assert run.detail("argocd.grpc").endswith("grpc-status 0, Argo CD v3.4.4")
    assert platform.argocd is not None
    (call,) = [s for s in platform.argocd.seen if s.protocol == "h2"]
    assert (call.method, call.path) == ("POST", "/version.VersionService/Version")
    assert call.headers["content-type"] == "application/grpc"
    assert call.headers["te"] == "trailers"
    assert call.body == b"\x00\x00\x00\x00\x00"  # not compressed, length 0: an Empty


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/grpc", "pass"),
        ("application/grpc+proto", "pass"),
        ("application/grpc-web+proto", "fail"),
        ("application/grpc-web", "fail"),
        ("application/grpcweb", "fail"),
    ],
)
def test_native_grpc_takes_only_grpcs_content_type(
    platform: Platform, content_type: str, status: str
) -> None:
    # A gRPC-web answer to a native gRPC call is another protocol, whatever its grpc-status.
    answer = argocd_grpc(content_type=content_type)
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Optional", h2=answer)
    run = platform.run()
    assert run.statuses["argocd.grpc"] == status, run.detail("argocd.grpc")
    if status == "fail":
        assert run.detail("argocd.grpc").endswith(
            f"200, content-type {content_type}, expected 200 with content-type application/grpc"
        )


@pytest.mark.parametrize("at", ["before", "after-headers", "after"])
def test_a_graceful_goaway_that_keeps_our_stream_passes(platform: Platform, at: str) -> None:
    # A server draining the connection (GOAWAY, last stream 1) still answers stream 1.
    platform.argocd = FakeServer(
        http1=argocd_http(),
        h2=argocd_grpc(),
        cert=platform.cert(ARGOCD),
        alpn=ALPN_POLICIES["HTTP2Optional"],
        goaway=(at, 1),
    )
    run = platform.run()
    assert run.statuses["argocd.grpc"] == "pass", run.detail("argocd.grpc")
    assert run.detail("argocd.grpc").endswith("grpc-status 0, Argo CD v3.4.4")


def test_a_goaway_below_our_stream_fails(platform: Platform) -> None:
    platform.argocd = FakeServer(
        http1=argocd_http(),
        h2=argocd_grpc(),
        cert=platform.cert(ARGOCD),
        alpn=ALPN_POLICIES["HTTP2Optional"],
        goaway=("before", 0),
    )
    run = platform.run()
    assert run.statuses == {**WORKING, "argocd.grpc": "fail"}
    assert run.detail("argocd.grpc") == (
        f"{ARGOCD} ended the connection (GOAWAY: last stream 0, NO_ERROR) before our stream 1, "
        "without answering POST /version.VersionService/Version over HTTP/2"
    )


def test_fails_when_browsers_get_http2_that_only_takes_grpc(platform: Platform) -> None:
    # The historical regression: the NLB agreed h2 with browsers (HTTP2Preferred), and
    # argocd-server's plain listener takes HTTP/2 only as gRPC. HTTP/1.1 and the CLI work.
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Preferred")
    run = platform.run()
    assert run.code == 1
    assert run.statuses == {**WORKING, "argocd.ui-browser": "fail"}
    detail = run.detail("argocd.ui-browser")
    assert "closed the connection without answering GET / over HTTP/2" in detail
    assert "ALPN agreed h2: argocd-server's plain listener takes HTTP/2 only as gRPC" in detail


def test_fails_when_http1_is_broken(platform: Platform) -> None:
    # HTTP2Only: every client gets HTTP/2, which argocd-server takes only as gRPC.
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Only")
    run = platform.run()
    assert run.statuses == {**WORKING, "argocd.ui-http1": "fail", "argocd.ui-browser": "fail"}
    assert "no answer to GET / over HTTP/1.1" in run.detail("argocd.ui-http1")


def test_fails_when_the_ui_is_not_argo_cds(platform: Platform) -> None:
    page = fakes.Answer(200, fakes.HTML, b"<title>502 Bad Gateway</title>")
    platform.argocd = FakeServer(
        http1=lambda seen: page,
        h2=argocd_grpc(),
        cert=platform.cert(ARGOCD),
        alpn=ALPN_POLICIES["HTTP2Optional"],
    )
    run = platform.run()
    assert run.statuses["argocd.ui-http1"] == "fail"
    assert "not Argo CD's UI (title '502 Bad Gateway')" in run.detail("argocd.ui-http1")


def test_a_browser_speaks_http2_when_it_is_agreed(platform: Platform) -> None:
    # As through the ALB of the `ingress` exposure: h2 with browsers, the UI answered.
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Preferred", h2=argocd_grpc(ui=True))
    run = platform.run()
    assert run.code == 0, run.out
    assert "200 over h2 (ALPN: h2)" in run.detail("argocd.ui-browser")
    assert "200 over HTTP/1.1 (ALPN: http/1.1)" in run.detail("argocd.ui-http1")


def ingress_stack(tmp: Path, **settings: str) -> tuple[str, ...]:
    """The dev stack file with `argocd.exposure: ingress`, or other settings."""
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    for key, value in {"argocd": "{exposure: ingress}", **settings}.items():
        text += f"  gitops-platform:{key}: {value}\n"
    path = tmp / "Pulumi.dev.yaml"
    path.write_text(text)
    return ("--stack-file", str(path))


def test_the_ingress_exposure_is_checked_over_grpc_web(platform: Platform) -> None:
    # The shared ALB: h2 or HTTP/1.1 with clients, HTTP/1.1 to argocd-server.
    platform.argocd = FakeServer(
        http1=argocd_http(),
        h2=argocd_grpc(ui=True),
        cert=platform.cert(ARGOCD),
        alpn=("h2", "http/1.1"),
    )
    run = platform.run(stack=ingress_stack(platform.tmp))
    assert run.code == 0, run.out
    assert run.statuses == {**WORKING, "argocd.grpc": "skipped", "argocd.grpc-web": "pass"}
    assert "exposure is ingress" in run.detail("argocd.grpc")
    assert "over HTTP/1.1: grpc-status 0, Argo CD v3.4.4" in run.detail("argocd.grpc-web")


def test_fails_the_ingress_exposure_without_grpc_web(platform: Platform) -> None:
    platform.argocd = FakeServer(
        http1=argocd_http(grpc_web=False),
        h2=argocd_grpc(ui=True),
        cert=platform.cert(ARGOCD),
        alpn=("h2", "http/1.1"),
    )
    run = platform.run(stack=ingress_stack(platform.tmp))
    assert run.statuses["argocd.grpc-web"] == "fail"
    assert "405, expected 200 with content-type application/grpc-web+proto" in run.detail(
        "argocd.grpc-web"
    )


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/grpc-web", "pass"),
        ("application/grpc-web+proto", "pass"),
        ("application/grpc-web+proto; charset=utf-8", "pass"),
        ("application/grpc-web-text", "pass"),
        ("application/grpc-web+protobuf", "fail"),
        ("application/grpc-web-texts", "fail"),
        ("application/grpc", "fail"),
    ],
)
def test_grpc_web_takes_only_grpc_webs_content_types(
    platform: Platform, content_type: str, status: str
) -> None:
    platform.argocd = FakeServer(
        http1=argocd_http(content_type=content_type),
        h2=argocd_grpc(ui=True),
        cert=platform.cert(ARGOCD),
        alpn=("h2", "http/1.1"),
    )
    run = platform.run(stack=ingress_stack(platform.tmp))
    assert run.statuses["argocd.grpc-web"] == status, run.detail("argocd.grpc-web")
    if status == "pass":
        assert run.detail("argocd.grpc-web").endswith("grpc-status 0, Argo CD v3.4.4")
    else:
        assert f"content-type {content_type}, expected 200 with content-type" in run.detail(
            "argocd.grpc-web"
        )


# GitLab.


@pytest.mark.parametrize(
    ("certificate", "said"),
    [
        ("self-signed", "self-signed certificate"),
        ("other CA", "unable to get local issuer certificate"),
        ("wrong name", f"Hostname mismatch, certificate is not valid for '{GITLAB}'"),
        ("expired", "certificate has expired"),
    ],
)
def test_fails_gitlab_with_an_invalid_certificate(
    platform: Platform, certificate: str, said: str
) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    cert: fakes.ServerCert = {
        "self-signed": lambda: SelfSigned(GITLAB, platform.tmp),
        "other CA": lambda: trustme.CA().issue_cert(GITLAB),
        "wrong name": lambda: platform.cert("gitlab.example.org"),
        "expired": lambda: platform.cert(
            GITLAB, not_before=past - datetime.timedelta(days=9), not_after=past
        ),
    }[certificate]()
    platform.gitlab = FakeServer(http1=gitlab(), cert=cert, alpn=("http/1.1",))
    run = platform.run()
    assert run.code == 1
    assert run.statuses == {**WORKING, "gitlab.sign-in": "fail"}
    detail = run.detail("gitlab.sign-in")
    assert f"TLS: the certificate {GITLAB} presents is not valid: {said}" in detail
    assert f"(trusting --ca-file {platform.ca_file})" in detail


def test_tls_names_the_real_host_whatever_the_address(platform: Platform) -> None:
    run = platform.run()
    assert run.code == 0
    assert platform.gitlab is not None
    assert platform.argocd is not None
    assert set(platform.gitlab.server_names) == {GITLAB}
    assert set(platform.argocd.server_names) == {ARGOCD}
    assert {s.headers["host"] for s in platform.gitlab.seen} == {GITLAB}


def test_fails_when_the_sign_in_page_is_not_there(platform: Platform) -> None:
    platform.gitlab = FakeServer(
        http1=lambda seen: fakes.Answer(503, fakes.HTML, b"<title>503</title>"),
        cert=platform.cert(GITLAB),
    )
    run = platform.run()
    assert run.statuses["gitlab.sign-in"] == "fail"
    assert f"https://{GITLAB}/users/sign_in: 503, expected 200" in run.detail("gitlab.sign-in")


def test_fails_when_the_sign_in_page_is_something_else(platform: Platform) -> None:
    page = fakes.Answer(200, fakes.HTML, b"<title>Welcome to nginx!</title>")
    platform.gitlab = FakeServer(http1=lambda seen: page, cert=platform.cert(GITLAB))
    run = platform.run()
    assert run.statuses["gitlab.sign-in"] == "fail"
    assert "200, but not GitLab's sign-in page (title 'Welcome to nginx!')" in run.detail(
        "gitlab.sign-in"
    )


def test_fails_when_http_is_not_redirected_to_https(platform: Platform) -> None:
    platform.gitlab_http = FakeServer(http1=gitlab())
    run = platform.run()
    assert run.statuses == {**WORKING, "gitlab.http-redirect": "fail"}
    assert "200, expected 301 to https://" in run.detail("gitlab.http-redirect")


def test_fails_when_http_is_redirected_elsewhere(platform: Platform) -> None:
    platform.gitlab_http = FakeServer(http1=ssl_redirect(f"https://{GITLAB}/"))
    run = platform.run()
    assert run.statuses["gitlab.http-redirect"] == "fail"
    expected = f"301 to https://{GITLAB}/, expected https://{GITLAB}:443/users/sign_in?smoke=1"
    assert expected in run.detail("gitlab.http-redirect")


def test_the_admin_probes_cover_every_pattern_the_alb_closes() -> None:
    for pattern in ADMIN_AREA_CLOSED_TO:
        assert any(fnmatch.fnmatchcase(probe, pattern) for probe in ADMIN_PROBES), pattern


def outside(platform: Platform, **kwargs: Any) -> Run:
    """From outside the admin ranges: no kubectl there, or needed."""
    platform.kubectl = {}
    return platform.run("--from", "outside", **kwargs)


OUTSIDE = {
    "gitlab.sign-in": "pass",
    "gitlab.http-redirect": "pass",
    "gitlab.admin-closed": "pass",
    **{check: "skipped" for check in list(WORKING)[3:]},
}


def test_from_outside_the_admin_area_answered_403_passes(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(platform.tmp))  # no kubectl
    run = outside(platform)
    assert run.code == 0, run.out + run.err
    assert run.statuses == OUTSIDE
    assert "403 for /admin, /admin/users, /admin.json, //admin" in run.detail("gitlab.admin-closed")
    assert run.detail("argocd.ui-browser") == "from outside: Argo CD admits access.admin_cidrs only"
    assert "Kubernetes API admits access.admin_cidrs only" in run.detail("argocd.applications")
    assert run.report["from"] == "outside"


@pytest.mark.parametrize("admin", [200, 302])
def test_from_outside_an_open_admin_area_fails(platform: Platform, admin: int) -> None:
    platform.gitlab = FakeServer(http1=gitlab(admin=admin), cert=platform.cert(GITLAB))
    run = outside(platform)
    assert run.code == 1
    assert run.statuses == {**OUTSIDE, "gitlab.admin-closed": "fail"}
    detail = run.detail("gitlab.admin-closed")
    assert f"/admin: {admin}" in detail
    assert "expected 403 from the ALB to anyone outside access.admin_cidrs" in detail


def test_the_admin_area_open_to_everyone_is_not_checked(platform: Platform) -> None:
    stack = ingress_stack(platform.tmp, gitlab="{admin_area: everyone}")
    platform.argocd = None
    run = outside(platform, stack=stack)
    assert run.statuses["gitlab.admin-closed"] == "skipped"
    assert "gitlab.admin_area is everyone" in run.detail("gitlab.admin-closed")


# The Applications.


@pytest.mark.parametrize(
    ("app", "said"),
    [
        (application("my-app", sync="OutOfSync"), "my-app: OutOfSync/Healthy"),
        (
            application("my-app", health="Degraded", message="Deployment exceeded its deadline"),
            "my-app: Synced/Degraded (Deployment exceeded its deadline)",
        ),
        ({"metadata": {"name": "my-app"}}, "my-app: no sync status/no health status"),
    ],
)
def test_fails_when_an_application_is_not_synced_and_healthy(
    platform: Platform, app: dict[str, Any], said: str
) -> None:
    platform.kubectl["get applications.argoproj.io -n argocd -o json"] = listing(
        application("minio-helm"), app
    )
    run = platform.run()
    assert run.code == 1
    assert run.statuses == {**WORKING, "argocd.applications": "fail"}
    assert run.detail("argocd.applications") == f"not Synced/Healthy: {said}"


def test_fails_when_one_of_the_stacks_applications_is_missing(platform: Platform) -> None:
    platform.kubectl["get applications.argoproj.io -n argocd -o json"] = listing(
        application("minio-helm")
    )
    run = platform.run()
    assert run.detail("argocd.applications") == "not Synced/Healthy: missing: my-app"


def test_waits_for_the_applications_to_converge(platform: Platform) -> None:
    platform.kubectl["get applications.argoproj.io -n argocd -o json"] = [
        listing(application("minio-helm", health="Progressing"), application("my-app")),
        listing(application("minio-helm", sync="OutOfSync"), application("my-app")),
        listing(*APPLICATIONS),
    ]
    run = platform.run("--wait", "5")
    assert run.code == 0, run.out
    assert "2 Synced and Healthy: minio-helm, my-app (attempt 3, after" in run.detail(
        "argocd.applications"
    )


def test_stops_waiting_when_the_time_is_up(platform: Platform) -> None:
    platform.kubectl["get applications.argoproj.io -n argocd -o json"] = listing(
        application("minio-helm"), application("my-app", sync="OutOfSync")
    )
    started = time.monotonic()
    # The deadline runs from the start: the checks before this one must leave it time to retry
    # even on a loaded machine.
    run = platform.run("--wait", "2")
    assert time.monotonic() - started < 10
    assert run.statuses["argocd.applications"] == "fail"
    assert "my-app: OutOfSync/Healthy (attempt " in run.detail("argocd.applications")


def test_without_wait_a_check_is_tried_once(platform: Platform) -> None:
    platform.kubectl["get applications.argoproj.io -n argocd -o json"] = [
        listing(application("minio-helm", sync="OutOfSync"), application("my-app")),
        listing(*APPLICATIONS),
    ]
    run = platform.run()
    assert run.detail("argocd.applications") == "not Synced/Healthy: minio-helm: OutOfSync/Healthy"


def flaky(failures: int, then: fakes.Handler) -> fakes.Handler:
    """`then`, after answering 503 to the first `failures` requests (a target not yet
    healthy behind a new load balancer)."""
    answered = [0]

    def answer(seen: fakes.Seen) -> fakes.Answer | None:
        answered[0] += 1
        if answered[0] <= failures:
            return fakes.Answer(
                503, fakes.HTML, b"<title>503 Service Temporarily Unavailable</title>"
            )
        return then(seen)

    return answer


def test_waits_for_the_web_checks_to_pass(platform: Platform) -> None:
    platform.gitlab = FakeServer(http1=flaky(2, gitlab()), cert=platform.cert(GITLAB))
    run = platform.run("--wait", "5")
    assert run.code == 0, run.out
    assert f"certificate valid for {GITLAB} (attempt 3, after " in run.detail("gitlab.sign-in")


def test_a_web_check_that_never_passes_reports_its_last_failure(platform: Platform) -> None:
    platform.gitlab = FakeServer(http1=flaky(1000, gitlab()), cert=platform.cert(GITLAB))
    run = platform.run("--wait", "1")
    assert run.statuses == {**WORKING, "gitlab.sign-in": "fail"}
    detail = run.detail("gitlab.sign-in")
    assert detail.startswith(f"https://{GITLAB}/users/sign_in: 503, expected 200")
    assert " (attempt " in detail
    assert platform.gitlab is not None
    assert len(platform.gitlab.seen) > 1


def test_kubectl_finds_the_cluster_through_kubeconfig(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = kubeconfig(
        platform.tmp / "dev.kubeconfig", CLUSTER, {CLUSTER: ENDPOINT}, {CLUSTER: CLUSTER}
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert platform.run().code == 0
    calls = [json.loads(line) for line in (platform.tmp / "kubectl.log").read_text().splitlines()]
    assert {c["KUBECONFIG"] for c in calls} == {str(platform.tmp / "dev.kubeconfig")}
    assert all("--request-timeout=2s" in c["args"] for c in calls)


def use_kubeconfig(
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
    current: str | None,
    clusters: dict[str, str],
    contexts: dict[str, str],
) -> None:
    path = kubeconfig(platform.tmp / "other.kubeconfig", current, clusters, contexts)
    monkeypatch.setenv("KUBECONFIG", str(path))


def calls(platform: Platform) -> list[dict[str, Any]]:
    log = (platform.tmp / "kubectl.log").read_text().splitlines()
    return [json.loads(line) for line in log]


def test_the_report_names_the_context_and_cluster_checked(platform: Platform) -> None:
    run = platform.run()
    assert run.detail("kubectl.context") == (
        f"context {CLUSTER!r}, cluster {CLUSTER!r} ({ENDPOINT}): the stack's cluster {CLUSTER!r}"
    )


def test_every_kubectl_call_is_pinned_to_the_context_checked(platform: Platform) -> None:
    # The first call asks which context is current; every one after it names that context.
    assert platform.run().code == 0
    first, *rest = calls(platform)
    assert first["args"][:4] == ["config", "view", "--minify", "-o"]
    assert first["context"] is None
    assert len(rest) >= 3
    assert {c["context"] for c in rest} == {CLUSTER}


def test_refuses_a_context_on_another_cluster(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "gitops-platform-rehearsal"
    use_kubeconfig(platform, monkeypatch, other, {other: ENDPOINT}, {other: other})
    run = platform.run()
    assert run.code == 2
    assert run.out == ""
    assert run.report == {}
    (line,) = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert line == (
        f"error: kubectl's context {other!r} is cluster {other!r} ({ENDPOINT}), not the "
        f"stack's cluster {CLUSTER!r} in eu-west-1: the checks would look at another cluster "
        "(set KUBECONFIG to the stack's kubeconfig, or give --context)"
    )
    assert [c["args"][:2] for c in calls(platform)] == [["config", "view"]]


def test_an_eks_cluster_arn_names_the_cluster(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `aws eks update-kubeconfig` writes it: context and cluster entries named by the ARN.
    use_kubeconfig(
        platform, monkeypatch, CLUSTER_ARN, {CLUSTER_ARN: ENDPOINT}, {CLUSTER_ARN: CLUSTER_ARN}
    )
    run = platform.run()
    assert run.code == 0, run.out + run.err
    assert run.detail("kubectl.context").startswith(
        f"context {CLUSTER_ARN!r}, cluster {CLUSTER_ARN!r}"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:eks:eu-west-1:123456789012:cluster/gitops-platform-rehearsal",
        f"arn:aws:eks:us-east-1:123456789012:cluster/{CLUSTER}",
    ],
)
def test_refuses_an_eks_arn_of_another_name_or_region(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, arn: str
) -> None:
    use_kubeconfig(platform, monkeypatch, "dev", {arn: ENDPOINT}, {"dev": arn})
    run = platform.run()
    assert run.code == 2
    assert f"error: kubectl's context 'dev' is cluster {arn!r}" in run.err


def test_the_context_option_picks_the_context(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The current context is another cluster; --context names the stack's.
    use_kubeconfig(
        platform,
        monkeypatch,
        "kind-kind",
        {"kind-kind": "https://127.0.0.1:6443", CLUSTER_ARN: ENDPOINT},
        {"kind-kind": "kind-kind", "dev": CLUSTER_ARN},
    )
    run = platform.run("--context", "dev")
    assert run.code == 0, run.out + run.err
    assert run.detail("kubectl.context").startswith(f"context 'dev', cluster {CLUSTER_ARN!r}")
    assert {c["context"] for c in calls(platform)[1:]} == {"dev"}


@pytest.mark.parametrize(
    ("args", "current", "said"),
    [
        (
            ("--context", "nosuch"),
            CLUSTER,
            "error: `kubectl config view --minify -o json` failed (1): error: cannot locate "
            "context nosuch",
        ),
        ((), None, "error: current-context must exist in order to minify"),
    ],
)
def test_no_such_context_exits_2(
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    current: str | None,
    said: str,
) -> None:
    use_kubeconfig(platform, monkeypatch, current, {CLUSTER: ENDPOINT}, {CLUSTER: CLUSTER})
    run = platform.run(*args)
    assert run.code == 2
    assert run.out == ""
    (line,) = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert said in line


KOPS_STACK = ("--stack-file", str(PROJECT_DIR / "tests" / "stacks" / "Pulumi.kops.yaml"))


def test_a_kubeconfig_made_outside_the_stack_that_cannot_tell_is_a_warning(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kops mode: the kubeconfig is made outside the stack and names its cluster as it likes.
    use_kubeconfig(
        platform, monkeypatch, "admin", {"study": "https://api.study"}, {"admin": "study"}
    )
    run = platform.run(stack=KOPS_STACK)
    assert run.statuses["kubectl.context"] == "pass"
    detail = run.detail("kubectl.context")
    assert detail.startswith("warning: context 'admin', cluster 'study' (https://api.study): ")
    assert "cannot tell whether this is the stack's cluster 'study.k8s.local'" in detail
    assert "warning: cannot tell whether this is the stack's cluster" in run.err


def test_a_kubeconfig_made_outside_the_stack_naming_another_eks_cluster_is_refused(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kubeconfig(platform, monkeypatch, "admin", {CLUSTER_ARN: ENDPOINT}, {"admin": CLUSTER_ARN})
    run = platform.run(stack=KOPS_STACK)
    assert run.code == 2
    assert "not the stack's cluster 'study.k8s.local' in ap-northeast-2" in run.err


REAL_KUBECTL = PROJECT_DIR / ".venv" / "bin" / "kubectl"


@pytest.mark.skipif(not REAL_KUBECTL.exists(), reason="no kubectl in .venv/bin (make tools)")
@pytest.mark.parametrize(
    ("current", "context"),
    [
        ("dev", None),
        ("kind-kind", None),
        ("kind-kind", "dev"),
        ("dev", "nosuch"),
        (None, None),
        ("dangling", None),
    ],
)
def test_the_fake_kubectl_reads_kubeconfigs_as_kubectl_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, current: str | None, context: str | None
) -> None:
    """The fake's `config view --minify` against the real one's (it runs no API call)."""
    first = kubeconfig(
        tmp_path / "first.json",
        current,
        {CLUSTER_ARN: ENDPOINT},
        {"dev": CLUSTER_ARN, "dangling": "missing"},
    )
    second = kubeconfig(
        tmp_path / "second.json",
        "dev",
        {"kind-kind": "https://127.0.0.1:6443", CLUSTER_ARN: "https://shadowed"},
        {"kind-kind": "kind-kind", "dev": "kind-kind"},
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    monkeypatch.setenv("HOME", str(tmp_path))
    fake = fake_kubectl(tmp_path, {})

    def verdict(path: Path) -> Target | str:
        try:
            return cluster_target(Kubectl(str(path), 5, context), CLUSTER, "eu-west-1", "eks")
        except (CheckError, WrongClusterError) as error:
            return f"{type(error).__name__}: {str(error).replace(str(path), 'kubectl')}"

    real = verdict(REAL_KUBECTL)
    assert verdict(fake) == real
    expected = {("dangling", None): "CheckError", ("dev", "nosuch"): "CheckError"}
    expected[("kind-kind", None)] = "WrongClusterError"
    if (current, context) in expected:
        assert isinstance(real, str)
        assert real.startswith(expected[(current, context)])
    else:
        assert isinstance(real, Target)
        assert real.server == ENDPOINT  # the first file's entry, not the second's


def test_fails_when_kubectl_fails(platform: Platform) -> None:
    del platform.kubectl["get applications.argoproj.io -n argocd -o json"]
    run = platform.run()
    assert run.statuses["argocd.applications"] == "fail"
    assert "`kubectl get applications.argoproj.io -n argocd -o json` failed (1)" in run.detail(
        "argocd.applications"
    )


# DNS.


def test_fails_when_a_name_resolves_elsewhere_than_the_load_balancers(platform: Platform) -> None:
    platform.dns[REGISTRY] = "203.0.113.9"
    run = platform.run()
    assert run.code == 1
    assert run.statuses == {**WORKING, f"dns:{REGISTRY}": "fail"}
    assert run.detail(f"dns:{REGISTRY}") == (
        f"{REGISTRY} resolves to 203.0.113.9, not to its own load balancer's addresses: "
        f"{ALB} (ingress gitlab/gitlab-registry): 192.0.2.10, 192.0.2.11"
    )


def test_a_name_passes_on_the_load_balancer_it_shares_an_address_with(platform: Platform) -> None:
    run = platform.run()
    assert (
        run.detail(f"dns:{ARGOCD}")
        == f"{ARGOCD} -> 192.0.2.20: {NLB} (service argocd/argocd-server)"
    )


def test_fails_when_a_name_resolves_to_another_of_the_stacks_load_balancers(
    platform: Platform,
) -> None:
    # The registry's Ingress is on the ALB: the NLB's address is not its own.
    platform.dns[REGISTRY] = NLB_ADDRESSES
    run = platform.run()
    assert run.statuses == {**WORKING, f"dns:{REGISTRY}": "fail"}
    assert run.detail(f"dns:{REGISTRY}") == (
        f"{REGISTRY} resolves to 192.0.2.20, not to its own load balancer's addresses: "
        f"{ALB} (ingress gitlab/gitlab-registry): 192.0.2.10, 192.0.2.11"
    )


def test_the_dns_checks_ask_the_resolver_not_resolve(platform: Platform) -> None:
    # --resolve says where to connect (as curl's); the name's DNS record is elsewhere.
    platform.dns[GITLAB] = "203.0.113.9"
    run = platform.run("--resolve", f"{GITLAB}:443:192.0.2.10")
    assert run.statuses == {**WORKING, f"dns:{GITLAB}": "fail"}
    assert run.detail(f"dns:{GITLAB}").startswith(f"{GITLAB} resolves to 203.0.113.9, not to")


def test_fails_when_no_object_publishes_a_name(platform: Platform) -> None:
    platform.kubectl["get ingress -A -o json"] = listing(
        with_load_balancer("Ingress", "gitlab", "gitlab-webservice-default", ALB, GITLAB),
        with_load_balancer("Ingress", "gitlab", "gitlab-registry", ALB),
    )
    run = platform.run()
    assert run.statuses == {**WORKING, f"dns:{REGISTRY}": "fail"}
    assert run.detail(f"dns:{REGISTRY}").startswith(f"no Ingress or Service publishes {REGISTRY}")


def test_a_name_is_published_by_an_ingress_tls_host_or_annotation(platform: Platform) -> None:
    registry = with_load_balancer("Ingress", "gitlab", "gitlab-registry", ALB)
    registry["spec"] = {"tls": [{"hosts": [REGISTRY]}]}
    webservice = with_load_balancer("Ingress", "gitlab", "gitlab-webservice-default", ALB)
    webservice["metadata"]["annotations"] = {
        "external-dns.alpha.kubernetes.io/hostname": f"other.example.com, {GITLAB}"
    }
    platform.kubectl["get ingress -A -o json"] = listing(webservice, registry)
    run = platform.run()
    assert run.code == 0, run.out
    assert run.detail(f"dns:{REGISTRY}").endswith(f"{ALB} (ingress gitlab/gitlab-registry)")


def test_fails_when_a_name_does_not_resolve(platform: Platform) -> None:
    del platform.dns[REGISTRY]

    def lookup(host: str) -> list[str]:
        assert host == REGISTRY
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    run = platform.run(lookup=lookup)
    assert run.statuses == {**WORKING, f"dns:{REGISTRY}": "fail"}
    assert run.detail(f"dns:{REGISTRY}") == (
        f"{REGISTRY} does not resolve: Name or service not known"
    )


def test_fails_when_no_load_balancer_has_an_address(platform: Platform) -> None:
    platform.kubectl["get ingress -A -o json"] = listing()
    platform.kubectl["get service -A -o json"] = listing()
    run = platform.run()
    assert all(run.statuses[f"dns:{host}"] == "fail" for host in (GITLAB, REGISTRY, ARGOCD))
    assert "no Ingress or Service has a load balancer yet" in run.detail(f"dns:{GITLAB}")


def kubectl_calls(platform: Platform, command: str) -> int:
    log = (platform.tmp / "kubectl.log").read_text().splitlines()
    return sum(" ".join(json.loads(line)["args"]).startswith(command) for line in log)


def test_the_load_balancers_are_asked_once_for_every_name(platform: Platform) -> None:
    assert platform.run().code == 0
    assert kubectl_calls(platform, "get ingress -A") == 1
    assert kubectl_calls(platform, "get service -A") == 1


def test_waits_for_the_load_balancers_to_appear(platform: Platform) -> None:
    for command in ("get ingress -A -o json", "get service -A -o json"):
        platform.kubectl[command] = [listing(), platform.kubectl[command]]
    run = platform.run("--wait", "5")
    assert run.code == 0, run.out
    assert "(attempt 2, after" in run.detail(f"dns:{GITLAB}")
    assert run.detail(f"dns:{REGISTRY}").startswith(f"{REGISTRY} -> 192.0.2.11: {ALB}")
    assert kubectl_calls(platform, "get ingress -A") == 2


# Timeouts: a dropped packet fails a check, it does not hang the run.


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never says anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def within(seconds: float, call: Callable[[], Run]) -> Run:
    """`call()`'s run, failing the test (not hanging it) when it takes longer."""
    done: list[Run] = []
    worker = threading.Thread(target=lambda: done.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, f"still running after {seconds}s: a network call without a timeout"
    return done[0]


def test_a_silent_server_fails_within_the_timeout(platform: Platform, silent: int) -> None:
    platform.gitlab = None
    args = ("--connect-to", f"{GITLAB}:443:127.0.0.1:{silent}", "--timeout", "0.5")
    run = within(10, lambda: platform.run(*args))
    assert run.statuses["gitlab.sign-in"] == "fail"
    assert run.detail("gitlab.sign-in") == f"TLS: no handshake with {GITLAB} within 0.5s"


def slow(seconds: float) -> fakes.Handler:
    def answer(seen: fakes.Seen) -> fakes.Answer:
        time.sleep(seconds)
        return fakes.Answer(200)

    return answer


def test_an_answer_that_never_comes_fails_within_the_timeout(platform: Platform) -> None:
    platform.argocd = FakeServer(
        http1=slow(1.5), h2=slow(1.5), cert=platform.cert(ARGOCD), alpn=("http/1.1", "h2")
    )
    run = within(10, lambda: platform.run("--timeout", "0.5"))
    assert (
        run.detail("argocd.ui-http1") == f"{ARGOCD}: no answer to GET / over HTTP/1.1 within 0.5s"
    )
    assert run.detail("argocd.grpc") == (
        f"{ARGOCD}: no answer to POST /version.VersionService/Version over HTTP/2 within 0.5s"
    )


def test_an_answer_trickled_a_byte_at_a_time_fails_within_the_timeout(platform: Platform) -> None:
    # Every read gets a byte within 0.1s; the request as a whole gets 0.5s.
    platform.argocd = fakes.TrickleServer(
        every=0.1, cert=platform.cert(ARGOCD), alpn=ALPN_POLICIES["HTTP2Optional"]
    )
    started = time.monotonic()
    run = within(10, lambda: platform.run("--timeout", "0.5"))
    assert time.monotonic() - started < 8
    assert run.detail("argocd.ui-http1") == (
        f"{ARGOCD}: no answer to GET / over HTTP/1.1 within 0.5s"
    )
    assert run.detail("argocd.ui-browser") == (
        f"{ARGOCD}: no answer to GET / over HTTP/1.1 within 0.5s"
    )
    assert run.detail("argocd.grpc") == (
        f"{ARGOCD}: no answer to POST /version.VersionService/Version over HTTP/2 within 0.5s"
    )


def test_a_silent_resolver_fails_within_the_timeout(platform: Platform) -> None:
    del platform.dns[REGISTRY]

    def lookup(host: str) -> list[str]:
        time.sleep(3)
        return ["192.0.2.11"]

    run = within(10, lambda: platform.run("--timeout", "0.3", lookup=lookup))
    assert run.detail(f"dns:{REGISTRY}") == (f"{REGISTRY}: no answer from the resolver within 0.3s")


def test_a_refused_connection_fails_the_check(platform: Platform, silent: int) -> None:
    platform.argocd = None
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    run = platform.run("--connect-to", f"{ARGOCD}:443:127.0.0.1:{port}")
    assert run.statuses["argocd.ui-http1"] == "fail"
    assert run.detail("argocd.ui-http1") == (
        f"cannot connect to {ARGOCD}:443 (at 127.0.0.1:{port}): 127.0.0.1: Connection refused"
    )


# Unusable input: exit status 2, one message each, no checks run.


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--stack", "nosuch"], "no stack file Pulumi.nosuch.yaml; stacks here:"),
        (["--stack", "dev", "--resolve", "gitlab:443"], "--resolve gitlab:443: expected"),
        (["--stack", "dev", "--resolve", "h:443:not-an-ip"], "--resolve h:443:not-an-ip"),
        (["--stack", "dev", "--connect-to", "h:x:127.0.0.1:1"], "--connect-to h:x:127.0.0.1:1"),
        (["--stack", "dev", "--kubectl", "/nonexistent/kubectl"], "/nonexistent/kubectl: not an"),
        (["--stack", "dev", "--json", "/nonexistent/smoke.json"], "no such directory"),
        (["--stack", "dev", "--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem"),
    ],
)
def test_unusable_input_exits_2_with_one_message(
    args: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl = str(fake_kubectl(tmp_path, {}))
    code = main(["--kubectl", kubectl, *args], lookup=no_dns)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert said in line


def test_without_kubectl_from_inside_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--stack", "dev"], lookup=no_dns) == 2
    assert "error: kubectl: not on PATH" in capsys.readouterr().err


def test_an_invalid_stack_configuration_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = PROJECT_DIR / "tests" / "stacks" / "Pulumi.broken.yaml"
    kubectl = str(fake_kubectl(tmp_path, {}))
    assert main(["--stack-file", str(stack), "--kubectl", kubectl], lookup=no_dns) == 2
    assert "error: invalid configuration for stack 'broken'" in capsys.readouterr().err


# make smoke.


def make_smoke(platform: Platform, report: Path) -> subprocess.CompletedProcess[str]:
    # -o: the virtualenv counts as installed (a test installs nothing).
    command = ["make", "-s", "-o", ".venv/.installed", "smoke", "STACK=dev"]
    command += [f"SMOKE_JSON={report}", f"SMOKE_ARGS={' '.join(platform.args())}"]
    with platform.serving():
        return subprocess.run(
            command,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=platform.sitecustomize(),
        )


def test_make_smoke_runs_the_checks_and_writes_the_report(platform: Platform) -> None:
    done = make_smoke(platform, platform.tmp / "make.json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((platform.tmp / "make.json").read_text())
    assert {c["id"]: c["status"] for c in report["checks"]} == WORKING


def test_make_smoke_fails_when_a_check_fails(platform: Platform) -> None:
    platform.argocd = argocd_nlb(platform.ca, "HTTP2Preferred")
    done = make_smoke(platform, platform.tmp / "make.json")
    # GNU make exits 2 whenever a command fails; its last line names the command's status.
    assert done.returncode == 2
    assert done.stderr.strip().endswith("Error 1")
    assert "FAIL     argocd.ui-browser" in done.stdout
    assert json.loads((platform.tmp / "make.json").read_text())["result"] == "fail"
