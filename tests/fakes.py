"""Local stand-ins for a live platform, for the smoke tests (tests/test_smoke.py).

`FakeServer`: a threaded server on 127.0.0.1 (an ephemeral port), plain or TLS with a
certificate from a trustme test CA, agreeing ALPN as an AWS load balancer's policy would, and
answering over HTTP/1.1 (hand-parsed) or HTTP/2 (the h2 library, server side) what a handler
says. A handler returning None closes the connection unanswered, as argocd-server's cmux does
with a connection none of its matchers takes.

`fake_kubectl`: an executable that prints fixture JSON for the commands it knows and fails
on any other.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fnmatch
import json
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# aws-load-balancer-controller v3.5.0 docs/guide/service/annotations.md
# (`aws-load-balancer-alpn-policy`): each policy's ALPN preference list. The NLB agrees the
# first of its list that the client offers; the fake does the same (OpenSSL's server-side
# selection follows the server's order).
ALPN_POLICIES: dict[str, tuple[str, ...]] = {
    "HTTP1Only": ("http/1.1", "http/1.0"),
    "HTTP2Only": ("h2",),
    "HTTP2Optional": ("http/1.1", "http/1.0", "h2"),
    "HTTP2Preferred": ("h2", "http/1.1", "http/1.0"),
    "None": (),
}
TIMEOUT = 5.0


@dataclass(frozen=True)
class Seen:
    """A request as the fake received it."""

    protocol: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    trailers: Mapping[str, str] | None = None
    """HTTP/2 trailers (gRPC's status)."""


Handler = Callable[[Seen], Answer | None]


class ServerCert(Protocol):
    """What a server presents: a trustme.LeafCert, or a `SelfSigned`."""

    def configure_cert(self, ctx: ssl.SSLContext) -> None: ...


class SelfSigned:
    """A certificate for `host` that signs itself: no CA vouches for it."""

    def __init__(self, host: str, directory: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.cert, self.key = directory / f"{host}.pem", directory / f"{host}.key"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def configure_cert(self, ctx: ssl.SSLContext) -> None:
        ctx.load_cert_chain(self.cert, self.key)


class FakeServer:
    """Serves until closed (a context manager). `http1`/`h2`: the handler for requests in
    that protocol; None: connections agreeing it are closed unanswered."""

    def __init__(
        self,
        *,
        http1: Handler | None = None,
        h2: Handler | None = None,
        cert: ServerCert | None = None,
        alpn: Sequence[str] = (),
        goaway: tuple[str, int] | None = None,
    ) -> None:
        """`goaway`: (when, last_stream_id): send an HTTP/2 GOAWAY (NO_ERROR) with each
        answer, `before` it, `after-headers` (between its headers and its body) or `after`."""
        self.http1, self.h2, self.alpn = http1, h2, tuple(alpn)
        self.goaway = goaway
        self.context: ssl.SSLContext | None = None
        self.server_names: list[str | None] = []
        """The SNI of each TLS connection."""
        self.seen: list[Seen] = []
        if cert is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(self.context)
            if self.alpn:
                self.context.set_alpn_protocols(list(self.alpn))
            self.context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.stopping = threading.Event()

    def __enter__(self) -> FakeServer:
        self.accepting.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.accepting.join(TIMEOUT)
        self.listener.close()
        for thread in self.threads:
            thread.join(TIMEOUT)

    def _accept(self) -> None:
        # Closing a socket does not wake a thread blocked in accept(): poll for the stop.
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        with contextlib.suppress(OSError, h2.exceptions.ProtocolError), contextlib.closing(conn):
            sock: socket.socket = conn
            agreed = None
            if self.context is not None:
                sock = self.context.wrap_socket(conn, server_side=True)
                agreed = sock.selected_alpn_protocol()
            # An HTTP2Only listener speaks HTTP/2 whatever the client offered.
            if agreed == "h2" or (agreed is None and self.alpn == ("h2",)):
                if self.h2 is not None:
                    self._serve_h2(sock, self.h2)
            elif self.http1 is not None:
                self._serve_http1(sock, self.http1)
            with contextlib.suppress(OSError):
                sock.close()

    def _serve_http1(self, sock: socket.socket, handler: Handler) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        line, *fields = head.decode("latin-1").split("\r\n")
        method, path, _version = line.split(" ", 2)
        headers = {}
        for entry in fields:
            name, _, value = entry.partition(":")
            headers[name.strip().lower()] = value.strip()
        while len(body) < int(headers.get("content-length", 0)):
            body += sock.recv(65536)
        seen = Seen("HTTP/1.1", method, path, headers, body)
        self.seen.append(seen)
        answer = handler(seen)
        if answer is None:
            return
        lines = [f"HTTP/1.1 {answer.status} Fake", f"Content-Length: {len(answer.body)}"]
        lines += [f"{k}: {v}" for k, v in answer.headers.items()] + ["Connection: close"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body)

    def _serve_h2(self, sock: socket.socket, handler: Handler) -> None:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {str(k): str(v) for k, v in event.headers or ()}
                    requests[event.stream_id] = (headers, bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    requests[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = requests.pop(event.stream_id)
                    seen = Seen("h2", headers[":method"], headers[":path"], headers, bytes(body))
                    self.seen.append(seen)
                    answer = handler(seen)
                    if answer is None:
                        return
                    self._answer_h2(sock, conn, event.stream_id, answer)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            sock.sendall(conn.data_to_send())

    def _answer_h2(
        self, sock: socket.socket, conn: h2.connection.H2Connection, stream: int, answer: Answer
    ) -> None:
        def goaway(at: str) -> None:
            # Raw: h2 itself would refuse to send anything after its own GOAWAY.
            if self.goaway is not None and self.goaway[0] == at:
                sock.sendall(conn.data_to_send() + goaway_frame(self.goaway[1]))

        last = "trailers" if answer.trailers else "body" if answer.body else "headers"
        goaway("before")
        conn.send_headers(
            stream,
            [(":status", str(answer.status)), *answer.headers.items()],
            end_stream=last == "headers",
        )
        goaway("after-headers")
        if answer.body:
            conn.send_data(stream, answer.body, end_stream=last == "body")
        if answer.trailers:
            conn.send_headers(stream, list(answer.trailers.items()), end_stream=True)
        goaway("after")


def goaway_frame(last_stream_id: int, error_code: int = 0) -> bytes:
    """An HTTP/2 GOAWAY frame (RFC 9113 §6.8): 8 bytes of payload on stream 0."""
    payload = last_stream_id.to_bytes(4, "big") + error_code.to_bytes(4, "big")
    return len(payload).to_bytes(3, "big") + bytes([0x07, 0]) + bytes(4) + payload


class TrickleServer(FakeServer):
    """A server that takes a request and never finishes answering, though it keeps talking:
    over HTTP/1.1 a status line, then a header a byte at a time; over HTTP/2 its SETTINGS,
    then a PING; every `every` seconds, until it is closed. Each read of the client's is
    answered quickly; the answer never ends."""

    def __init__(self, *, every: float = 0.1, **kwargs: Any) -> None:
        super().__init__(http1=lambda seen: None, h2=lambda seen: None, **kwargs)
        self.every = every

    def _drip(self, sock: socket.socket, first: bytes, then: Callable[[], bytes]) -> None:
        sock.recv(65536)  # the request (or its first part)
        sock.sendall(first)
        while not self.stopping.wait(self.every):
            sock.sendall(then())

    def _serve_http1(self, sock: socket.socket, handler: Handler) -> None:
        self._drip(sock, b"HTTP/1.1 200 OK\r\nX-Trickle: ", lambda: b"a")

    def _serve_h2(self, sock: socket.socket, handler: Handler) -> None:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()

        def ping() -> bytes:
            conn.ping(b"trickle!")
            return conn.data_to_send()

        self._drip(sock, conn.data_to_send(), ping)


# What the platform answers.

SIGN_IN_PAGE = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Sign in · GitLab</title></head>"
    "<body><form id='new_user' action='/users/sign_in' method='post'></form></body></html>"
).encode()
ADMIN_CLOSED = b"GitLab's admin area is reachable from the admin ranges only."
ADMIN_PATTERNS = ("/admin", "/admin/*", "/admin.*", "//*")
ARGOCD_INDEX = (
    b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="UTF-8">\n'
    b'<title>Argo CD</title>\n<base href="/">\n</head>\n<body><div id="app"></div></body>\n'
    b'<script defer src="extensions.js"></script>\n</html>\n'
)
VERSION = "/version.VersionService/Version"
GRPC_WEB = "application/grpc-web+proto"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def frame(message: bytes, flags: int = 0) -> bytes:
    return bytes([flags]) + len(message).to_bytes(4, "big") + message


def version_message(version: str) -> bytes:
    """A VersionMessage with field 1 (Version) set."""
    return b"\x0a" + bytes([len(version)]) + version.encode()


def gitlab(admin: int = 403) -> Handler:
    """GitLab behind the shared ALB: the sign-in page, and the admin area answered `admin`
    (403 by the ALB's fixed response; GitLab itself sends a visitor to sign in)."""

    def answer(seen: Seen) -> Answer:
        path = seen.path.split("?")[0]
        if path == "/users/sign_in":
            return Answer(200, HTML, SIGN_IN_PAGE)
        if any(fnmatch.fnmatchcase(path, p) for p in ADMIN_PATTERNS):
            if admin == 403:
                return Answer(403, {"Content-Type": "text/plain"}, ADMIN_CLOSED)
            if admin == 302:
                return Answer(302, {"Location": f"https://{seen.headers['host']}/users/sign_in"})
            return Answer(admin, HTML, "<title>Admin Area · GitLab</title>".encode())
        return Answer(404, HTML, b"<title>Not Found</title>")

    return answer


def ssl_redirect(location: str | None = None) -> Handler:
    """The ALB's HTTP listener: 301 to `https://#{host}:443/#{path}?#{query}`, or to
    `location`."""

    def answer(seen: Seen) -> Answer:
        return Answer(
            301, {"Location": location or f"https://{seen.headers['host']}:443{seen.path}"}
        )

    return answer


def argocd_http(grpc_web: bool = True, content_type: str = GRPC_WEB) -> Handler:
    """argocd-server's HTTP handler: the UI for any GET, gRPC-web for its content type,
    answered with `content_type` (a `-text` one: the body in base64, one piece per frame,
    each padded)."""

    def answer(seen: Seen) -> Answer:
        if seen.method == "POST" and seen.headers.get("content-type") == GRPC_WEB and grpc_web:
            if seen.path != VERSION or seen.body != frame(b""):
                return Answer(200, {"Content-Type": GRPC_WEB, "grpc-status": "12"})
            trailers = b"grpc-status: 0\r\ngrpc-message: \r\n"
            frames = [frame(version_message("v3.4.4")), frame(trailers, 0x80)]
            if "-text" in content_type:
                frames = [base64.b64encode(f) for f in frames]
            return Answer(200, {"Content-Type": content_type}, b"".join(frames))
        if seen.method == "GET":
            return Answer(200, HTML, ARGOCD_INDEX)
        return Answer(405)

    return answer


def argocd_grpc(
    status: int = 0, message: str = "", ui: bool = False, content_type: str = "application/grpc"
) -> Handler:
    """argocd-server's HTTP/2: gRPC only (cmux matches HTTP/2 by content-type
    application/grpc), or also the UI (`ui`: HTTP/2 as the ALB of the `ingress` exposure
    speaks it with browsers, translating for the target). A successful call is answered with
    `content_type`."""

    def answer(seen: Seen) -> Answer | None:
        if seen.headers.get("content-type", "").startswith("application/grpc"):
            if seen.method != "POST" or seen.headers.get("te") != "trailers":
                return Answer(400, {"content-type": "text/plain"}, b"POST with te: trailers")
            if seen.path != VERSION or seen.body != frame(b""):
                return Answer(200, {"content-type": "application/grpc", "grpc-status": "12"})
            if status != 0:
                return Answer(
                    200,
                    {"content-type": "application/grpc"},
                    trailers={"grpc-status": str(status), "grpc-message": message},
                )
            return Answer(
                200,
                {"content-type": content_type},
                frame(version_message("v3.4.4")),
                trailers={"grpc-status": "0"},
            )
        if ui and seen.method == "GET":
            return Answer(200, HTML, ARGOCD_INDEX)
        return None

    return answer


# kubectl.


def fake_kubectl(tmp_path: Path, answers: Mapping[str, Any]) -> Path:
    """An executable kubectl: for each command (its arguments without `--request-timeout`,
    which every call must carry, and without `--context NAME`) the fixture to print: JSON for
    objects, a string as is, a list for successive answers (the last one repeats). Any other
    command fails, but `config view --minify -o json`, which is answered as kubectl does from
    the kubeconfig files in KUBECONFIG (JSON ones: `kubeconfig`), for `--context` or their
    current context (tests/test_smoke.py holds it to the real kubectl's answers). Calls are
    logged to `kubectl.log` with the KUBECONFIG and the context they saw."""
    fixtures = tmp_path / "kubectl.json"
    fixtures.write_text(json.dumps(answers))
    script = tmp_path / "kubectl"
    script.write_text(
        f"#!{sys.executable} -IS\n"
        + f"FIXTURES, LOG = {str(fixtures)!r}, {str(tmp_path / 'kubectl.log')!r}\n"
        + """
import hashlib, json, os, sys
args = sys.argv[1:]
timeouts = [a for a in args if a.startswith("--request-timeout=")]
rest, context = [a for a in args if a not in timeouts], None
if "--context" in rest:
    at = rest.index("--context")
    context = rest[at + 1]
    del rest[at : at + 2]
command = " ".join(rest)
kubeconfig = os.environ.get("KUBECONFIG")
with open(LOG, "a") as log:
    log.write(json.dumps({"args": args, "KUBECONFIG": kubeconfig, "context": context}) + "\\n")
answers = json.load(open(FIXTURES))
if command == "config view --minify -o json" and command not in answers and timeouts:
    # As kubectl: the files merged, the first to set a value winning.
    paths = (kubeconfig or os.path.expanduser("~/.kube/config")).split(os.pathsep)
    current, found = "", {"clusters": {}, "contexts": {}}
    for path in [p for p in paths if p and os.path.exists(p)]:
        config = json.load(open(path))
        current = current or config.get("current-context") or ""
        for kind in found:
            for entry in config.get(kind) or []:
                found[kind].setdefault(entry["name"], entry)
    name = context or current
    if not name:
        sys.exit("error: current-context must exist in order to minify")
    if name not in found["contexts"]:
        sys.exit(f"error: cannot locate context {name}")
    entry = found["contexts"][name]
    cluster = entry["context"].get("cluster")
    if cluster not in found["clusters"]:
        sys.exit(f"error: cannot locate cluster {cluster}")
    view = {"kind": "Config", "apiVersion": "v1", "clusters": [found["clusters"][cluster]],
            "contexts": [entry], "current-context": name}
    print(json.dumps(view))
    sys.exit(0)
if len(timeouts) != 1 or command not in answers:
    sys.exit(f"fake kubectl: unexpected command: {' '.join(args)}")
answer = answers[command]
if isinstance(answer, list):
    count = FIXTURES + "." + hashlib.sha256(command.encode()).hexdigest()[:12]
    done = int(open(count).read()) if os.path.exists(count) else 0
    open(count, "w").write(str(done + 1))
    answer = answer[min(done, len(answer) - 1)]
print(answer if isinstance(answer, str) else json.dumps(answer))
"""
    )
    script.chmod(0o755)
    return script


def kubeconfig(
    path: Path, current: str | None, clusters: Mapping[str, str], contexts: Mapping[str, str]
) -> Path:
    """A kubeconfig (JSON, which kubectl reads as YAML): `clusters` name -> server, `contexts`
    name -> cluster, every context with one user (a token: redacted by `config view`)."""
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in clusters.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": "smoke"}} for n, c in contexts.items()
        ],
        "users": [{"name": "smoke", "user": {"token": "not-a-secret"}}],
    }
    if current is not None:
        config["current-context"] = current
    path.write_text(json.dumps(config))
    return path


def application(
    name: str, sync: str = "Synced", health: str = "Healthy", message: str = ""
) -> dict[str, Any]:
    health_status: dict[str, str] = {"status": health}
    if message:
        health_status["message"] = message
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "status": {"sync": {"status": sync}, "health": health_status},
    }


def with_load_balancer(
    kind: str, namespace: str, name: str, hostname: str, publishes: str = ""
) -> dict[str, Any]:
    """An Ingress (publishing `publishes` as its rule's host) or a Service (in ExternalDNS's
    hostname annotation, as components/alb.py writes it), with a load balancer `hostname`."""
    found: dict[str, Any] = {
        "kind": kind,
        "metadata": {"namespace": namespace, "name": name},
        "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}},
    }
    if publishes and kind == "Ingress":
        found["spec"] = {"rules": [{"host": publishes}]}
    elif publishes:
        found["metadata"]["annotations"] = {"external-dns.alpha.kubernetes.io/hostname": publishes}
    return found


def listing(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


@contextlib.contextmanager
def servers(*fakes: FakeServer) -> Iterator[tuple[FakeServer, ...]]:
    with contextlib.ExitStack() as stack:
        yield tuple(stack.enter_context(f) for f in fakes)
