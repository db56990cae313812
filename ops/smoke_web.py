"""The smoke tests of GitLab and Argo CD as their users reach them: browsers, git and the argocd
CLI. Each check returns what it saw when it passes and raises `CheckError` saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Callable, Sequence

from ops.smoke_net import CheckError, Network, Request, Response

HTTPS, HTTP = 443, 80
SIGN_IN_PATH = "/users/sign_in"
# The page's title on GitLab instances, "Sign in · GitLab" ("Sign in | GitLab" in old ones):
# the page, then the product. Taken from served pages, not from GitLab's source.
SIGN_IN_TITLE = re.compile(r"<title>\s*Sign in\b[^<]*GitLab\s*</title>", re.IGNORECASE)
ARGOCD_TITLE = "<title>Argo CD</title>"
"""The UI's marker: argo-cd v3.4.4 ui/src/app/index.html, which argocd-server serves for `/`
and every path that is not an asset (server/server.go newStaticAssetsHandler)."""
VERSION_METHOD = "/version.VersionService/Version"
"""Answered without a session: argo-cd v3.4.4 server/version/version.go AuthFuncOverride
("allows the version to be returned without auth"); it takes google.protobuf.Empty and
answers a VersionMessage whose field 1 is the version (server/version/version.proto)."""
GRPC_WEB = "application/grpc-web+proto"
"""The content type argocd-server hands its gRPC-web handler (server/server.go
newHTTPServer's contentTypeToHandler) and the CLI's `--grpc-web` sends
(pkg/apiclient/grpcproxy.go executeRequest)."""
GRPC_WEB_TEXT = "application/grpc-web-text"
"""gRPC-web's text-encoded (base64) streams."""
GRPC_WEB_ANSWERS = ("application/grpc-web", GRPC_WEB, GRPC_WEB_TEXT)
"""The media types a gRPC-web answer to our call may carry:
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md ("Protocol differences vs gRPC
over HTTP2", Content-Type: application/grpc-web, e.g. +proto, and application/grpc-web-text,
text-encoded streams of application/grpc-web)."""
GRPC_WEB_TRAILERS = 0x80
"""The flag of a gRPC-web frame holding the trailers (grpcproxy.go endOfStreamFlag, 128)."""
ADMIN_PROBES = ("/admin", "/admin/users", "/admin.json", "//admin")
"""One path per pattern the ALB answers itself (components/gitlab_edge.py
ADMIN_AREA_CLOSED_TO: `/admin`, `/admin/*`, `/admin.*`, `//*`)."""
HTTP1_ONLY = ("http/1.1",)
BROWSER = ("h2", "http/1.1")
"""What browsers offer by ALPN; they then speak whichever the server agreed."""
H2_ONLY = ("h2",)
"""What the argocd CLI's gRPC client offers (grpc-go credentials/tls.go)."""
GRPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
"""gRPC's status codes, by number."""


def gitlab_sign_in(net: Network, host: str) -> str:
    """The sign-in page, over HTTPS with a certificate valid for `host`."""
    url = f"https://{host}{SIGN_IN_PATH}"
    with net.open(host, HTTPS, HTTP1_ONLY) as session:
        response = session.send(Request("GET", SIGN_IN_PATH, {"Accept": "text/html"}))
    if response.status != 200:
        raise CheckError(f"{url}: {_status(response)}, expected 200 and the sign-in page")
    if not SIGN_IN_TITLE.search(response.text):
        raise CheckError(f"{url}: 200, but not GitLab's sign-in page ({_title(response)})")
    return f"{url}: 200, {_title(response)}, certificate valid for {host}"


def gitlab_http_redirect(net: Network, host: str) -> str:
    """Plain HTTP answered by the ALB with a 301 to the same URL over HTTPS: `ssl-redirect: 443`
    (components/alb.py) makes the controller give the HTTP listener one action, a redirect
    with status HTTP_301, protocol HTTPS and port 443 and nothing else set
    (aws-load-balancer-controller v3.5.0 pkg/ingress/model_builder.go buildSSLRedirectConfig,
    model_build_actions.go buildSSLRedirectAction), so host, path and query keep the ELB
    API's defaults `#{host}`, `/#{path}`, `#{query}` (pkg/equality/elbv2/
    compare_option_for_actions.go)."""
    path = f"{SIGN_IN_PATH}?smoke=1"
    url, expected = f"http://{host}{path}", f"https://{host}:443{path}"
    with net.open(host, HTTP, None) as session:
        response = session.send(Request("GET", path))
    location = response.headers.get("location", "")
    if response.status != 301:
        raise CheckError(f"{url}: {_status(response)}, expected 301 to {expected}")
    target = urllib.parse.urlsplit(location)
    if (target.scheme, target.hostname, target.port or 443, target.path, target.query) != (
        "https",
        host,
        443,
        SIGN_IN_PATH,
        "smoke=1",
    ):
        raise CheckError(f"{url}: 301 to {location or '(no Location)'}, expected {expected}")
    return f"{url}: 301 to {location}"


def gitlab_admin_closed(net: Network, host: str) -> str:
    """The admin area and its other spellings answered 403 by the ALB (outside the admin
    ranges)."""
    answers: dict[str, Response] = {}
    for path in ADMIN_PROBES:
        with net.open(host, HTTPS, HTTP1_ONLY) as session:
            answers[path] = session.send(Request("GET", path))
    still_open = {path: r for path, r in answers.items() if r.status != 403}
    if still_open:
        seen = "; ".join(f"{path}: {_status(r)}" for path, r in still_open.items())
        raise CheckError(
            f"https://{host}: {seen}; expected 403 from the ALB to anyone outside "
            "access.admin_cidrs (does this run really come from outside them?)"
        )
    said = answers[ADMIN_PROBES[0]].text.strip().splitlines()[:1]
    return f"https://{host}: 403 for {', '.join(ADMIN_PROBES)}" + (f": {said[0]!r}" if said else "")


def argocd_ui(net: Network, host: str, offer: Sequence[str], *, behind_nlb: bool) -> str:
    """Argo CD's UI from a client offering `offer` by ALPN and speaking what was agreed.
    `behind_nlb`: the NLB hands argocd-server the protocol agreed (the ALB of the `ingress`
    exposure speaks HTTP/1.1 to it whatever the browser spoke)."""
    hint = _h2_hint if behind_nlb else (lambda agreed: "")
    url = f"https://{host}/"
    with net.open(host, HTTPS, offer) as session:
        agreed = session.alpn
        try:
            response = session.send(Request("GET", "/", {"Accept": "text/html"}))
        except CheckError as failed:
            raise CheckError(f"{failed}{hint(agreed)}") from None
    if response.status != 200:
        raise CheckError(f"{url}: {_status(response)} over {response.protocol}{hint(agreed)}")
    if ARGOCD_TITLE not in response.text:
        raise CheckError(
            f"{url}: 200 over {response.protocol}, but not Argo CD's UI ({_title(response)})"
        )
    return f"{url}: 200 over {response.protocol} (ALPN: {agreed or 'none'}), {ARGOCD_TITLE}"


def argocd_grpc(net: Network, host: str) -> str:
    """A unary gRPC call over HTTP/2, as the argocd CLI makes them."""
    with net.open(host, HTTPS, H2_ONLY) as session:
        if session.alpn != "h2":
            raise CheckError(
                f"{host}: ALPN agreed {session.alpn or 'no protocol'} with a client offering only "
                "h2 (as the argocd CLI does); gRPC needs HTTP/2"
            )
        response = session.send(
            Request(
                "POST",
                VERSION_METHOD,
                {"content-type": "application/grpc", "te": "trailers"},
                grpc_frame(b""),
            )
        )
    return _grpc_answer(host, response, "application/grpc", is_grpc)


def argocd_grpc_web(net: Network, host: str) -> str:
    """A unary gRPC-web call over HTTP/1.1, as `argocd --grpc-web` makes them."""
    with net.open(host, HTTPS, HTTP1_ONLY) as session:
        response = session.send(
            Request(
                "POST",
                VERSION_METHOD,
                {"content-type": GRPC_WEB, "accept": GRPC_WEB, "x-grpc-web": "1"},
                grpc_frame(b""),
            )
        )
    return _grpc_answer(host, response, GRPC_WEB, is_grpc_web)


def media_type(content_type: str) -> str:
    """A content-type's media type: lower case, without its parameters (after `;`)."""
    return content_type.partition(";")[0].strip().lower()


def is_grpc(content_type: str) -> bool:
    """A native gRPC answer's content-type: `application/grpc`, or `application/grpc+` and a
    subtype (`+proto`), per https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
    (Responses: Content-Type, as in Requests: "application/grpc" [("+proto" / "+json" /
    {custom})]). grpc-go's client also takes parameters after `;` (grpc-go v1.83.1
    internal/grpcutil/method.go ContentSubtype), so they are dropped before comparing.
    `application/grpc-web...` is another protocol and does not pass."""
    found = media_type(content_type)
    return found == "application/grpc" or found.startswith("application/grpc+")


def is_grpc_web(content_type: str) -> bool:
    """A gRPC-web answer's content-type: exactly one of GRPC_WEB_ANSWERS, parameters aside."""
    return media_type(content_type) in GRPC_WEB_ANSWERS


def grpc_frame(message: bytes, flags: int = 0) -> bytes:
    """gRPC's length-prefixed message: a flags byte, a 4-byte big-endian length, the message."""
    return bytes([flags]) + len(message).to_bytes(4, "big") + message


def _frames(data: bytes, call: str) -> list[tuple[int, bytes]]:
    """The length-prefixed frames of a gRPC or gRPC-web body: (flags, payload)."""
    frames, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at + 1 : at + 5], "big")
        if len(data) < at + 5 + length:
            raise CheckError(f"{call}: a truncated gRPC frame at byte {at} of {len(data)}")
        frames.append((data[at], data[at + 5 : at + 5 + length]))
        at += 5 + length
    return frames


