"""The folder that the RESANA desktop client keeps in sync, as a storage backend.

Behaves like WebDAV for the callers: conditional writes compare an ETag, here the
sha256 of the content (a mtime-based tag would repeat the WebDAV same-second
blind spot). The check-then-rename is not atomic against another local writer; the
caller's read-back verification (publish) covers that window.
"""

from __future__ import annotations

import contextlib

import datetime as dt
import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import InFlux, PreconditionFailed, RemoteLocked, RemoteNotFound, StorageError, UnsafePath
from ._local_io import replace_atomically, write_whole
from ._names import RawItem, SpellingAwareStorage
from .base import Download, Entry, clean_path

log = logging.getLogger(__name__)

# Temp files of the sync client (RESANA is Nextcloud-based) and our own: never a
# finished file, never on the server, so never listed. Editor artefacts (~$x.xlsx,
# .~lock.x.xlsx#, .DS_Store...) can be on the server too, so they are listed here as
# well and intake.is_artefact decides about them: both backends report the same files.
SYNC_CLIENT_TEMP_PATTERNS = (
    "*.part",        # download in progress (also our own temp files)
    "*.filepart",    # ownCloud/Nextcloud upload chunk
    ".*.~*",         # Nextcloud ".name.~1a2b" temp download
    ".sync_*",       # sync journal database
    "._sync_*",      # sync journal database (older clients)
    ".owncloudsync.log*",
    "~*.tmp",        # Windows temp file left by a save
)

_CHUNK = 1 << 16


def is_sync_client_temp(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SYNC_CLIENT_TEMP_PATTERNS)


def _file_etag(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _modified(st: os.stat_result) -> dt.datetime:
    return dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)


class LocalFolderStorage(SpellingAwareStorage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        super().__init__()

    def __repr__(self) -> str:
        return f"LocalFolderStorage({str(self.root)!r})"

    def _local(self, path: str) -> Path:
        """The on-disk path for ``path``; refuses what a symlink would lead outside the root."""
        stored = self._names.stored(clean_path(path))
        target = self.root / stored if stored else self.root
        if not target.resolve().is_relative_to(self.root):
            raise UnsafePath("Chemin refusé : il sort du dossier de l'espace (lien symbolique).", path=path)
        return target

    def list(self, folder: str) -> list[Entry]:
        folder = clean_path(folder)
        target = self._local(folder)
        try:
            children = list(os.scandir(target))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise RemoteNotFound("Dossier introuvable dans le dossier synchronisé.", path=folder) from exc
        except OSError as exc:
            raise StorageError(
                "Impossible de lire un dossier du dossier synchronisé : vérifiez ses droits d'accès.", path=folder
            ) from exc
        items = []
        for child in children:
            if is_sync_client_temp(child.name):
                continue
            item = self._raw_item(child)
            if item is not None:
                items.append(item)
        return self._names.entries(folder, items)

    @staticmethod
    def _raw_item(child: os.DirEntry[str]) -> RawItem | None:
        """None for a file that vanished or cannot be read right now (the sync client is busy)."""
        try:
            st = child.stat()
            if child.is_dir():
                return RawItem(child.name, True, modified=_modified(st))
            return RawItem(child.name, False, st.st_size, _file_etag(Path(child.path)), _modified(st))
        except OSError:
            log.debug("a child vanished or is unreadable during listing")
            return None

    def _stat_at(self, path: str) -> Entry | None:
        target = self._local(path)
        try:
            st = target.stat()
            if target.is_dir():
                return Entry(path, True, modified=_modified(st))
            return Entry(path, False, st.st_size, _file_etag(target), _modified(st))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InFlux("Fichier momentanément illisible dans le dossier synchronisé.", path=path) from exc

    def _download_at(self, path: str, dest: Path, max_bytes: int | None) -> Download:
        source = self._local(path)
        try:
            with source.open("rb") as handle:
                expected = os.fstat(handle.fileno()).st_size
                size, digest = write_whole(
                    dest,
                    iter(lambda: handle.read(_CHUNK), b""),
                    expected_size=expected,
                    max_bytes=max_bytes,
                    path=path,
                )
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise RemoteNotFound("Fichier introuvable dans le dossier synchronisé.", path=path) from exc
        except OSError as exc:  # locked by the sync client or an editor, or unreadable for now
            raise InFlux("Fichier momentanément illisible dans le dossier synchronisé.", path=path) from exc
        # The ETag is the content hash, so it is exactly what we copied.
        return Download(path, dest, size, digest, digest)

    def upload(self, path: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        path = clean_path(path)
        target = self._local(path)
        current = self.stat(path)
        if if_none_match and current is not None:
            raise PreconditionFailed("Le fichier existe déjà dans le dossier synchronisé.", path=path)
        if if_match is not None and (current is None or current.etag != if_match):
            raise PreconditionFailed("Le fichier a été modifié par quelqu'un d'autre entre-temps.", path=path)
        if not target.parent.is_dir():
            raise RemoteNotFound("Le dossier de destination n'existe pas.", path=path)
        try:
            replace_atomically(target, bytes(data))
        except PermissionError as exc:  # Windows refuses to replace a file open in Excel
            raise RemoteLocked(
                "Le fichier ne peut pas être remplacé : il est sans doute ouvert dans un tableur (il sera écrit au "
                "prochain passage), sinon vérifiez les droits d'écriture sur le dossier synchronisé.",
                path=path,
            ) from exc
        except OSError as exc:
            raise StorageError(
                "Impossible d'écrire dans le dossier synchronisé : vérifiez l'espace disque et les droits.", path=path
            ) from exc
        return hashlib.sha256(data).hexdigest()

    @contextlib.contextmanager
    def exclusive(self, path: str) -> Iterator[None]:
        """No lock on a plain folder, but an office suite that has the file open leaves its
        lock file beside it (LibreOffice ``.~lock.NAME#``, Excel ``~$NAME``): writing then
        would overwrite what the person is editing, so the write waits for the next run."""
        target = self._local(clean_path(path))
        owners = (f".~lock.{target.name}#", f"~${target.name}", f"~${target.name[2:]}")
        if any((target.parent / owner).exists() for owner in owners):
            raise RemoteLocked(
                "Le tableau est ouvert dans un tableur (fichier de verrou présent) : il n'a pas été modifié. "
                "Les fiches seront fusionnées à la prochaine synchronisation, une fois le tableau fermé.",
                path=path,
            )
        yield

    def make_folder(self, folder: str) -> None:
        try:
            self._local(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                "Impossible de créer un dossier dans le dossier synchronisé : vérifiez les droits.", path=folder
            ) from exc

    def delete(self, path: str) -> None:
        path = clean_path(path)
        try:
            self._local(path).unlink()
        except FileNotFoundError as exc:
            raise RemoteNotFound("Fichier introuvable dans le dossier synchronisé.", path=path) from exc
        except OSError as exc:
            raise StorageError(
                "Impossible de supprimer une ancienne archive : vérifiez les droits sur le dossier.", path=path
            ) from exc
