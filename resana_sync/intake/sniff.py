"""Recognise a partner file's format from its content, never from its extension.

Partners rename files, browsers save a login page as ``fiche.xlsx``, and an encrypted
workbook is an OLE2 container whatever its name says. ``sniff`` reads only the head of
the file (and, for containers, the zip directory or the OLE2 directory names).
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from enum import Enum
from pathlib import Path

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
_OLE2_READ_CAP = 64 * 1024 * 1024
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# What zipfile raises on corrupt archives: bad CRC or headers, truncated or invalid deflate
# data, undecodable member names, unsupported compression.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError, OSError)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


class Format(str, Enum):
    """Each value is the French name given to partners in messages."""

    XLSX = "classeur Excel (xlsx/xlsm)"
    ODS = "classeur OpenDocument (ods)"
    XLS = "classeur Excel 97-2003 (xls)"
    # Readable by calamine, but its binary sheets escape the guards' extent check.
    XLSB = "classeur Excel binaire (xlsb)"
    CSV = "fichier CSV"
    ENCRYPTED = "classeur protégé par mot de passe"
    HTML = "page web (HTML)"
    XML = "fichier XML (par exemple « Feuille de calcul XML 2003 »)"
    WORD = "document de traitement de texte"
    PDF = "document PDF"
    IMAGE = "image"
    OTHER_ZIP = "archive zip qui n'est pas un classeur"
    OTHER_OLE2 = "document Office qui n'est pas un classeur"
    EMPTY = "fichier vide"
    DAMAGED = "classeur endommagé ou incomplet"
    BINARY = "fichier d'un format inconnu"

    @property
    def readable(self) -> bool:
        return self in (Format.XLSX, Format.ODS, Format.XLS, Format.CSV)


_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*")


def sniff(path: Path) -> Format:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head:
        return Format.EMPTY
    if head.startswith(_ZIP_MAGIC):
        return _sniff_zip(path)
    if head.startswith(_OLE2_MAGIC):
        return _sniff_ole2(path)
    if head.startswith(b"%PDF"):
        return Format.PDF
    if head.startswith(_IMAGE_MAGICS):
        return Format.IMAGE
    if head.startswith(b"{\\rtf"):
        return Format.WORD
    if head.startswith(UTF16_BOMS):
        return Format.CSV   # Excel's « Texte Unicode » export: UTF-16, tab-separated
    if _looks_like_html(head):
        return Format.HTML
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
        return Format.XML
    if _looks_like_text(head):
        return Format.CSV
    return Format.BINARY


def _sniff_zip(path: Path) -> Format:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                # The ODF mimetype member is tiny by specification; read a bounded prefix only.
                with archive.open("mimetype") as member:
                    mimetype = member.read(len(_ODS_MIMETYPE) + 16).strip()
                if not mimetype.startswith(_ODS_MIMETYPE):
                    return Format.WORD if b"text" in mimetype else Format.OTHER_ZIP
                return Format.ENCRYPTED if _ods_is_encrypted(archive, names) else Format.ODS
    except ZIP_ERRORS:
        logger.debug("zip directory unreadable", exc_info=True)
        return Format.DAMAGED
    if "xl/workbook.xml" in names:
        return Format.XLSX
    if "xl/workbook.bin" in names:
        return Format.XLSB
    if "word/document.xml" in names:
        return Format.WORD
    return Format.OTHER_ZIP


def _ods_is_encrypted(archive: zipfile.ZipFile, names: set[str]) -> bool:
    """A password-protected ods lists how each part is encrypted in its manifest."""
    if "META-INF/manifest.xml" not in names:
        return False
    with archive.open("META-INF/manifest.xml") as member:
        return b"encryption-data" in member.read(HEAD_BYTES)


def _sniff_ole2(path: Path) -> Format:
    """Tell an xls workbook from an encrypted OOXML file (or a .doc) by OLE2 stream names.

    Stream names are stored in UTF-16LE in the directory sectors; searching the raw
    bytes for them is enough to classify, without parsing the compound file.
    """
    data = _bounded_read(path)
    if "EncryptionInfo".encode("utf-16-le") in data:
        return Format.ENCRYPTED
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return Format.XLS
    return Format.OTHER_OLE2


def _bounded_read(path: Path) -> bytes:
    # The guards cap the file size before sniffing; this cap only protects direct callers.
    # read(n) allocates n bytes up front: ask for no more than the file holds.
    with path.open("rb") as handle:
        return handle.read(min(path.stat().st_size, _OLE2_READ_CAP))


def _looks_like_html(head: bytes) -> bool:
    start = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head")) or b"<html" in start


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    # A multi-byte character may be cut at the end of a full head: ignore its last bytes.
    sample = head[:-4] if len(head) == HEAD_BYTES else head
    for encoding in ("utf-8", "cp1252"):
        try:
            sample.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False