def _grpc_answer(
    host: str, response: Response, content_type: str, acceptable: Callable[[str], bool]
) -> str:
    """Passes on grpc-status 0: in the trailers (HTTP/2's, or gRPC-web's trailer frame), or in
    the headers of a trailers-only answer. `acceptable`: whether the answer's content-type is
    the protocol's (`content_type` is the one named when it is not)."""
    call = f"{host} {VERSION_METHOD} over {response.protocol}"
    got = response.headers.get("content-type", "")
    if response.status != 200 or not acceptable(got):
        shown = f", content-type {got}" if got else ""
        raise CheckError(
            f"{call}: {_status(response)}{shown}, expected 200 with content-type {content_type}"
        )
    body = response.body
    if media_type(got) == GRPC_WEB_TEXT:
        body = _base64_frames(body, call)
    frames = _frames(body, call)
    fields = {**response.headers, **response.trailers}
    for flags, data in frames:
        if flags & GRPC_WEB_TRAILERS:
            for line in data.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip():
                    fields[name.strip().lower()] = value.strip()
    if "grpc-status" not in fields:
        raise CheckError(f"{call}: no grpc-status in the trailers or headers")
    code = fields["grpc-status"]
    if code != "0":
        name = GRPC_CODES[int(code)] if code.isdigit() and int(code) < len(GRPC_CODES) else "?"
        said = urllib.parse.unquote(fields.get("grpc-message", ""))
        raise CheckError(f"{call}: grpc-status {code} ({name}): {said or '(no grpc-message)'}")
    messages = [data for flags, data in frames if not flags & GRPC_WEB_TRAILERS]
    version = next((v for m in messages if (v := proto_string(m, 1))), None)
    return f"{call}: grpc-status 0, Argo CD {version or '(no version in the answer)'}"


