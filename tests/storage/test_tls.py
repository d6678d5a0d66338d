"""TLS: verification on by default, a custom CA bundle accepted (self-signed loopback server)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from resana_sync.devserver import serve_webdav
from resana_sync.errors import StorageError, TransientRemoteError

from .conftest import USERS, webdav_storage

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_url(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[str]:
    (tmp_path / "Dépôts").mkdir()
    with serve_webdav(tmp_path, users=USERS, certificate=certificate) as url:
        yield url


def test_unknown_certificate_is_refused_once_with_a_clear_message(https_url: str) -> None:
    with webdav_storage(https_url) as storage, pytest.raises(StorageError) as caught:
        storage.list("")
    assert not isinstance(caught.value, TransientRemoteError)  # not retried: it will not fix itself
    assert "bundle CA" in str(caught.value)


def test_custom_ca_bundle_is_trusted(https_url: str, certificate: tuple[Path, Path]) -> None:
    with webdav_storage(https_url, ca_bundle=certificate[0]) as storage:
        assert [e.name for e in storage.list("")] == ["Dépôts"]
