"""Backends for the storage contract suite, each with a way to plant files behind its back."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resana_sync.devserver import serve_webdav
from resana_sync.storage.base import Storage
from resana_sync.storage.local import LocalFolderStorage
from resana_sync.storage.memory import MemoryStorage
from resana_sync.storage.webdav import WebDAVStorage

PASSWORD = "mot-de-passe-très-secret-4217"
USERS = {"coordination": PASSWORD}
PREFIX = "/remote.php/webdav"


def xlsx(text: str) -> bytes:
    """A small, deterministic, valid zip standing in for a workbook (publish checks zips, not sheets)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("xl/workbook.xml", date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


@dataclass
class Backend:
    storage: Storage
    seed: Callable[[str, bytes], None]  # write under exactly this spelling, behind the storage's back


def fs_seeder(root: Path) -> Callable[[str, bytes], None]:
    def seed(stored: str, data: bytes) -> None:
        target = root / stored
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    return seed


def webdav_storage(url: str, **options: object) -> WebDAVStorage:
    options = {"username": "coordination", "password": PASSWORD, "read_timeout": 5, "backoff": 0.01} | options
    return WebDAVStorage(url, **options)


@pytest.fixture
def dav_root(tmp_path: Path) -> Path:
    root = tmp_path / "dav"
    root.mkdir()
    return root


@pytest.fixture(params=["memory", "local", "webdav", "webdav-prefix"])
def backend(request: pytest.FixtureRequest, dav_root: Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "memory":
        storage = MemoryStorage()
        yield Backend(storage, storage.seed)
    elif kind == "local":
        yield Backend(LocalFolderStorage(dav_root), fs_seeder(dav_root))
    else:
        with serve_webdav(dav_root, users=USERS, prefix=PREFIX if kind == "webdav-prefix" else "/") as url:
            with webdav_storage(url) as storage:
                yield Backend(storage, fs_seeder(dav_root))
