"""Editor and system artefacts: files that are never forms and never reported to partners.

Only names decide. A file with a real but unsupported extension (``.pdf``, ``.docx``,
``.jpg``) is *not* an artefact: the partner may believe it submitted a form, so intake
rejects it with a message instead of hiding it.
"""

from __future__ import annotations

import re
import unicodedata

_EXACT = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"}
_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^~\$",                       # Office owner file: ~$Fiches.xlsx
        r"^\.~lock\..*#$",             # LibreOffice lock: .~lock.Fiches.xlsx#
        r"^\._",                       # macOS AppleDouble resource fork
        r"\.(part|filepart|crdownload|partial|tmp|temp|bak)$",  # unfinished transfers, editor temp files
        r"~$",                         # editor backup: Fiches.xlsx~
        r"^[0-9A-F]{8}$",              # Excel's extension-less temp file while saving
        r"\(conflicted copy\b",        # Dropbox / Nextcloud style conflicts
        r"\(copie en conflit\b",
        r"_conflict-",                 # Nextcloud / ownCloud: name_conflict-20250101-101010.xlsx
        r"\.sync-conflict-",           # Syncthing
    )
]


def is_artefact(name: str) -> bool:
    """True for editor/system artefacts (lock files, temp files, conflicted copies, OS metadata).

    ``name`` is a file name or a ``/``-separated path; only its last component counts.
    Names are compared in NFC so a name listed in NFD by macOS matches the same rules.
    """
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if not base or base.casefold() in _EXACT:
        return True
    return any(p.search(base) for p in _PATTERNS)
