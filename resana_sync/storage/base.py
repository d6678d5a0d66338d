"""The one storage interface. Backends: memory (tests), local folder (the folder the
RESANA desktop client keeps in sync), WebDAV.

Paths are relative to the cell's space root, '/'-separated, without a leading slash,
in NFC. ``""`` is the root. Every backend must pass ``tests/storage/contract.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import tempfile
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from ..errors import UnsafePath


@dataclass(frozen=True)
class Entry:
    """One child of a listed folder, or the result of ``stat``."""

    path: str
    is_dir: bool
    size: int | None = None
    etag: str | None = None          # normalised (see normalise_etag); None when the server gives none
    modified: dt.datetime | None = None
    # Other children of the same folder whose name is this one in another Unicode
    # spelling (NFC vs NFD, e.g. from a Mac). They are not listed, so never imported
    # twice; the caller reports them to the partner.
    nfc_duplicates: int = 0

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Download:
    """A file fetched whole to ``local_path``; ``sha256`` is of the bytes written."""

    path: str
    local_path: Path
    size: int
    sha256: str
    etag: str | None


@dataclass(frozen=True)
class Blob:
    """A small file read whole into memory (the shared workbook, an archive)."""

    path: str
    data: bytes
    sha256: str
    etag: str | None


class Storage(ABC):
    """A tree of folders and files. Implementations translate their own errors into
    ``resana_sync.errors.StorageError`` subclasses and never return an empty listing
    for a folder they could not read."""

    @abstractmethod
    def list(self, folder: str) -> list[Entry]:
        """Direct children of ``folder`` (never the folder itself). RemoteNotFound if missing."""

    @abstractmethod
    def stat(self, path: str) -> Entry | None:
        """The entry at ``path``, or None when nothing is there."""

    @abstractmethod
    def download(self, path: str, dest: Path, *, max_bytes: int | None = None) -> Download:
        """Fetch ``path`` whole into ``dest`` (written via a temp file, renamed when complete)."""

    @abstractmethod
    def upload(
        self,
        path: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str | None:
        """Write ``data`` at ``path``. ``if_match``: only if the current ETag is this one;
        ``if_none_match``: only if nothing exists there. PreconditionFailed otherwise.
        Returns the new ETag when the backend knows it."""

    @abstractmethod
    def make_folder(self, folder: str) -> None:
        """Create ``folder`` and its parents if missing; no error if it exists."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove the file at ``path`` (used only to prune old archives)."""

    @contextlib.contextmanager
    def exclusive(self, path: str) -> Iterator[None]:
        """Hold other writers of the existing file ``path`` off, where the backend can.

        WebDAV takes a LOCK (other clients' PUTs get 423 meanwhile); elsewhere this
        holds nothing, and conditional writes plus read-back verification remain the
        guard. Raises RemoteLocked if someone else holds the file.
        """
        yield

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> Blob:
        """Fetch ``path`` whole into memory, through ``download`` so the same checks apply."""
        with tempfile.TemporaryDirectory(prefix="resana-sync-") as tmp:
            fetched = self.download(path, Path(tmp) / "blob", max_bytes=max_bytes)
            data = fetched.local_path.read_bytes()
        return Blob(path=fetched.path, data=data, sha256=fetched.sha256, etag=fetched.etag)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def normalise_etag(raw: str | None) -> str | None:
    """Strip the weak marker and quotes: servers differ on both, the value is what matters."""
    if raw is None:
        return None
    value = raw.strip()
    if value.startswith(("W/", "w/")):
        value = value[2:]
    value = value.strip().strip('"')
    return value or None


def clean_path(path: str) -> str:
    """Validate and normalise a relative path; refuse anything that could escape the space."""
    if "\x00" in path or "\\" in path:
        raise UnsafePath(f"Nom de fichier refusé (caractère interdit) : {path!r}.")
    # Names are plain text, never URL-encoded: '%20' in a name is three characters and is
    # fine. Only what a careless decoder could turn into a path separator is refused.
    if re.search(r"%(2f|5c)", path, re.IGNORECASE) or ".." in unquote(path).split("/"):
        raise UnsafePath(f"Nom de fichier refusé (barre oblique encodée) : {path!r}.")
    if path.startswith("/"):
        raise UnsafePath(f"Chemin absolu refusé : {path!r}.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePath(f"Chemin refusé (« .. ») : {path!r}.")
    return unicodedata.normalize("NFC", "/".join(parts))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
