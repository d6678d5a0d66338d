"""NFC paths on our side, whatever spelling the backend stores.

A Mac client may store "Été.xlsx" decomposed (NFD); a Linux file system or WebDAV
server keeps those bytes as they are. We always speak NFC, so each backend must
remember the spelling it actually holds to address the file again.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .base import Entry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawItem:
    """One child as the backend reported it, name in the backend's own spelling."""

    name: str
    is_dir: bool
    size: int | None = None
    etag: str | None = None
    modified: dt.datetime | None = None


class NameMap:
    """Maps our NFC paths to the spelling the backend stores, learnt from listings."""

    def __init__(self) -> None:
        self._stored: dict[str, str] = {}

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

    def entries(self, folder: str, items: Iterable[RawItem]) -> list[Entry]:
        """Entries for ``folder``'s children, one per NFC name: the first spelling wins."""
        kept: dict[str, Entry] = {}
        stored_folder = self.stored(folder)
        for item in items:
            name = unicodedata.normalize("NFC", item.name)
            path = f"{folder}/{name}" if folder else name
            if path in kept:
                kept[path] = replace(kept[path], nfc_duplicates=kept[path].nfc_duplicates + 1)
                continue
            kept[path] = Entry(path, item.is_dir, item.size, item.etag, item.modified)
            self._stored[path] = f"{stored_folder}/{item.name}" if stored_folder else item.name
        duplicates = sum(e.nfc_duplicates for e in kept.values())
        if duplicates:
            log.warning("%d file(s) listed twice under two Unicode spellings; only one is kept", duplicates)
        return sorted(kept.values(), key=lambda e: e.path)
