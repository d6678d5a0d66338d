"""NFC paths on our side, whatever spelling the backend stores.

A Mac client may store "Été.xlsx" decomposed (NFD); a Linux file system or WebDAV
server keeps those bytes as they are. We always speak NFC, so each backend must
remember the spelling it actually holds to address the file again.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RemoteNotFound, UnsafePath
from .base import Download, Entry, Storage, clean_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawItem:
    """One child as the backend reported it, name in the backend's own spelling."""

    name: str
    is_dir: bool
    size: int | None = None
    etag: str | None = None
    modified: dt.datetime | None = None


def _is_plain_name(name: str) -> bool:
    """A name clean_path would keep as one segment: anything else could never be read safely."""
    try:
        return "/" not in name and clean_path(name) == name
    except UnsafePath:
        return False


class NameMap:
    """Maps our NFC paths to the spelling the backend stores, learnt from listings."""

    def __init__(self, list_folder: Callable[[str], object]) -> None:
        self._list_folder = list_folder
        self._stored: dict[str, str] = {}
        self._listed: set[str] = set()

    def stored(self, path: str) -> str:
        """The backend spelling of ``path``; unseen segments are sent as NFC (new files)."""
        if not path:
            return ""
        known = self._stored.get(path)
        if known is not None:
            return known
        parent, _, name = path.rpartition("/")
        stored_parent = self.stored(parent)
        return f"{stored_parent}/{name}" if stored_parent else name

    def learn(self, path: str) -> bool:
        """After a miss on ``path``: list its folder, once, in case it is stored in another
        spelling. True when that taught us a different spelling (worth trying again)."""
        parent = path.rpartition("/")[0]
        if parent in self._listed:
            return False
        before = self.stored(path)
        try:
            self._list_folder(parent)
        except RemoteNotFound:
            return False
        return self.stored(path) != before

    def entries(self, folder: str, items: Iterable[RawItem]) -> list[Entry]:
        """Entries for ``folder``'s children, one per NFC name: the first spelling wins."""
        kept: dict[str, Entry] = {}
        unsafe = 0
        self._listed.add(folder)
        stored_folder = self.stored(folder)
        for item in items:
            name = unicodedata.normalize("NFC", item.name)
            path = f"{folder}/{name}" if folder else name
            if not _is_plain_name(name):
                unsafe += 1
                continue
            if path in kept:
                kept[path] = replace(kept[path], nfc_duplicates=kept[path].nfc_duplicates + 1)
                continue
            kept[path] = Entry(path, item.is_dir, item.size, item.etag, item.modified)
            self._stored[path] = f"{stored_folder}/{item.name}" if stored_folder else item.name
        if unsafe:
            log.warning("%d listed name(s) refused as unsafe (slashes, backslashes, '..')", unsafe)
        duplicates = sum(e.nfc_duplicates for e in kept.values())
        if duplicates:
            log.warning("%d file(s) listed twice under two Unicode spellings; only one is kept", duplicates)
        return sorted(kept.values(), key=lambda e: e.path)


class SpellingAwareStorage(Storage):
    """A backend that stores names as given (NFD from a Mac stays NFD). A path met
    before its folder was listed (the workbook at the root) is looked up again after
    listing that folder, so an NFD "Tableau de suivi partagé.xlsx" is found, then
    overwritten in place rather than doubled by an NFC twin."""

    def __init__(self) -> None:
        self._names = NameMap(self.list)

    @abstractmethod
    def _stat_at(self, path: str) -> Entry | None:
        """stat() for an already clean path."""

    @abstractmethod
    def _download_at(self, path: str, dest: Path, max_bytes: int | None) -> Download:
        """download() for an already clean path."""

    def stat(self, path: str) -> Entry | None:
        path = clean_path(path)
        entry = self._stat_at(path)
        if entry is None and self._names.learn(path):
            entry = self._stat_at(path)
        return entry

    def download(self, path: str, dest: Path, *, max_bytes: int | None = None) -> Download:
        path = clean_path(path)
        try:
            return self._download_at(path, dest, max_bytes)
        except RemoteNotFound:
            if not self._names.learn(path):
                raise
        return self._download_at(path, dest, max_bytes)
