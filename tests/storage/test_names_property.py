"""Any file name a partner can give survives the round trip through a real WebDAV server."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resana_sync.devserver import serve_webdav
from resana_sync.errors import UnsafePath
from resana_sync.storage.base import clean_path
from resana_sync.storage.webdav import WebDAVStorage

from .conftest import PREFIX, USERS, webdav_storage

# Printable characters from the ranges partners type, plus the URL-special ones.
NAME_CHARS = st.characters(
    codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="/\\"
) | st.sampled_from("#%+?&;=@'\" ")
names = st.text(NAME_CHARS, min_size=1, max_size=40).map(lambda s: unicodedata.normalize("NFC", s).strip())


def acceptable(name: str) -> bool:
    try:
        return bool(name) and clean_path(name) == name and name not in (".", "..")
    except UnsafePath:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVStorage]:
    with serve_webdav(tmp_path_factory.mktemp("dav"), users=USERS, prefix=PREFIX) as url, webdav_storage(url) as storage:
        yield storage


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=names.filter(acceptable), name=names.filter(acceptable))
def test_upload_list_download_round_trip(server: WebDAVStorage, folder: str, name: str) -> None:
    storage = server
    storage.make_folder(folder)
    storage.upload(f"{folder}/{name}", name.encode())

    listed = {e.name: e for e in storage.list(folder)}

    assert name in listed
    assert all(e.path == f"{folder}/{e.name}" for e in listed.values())  # never the folder itself
    assert storage.read_bytes(f"{folder}/{name}").data == name.encode()
