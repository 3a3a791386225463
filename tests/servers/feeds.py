"""A real HTTP server on 127.0.0.1 that serves feeds the way publishers do, faults included.

Register routes, then point a real httpx client at ``server.url(path)``:

    with FeedServer() as server:
        server.serve("/blood.xml", body, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
        server.redirect("/old.xml", "/blood.xml", status=301)
        server.fault("/down.xml", "reset")

A route answers 304 when the request's If-None-Match equals its ETag or its
If-Modified-Since equals its Last-Modified string (publishers compare the
strings, not dates). Faults: ``status`` (any code), ``slow`` (answer after
``delay`` seconds), ``reset`` (TCP RST, no answer), ``endless`` (a chunked
body that never ends until the client hangs up) and ``huge`` (a body of
``size`` bytes with its Content-Length). Unregistered paths get 404.

``random_faults`` puts a seeded random schedule over every route: a status
(503, or 429 with Retry-After), a TCP reset, a slow answer, or a body cut
short (the Content-Length promises more than arrives).

Every request is logged (method, path with query, headers, arrival time from
``time.monotonic``) so tests can assert which validators were sent, the
spacing between requests, and that nothing else (an external entity, a DTD)
was ever fetched.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal["slow", "reset", "endless", "huge"]
# Stops an endless body even if a client never hangs up.
ENDLESS_LIMIT = 200_000_000


@dataclass(frozen=True)
class RandomFault:
    """One way a request can go wrong in a ``random_faults`` schedule."""

    kind: Literal["status", "reset", "slow", "truncate"]
    status: int = 503
    retry_after: str | None = None
    delay: float = 1.0


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    fault: FaultKind | None = None
    delay: float = 0.0
    size: int = 0


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[LoggedRequest] = []
        self.chaos: tuple[float, list[RandomFault], random.Random] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- routes --------------------------------------------------------------------

    def serve(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        hdrs = {"Content-Type": content_type, **(headers or {})}
        self.routes[path] = Route(status, body, hdrs, etag=etag, last_modified=last_modified)

    def status(
        self, path: str, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.routes[path] = Route(status, body, {"Content-Type": "text/plain", **(headers or {})})

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        self.routes[path] = Route(status, location=to)

    def fault(self, path: str, kind: FaultKind, delay: float = 0.0, size: int = 0, body: bytes = b"") -> None:
        route = Route(200, body, {"Content-Type": "application/rss+xml"}, fault=kind, delay=delay, size=size)
        self.routes[path] = route

    def random_faults(self, probability: float, kinds: list[RandomFault], seed: int) -> None:
        """From now on each request to a served route fails with ``probability`` (seeded, replayable)."""
        with self._lock:
            self.chaos = (probability, list(kinds), random.Random(seed))

    def _draw(self) -> RandomFault | None:
        with self._lock:
            if self.chaos is None:
                return None
            probability, kinds, rng = self.chaos
            return rng.choice(kinds) if rng.random() < probability else None

    # --- log -------------------------------------------------------------------------

    def requests_for(self, path: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if urlsplit(r.path).path == path]

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.log]


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with server._lock:
                server.log.append(
                    LoggedRequest(
                        "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()
                    )
                )
            route = server.routes.get(urlsplit(self.path).path)
            if route is None:
                self._send(404, b"not found", {"Content-Type": "text/plain"})
            elif route.location is not None:
                self._send(route.status, b"", {"Location": route.location})
            elif route.fault is not None:
                self._fault(route)
            elif (chaos := server._draw()) is not None and self._chaos(chaos, route):
                return
            elif self._not_modified(route):
                self._send(304, b"", self._validators(route), body_allowed=False)
            else:
                self._send(route.status, route.body, {**route.headers, **self._validators(route)})

        def _chaos(self, fault: RandomFault, route: Route) -> bool:
            """Apply a random fault; False when the request should then be answered normally."""
            if fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(fault.status, b"busy", {"Content-Type": "text/plain", **extra})
            elif fault.kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif fault.kind == "slow":
                server._stopping.wait(fault.delay)
                return False  # late, but answered as usual
            else:  # truncate: promise the whole body, send part of it, hang up
                self.send_response(route.status)
                for k, v in {**route.headers, **self._validators(route)}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body[: len(route.body) // 2])
                self.close_connection = True
            return True

        def _not_modified(self, route: Route) -> bool:
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            if route.etag is not None and inm is not None:
                return inm == route.etag
            return route.last_modified is not None and ims == route.last_modified

        def _validators(self, route: Route) -> dict[str, str]:
            out: dict[str, str] = {}
            if route.etag:
                out["ETag"] = route.etag
            if route.last_modified:
                out["Last-Modified"] = route.last_modified
            return out

        def _send(self, status: int, body: bytes, headers: dict[str, str], body_allowed: bool = True) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if body_allowed:
                self.send_header("Content-Length", str(len(body)))
            try:
                self.end_headers()
                if body_allowed and body:
                    self.wfile.write(body)
            except OSError:
                self.close_connection = True  # the client gave up (a timeout under test)

        def _fault(self, route: Route) -> None:
            if route.fault == "slow":
                if server._stopping.wait(route.delay):
                    return
                self._send(200, route.body, route.headers)
            elif route.fault == "reset":
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif route.fault == "huge":
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(route.size))
                self.end_headers()
                self._write_until(route.size)
            elif route.fault == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._write_until(ENDLESS_LIMIT, chunked=True)
                self.close_connection = True

        def _write_until(self, total: int, chunked: bool = False) -> None:
            block = b"<!-- padding -->" * 4096
            sent = 0
            try:
                while sent < total and not server._stopping.is_set():
                    piece = block[: total - sent]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    sent += len(piece)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True  # the client hung up, as it should

    return Handler
