"""In-memory backend for tests: same contract as the others, no I/O but the download file."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from pathlib import Path

from ..errors import PreconditionFailed, RemoteNotFound
from ._local_io import write_whole
from ._names import RawItem, SpellingAwareStorage
from .base import Download, Entry, clean_path


class MemoryStorage(SpellingAwareStorage):
    """Files are held under the spelling given (NFD allowed, to test Unicode twins).

    ETags are opaque version counters, like a server's: a rewrite with the same
    content still gets a new ETag.
    """

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        self._files: dict[str, tuple[bytes, str, dt.datetime]] = {}
        self._folders: set[str] = {""}
        self._versions = itertools.count(1)
        super().__init__()
        for stored, data in (files or {}).items():
            self.seed(stored, data)

    def seed(self, stored: str, data: bytes) -> str:
        """Store ``data`` under exactly this spelling (NFD allowed), without conditions."""
        etag = f"m{next(self._versions)}"
        parts = stored.split("/")
        self._folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        self._files[stored] = (data, etag, dt.datetime.now(dt.UTC))
        return etag

    def list(self, folder: str) -> list[Entry]:
        folder = clean_path(folder)
        stored = self._names.stored(folder)
        if stored not in self._folders:
            raise RemoteNotFound("Dossier introuvable sur l'espace.", path=folder)
        prefix = f"{stored}/" if stored else ""
        items = [
            RawItem(name, False, len(data), etag, modified)
            for path, (data, etag, modified) in self._files.items()
            if path.startswith(prefix) and "/" not in (name := path[len(prefix):])
        ]
        items += [
            RawItem(path[len(prefix):], True)
            for path in self._folders
            if path and path.startswith(prefix) and "/" not in path[len(prefix):]
        ]
        return self._names.entries(folder, items)

    def _stat_at(self, path: str) -> Entry | None:
        stored = self._names.stored(path)
        if stored in self._files:
            data, etag, modified = self._files[stored]
            return Entry(path, False, len(data), etag, modified)
        if stored in self._folders:
            return Entry(path, True)
        return None

    def _download_at(self, path: str, dest: Path, max_bytes: int | None) -> Download:
        stored = self._names.stored(path)
        if stored not in self._files:
            raise RemoteNotFound("Fichier introuvable sur l'espace.", path=path)
        data, etag, _ = self._files[stored]
        size, digest = write_whole(dest, [data], expected_size=len(data), max_bytes=max_bytes, path=path)
        return Download(path, dest, size, digest, etag)

    def upload(self, path: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        path = clean_path(path)
        stored = self._names.stored(path)
        current = self._files.get(stored)
        if if_none_match and current is not None:
            raise PreconditionFailed("Le fichier existe déjà sur l'espace.", path=path)
        if if_match is not None and (current is None or current[1] != if_match):
            raise PreconditionFailed("Le fichier a été modifié par quelqu'un d'autre entre-temps.", path=path)
        if stored.rpartition("/")[0] not in self._folders:
            raise RemoteNotFound("Le dossier de destination n'existe pas.", path=path)
        return self.seed(stored, bytes(data))

    def make_folder(self, folder: str) -> None:
        parts = clean_path(folder).split("/")
        for i in range(1, len(parts) + 1):
            self._folders.add(self._names.stored("/".join(parts[:i])))

    def delete(self, path: str) -> None:
        path = clean_path(path)
        if self._files.pop(self._names.stored(path), None) is None:
            raise RemoteNotFound("Fichier introuvable sur l'espace.", path=path)
