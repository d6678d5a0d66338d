"""Against a real server with the worst habits: `rclone serve webdav` ignores If-Match and
If-None-Match and writes a PUT in place, but honours locks. Skipped without rclone
(Debian: `apt-get install rclone`)."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests

from resana_sync.errors import PreconditionFailed
from resana_sync.storage.base import sha256_bytes
from resana_sync.storage.publish import list_archives, publish_workbook, restore_from_archive
from resana_sync.storage.webdav import WebDAVStorage

from .conftest import xlsx

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")

USER, PASSWORD = "coordination", "mot-de-passe-très-secret-4217"
COORDINATOR = requests.auth.HTTPBasicAuth(USER.encode(), PASSWORD.encode())
WORKBOOK = "Tableau de suivi partagé.xlsx"
_numbers = itertools.count()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("rclone")
    port = _free_port()
    process = subprocess.Popen(
        ["rclone", "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}", "--user", USER, "--pass", PASSWORD,
         "--dir-cache-time", "0s"],  # the tests write behind its back, as the coordinator would
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.skip("rclone serve webdav did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root
    finally:
        process.terminate()
        process.wait(5)


@dataclass
class Space:
    """A fresh folder of the rclone server, used as the space root through root_prefix."""

    server_url: str
    prefix: str
    folder: Path

    @property
    def url(self) -> str:
        return f"{self.server_url}/{quote(self.prefix)}"

    def open(self, cls: type[WebDAVStorage] = WebDAVStorage) -> WebDAVStorage:
        return cls(self.server_url, username=USER, password=PASSWORD, root_prefix=self.prefix, backoff=0.01)

    def publish(self, storage: WebDAVStorage, data: bytes, based_on: bytes) -> object:
        return publish_workbook(
            storage, WORKBOOK, data, expected_sha256=sha256_bytes(based_on), archive_folder="Archives",
            keep_archives=3, now=dt.datetime(2026, 12, 3, 3, 30),
        )


@pytest.fixture
def space(rclone: tuple[str, Path]) -> Space:
    url, root = rclone
    prefix = f"espace {next(_numbers)} #é"
    (root / prefix).mkdir()
    return Space(url, prefix, root / prefix)


def test_awkward_names_round_trip(space: Space) -> None:
    storage = space.open()
    storage.make_folder("Dépôts/Partenaire #2")
    storage.upload("Dépôts/Partenaire #2/100% l'été +x.csv", b"abc")
    [entry] = storage.list("Dépôts/Partenaire #2")
    assert (entry.name, entry.size) == ("100% l'été +x.csv", 3)
    assert storage.read_bytes(entry.path).data == b"abc"


def test_the_server_really_ignores_if_match(space: Space) -> None:
    storage = space.open()
    storage.upload("f.xlsx", b"1")
    storage.upload("f.xlsx", b"2", if_match="not-the-etag")  # no 412: the flaw publish must survive
    assert storage.read_bytes("f.xlsx").data == b"2"


def test_a_coordinator_save_during_archiving_is_not_overwritten(space: Space) -> None:
    base, coordinator = xlsx("base"), xlsx("coordinator's edit")
    (space.folder / WORKBOOK).write_bytes(base)

    class SavesWhileArchiving(WebDAVStorage):
        def upload(self, path: str, data: bytes, **conditions: object) -> str | None:
            if path.startswith("Archives/"):
                (space.folder / WORKBOOK).write_bytes(coordinator)
            return super().upload(path, data, **conditions)

    with pytest.raises(PreconditionFailed):
        space.publish(space.open(SavesWhileArchiving), xlsx("merged"), base)
    assert (space.folder / WORKBOOK).read_bytes() == coordinator


def test_a_coordinator_save_at_the_moment_of_our_write_is_held_off_by_the_lock(space: Space) -> None:
    base, merged = xlsx("base"), xlsx("merged")
    (space.folder / WORKBOOK).write_bytes(base)
    their_saves: list[int] = []

    class CoordinatorSavesFirst(WebDAVStorage):
        def upload(self, path: str, data: bytes, **conditions: object) -> str | None:
            if path == WORKBOOK and not their_saves:
                saved = requests.put(f"{space.url}/{quote(WORKBOOK)}", data=b"x", auth=COORDINATOR, timeout=5)
                their_saves.append(saved.status_code)
            return super().upload(path, data, **conditions)

    space.publish(space.open(CoordinatorSavesFirst), merged, base)

    assert their_saves == [423]
    assert (space.folder / WORKBOOK).read_bytes() == merged


def _put_half_and_vanish(url: str, data: bytes) -> None:
    """A client that announces the whole body, sends half of it, and disconnects."""
    parts = urlsplit(url)
    credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    head = (
        f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(data)}\r\n"
        f"Authorization: Basic {credentials}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as raw:
        raw.sendall(head.encode() + data[: len(data) // 2])


def test_a_put_cut_in_place_is_repaired_from_the_archive(space: Space) -> None:
    storage = space.open()
    v1, v2 = xlsx("v1"), xlsx("v2" * 500)
    (space.folder / WORKBOOK).write_bytes(v1)
    space.publish(storage, v2, v1)
    [archive] = list_archives(storage, WORKBOOK, "Archives")

    _put_half_and_vanish(f"{space.url}/{quote(WORKBOOK)}", v2)
    deadline = time.monotonic() + 5
    while (space.folder / WORKBOOK).stat().st_size != len(v2) // 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # rclone is still writing what it received
    assert (space.folder / WORKBOOK).stat().st_size == len(v2) // 2  # the in-place write left half a file

    assert restore_from_archive(storage, WORKBOOK, archive_folder="Archives") == archive
    assert (space.folder / WORKBOOK).read_bytes() == v1
