"""WebDAV backend (RESANA, Nextcloud, Apache, nginx, rclone, WsgiDAV...).

webdavclient3 supplies the ``requests`` session and the root handling (the server's
path prefix goes in ``webdav_root``, never in the hostname: webdavclient3 #63). We
issue every request ourselves on that session, because its high-level calls are not
safe for us: ``list()`` turns any XML error or HTML page into ``[]`` and returns the
folder itself when a name holds ``#``; ``check()`` follows redirects to login pages;
no call sends conditional headers. See the team notes on WebDAV servers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ipaddress
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

import requests
from lxml import etree
from webdav3.client import Client

from ..errors import ConfigError, InvalidListing, RemoteNotFound, StorageError, TransientRemoteError
from ._http import BasicAuth, BearerAuth, Transport, connection_error
from ._local_io import too_large, write_whole
from ._names import RawItem, SpellingAwareStorage
from .base import Download, Entry, clean_path, normalise_etag

log = logging.getLogger(__name__)

_DAV = "{DAV:}"
_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getetag/><d:getlastmodified/>"
    b"</d:prop></d:propfind>"
)
# A multistatus never needs a DTD. Refusing any declaration outright is simpler and
# stricter than trusting the parser's entity limits (billion laughs, XXE): lxml >= 5.2
# is already safe there, but would hand back a partial tree we must not read as a listing.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_LOCK_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope>'
    b"<d:locktype><d:write/></d:locktype><d:owner>resana-sync</d:owner></d:lockinfo>"
)
# Long enough to check, write and read back the workbook; short enough that a crashed
# run does not keep the coordinator out for long.
_LOCK_SECONDS = 120
_SCHEME_AND_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_CHUNK = 1 << 16

_NOT_A_LISTING = (
    "Le serveur a répondu par autre chose qu'une liste de fichiers WebDAV (souvent une page de connexion "
    "ou une page d'erreur d'un proxy) : vérifiez l'adresse WebDAV configurée et les identifiants. "
    "Rien n'a été importé à partir de ce dossier."
)


@dataclass(frozen=True)
class _Resource:
    """One <response> of a multistatus: its path segments (decoded) and properties."""

    segments: tuple[str, ...]
    is_dir: bool
    size: int | None
    etag: str | None
    modified: dt.datetime | None


def _nfc(segments: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(unicodedata.normalize("NFC", s) for s in segments)


def _segments(href: str) -> tuple[str, ...]:
    """Decoded path segments of an href; split before decoding so '%2F' stays inside a name."""
    path = _SCHEME_AND_HOST.sub("", href.strip())
    return tuple(unquote(part) for part in path.split("/") if part)


def _parse_modified(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _parse_resource(node: etree._Element) -> _Resource | None:
    href = node.findtext(f"{_DAV}href")
    if href is None:
        raise InvalidListing(_NOT_A_LISTING)
    props = [
        propstat.find(f"{_DAV}prop")
        for propstat in node.iter(f"{_DAV}propstat")
        if " 200 " in f"{propstat.findtext(f'{_DAV}status') or ''} "
    ]
    props = [p for p in props if p is not None]
    if not props:
        return None  # e.g. a <response> with its own 404 status: nothing there to list

    def text(name: str) -> str | None:
        for prop in props:
            value = prop.findtext(f"{_DAV}{name}")
            if value is not None:
                return value.strip()
        return None

    is_dir = any(p.find(f"{_DAV}resourcetype/{_DAV}collection") is not None for p in props)
    size = text("getcontentlength")
    return _Resource(
        segments=_segments(href),
        is_dir=is_dir,
        size=int(size) if size and size.isdigit() else None,
        etag=normalise_etag(text("getetag")),
        modified=_parse_modified(text("getlastmodified")),
    )


def parse_multistatus(body: bytes) -> list[_Resource]:
    """The resources of a 207 body; InvalidListing for anything that is not a clean multistatus."""
    if _DECLARATION.search(body):
        raise InvalidListing(_NOT_A_LISTING + " (déclaration XML refusée)")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidListing(_NOT_A_LISTING) from exc
    if root.tag != f"{_DAV}multistatus":
        raise InvalidListing(_NOT_A_LISTING)
    resources = [_parse_resource(node) for node in root.iter(f"{_DAV}response")]
    if not resources:
        raise InvalidListing(_NOT_A_LISTING)
    return [r for r in resources if r is not None]


def _own_segments(resources: list[_Resource], root: tuple[str, ...], folder: tuple[str, ...]) -> tuple[str, ...]:
    """How this server spells the listed folder in its hrefs: under our root, or, behind
    a reverse proxy that strips the root, without it. Whichever the folder's own entry uses."""
    with_root, without_root = _nfc(root + folder), _nfc(folder)
    spellings = {_nfc(r.segments) for r in resources}
    return without_root if with_root not in spellings and without_root in spellings else with_root


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _check_options(parts: SplitResult, *, username: str | None, password: str | None, token: str | None) -> None:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("L'adresse WebDAV doit commencer par https:// suivi du nom du serveur.")
    if parts.username or parts.password:
        raise ConfigError(
            "L'adresse WebDAV ne doit pas contenir d'identifiants : retirez-les de l'adresse et utilisez "
            "RESANA_SYNC_USER / RESANA_SYNC_PASSWORD (ou un fichier de secrets)."
        )
    if token and (username or password):
        raise ConfigError("Donnez soit un jeton, soit un identifiant et un mot de passe WebDAV, pas les deux.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning("WebDAV server reached over plain HTTP: credentials and data travel unencrypted")


class WebDAVStorage(SpellingAwareStorage):
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ca_bundle: str | Path | None = None,
        verify: bool = True,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        retries: int = 3,
        backoff: float = 0.5,
        root_prefix: str | None = None,
        max_retry_after: float = 300,
    ) -> None:
        parts = urlsplit(base_url)
        _check_options(parts, username=username, password=password, token=token)
        if not verify and not ca_bundle:
            log.warning("TLS certificate verification is off: anyone on the network path could read the data")
        root = "/".join(p.strip("/") for p in (unquote(parts.path), root_prefix or "") if p.strip("/"))
        self._client = Client(
            {
                "webdav_hostname": f"{parts.scheme}://{parts.netloc}",
                "webdav_root": "/" + root,
                "webdav_disable_check": True,
                "webdav_timeout": read_timeout,
            }
        )
        self._client.verify = str(ca_bundle) if ca_bundle else verify
        session = self._client.session
        session.auth = BearerAuth(token) if token else BasicAuth(username, password or "") if username else None
        self._transport = Transport(
            session,
            verify=self._client.verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
        )
        self._root_segments = _segments(self._client.webdav.root)
        super().__init__()
        self._lock_tokens: dict[str, str] = {}  # stored path -> Lock-Token we hold

    def __repr__(self) -> str:
        return f"WebDAVStorage({self._client.get_url('')!r})"

    def _url(self, stored: str, *, folder: bool = False) -> str:
        suffix = "/" if folder and stored else ""
        return self._client.get_url("/" + quote(stored, safe="/") + suffix)

    # -- reading ---------------------------------------------------------------

    def _propfind(self, stored: str, depth: str, *, folder: bool) -> list[_Resource]:
        response = self._transport.request(
            "PROPFIND",
            self._url(stored, folder=folder),
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            data=_PROPFIND_BODY,
            path=stored,
        )
        # not streamed: a body cut short fails inside the request, which is then retried
        if response.status_code != 207:
            raise InvalidListing(_NOT_A_LISTING, status=response.status_code)
        return parse_multistatus(response.content)

    def list(self, folder: str) -> list[Entry]:
        folder = clean_path(folder)
        stored = self._names.stored(folder)
        resources = self._propfind(stored, "1", folder=True)
        own = _own_segments(resources, self._root_segments, tuple(p for p in stored.split("/") if p))
        items = []
        for res in resources:
            segments = _nfc(res.segments)
            if segments == own:
                if not res.is_dir:
                    raise RemoteNotFound("Ce chemin désigne un fichier, pas un dossier.", path=folder)
                continue  # the folder itself, whatever its name holds ('#', prefix, quotes)
            if segments[:-1] != own:
                raise InvalidListing(
                    "Le serveur WebDAV a renvoyé une liste incohérente (des éléments hors du dossier demandé) : "
                    "vérifiez l'adresse WebDAV et le préfixe de chemin configurés.",
                    path=folder,
                )
            items.append(RawItem(res.segments[-1], res.is_dir, res.size, res.etag, res.modified))
        return self._names.entries(folder, items)

    def _stat_at(self, path: str) -> Entry | None:
        try:
            resources = self._propfind(self._names.stored(path), "0", folder=False)
        except RemoteNotFound:
            return None
        if not resources:
            return None
        res = resources[0]
        return Entry(path, res.is_dir, res.size, res.etag, res.modified)

    def _download_at(self, path: str, dest: Path, max_bytes: int | None) -> Download:
        url = self._url(self._names.stored(path))

        def attempt() -> Download:
            # identity: Content-Length then counts the bytes we store, not compressed ones
            response = self._transport.send("GET", url, headers={"Accept-Encoding": "identity"}, stream=True, path=path)
            with response:
                expected = _content_length(response)
                if max_bytes is not None and expected is not None and expected > max_bytes:
                    raise too_large(max_bytes, path)
                try:
                    size, digest = write_whole(
                        dest,
                        response.iter_content(_CHUNK),
                        expected_size=expected,
                        max_bytes=max_bytes,
                        path=path,
                        short_error=TransientRemoteError,
                    )
                except requests.RequestException as exc:
                    raise connection_error(exc) from exc
            return Download(path, dest, size, digest, normalise_etag(response.headers.get("ETag")))

        return self._transport.run(attempt, idempotent=True)

    # -- writing (never retried: see _http.IDEMPOTENT) -------------------------

    def upload(self, path: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> str | None:
        path = clean_path(path)
        headers = {"Content-Type": "application/octet-stream"}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if if_none_match:
            headers["If-None-Match"] = "*"
        stored = self._names.stored(path)
        if stored in self._lock_tokens:
            headers["If"] = f"({self._lock_tokens[stored]})"
        # bytes, never an iterator: requests then sends Content-Length; some servers
        # answer a chunked PUT with 411 (ownCloud) or hang.
        response = self._transport.request("PUT", self._url(stored), headers=headers, data=bytes(data), path=path)
        response.close()
        return normalise_etag(response.headers.get("ETag"))

    @contextlib.contextmanager
    def exclusive(self, path: str) -> Iterator[None]:
        """A WebDAV LOCK on ``path`` for the block: the guard that still holds on servers
        that ignore If-Match (they honour locks: rclone, nginx, Apache, WsgiDAV)."""
        path = clean_path(path)
        stored = self._names.stored(path)
        url = self._url(stored)
        response = self._transport.request(
            "LOCK",
            url,
            headers={"Depth": "0", "Timeout": f"Second-{_LOCK_SECONDS}", "Content-Type": "application/xml; charset=utf-8"},
            data=_LOCK_BODY,
            ok_statuses=frozenset({405, 501}),
            path=path,
        )
        response.close()
        token = response.headers.get("Lock-Token", "").strip() if response.status_code < 300 else ""
        if not token:
            log.info("the WebDAV server offers no locks; conditional writes and read-back remain the guard")
            yield
            return
        self._lock_tokens[stored] = token
        try:
            yield
        finally:
            del self._lock_tokens[stored]
            self._unlock(url, token)

    def _unlock(self, url: str, token: str) -> None:
        try:
            self._transport.request("UNLOCK", url, headers={"Lock-Token": token}).close()
        except StorageError:
            log.warning("a WebDAV lock could not be released; it expires by itself within %d s", _LOCK_SECONDS)

    def make_folder(self, folder: str) -> None:
        parts = clean_path(folder).split("/")
        for depth in range(1, len(parts) + 1):
            stored = self._names.stored("/".join(parts[:depth]))
            # 405: the folder already exists
            self._transport.request(
                "MKCOL", self._url(stored, folder=True), ok_statuses=frozenset({405}), path=stored
            ).close()

    def delete(self, path: str) -> None:
        path = clean_path(path)
        self._transport.request("DELETE", self._url(self._names.stored(path)), path=path).close()

    def close(self) -> None:
        self._client.session.close()


def _content_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None
