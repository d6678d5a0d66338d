"""Pure unit tests of the WebDAV backend's HTTP handling, with ``responses`` (no server)."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest
import responses

from resana_sync.errors import (
    AuthenticationError,
    ConfigError,
    InvalidListing,
    PreconditionFailed,
    RemoteFull,
    RemoteLocked,
    RemoteNotFound,
    StorageError,
    TooLarge,
    TransientRemoteError,
)
from resana_sync.storage import _http
from resana_sync.storage._http import retry_after_seconds
from resana_sync.storage.webdav import WebDAVStorage

BASE = "https://resana.example.gouv.fr/remote.php/webdav"
SECRET = "s3cr3t-ne-jamais-afficher"


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> WebDAVStorage:
    monkeypatch.setattr(_http, "_sleep", lambda seconds: None)
    return WebDAVStorage(BASE, username="cellule", password=SECRET, retries=2, backoff=0.01)


def multistatus(*responses_xml: str) -> str:
    return f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">{"".join(responses_xml)}</d:multistatus>'


def resource(href: str, *, folder: bool = False, size: int | None = None, etag: str | None = None, status: int = 200) -> str:
    props = "<d:resourcetype><d:collection/></d:resourcetype>" if folder else "<d:resourcetype/>"
    if size is not None:
        props += f"<d:getcontentlength>{size}</d:getcontentlength>"
    if etag is not None:
        props += f"<d:getetag>{etag}</d:getetag>"
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
        f"<d:status>HTTP/1.1 {status} X</d:status></d:propstat></d:response>"
    )


STATUS_ERRORS = [
    (401, AuthenticationError),
    (403, AuthenticationError),
    (302, AuthenticationError),
    (404, RemoteNotFound),
    (409, RemoteNotFound),
    (412, PreconditionFailed),
    (413, TooLarge),
    (423, RemoteLocked),
    (507, RemoteFull),
    (400, StorageError),
]


@pytest.mark.parametrize(("status", "error"), STATUS_ERRORS)
@responses.activate
def test_status_mapping_on_upload(storage: WebDAVStorage, status: int, error: type) -> None:
    responses.add("PUT", f"{BASE}/T.xlsx", status=status, headers={"Location": "https://sso.example/login"})
    with pytest.raises(error) as caught:
        storage.upload("T.xlsx", b"x")
    assert type(caught.value) is error
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@responses.activate
def test_transient_statuses_are_retried_on_reads_then_given_up(storage: WebDAVStorage, status: int, tmp_path: Path) -> None:
    responses.add("GET", f"{BASE}/T.xlsx", status=status)
    with pytest.raises(TransientRemoteError):
        storage.download("T.xlsx", tmp_path / "x")
    assert len(responses.calls) == 3


@responses.activate
def test_waiting_is_bounded_over_a_whole_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slept: list[float] = []
    monkeypatch.setattr(_http, "_sleep", slept.append)
    storage = WebDAVStorage(BASE, retries=3)
    responses.add("GET", f"{BASE}/a.csv", status=503, headers={"Retry-After": "250"})
    with pytest.raises(TransientRemoteError):
        storage.download("a.csv", tmp_path / "a")
    with pytest.raises(TransientRemoteError):
        storage.download("a.csv", tmp_path / "a")
    assert slept == [250, 250]  # a third wait would pass 600 s in total
    assert len(responses.calls) == 4


@responses.activate
def test_put_sends_content_length_and_conditions(storage: WebDAVStorage) -> None:
    responses.add("PUT", f"{BASE}/Archives/T%20%231.xlsx", status=201, headers={"ETag": 'W/"abc"'})
    assert storage.upload("Archives/T #1.xlsx", b"12345", if_match="old") == "abc"
    storage.upload("Archives/T #1.xlsx", b"12345", if_none_match=True)
    first, second = (call.request for call in responses.calls)
    assert first.headers["Content-Length"] == "5" and "Transfer-Encoding" not in first.headers
    assert first.headers["If-Match"] == '"old"'
    assert second.headers["If-None-Match"] == "*"


@responses.activate
def test_listing_tolerates_server_dialects(storage: WebDAVStorage) -> None:
    """Absolute hrefs, lower-case escapes (Apache), weak ETags, '#' and '+' in names."""
    folder = "https://resana.example.gouv.fr/remote.php/webdav/D%c3%a9p%c3%b4ts/PJJ%20%231/"
    responses.add(
        "PROPFIND",
        f"{BASE}/D%C3%A9p%C3%B4ts/PJJ%20%231/",
        status=207,
        body=multistatus(
            resource(folder, folder=True),
            resource(folder + "a%2bb%20100%25.csv", size=3, etag='W/"x1"'),
            resource("/remote.php/webdav/D%C3%A9p%C3%B4ts/PJJ%20%231/Retours/", folder=True),
            resource("/remote.php/webdav/D%C3%A9p%C3%B4ts/PJJ%20%231/gone.csv", status=404),
            resource("/remote.php/webdav/D%C3%A9p%C3%B4ts/PJJ%20%231/x%2F..%2Fy"),
        ),
    )
    entries = storage.list("Dépôts/PJJ #1")
    assert [(e.name, e.is_dir, e.size, e.etag) for e in entries] == [
        ("Retours", True, None, None),
        ("a+b 100%.csv", False, 3, "x1"),
    ]


@responses.activate
def test_hrefs_without_the_root_prefix_from_a_reverse_proxy(storage: WebDAVStorage) -> None:
    responses.add(
        "PROPFIND",
        f"{BASE}/Archives/",
        status=207,
        body=multistatus(resource("/Archives/", folder=True), resource("/Archives/a.xlsx", size=1)),
    )
    assert [e.path for e in storage.list("Archives")] == ["Archives/a.xlsx"]


@pytest.mark.parametrize(
    "body",
    [
        multistatus(),
        multistatus(resource("/elsewhere/f.csv")),
        "<html><body>Connexion</body></html>",
        '<?xml version="1.0"?><other xmlns="DAV:"/>',
    ],
)
@responses.activate
def test_listing_that_does_not_fit_the_request_raises(storage: WebDAVStorage, body: str) -> None:
    responses.add("PROPFIND", f"{BASE}/", status=207, body=body)
    with pytest.raises(InvalidListing):
        storage.list("")


@responses.activate
def test_listing_answered_200_is_not_a_listing(storage: WebDAVStorage) -> None:
    responses.add("PROPFIND", f"{BASE}/", status=200, body=multistatus(resource("/remote.php/webdav/")))
    with pytest.raises(InvalidListing):
        storage.list("")


@responses.activate
def test_redirect_to_the_same_folder_with_a_slash_is_followed(storage: WebDAVStorage) -> None:
    responses.add("PROPFIND", f"{BASE}/Archives", status=301, headers={"Location": f"{BASE}/Archives/"})
    responses.add("PROPFIND", f"{BASE}/Archives/", status=207, body=multistatus(resource("/remote.php/webdav/Archives/", folder=True)))
    entry = storage.stat("Archives")
    assert entry is not None and entry.is_dir


@responses.activate
def test_redirect_to_https_says_so() -> None:
    storage = WebDAVStorage("http://resana.example.gouv.fr/dav", username="u", password="p")
    responses.add("PROPFIND", "http://resana.example.gouv.fr/dav/", status=301,
                  headers={"Location": "https://resana.example.gouv.fr/dav/"})
    with pytest.raises(AuthenticationError, match="https://"):
        storage.list("")


def test_retry_after_formats() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("demain") is None
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds(later) <= 61


@responses.activate
def test_bearer_token_is_sent_and_never_shown() -> None:
    storage = WebDAVStorage(BASE, token=SECRET)
    responses.add("DELETE", f"{BASE}/old.xlsx", status=204)
    storage.delete("old.xlsx")
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(storage) and SECRET not in repr(storage._client.session.auth)


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        WebDAVStorage(f"https://cellule:{SECRET}@resana.example.gouv.fr/dav")
    assert SECRET not in str(caught.value)


def test_token_and_password_together_are_refused() -> None:
    with pytest.raises(ConfigError):
        WebDAVStorage(BASE, username="u", password="p", token="t")


def test_tls_verification_is_on_by_default_and_takes_a_ca_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    assert WebDAVStorage(BASE)._transport.verify is True
    assert WebDAVStorage(BASE, ca_bundle=bundle)._transport.verify == str(bundle)


@pytest.mark.parametrize(
    ("base", "prefix"),
    [
        ("https://resana.example.gouv.fr", "/remote.php/webdav/"),
        ("https://resana.example.gouv.fr/remote.php/", "webdav"),
        ("https://resana.example.gouv.fr/remote.php/webdav/", None),
    ],
)
@responses.activate
def test_server_prefix_goes_into_every_url(base: str, prefix: str | None) -> None:
    responses.add("PROPFIND", f"{BASE}/Archives/", status=207, body=multistatus(resource("/remote.php/webdav/Archives/", folder=True)))
    assert WebDAVStorage(base, root_prefix=prefix).list("Archives") == []
