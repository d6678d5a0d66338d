"""An in-process WebDAV server on loopback (WsgiDAV + cheroot), for the demo and the tests."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

WsgiApp = Callable[..., object]


class _QuietServer(wsgi.Server):
    """cheroot prints client disconnects to stderr; they are expected here (fault tests)."""

    # stop() waits for one turn of the connection loop: 0.5 s by default, per server.
    expiration_interval = 0.05

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        logging.getLogger(__name__).debug("cheroot: %s", msg)


class _DropStartupBanner(logging.Filter):
    """WsgiDAV warns at start-up that basic auth runs without TLS: on loopback that is the
    intent, and the demo's user should not read it as a problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_startup() -> Iterator[None]:
    logger = logging.getLogger("wsgidav.wsgidav_app")  # filters do not apply to child loggers
    banner_filter = _DropStartupBanner()
    logger.addFilter(banner_filter)
    try:
        yield
    finally:
        logger.removeFilter(banner_filter)


@contextlib.contextmanager
def serve_webdav(
    root: Path,
    *,
    users: Mapping[str, str] | None = None,
    prefix: str = "/",
    middleware: Callable[[WsgiApp], WsgiApp] | None = None,
    certificate: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Serve ``root`` over WebDAV with basic auth; yields the base URL (prefix included).

    ``users`` defaults to {"user": "password"}. ``middleware`` wraps the WsgiDAV app
    (fault injection in tests). ``certificate`` = (cert PEM, key PEM) serves HTTPS.
    """
    users = {"user": "password"} if users is None else users
    prefix = "/" + prefix.strip("/")
    config = {
        "host": "127.0.0.1",
        "port": 0,
        "provider_mapping": {prefix: str(root)},
        "simple_dc": {"user_mapping": {"*": {u: {"password": p, "roles": []} for u, p in users.items()}}},
        "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
        "lock_storage": True,
        "property_manager": True,
        "verbose": 0,
        "logging": {"enable": False},
        # no directory browser (and so no anonymous share for its assets), no CORS
        "middleware_stack": [ErrorPrinter, HTTPAuthenticator, RequestResolver],
    }
    with _quiet_startup():
        app = WsgiDAVApp(config)
    server = _QuietServer(("127.0.0.1", 0), middleware(app) if middleware else app, numthreads=4)
    if certificate is not None:
        server.ssl_adapter = BuiltinSSLAdapter(str(certificate[0]), str(certificate[1]))
    server.prepare()
    host, port = server.bind_addr[:2]
    scheme = "https" if certificate else "http"
    thread = threading.Thread(target=server.serve, name="resana-sync-webdav", daemon=True)
    thread.start()
    try:
        yield f"{scheme}://{host}:{port}{prefix.rstrip('/')}"
    finally:
        server.stop()
        thread.join(5)
