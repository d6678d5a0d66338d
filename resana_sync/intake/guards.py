"""Guards run before any parser sees a partner file.

A hostile or broken file must neither stop the run nor exhaust the machine. Before
calamine parses a file:

* its size is capped (``Limits.max_file_bytes``);
* a zip container (xlsx, xlsm, ods) may hold at most ``max_parts`` members, each at
  most ``max_part_bytes`` once decompressed, ``max_total_bytes`` in all, and no large
  member may be compressed more than ``max_ratio`` times (zip bombs);
* every member is decompressed once, in 64 KiB chunks, to check that its real size
  and CRC match the directory (a forged directory cannot smuggle a bigger part) and
  that no XML part declares a DOCTYPE or an entity (billion laughs, external entities);
* the cells that hold a value are located by streaming each worksheet's XML (one 64 KiB
  chunk at a time), or by walking the BIFF records of an xls file (``biff``), and the
  dense grid they span from A1, which calamine allocates, is capped (``max_cells``):
  two cells at A1 and XFD1048576, or one ods row repeated a million times, would
  otherwise make calamine allocate gigabytes and abort the process (a Rust allocation
  failure is not an exception); a 6 KB xls with one far cell costs it 1 GiB;
* the declared number of shared strings of an xlsx, which calamine reserves up front,
  must fit in the part and in ``max_cells``.

Memory bound: the checks themselves hold one 64 KiB chunk at a time (the test asserts
a Python peak under 4 MiB on a bomb declaring 200 MiB). The parse that follows reads at
most ``max_total_bytes`` (64 MiB) of XML into a grid of at most ``max_cells`` (2 million
cells; measured at 30 bytes a cell for xlsx and 60 for xls in calamine: at most ~120 MiB);
a visible sheet becomes Python objects only within 10 000 rows x 200 columns
(``readers``). A file therefore costs the run about 400 MiB at the very worst, and a
real form a few MiB (xls: the file, at most 20 MiB, is read once to walk its records).

Time bound: ``run_with_deadline`` runs the parse in a daemon thread and gives up
waiting after ``parse_seconds``. calamine releases the GIL while parsing, so the run
continues; the abandoned thread finishes on its own (its work is bounded by the size
caps above) and its result is discarded. A subprocess with rlimits would allow killing
it, at the price of a process start per file; the size caps make that unnecessary.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from xml.parsers import expat

from ..errors import IntakeError
from .biff import xls_extents
from .sniff import ZIP_ERRORS, Format

logger = logging.getLogger(__name__)

T = TypeVar("T")
_CHUNK = 64 * 1024
_MIB = 1024 * 1024
_FORBIDDEN_XML = (b"<!DOCTYPE", b"<!ENTITY")



@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * _MIB
    max_parts: int = 1000
    max_part_bytes: int = 32 * _MIB
    max_total_bytes: int = 64 * _MIB
    max_ratio: int = 100
    ratio_applies_above: int = 1 * _MIB   # small parts (styles, themes) compress very well
    max_cells: int = 2_000_000             # dense cells spanned by values, all sheets together
    parse_seconds: float = 30.0


DEFAULT_LIMITS = Limits()


def check_file_size(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise IntakeError(
            f"Le fichier est trop volumineux ({_mib(size)} Mo ; au plus {_mib(limits.max_file_bytes)} Mo). "
            "Une fiche de situation n'a pas besoin d'images ni de pièces jointes : "
            "enregistrez un classeur ne contenant que le tableau."
        )


def check_zip_container(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse zip bombs, forged zip directories and XML with DOCTYPE/entity declarations."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_directory(members, limits)
            for member in members:
                _check_member(archive, member)
    except ZIP_ERRORS as exc:
        raise IntakeError(
            "Le classeur est endommagé (archive incomplète ou corrompue). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc


def _check_directory(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(members) > limits.max_parts:
        raise IntakeError(
            f"Le classeur contient trop d'éléments internes ({len(members)} ; au plus {limits.max_parts}). "
            "Enregistrez une fiche simple, sans objets ni images."
        )
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise IntakeError("Le classeur est chiffré (protégé par mot de passe). Enregistrez-le sans mot de passe.")
        compressed = max(member.compress_size, 1)
        if member.file_size > limits.ratio_applies_above and member.file_size / compressed > limits.max_ratio:
            raise _bomb()
        if member.file_size > limits.max_part_bytes:
            raise _bomb()
        total += member.file_size
        if total > limits.max_total_bytes:
            raise _bomb()


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Decompress one member in chunks: zipfile stops at the declared size and checks the CRC."""
    scan_xml = member.filename.endswith((".xml", ".rels", ".vml")) or "." not in member.filename.rsplit("/", 1)[-1]
    tail = b""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                if scan_xml:
                    window = tail + chunk
                    if any(marker in window for marker in _FORBIDDEN_XML):
                        raise IntakeError(
                            "Le classeur contient des déclarations XML non autorisées (DOCTYPE ou entités), "
                            "utilisées par des fichiers malveillants. Il n'a pas été lu. "
                            "Recopiez les données dans le modèle de fiche."
                        )
                    tail = window[-16:]
    except ZIP_ERRORS as exc:
        logger.debug("zip member check failed", exc_info=True)
        raise IntakeError(
            "Le classeur est endommagé (un élément interne ne correspond pas à sa description). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc


def check_sheet_extents(path: Path, fmt: Format, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a workbook whose cells span more of a grid than calamine should allocate."""
    if fmt is Format.XLSX:
        _check_shared_strings_count(path, limits)
    total = 0
    for rows, columns in _extents(path, fmt):
        total += rows * columns
        if total > limits.max_cells:
            raise IntakeError(
                f"Le classeur couvre une zone démesurée ({rows} lignes sur {columns} colonnes). "
                "Il n'a pas été lu. Recopiez les fiches dans le modèle, sans cellules éloignées "
                "remplies par erreur."
            )


def _extents(path: Path, fmt: Format) -> list[tuple[int, int]]:
    if fmt is Format.XLS:
        return xls_extents(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        if fmt is Format.ODS:
            parts = [name for name in archive.namelist() if name == "content.xml"]
        else:
            parts = [name for name in archive.namelist() if _WORKSHEET.match(name)]
        return [extent for name in parts for extent in _part_extents(archive, name, fmt is Format.ODS)]


_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_SST_TAG = re.compile(rb"<(?:\w+:)?sst\b[^>]*>")
_SST_COUNTS = re.compile(rb"""\b(?:uniqueCount|count)\s*=\s*["'](\d+)["']""")
_SMALLEST_SHARED_STRING = len(b"<si/>")


def _root_tag(stream: Any, pattern: re.Pattern[bytes]) -> bytes:
    """The root element's start tag, however long the prolog (comments cannot hide it)."""
    window = b""
    while chunk := stream.read(_CHUNK):
        window = window[-4096:] + chunk
        if match := pattern.search(window):
            return match.group(0)
    return b""


def _check_shared_strings_count(path: Path, limits: Limits) -> None:
    """calamine reserves memory for the declared number of shared strings up front: a forged
    ``uniqueCount`` of 4 billion aborts the process. No honest count exceeds what the part
    can hold, nor the number of cells allowed."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith("sharedStrings.xml"):
                continue
            with archive.open(info) as stream:
                tag = _root_tag(stream, _SST_TAG)
            declared = max((int(n) for n in _SST_COUNTS.findall(tag)), default=0)
            if declared > min(limits.max_cells, info.file_size // _SMALLEST_SHARED_STRING + 1):
                raise IntakeError(
                    f"Le classeur annonce {declared} textes partagés, bien plus qu'il n'en contient : "
                    "il est endommagé ou forgé. Il n'a pas été lu. Ouvrez-le, enregistrez-le à nouveau "
                    "puis déposez-le une nouvelle fois."
                )


def _part_extents(archive: zipfile.ZipFile, name: str, is_ods: bool) -> list[tuple[int, int]]:
    with archive.open(name) as stream:
        if is_ods:
            return _value_extents(stream, _OdsExtent())
        try:
            return _xlsx_extents(stream)
        except _NeedsFullParse:
            pass
    with archive.open(name) as stream:
        return _value_extents(stream, _XlsxExtent())


# A cell with a reference that is neither self-closed nor immediately closed: it may hold
# a value. Formula cells without a cached value count too (a stricter check, never a looser one).
_XLSX_CELL = re.compile(rb"""<(?:\w+:)?c\s[^>]*?\br=["']([A-Z]{1,3})([0-9]{1,7})["'][^>]*(?<!/)>(?!</)""")
_XLSX_CELL_WITHOUT_REF = re.compile(rb"<(?:\w+:)?c(?=[\s>/])(?![^>]*\br=)")


def _xlsx_extents(stream: Any) -> list[tuple[int, int]]:
    """Rows and columns spanned by a worksheet's filled cells, read from their references.

    A regular expression over the raw XML is an order of magnitude faster than an XML
    parser here; cells without a reference (allowed, rarely written) fall back to expat.
    """
    max_row = max_col = 0
    tail = b""
    while chunk := stream.read(_CHUNK):
        window = tail + chunk
        cut = window.rfind(b"<")
        window, tail = window[:cut], window[cut:]
        if _XLSX_CELL_WITHOUT_REF.search(window):
            raise _NeedsFullParse
        for letters, digits in _XLSX_CELL.findall(window):
            max_row = max(max_row, int(digits))
            max_col = max(max_col, _column_number(letters.decode()))
    return [(max_row, max_col)] if max_row and max_col else []


class _NeedsFullParse(Exception):
    """The quick scan cannot locate every cell of this part."""


def _value_extents(stream: Any, tracker: _Extent) -> list[tuple[int, int]]:
    """(rows, columns) spanned from A1 by the cells holding a value, per sheet of one XML part."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = tracker.start
    parser.EndElementHandler = tracker.end
    parser.CharacterDataHandler = tracker.text
    try:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except (expat.ExpatError, LookupError) as exc:   # LookupError: an unknown declared encoding
        raise IntakeError(
            "Le classeur est endommagé (une feuille n'est pas lisible). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc
    return tracker.finish()


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


class _Extent:
    """Streaming tracker of the last row and column holding a value, per sheet."""

    def __init__(self) -> None:
        self.sheets: list[tuple[int, int]] = []
        self.max_row = self.max_col = 0

    def close_sheet(self) -> None:
        if self.max_row and self.max_col:
            self.sheets.append((self.max_row, self.max_col))
        self.max_row = self.max_col = 0

    def mark(self, last_row: int, last_col: int) -> None:
        self.max_row = max(self.max_row, last_row)
        self.max_col = max(self.max_col, last_col)

    def finish(self) -> list[tuple[int, int]]:
        self.close_sheet()
        return self.sheets

    def start(self, name: str, attrs: dict[str, str]) -> None:
        raise NotImplementedError

    def end(self, name: str) -> None:
        raise NotImplementedError

    def text(self, data: str) -> None:
        """Only ods needs cell text; xlsx values are marked by their elements."""


class _XlsxExtent(_Extent):
    """SpreadsheetML: ``<row r>`` and ``<c r>``; a cell counts when it has ``<v>`` or ``<is>``."""

    _REF = re.compile(r"^([A-Za-z]{1,3})(\d+)$")

    def __init__(self) -> None:
        super().__init__()
        self.row = 0
        self.col = 0
        self.cell: tuple[int, int] | None = None
        self.has_value = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "row":
            self.row = _int(attrs.get("r"), self.row + 1)
            self.col = 0
        elif tag == "c":
            self.cell = self._position(attrs.get("r"))
            self.has_value = False
        elif tag in ("v", "is") and self.cell is not None:
            self.has_value = True

    def end(self, name: str) -> None:
        if _local(name) == "c" and self.cell is not None:
            if self.has_value:
                self.mark(*self.cell)
            self.cell = None

    def _position(self, ref: str | None) -> tuple[int, int]:
        match = self._REF.match(ref or "")
        if match:
            letters, digits = match.groups()
            self.row = int(digits)
            self.col = _column_number(letters)
        else:
            self.col += 1
        return self.row, self.col


class _OdsExtent(_Extent):
    """OpenDocument: rows and cells may be repeated; a cell counts with a value type or text."""

    def __init__(self) -> None:
        super().__init__()
        self.row = 0             # rows before the current one
        self.row_repeat = 1
        self.col = 0
        self.cell_repeat = 0
        self.has_value = False
        self.row_has_value = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "table":
            self.close_sheet()
            self.row = 0
        elif tag == "table-row":
            self.row_repeat = _int(_attr(attrs, "number-rows-repeated"), 1)
            self.col = 0
            self.row_has_value = False
        elif tag in ("table-cell", "covered-table-cell"):
            self.cell_repeat = _int(_attr(attrs, "number-columns-repeated"), 1)
            self.has_value = _attr(attrs, "value-type") is not None

    def text(self, data: str) -> None:
        if self.cell_repeat and data.strip():
            self.has_value = True

    def end(self, name: str) -> None:
        tag = _local(name)
        if tag in ("table-cell", "covered-table-cell"):
            if self.has_value:
                self.mark(self.row + self.row_repeat, self.col + self.cell_repeat)
            self.col += self.cell_repeat
            self.cell_repeat = 0
        elif tag == "table-row":
            self.row += self.row_repeat


def _attr(attrs: dict[str, str], local: str) -> str | None:
    for key, value in attrs.items():
        if _local(key) == local:
            return value
    return None


def _int(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _bomb() -> IntakeError:
    return IntakeError(
        "Le classeur se décompresse en une taille démesurée (fichier « bombe » ou très anormal). "
        "Il n'a pas été lu. Recopiez les données dans le modèle de fiche."
    )


def run_with_deadline(work: Callable[[], T], seconds: float) -> T:
    """Return ``work()``, or raise ``IntakeError`` if it takes longer than ``seconds``."""
    results: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=1)

    def target() -> None:
        try:
            results.put((True, work()))
        except BaseException as exc:  # handed over to the waiting thread, which re-raises it
            results.put((False, exc))

    threading.Thread(target=target, name="intake-parse", daemon=True).start()
    try:
        ok, value = results.get(timeout=seconds)
    except queue.Empty:
        raise IntakeError(
            f"La lecture du fichier a dépassé {_decimal(seconds)} secondes et a été abandonnée. "
            "Enregistrez une fiche plus simple (sans milliers de lignes ni de formules) et déposez-la à nouveau."
        ) from None
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]


def _mib(size: int) -> str:
    return _decimal(round(size / _MIB, 1))


def _decimal(number: float) -> str:
    return f"{number:g}".replace(".", ",")
