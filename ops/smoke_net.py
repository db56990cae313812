"""The smoke tests' network side: where a name leads, TLS with a chosen ALPN offer, and one
request over HTTP/1.1 (http.client) or HTTP/2 (the h2 library).

Names lead where `--resolve` and `--connect-to` say (curl's options, curl's meaning), else where
the system resolver says; TLS always verifies the certificate against the real host name, which
is also the SNI, wherever the connection goes. A request has one deadline, `timeout` seconds
from its start, for its lookup, connect, TLS handshake, sending and every read together: a
dropped packet fails a check instead of hanging the run, and so does a server that trickles
its answer a byte at a time (each read would be quick, the answer never done).
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

MAX_BODY = 1 << 20
"""The most of a body read: a sign-in page or Argo CD's index.html is a few kilobytes."""
USER_AGENT = "gitops-platform-smoke"

Lookup = Callable[[str], list[str]]
"""A name to its addresses: the system resolver, or what a test puts in its place."""


class CheckError(Exception):
    """Why a check failed, in words for whoever runs the smoke."""


class Deadline:
    """The time left for one request. `left()` raises TimeoutError once it is gone, so each
    blocking call is given what remains (`sock.settimeout(deadline.left())`) instead of a
    timeout of its own. A socket's timeout bounds one call: a whole `sendall` ("the socket
    timeout is no more reset each time data is sent successfully",
    https://docs.python.org/3.11/library/socket.html#socket.socket.sendall), a whole TLS
    handshake (CPython v3.11.7 Modules/_ssl.c `_ssl__SSLSocket_do_handshake_impl` sets one
    deadline from it), but each `recv` on its own, however many an answer takes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the deadline of {self.seconds:g}s has passed")
        return remaining


class _BoundedSocket:
    """What http.client is given for its connection: sends and reads (through `makefile`,
    http/client.py HTTPResponse) each bounded by what is left of the request's deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock, self.deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.left())
        self.sock.sendall(data)

    def makefile(self, mode: str = "rb", *_: object, **__: object) -> io.BufferedReader:
        return io.BufferedReader(_BoundedReader(self))

    def close(self) -> None:
        """The session closes the socket itself."""


class _BoundedReader(io.RawIOBase):
    def __init__(self, bounded: _BoundedSocket) -> None:
        self.bounded = bounded

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self.bounded.sock.settimeout(self.bounded.deadline.left())
        return self.bounded.sock.recv_into(buffer)


def system_lookup(host: str) -> list[str]:
    """`host`'s addresses from the system resolver, in its order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    protocol: str
    """`HTTP/1.1` or `h2`: what was spoken."""
    status: int
    headers: Mapping[str, str]
    """Names in lower case."""
    body: bytes
    trailers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Session:
    """One connection: the protocol agreed by ALPN, then one request in it."""

    host: str
    port: int
    sock: socket.socket
    alpn: str | None
    """What the server agreed to (None: no ALPN, or a plain connection)."""
    deadline: Deadline
    """The request's, from before its connect."""

    def send(self, request: Request) -> Response:
        if self.alpn == "h2":
            return _h2(self.sock, self.host, request, self.deadline)
        return _http1(self.sock, self.host, self.port, request, self.deadline)


