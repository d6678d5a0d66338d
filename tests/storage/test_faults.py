"""Each way a real WebDAV server misbehaves, injected in front of WsgiDAV, with its outcome:
the right error, the right number of tries, and nothing lost."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from resana_sync.devserver import serve_webdav
from resana_sync.errors import (
    AuthenticationError,
    InvalidListing,
    PreconditionFailed,
    RemoteFull,
    RemoteLocked,
    RemoteNotFound,
    TransientRemoteError,
    WriteNotVerified,
)
from resana_sync.storage import _http
from resana_sync.storage.base import sha256_bytes
from resana_sync.storage.publish import list_archives, publish_workbook, restore_from_archive
from resana_sync.storage.webdav import WebDAVStorage

from . import faults
from .conftest import PASSWORD, PREFIX, USERS, webdav_storage, xlsx

WORKBOOK = "Tableau de suivi partagé.xlsx"
COORDINATOR = requests.auth.HTTPBasicAuth(b"coordination", PASSWORD.encode())  # another WebDAV client
NOW = dt.datetime(2026, 12, 3, 3, 30)


@dataclass
class Faulty:
    root: Path          # the folder WsgiDAV serves
    url: str
    injector: faults.FaultInjector
    storage: WebDAVStorage
    sleeps: list[float]

    def publish(self, data: bytes, based_on: bytes | None) -> object:
        return publish_workbook(
            self.storage,
            WORKBOOK,
            data,
            expected_sha256=sha256_bytes(based_on) if based_on is not None else None,
            archive_folder="Archives",
            keep_archives=5,
            now=NOW,
        )


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faulty]:
    sleeps: list[float] = []
    monkeypatch.setattr(_http, "_sleep", sleeps.append)
    root = tmp_path / "dav"
    (root / "Dépôts" / "PJJ #1").mkdir(parents=True)
    (root / "Dépôts" / "PJJ #1" / "fiche.csv").write_bytes(b"nom;prenom\n" * 2000)
    injector = faults.FaultInjector()
    with serve_webdav(root, users=USERS, prefix=PREFIX, middleware=injector.wrap) as url:
        with webdav_storage(url, read_timeout=2) as storage:
            yield Faulty(root, url, injector, storage, sleeps)


FORM = "Dépôts/PJJ #1/fiche.csv"


# -- refused access: stop at once, no retry storm ----------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "hint"),
    [
        (faults.reply(401, headers={"WWW-Authenticate": 'Basic realm="x"'}), AuthenticationError, "identifiant"),
        (faults.reply(403), AuthenticationError, "droits"),
        (faults.redirect_to_login(), AuthenticationError, "connexion"),
        (faults.html_page(), InvalidListing, "page de connexion"),
        (faults.multistatus(faults.MALFORMED), InvalidListing, "liste de fichiers"),
        (faults.multistatus(faults.BILLION_LAUGHS), InvalidListing, "déclaration"),
        (faults.multistatus(faults.XXE), InvalidListing, "déclaration"),
    ],
)
def test_listing_that_cannot_be_trusted_raises_once(faulty: Faulty, fault, error, hint: str) -> None:
    faulty.injector.add(fault, method="PROPFIND", times=None)
    with pytest.raises(error) as caught:
        faulty.storage.list("Dépôts/PJJ #1")
    assert hint in str(caught.value)
    assert "root:" not in str(caught.value)
    assert faulty.injector.count("PROPFIND") == 1


def test_missing_file_is_not_found(faulty: Faulty, tmp_path: Path) -> None:
    with pytest.raises(RemoteNotFound):
        faulty.storage.download("Dépôts/PJJ #1/absente.csv", tmp_path / "x")
    assert faulty.injector.count("GET") == 1


@pytest.mark.parametrize(("status", "error"), [(423, RemoteLocked), (507, RemoteFull)])
def test_put_refusals(faulty: Faulty, status: int, error: type) -> None:
    faulty.injector.add(faults.reply(status), method="PUT")
    with pytest.raises(error):
        faulty.storage.upload(WORKBOOK, b"x")
    assert faulty.injector.count("PUT") == 1


# -- retries: reads only, bounded, Retry-After honoured ------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_on_reads(faulty: Faulty, status: int) -> None:
    faulty.injector.add(faults.reply(status, headers={"Retry-After": "7"}), method="PROPFIND")
    assert [e.name for e in faulty.storage.list("Dépôts/PJJ #1")] == ["fiche.csv"]
    assert faulty.sleeps == [7.0]
    assert faulty.injector.count("PROPFIND") == 2


def test_retry_after_too_long_gives_up_at_once(faulty: Faulty) -> None:
    faulty.injector.add(faults.reply(503, headers={"Retry-After": "86400"}), method="PROPFIND")
    with pytest.raises(TransientRemoteError) as caught:
        faulty.storage.list("Dépôts/PJJ #1")
    assert caught.value.retry_after == 86400
    assert faulty.sleeps == []


def test_server_error_then_success(faulty: Faulty, tmp_path: Path) -> None:
    faulty.injector.add(faults.reply(500), method="GET", times=2)
    got = faulty.storage.download(FORM, tmp_path / "f.csv")
    assert got.size == len(b"nom;prenom\n" * 2000)
    assert faulty.injector.count("GET") == 3
    assert faulty.sleeps == [0.01, 0.02]  # exponential backoff


def test_retries_are_bounded(faulty: Faulty) -> None:
    faulty.injector.add(faults.reply(502), method="PROPFIND", times=None)
    with pytest.raises(TransientRemoteError):
        faulty.storage.list("Dépôts")
    assert faulty.injector.count("PROPFIND") == 4  # 1 + retries=3


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("PUT", lambda s: s.upload(WORKBOOK, b"x")),
        ("DELETE", lambda s: s.delete(FORM)),
        ("MKCOL", lambda s: s.make_folder("Archives")),
    ],
)
def test_writes_are_never_retried(faulty: Faulty, method: str, call) -> None:
    faulty.injector.add(faults.reply(503, headers={"Retry-After": "1"}), method=method, times=None)
    with pytest.raises(TransientRemoteError) as caught:
        call(faulty.storage)
    assert caught.value.retry_after == 1
    assert faulty.injector.count(method) == 1


# -- bodies cut short --------------------------------------------------------------


@pytest.mark.parametrize("fault", [faults.truncated, faults.reset])
def test_body_cut_short_is_retried_and_never_kept(faulty: Faulty, tmp_path: Path, fault) -> None:
    dest = tmp_path / "out" / "f.csv"
    dest.parent.mkdir()
    faulty.injector.add(fault(), method="GET")
    got = faulty.storage.download(FORM, dest)
    assert dest.read_bytes() == b"nom;prenom\n" * 2000 and got.size == 22000
    assert faulty.injector.count("GET") == 2

    faulty.injector.add(fault(), method="GET", times=None)
    dest.unlink()
    with pytest.raises(TransientRemoteError):
        faulty.storage.download(FORM, dest)
    assert list(dest.parent.iterdir()) == []  # neither a partial file nor a temp file


def test_listing_cut_short_is_retried_not_read_as_partial(faulty: Faulty) -> None:
    faulty.injector.add(faults.reset(), method="PROPFIND")
    assert [e.name for e in faulty.storage.list("Dépôts/PJJ #1")] == ["fiche.csv"]
    assert faulty.injector.count("PROPFIND") == 2


def test_slow_reply_past_the_read_timeout(faulty: Faulty) -> None:
    faulty.injector.add(faults.slow(1.0), method="PROPFIND", times=None)
    storage = webdav_storage(faulty.url, read_timeout=0.3, retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(TransientRemoteError, match="délai"):
        storage.list("Dépôts")
    assert time.monotonic() - started < 1.5
    assert faulty.injector.count("PROPFIND") == 2
    storage.close()


# -- servers that cannot be trusted with versions ----------------------------------


def seed_workbook(faulty: Faulty, data: bytes) -> None:
    (faulty.root / WORKBOOK).write_bytes(data)


def test_server_ignoring_if_match_cannot_make_publish_overwrite_a_newer_save(faulty: Faulty) -> None:
    faulty.injector.add(faults.ignore_conditions(), times=None)
    faulty.storage.upload("probe.xlsx", b"1")
    faulty.storage.upload("probe.xlsx", b"2", if_match="not-the-etag")  # the server's flaw: accepted

    base, coordinator = xlsx("base"), xlsx("coordinator's edit")
    seed_workbook(faulty, coordinator)  # saved after our merge read ``base``
    with pytest.raises(PreconditionFailed):
        faulty.publish(xlsx("merged"), based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == coordinator


def test_server_without_etags_still_publishes_and_detects_changes(faulty: Faulty) -> None:
    faulty.injector.add(faults.no_etag(), times=None)
    base = xlsx("base")
    seed_workbook(faulty, base)
    assert all(e.etag is None for e in faulty.storage.list("") if not e.is_dir)

    result = faulty.publish(xlsx("merged 1"), based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == xlsx("merged 1")
    assert result.archive_path is not None

    seed_workbook(faulty, xlsx("coordinator"))
    with pytest.raises(PreconditionFailed):
        faulty.publish(xlsx("merged 2"), based_on=xlsx("merged 1"))


def test_same_etag_after_same_size_rewrite_is_caught_by_the_hash(faulty: Faulty) -> None:
    faulty.injector.add(faults.frozen_etag(), times=None)
    base, coordinator = xlsx("version A"), xlsx("version B")
    assert len(base) == len(coordinator)
    seed_workbook(faulty, base)
    before = faulty.storage.stat(WORKBOOK).etag
    seed_workbook(faulty, coordinator)
    assert faulty.storage.stat(WORKBOOK).etag == before

    with pytest.raises(PreconditionFailed):
        faulty.publish(xlsx("merged"), based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == coordinator


def test_server_refusing_its_own_etags_still_gets_the_workbook(faulty: Faulty) -> None:
    faulty.injector.add(faults.refuse_if_match(), method="PUT", times=None)
    seed_workbook(faulty, xlsx("base"))
    faulty.publish(xlsx("merged"), based_on=xlsx("base"))
    assert (faulty.root / WORKBOOK).read_bytes() == xlsx("merged")


# -- interrupted in-place writes ---------------------------------------------------


@pytest.mark.parametrize("answer", [500, None, 204])
def test_put_cut_halfway_once_is_sent_again(faulty: Faulty, answer: int | None) -> None:
    base, merged = xlsx("base"), xlsx("merged" * 200)
    seed_workbook(faulty, base)
    faulty.injector.add(faults.in_place_put_cut(faulty.root, PREFIX, answer=answer), method="PUT", path=WORKBOOK)

    result = faulty.publish(merged, based_on=base)

    assert result.resent
    assert (faulty.root / WORKBOOK).read_bytes() == merged
    assert (faulty.root / result.archive_path).read_bytes() == base


def test_put_always_cut_loses_nothing_and_next_run_repairs(faulty: Faulty) -> None:
    base, merged = xlsx("base"), xlsx("merged" * 200)
    seed_workbook(faulty, base)
    faulty.injector.add(faults.in_place_put_cut(faulty.root, PREFIX), method="PUT", path="/" + WORKBOOK, times=None)

    with pytest.raises(WriteNotVerified) as caught:
        faulty.publish(merged, based_on=base)
    assert "prochain passage" in str(caught.value)
    [archive] = list_archives(faulty.storage, WORKBOOK, "Archives")
    assert (faulty.root / archive).read_bytes() == base

    faulty.injector.clear()  # next run, the network is fine again
    assert restore_from_archive(faulty.storage, WORKBOOK, archive_folder="Archives") == archive
    assert (faulty.root / WORKBOOK).read_bytes() == base
    faulty.publish(merged, based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == merged


# -- a concurrent writer during publish --------------------------------------------


@pytest.mark.parametrize("server_ignores_if_match", [False, True])
def test_coordinator_saving_while_we_archive(faulty: Faulty, server_ignores_if_match: bool) -> None:
    base, coordinator = xlsx("base"), xlsx("coordinator's edit")
    seed_workbook(faulty, base)
    faulty.injector.add(faults.concurrent_write(faulty.root / WORKBOOK, coordinator), method="PUT", path="Archives/")
    if server_ignores_if_match:
        faulty.injector.add(faults.ignore_conditions(), times=None)

    with pytest.raises(PreconditionFailed):
        faulty.publish(xlsx("merged"), based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == coordinator

    # the caller re-reads, re-merges over the coordinator's version and publishes
    faulty.publish(xlsx("merged over coordinator"), based_on=coordinator)
    assert (faulty.root / WORKBOOK).read_bytes() == xlsx("merged over coordinator")
    archived = [(faulty.root / p).read_bytes() for p in list_archives(faulty.storage, WORKBOOK, "Archives")]
    assert coordinator in archived


def test_coordinator_saving_at_the_very_moment_of_our_put(faulty: Faulty) -> None:
    """The last window, after our final check: If-Match refuses our write (412)."""
    base, coordinator = xlsx("base"), xlsx("coordinator's edit")
    seed_workbook(faulty, base)
    faulty.injector.add(faults.concurrent_write(faulty.root / WORKBOOK, coordinator), method="PUT", path="/" + WORKBOOK)

    with pytest.raises(PreconditionFailed):
        faulty.publish(xlsx("merged"), based_on=base)
    assert (faulty.root / WORKBOOK).read_bytes() == coordinator


@pytest.mark.parametrize("server_ignores_if_match", [False, True])
def test_coordinator_saving_through_webdav_at_the_very_moment_is_held_off_by_our_lock(
    faulty: Faulty, server_ignores_if_match: bool
) -> None:
    base, merged, coordinator = xlsx("base"), xlsx("merged"), xlsx("coordinator's edit")
    seed_workbook(faulty, base)
    their_saves: list[int] = []
    workbook_url = f"{faulty.url}/{quote(WORKBOOK)}"
    faulty.injector.add(
        faults.concurrent_dav_put(workbook_url, COORDINATOR, coordinator, their_saves),
        method="PUT",
        path="/" + WORKBOOK,
    )
    if server_ignores_if_match:
        faulty.injector.add(faults.ignore_conditions(), times=None)

    faulty.publish(merged, based_on=base)

    assert their_saves == [423]  # their editor says "locked, try again": their edit is still with them
    assert (faulty.root / WORKBOOK).read_bytes() == merged
    assert requests.put(workbook_url, data=coordinator, auth=COORDINATOR, timeout=5).ok  # lock released


def test_server_without_locks_still_publishes(faulty: Faulty) -> None:
    faulty.injector.add(faults.no_locks(), method="LOCK", times=None)
    seed_workbook(faulty, xlsx("base"))
    faulty.publish(xlsx("merged"), based_on=xlsx("base"))
    assert (faulty.root / WORKBOOK).read_bytes() == xlsx("merged")


def test_workbook_locked_by_someone_else_is_left_alone(faulty: Faulty) -> None:
    seed_workbook(faulty, xlsx("base"))
    faulty.injector.add(faults.reply(423), method="LOCK")
    with pytest.raises(RemoteLocked):
        faulty.publish(xlsx("merged"), based_on=xlsx("base"))
    assert (faulty.root / WORKBOOK).read_bytes() == xlsx("base")


# -- credentials never leak ---------------------------------------------------------


def test_password_never_appears(faulty: Faulty, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    errors = []
    for fault in (faults.reply(401), faults.redirect_to_login(), faults.reply(500), faults.reset()):
        faulty.injector.add(fault, times=None)
        try:
            faulty.storage.download(FORM, tmp_path / "x")
        except Exception as exc:  # noqa: BLE001 - collecting every outcome
            errors.append(exc)
        faulty.injector.clear()
    assert len(errors) == 4
    shown = [repr(faulty.storage), caplog.text]
    for exc in errors:
        shown += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    basic = base64.b64encode(f"coordination:{PASSWORD}".encode()).decode()
    assert not [text for text in shown if PASSWORD in text or basic in text]
