"""The layout of the cell's space on RESANA (DESIGN §3) and where the connector may write.

    <espace>/
      Dépôts/<Structure>/             one inbox per partner
      Dépôts/<Structure>/Retours/     reports for that partner only
      Tableau de suivi partagé.xlsx   the shared workbook
      Archives/                       copies of the workbook before each overwrite
      Modèles/Fiche de situation.xlsx the blank form

A partner's identity comes from its folder, never from what a file says.
``GuardedStorage`` wraps any backend so that a write anywhere else is refused: the
guarantee holds whatever bug the sync code may have.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import UnsafePath
from .storage.base import Download, Entry, Storage, clean_path


@dataclass(frozen=True)
class Space:
    inbox_root: str = "Dépôts"
    returns_folder: str = "Retours"
    workbook: str = "Tableau de suivi partagé.xlsx"
    archives: str = "Archives"
    templates: str = "Modèles"
    template_name: str = "Fiche de situation.xlsx"

    def inbox(self, structure: str) -> str:
        return clean_path(posixpath.join(self.inbox_root, structure))

    def returns(self, structure: str) -> str:
        return clean_path(posixpath.join(self.inbox(structure), self.returns_folder))

    @property
    def template_path(self) -> str:
        return clean_path(posixpath.join(self.templates, self.template_name))

    def is_returns_folder(self, path: str) -> bool:
        parts = clean_path(path).split("/")
        return (
            len(parts) == 3
            and parts[0] == _nfc(self.inbox_root)
            and parts[2] == _nfc(self.returns_folder)
        )

    def may_write(self, path: str) -> bool:
        """True for the workbook and its conflict copies, Archives/, Modèles/, and
        one partner's own Retours/ folder (not deeper)."""
        path = clean_path(path)
        folder, name = posixpath.split(path)
        workbook = _nfc(self.workbook)
        stem = workbook.rsplit(".", 1)[0]
        if folder == "" and (name == workbook or (name.startswith(stem + " (conflit ") and name.endswith(".xlsx"))):
            return True
        if folder in (_nfc(self.archives), _nfc(self.templates)):
            return True
        return self.is_returns_folder(folder)

    def may_create_folder(self, folder: str) -> bool:
        folder = clean_path(folder)
        return folder in (_nfc(self.archives), _nfc(self.templates)) or self.is_returns_folder(folder)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class GuardedStorage(Storage):
    """A storage that refuses every write outside the places DESIGN §3 allows."""

    def __init__(self, inner: Storage, space: Space, *, read_only: bool = False) -> None:
        self.inner = inner
        self.space = space
        self.read_only = read_only  # a dry run: no write at all, whatever the code path

    def list(self, folder: str) -> list[Entry]:
        return self.inner.list(folder)

    def stat(self, path: str) -> Entry | None:
        return self.inner.stat(path)

    def download(self, path: str, dest: Path, *, max_bytes: int | None = None) -> Download:
        return self.inner.download(path, dest, max_bytes=max_bytes)

    def upload(self, path: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> str | None:
        self._check(self.space.may_write(path), path)
        return self.inner.upload(path, data, if_match=if_match, if_none_match=if_none_match)

    def make_folder(self, folder: str) -> None:
        self._check(self.space.may_create_folder(folder), folder)
        self.inner.make_folder(folder)

    def delete(self, path: str) -> None:
        # Only old archives are ever deleted (pruning).
        self._check(posixpath.dirname(clean_path(path)) == _nfc(self.space.archives), path)
        self.inner.delete(path)

    @contextmanager
    def exclusive(self, path: str) -> Iterator[None]:
        self._check(self.space.may_write(path), path)
        with self.inner.exclusive(path):
            yield

    def close(self) -> None:
        self.inner.close()

    def _check(self, allowed: bool, path: str) -> None:
        if self.read_only:
            raise UnsafePath("Écriture refusée pendant une simulation (--dry-run). C'est une erreur du programme : "
                             "signalez-la.")
        if not allowed:
            raise UnsafePath(
                "Écriture refusée hors des emplacements autorisés (tableau, Archives, Modèles, "
                "dossiers Retours des partenaires). C'est une erreur du programme : signalez-la."
            )