@dataclass(frozen=True)
class Network:
    timeout: float
    """Seconds for each request (its lookup, connect, handshake, send and reads together), and
    for each lookup of the DNS checks."""
    ca_file: Path | None = None
    """The CAs to trust instead of the system's."""
    resolve: Mapping[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    """`--resolve HOST:PORT:ADDRESS`: connect to ADDRESS for HOST:PORT (the DNS checks still
    ask the resolver)."""
    connect_to: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    """`--connect-to HOST:PORT:TO_HOST:TO_PORT`: connect there instead (the name is kept)."""
    lookup: Lookup = system_lookup

    def addresses(self, host: str) -> list[str]:
        """What the resolver says `host` resolves to, for the DNS checks: never `--resolve`'s
        addresses, which only say where to connect (as curl's `--resolve` "provides a custom
        address for a specific host and port pair", https://curl.se/docs/manpage.html#--resolve),
        or they would pass a name that is not published."""
        return self._lookup(host)

    def _lookup(self, host: str, deadline: Deadline | None = None) -> list[str]:
        # getaddrinfo takes no timeout; a daemon thread is left behind if it never returns.
        answer: list[list[str] | BaseException] = []
        thread = threading.Thread(target=lambda: answer.append(_caught(self.lookup, host)))
        thread.daemon = True
        thread.start()
        thread.join(self.timeout if deadline is None else _left(deadline))
        if not answer:
            raise CheckError(f"{host}: no answer from the resolver within {self.timeout:g}s")
        (found,) = answer
        if isinstance(found, socket.gaierror):
            raise CheckError(f"{host} does not resolve: {found.strerror}")
        if isinstance(found, BaseException):
            raise CheckError(f"{host}: lookup failed: {found}")
        if not found:
            raise CheckError(f"{host} resolves to no address")
        return found

    def connect(self, host: str, port: int, deadline: Deadline) -> socket.socket:
        to_host, to_port = self.connect_to.get((host, port), (host, port))
        where = f"{host}:{port}" + (f" (at {to_host}:{to_port})" if to_host != host else "")
        if found := self.resolve.get((to_host, to_port)):
            addresses = list(found)
        elif is_address(to_host):
            addresses = [to_host]
        else:
            addresses = self._lookup(to_host, deadline)
        problems = []
        for address in addresses:
            try:
                return socket.create_connection((address, to_port), timeout=deadline.left())
            except TimeoutError:
                problems.append(f"{address}: no answer within {self.timeout:g}s")
            except OSError as error:
                problems.append(f"{address}: {error.strerror or error}")
        raise CheckError(f"cannot connect to {where}: {'; '.join(problems)}")

    @contextmanager
    def open(self, host: str, port: int, offer: Sequence[str] | None) -> Iterator[Session]:
        """A session with `host:port`: TLS offering `offer` by ALPN, or plain with None; one
        request in it, all within `timeout` seconds from now."""
        deadline = Deadline(self.timeout)
        sock = self.connect(host, port, deadline)
        try:
            if offer is not None:
                sock = self._tls(sock, host, offer, deadline)
            alpn = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None
            yield Session(host, port, sock, alpn, deadline)
        finally:
            sock.close()

    def _tls(
        self, sock: socket.socket, host: str, offer: Sequence[str], deadline: Deadline
    ) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(list(offer))
        trusted = f"--ca-file {self.ca_file}" if self.ca_file else "the system's CAs"
        try:
            # The handshake, all its reads and writes, is bounded by the socket's timeout.
            sock.settimeout(deadline.left())
            return context.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as error:
            raise CheckError(
                f"TLS: the certificate {host} presents is not valid: {error.verify_message} "
                f"(trusting {trusted})"
            ) from None
        except TimeoutError:
            raise CheckError(f"TLS: no handshake with {host} within {self.timeout:g}s") from None
        except (ssl.SSLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise CheckError(f"TLS: the handshake with {host} failed: {reason}") from None


def trust_problem(ca_file: Path) -> str | None:
    """Why `ca_file` cannot serve as the CAs to trust, if it cannot."""
    try:
        ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        return f"--ca-file {ca_file}: not a readable PEM file of CA certificates ({error})"
    return None


def _left(deadline: Deadline) -> float:
    try:
        return deadline.left()
    except TimeoutError:
        return 0.0


def _caught(lookup: Lookup, host: str) -> list[str] | BaseException:
    try:
        return lookup(host)
    except Exception as error:
        return error


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _http1(
    sock: socket.socket, host: str, port: int, request: Request, deadline: Deadline
) -> Response:
    timeout = deadline.seconds
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    # Connected (and TLS) already: http.client only speaks HTTP/1.1, within the deadline.
    connection.sock = _BoundedSocket(sock, deadline)
    authority = host if port in (80, 443) else f"{host}:{port}"
    headers = {"Host": authority, "User-Agent": USER_AGENT, "Connection": "close"}
    what = f"{request.method} {request.path} over HTTP/1.1"
    try:
        connection.request(
            request.method,
            request.path,
            body=request.body or None,
            headers={**headers, **request.headers},
        )
        response = connection.getresponse()
        body = response.read(MAX_BODY)
    except TimeoutError:
        raise CheckError(f"{host}: no answer to {what} within {timeout:g}s") from None
    except (http.client.HTTPException, OSError) as error:
        raise CheckError(f"{host}: no answer to {what}: {error or type(error).__name__}") from None
    return Response(
        protocol="HTTP/1.1",
        status=response.status,
        headers={name.lower(): value for name, value in response.getheaders()},
        body=body,
    )


def _h2(sock: socket.socket, host: str, request: Request, deadline: Deadline) -> Response:
    timeout = deadline.seconds
    connection = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    connection.initiate_connection()
    stream = connection.get_next_available_stream_id()
    connection.send_headers(
        stream,
        [
            (":method", request.method),
            (":scheme", "https"),
            (":authority", host),
            (":path", request.path),
            ("user-agent", USER_AGENT),
            *((name.lower(), value) for name, value in request.headers.items()),
        ],
        end_stream=not request.body,
    )
    if request.body:
        connection.send_data(stream, request.body, end_stream=True)
    what = f"{request.method} {request.path} over HTTP/2"
    headers: dict[str, str] = {}
    trailers: dict[str, str] = {}
    body = bytearray()
    ended = False
    frames = _GoawayFilter()
    try:
        sock.settimeout(deadline.left())
        sock.sendall(connection.data_to_send())
        while not ended:
            sock.settimeout(deadline.left())
            chunk = sock.recv(65536)
            if not chunk:
                said = f" (after a GOAWAY: {frames.goaway})" if frames.goaway else ""
                raise CheckError(f"{host} closed the connection without answering {what}{said}")
            data = frames.feed(chunk)
            if frames.goaway and frames.goaway.last_stream_id < stream:
                raise CheckError(
                    f"{host} ended the connection (GOAWAY: {frames.goaway}) before our stream "
                    f"{stream}, without answering {what}"
                )
            for event in connection.receive_data(data):
                if getattr(event, "stream_id", stream) != stream:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    headers = _header_dict(event.headers)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = _header_dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data[: MAX_BODY - len(body)]
                    connection.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    raise CheckError(f"{host} reset the stream of {what} ({event.error_code!s})")
            sock.settimeout(deadline.left())
            sock.sendall(connection.data_to_send())
    except TimeoutError:
        raise CheckError(f"{host}: no answer to {what} within {timeout:g}s") from None
    except h2.exceptions.ProtocolError as error:
        raise CheckError(f"{host}: HTTP/2 protocol error in {what}: {error}") from None
    except OSError as error:
        raise CheckError(f"{host}: no answer to {what}: {error.strerror or error}") from None
    if ":status" not in headers:
        raise CheckError(f"{host}: no response headers for {what}")
    return Response(
        protocol="h2",
        status=int(headers[":status"]),
        headers=headers,
        body=bytes(body),
        trailers=trailers,
    )


FRAME_HEADER = 9
"""An HTTP/2 frame's header: length (24 bits), type, flags, stream id (RFC 9113 §4.1,
https://www.rfc-editor.org/rfc/rfc9113#section-4.1)."""
GOAWAY = 0x07
"""The GOAWAY frame's type (RFC 9113 §6.8)."""


@dataclass(frozen=True)
class Goaway:
    last_stream_id: int
    error_code: int

    def __str__(self) -> str:
        try:
            code = h2.errors.ErrorCodes(self.error_code).name
        except ValueError:
            code = f"error {self.error_code:#x}"
        return f"last stream {self.last_stream_id}, {code}"


class _GoawayFilter:
    """The server's frames, GOAWAY taken out (and kept) before the h2 library sees them.

    A GOAWAY ends only the streams above its last_stream_id: "Activity on streams numbered
    lower than or equal to the last stream identifier might still complete successfully"
    (RFC 9113 §6.8, https://www.rfc-editor.org/rfc/rfc9113#section-6.8); gRPC's clients "are
    free to continue working with the already accepted streams until they complete"
    (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, GOAWAY Frame), and
    servers send one to drain a connection (an idle timeout, a maximum connection age). But
    h2 v4.4.1 closes its connection state machine on a received GOAWAY and then refuses
    every frame after it as a protocol error (src/h2/connection.py ConnectionStateMachine:
    no transition out of CLOSED but GOAWAY), so our stream's answer could not be read."""

    def __init__(self) -> None:
        self.pending = b""
        self.goaway: Goaway | None = None
        """The last GOAWAY received."""

    def feed(self, data: bytes) -> bytes:
        """The whole frames received so far, but GOAWAYs; a partial one waits for the rest."""
        self.pending += data
        passed, at = [], 0
        while len(self.pending) - at >= FRAME_HEADER:
            length = int.from_bytes(self.pending[at : at + 3], "big")
            end = at + FRAME_HEADER + length
            if len(self.pending) < end:
                break
            if self.pending[at + 3] == GOAWAY and length >= 8:
                payload = self.pending[at + FRAME_HEADER : end]
                self.goaway = Goaway(
                    int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                    int.from_bytes(payload[4:8], "big"),
                )
            else:
                passed.append(self.pending[at:end])
            at = end
        self.pending = self.pending[at:]
        return b"".join(passed)


def _header_dict(headers: Sequence[tuple[bytes | str, bytes | str]] | None) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode("latin-1") if isinstance(value, bytes) else value

    return {text(name).lower(): text(value) for name, value in headers or ()}