def _base64_frames(text: bytes, call: str) -> bytes:
    """A gRPC-web-text body decoded. Base64, padded wherever the server flushed, so not one
    valid base64 text as a whole (PROTOCOL-WEB.md, "Text-encoded (response) streams"): each
    flushed piece is a whole number of 4-character groups, decoded one group at a time."""
    data = b"".join(text.split())
    try:
        return b"".join(
            base64.b64decode(data[i : i + 4], validate=True) for i in range(0, len(data), 4)
        )
    except binascii.Error as error:
        raise CheckError(f"{call}: a gRPC-web-text body that is not base64: {error}") from None


def proto_string(message: bytes, number: int) -> str | None:
    """Field `number` of a protobuf message, as a string, if it is there."""
    at = 0
    try:
        while at < len(message):
            key, at = _varint(message, at)
            kind = key & 7
            if kind == 0:
                _, at = _varint(message, at)
            elif kind == 2:
                length, at = _varint(message, at)
                if key >> 3 == number:
                    return message[at : at + length].decode("utf-8", "replace")
                at += length
            elif kind in (1, 5):
                at += 8 if kind == 1 else 4
            else:
                return None
    except IndexError:
        return None
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _h2_hint(agreed: str | None) -> str:
    if agreed != "h2":
        return ""
    return (
        " (ALPN agreed h2: argocd-server's plain listener takes HTTP/2 only as gRPC, so the "
        "load balancer must agree HTTP/1.1 with browsers; components/argocd.py ALPN_POLICY)"
    )


def _status(response: Response) -> str:
    location = response.headers.get("location")
    return f"{response.status}" + (f" to {location}" if location else "")


def _title(response: Response) -> str:
    found = re.search(r"<title>(.*?)</title>", response.text, re.IGNORECASE | re.DOTALL)
    return f"title {found.group(1).strip()!r}" if found else "no <title>"
