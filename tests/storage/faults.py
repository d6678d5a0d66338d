"""A WSGI middleware in front of WsgiDAV that misbehaves on demand, like real servers do.

    injector = FaultInjector(root)
    injector.add(reply(503, headers={"Retry-After": "7"}), method="PROPFIND", times=1)
    with serve_webdav(root, middleware=injector.wrap) as url: ...

Every request is recorded in ``injector.requests`` as (method, decoded path) so
tests can count retries.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

Environ = dict[str, Any]
App = Callable[[Environ, Callable], Iterable[bytes]]
Fault = Callable[[Environ, Callable, App], Iterable[bytes]]

LOGIN_PAGE = b"<!DOCTYPE html><html><body><form action='/login'>Mot de passe <input type=password></form></body></html>"
MALFORMED = b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>'
_LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BILLION_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{_LAUGHS}]>'
    '<d:multistatus xmlns:d="DAV:"><d:response><d:href>/&lol9;</d:href></d:response></d:multistatus>'
).encode()
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<d:multistatus xmlns:d="DAV:"><d:response><d:href>/&x;</d:href></d:response></d:multistatus>'
)
FROZEN_ETAG = "frozen-etag"


def _path(environ: Environ) -> str:
    """PATH_INFO as text (WSGI hands it over as latin-1-decoded bytes)."""
    return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")


def _drain(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _call(app: App, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the real app and capture its whole reply."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> Callable:
        captured.update(status=status, headers=list(headers))
        return lambda data: None

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def _send(start_response: Callable, status: str, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


# -- faults ---------------------------------------------------------------------


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None, content_type: str = "text/plain") -> Fault:
    """Answer at once with this status, never reaching the server."""
    reasons = {200: "OK", 207: "Multi-Status", 302: "Found", 500: "Internal Server Error"}

    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        _drain(environ)
        extra = [("Content-Type", content_type), *(headers or {}).items()]
        return _send(start_response, f"{status} {reasons.get(status, 'Fault')}", extra, body)

    return fault


def redirect_to_login() -> Fault:
    return reply(302, LOGIN_PAGE, {"Location": "/login?next=/"}, "text/html")


def html_page() -> Fault:
    return reply(200, LOGIN_PAGE, content_type="text/html; charset=utf-8")


def multistatus(body: bytes) -> Fault:
    return reply(207, body, content_type="application/xml")


def _reset_connection(environ: Environ) -> None:
    """Send a TCP RST to the client: linger 0, then close the last descriptor of the
    socket. dup2 does that close while leaving cheroot a valid descriptor to clean up."""
    sock = environ["wsgi.input"].rfile.raw._sock  # cheroot internals: test-only
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    dummy = socket.socket()
    os.dup2(dummy.fileno(), sock.fileno())
    dummy.close()


def _cut_after_half(environ: Environ, start_response: Callable, app: App, *, reset: bool) -> Iterable[bytes]:
    status, headers, body = _call(app, environ)
    start_response(status, headers)  # the real Content-Length: the client expects it all

    def chunks() -> Iterable[bytes]:
        yield body[: len(body) // 2]
        if reset:
            _reset_connection(environ)
        raise ConnectionAbortedError("injected: connection cut mid-body")

    return chunks()


def truncated() -> Fault:
    """The body stops halfway and the server closes the connection."""
    return lambda environ, start_response, app: _cut_after_half(environ, start_response, app, reset=False)


def reset() -> Fault:
    """The connection is reset (TCP RST) halfway through the body."""
    return lambda environ, start_response, app: _cut_after_half(environ, start_response, app, reset=True)


def slow(seconds: float) -> Fault:
    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        time.sleep(seconds)
        return app(environ, start_response)

    return fault


def _without_conditions(environ: Environ) -> Environ:
    return {k: v for k, v in environ.items() if k not in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH")}


def ignore_conditions() -> Fault:
    """A server that ignores If-Match / If-None-Match (rclone serve, nginx dav); like them,
    it still honours locks (the ``If: (<token>)`` header)."""
    return lambda environ, start_response, app: app(_without_conditions(environ), start_response)


def _rewrite_etags(replacement: str | None) -> Fault:
    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        status, headers, body = _call(app, _without_conditions(environ) if replacement else environ)
        headers = [(k, v) for k, v in headers if k.lower() != "etag"]
        if replacement is None:
            body = re.sub(rb"<([\w]+:)?getetag>[^<]*</([\w]+:)?getetag>", b"", body)
        else:
            headers.append(("ETag", f'"{replacement}"'))
            body = re.sub(rb"(<([\w]+:)?getetag>)[^<]*(</)", rb"\g<1>" + replacement.encode() + rb"\g<3>", body)
        return _send(start_response, status, headers, body)

    return fault


def no_etag() -> Fault:
    """A server without ETags (nginx dav-ext has no getetag)."""
    return _rewrite_etags(None)


def frozen_etag() -> Fault:
    """A server whose ETag does not change on a same-size rewrite: here, never; it then
    cannot refuse a stale If-Match either."""
    return _rewrite_etags(FROZEN_ETAG)


def in_place_put_cut(root: Path, prefix: str = "/", *, answer: int | None = 500) -> Fault:
    """A PUT written in place and interrupted halfway: the file keeps only half the bytes.

    ``answer``: the status then sent (500), or None to drop the connection, or 204 to
    pretend it all went well.
    """

    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        data = _drain(environ)
        target = root / _path(environ)[len(prefix.rstrip("/")) :].lstrip("/")
        target.write_bytes(data[: len(data) // 2])
        if answer is None:
            _reset_connection(environ)
            raise ConnectionAbortedError("injected: connection lost during PUT")
        return _send(start_response, f"{answer} Fault", [("Content-Type", "text/plain")], b"")

    return fault


def refuse_if_match() -> Fault:
    """A server that answers 412 to every If-Match (Apache's weak-ETag second, or
    mod_deflate appending "-gzip" to the ETags it sends)."""

    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        if "HTTP_IF_MATCH" in environ:
            return reply(412)(environ, start_response, app)
        return app(environ, start_response)

    return fault


def no_locks() -> Fault:
    """A server without LOCK support."""
    return reply(405)


def concurrent_write(target: Path, content: bytes) -> Fault:
    """Someone else saves ``target`` (e.g. the coordinator) just before this request runs."""

    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        target.write_bytes(content)
        return app(environ, start_response)

    return fault


def concurrent_dav_put(url: str, auth: requests.auth.AuthBase, content: bytes, statuses: list[int]) -> Fault:
    """Someone else saves through WebDAV (so locks apply to them) just before this request
    runs; the status they got is appended to ``statuses``."""

    def fault(environ: Environ, start_response: Callable, app: App) -> Iterable[bytes]:
        statuses.append(requests.put(url, data=content, auth=auth, timeout=5).status_code)
        return app(environ, start_response)

    return fault


# -- the middleware ---------------------------------------------------------------


@dataclass
class _Rule:
    fault: Fault
    method: str | None
    path: str | None
    times: int | None  # None: every matching request

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (self.path is None or self.path in path)


class FaultInjector:
    def __init__(self) -> None:
        self.rules: list[_Rule] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault, *, method: str | None = None, path: str | None = None, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests matching method and path substring."""
        self.rules.append(_Rule(fault, method, path, times))

    def clear(self) -> None:
        self.rules.clear()

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for m, p in self.requests if m == method and (path is None or path in p))

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.matches(method, path) and rule.times != 0:
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
        return None

    def wrap(self, app: App) -> App:
        def middleware(environ: Environ, start_response: Callable) -> Iterable[bytes]:
            fault = self._take(environ["REQUEST_METHOD"], _path(environ))
            return fault(environ, start_response, app) if fault else app(environ, start_response)

        return middleware
