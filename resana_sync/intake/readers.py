"""Turn a partner file into grids of cell values, one per visible sheet.

Spreadsheets (xlsx, xlsm, xls, ods) are read with python-calamine: it is fast, reads
every format partners use, returns cached values for formulas and real ``date`` objects
for date-formatted cells (1900 and 1904 epochs). What calamine does not give:

* the workbook's epoch for a date typed in a *General* cell (it arrives as a float):
  for xlsx it is read from ``xl/workbook.xml`` (``date1904``), for ods from
  ``table:null-date`` in ``content.xml``; xls files are taken to use the 1900
  convention (day 0 = 30 December 1899; reading the BIFF DATEMODE record would need an
  OLE2 parser for a setting only old Mac Excel wrote);
* hidden sheets come from calamine's ``sheets_metadata``, so openpyxl is not needed;
* hidden rows are read from the file itself (``hidden_rows``).

Merged cells: the value of a vertically merged range is copied down its first column
(a date merged over several form rows belongs to each of them); horizontal extents stay
empty so a merged header never looks like a duplicated column.

CSV: decoded as UTF-16 when it starts with its BOM (Excel's « Texte Unicode »), else
UTF-8 (with or without BOM), else cp1252; the delimiter (``;``, ``,`` or tab) is the
one under which an early line reads as the most form labels. Row numbers are record
numbers, i.e. the row numbers Excel or LibreOffice show when the partner opens the
file; they equal line numbers unless a quoted cell spans several lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine

from ..errors import IntakeError
from .hidden_rows import hidden_rows
from .sniff import UTF16_BOMS, Format

logger = logging.getLogger(__name__)

_DELIMITERS = (";", ",", "\t")
_DELIMITER_LINES = 30
MAX_SHEET_ROWS = 10_000
MAX_SHEET_COLUMNS = 200
MAX_MERGED_RANGES = 5_000
EPOCH_1900 = dt.date(1899, 12, 30)
EPOCH_1904 = dt.date(1904, 1, 1)
_NULL_DATE = re.compile(rb"<table:null-date\b[^>]*\btable:date-value=[\"'](\d{4})-(\d{2})-(\d{2})")
_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904\s*=\s*[\"'](?:1|true)[\"']")


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[list[Any]]          # rows[0] is spreadsheet row 1, rows[r][0] column A
    serial_epoch: dt.date = EPOCH_1900
    hidden_rows: frozenset[int] = frozenset()   # 1-based


def read_sheets(path: Path, fmt: Format, known_labels: Callable[[list[str]], int] = len) -> list[Sheet]:
    """The visible sheets of a readable file, in workbook order.

    ``known_labels`` counts the form labels among a line's cells; it picks the CSV delimiter.
    """
    if fmt is Format.CSV:
        return [Sheet(name="CSV", rows=read_csv_rows(path.read_bytes(), known_labels))]
    epoch = _EPOCH_READERS[fmt](path) if fmt in _EPOCH_READERS else EPOCH_1900
    hidden = hidden_rows(path, fmt)
    try:
        # from_filelike detects the format from content; from_path trusts the extension.
        with path.open("rb") as handle:
            workbook = python_calamine.CalamineWorkbook.from_filelike(handle)
        try:
            return [
                _read_sheet(workbook, meta.name, epoch, hidden.get(meta.name, frozenset()))
                for meta in workbook.sheets_metadata
                if meta.visible == python_calamine.SheetVisibleEnum.Visible
                and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
            ]
        finally:
            workbook.close()
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        logger.debug("calamine could not read the file", exc_info=True)
        raise _unreadable(fmt, exc) from exc
    except BaseException as exc:
        # A Rust panic inside calamine surfaces as pyo3's PanicException, a BaseException:
        # a malformed partner file must not stop the run.
        if type(exc).__name__ != "PanicException":
            raise
        logger.debug("calamine panicked on the file", exc_info=True)
        raise _unreadable(fmt, exc) from exc


def _read_sheet(
    workbook: python_calamine.CalamineWorkbook, name: str, epoch: dt.date, hidden: frozenset[int]
) -> Sheet:
    sheet = workbook.get_sheet_by_name(name)
    last_row, last_column = sheet.end if sheet.end else (0, 0)
    # Bound the Python objects built for one sheet; calamine's extent counts cells with data only.
    _check_size(last_row + 1, last_column + 1)
    rows = [list(row) for row in sheet.to_python(skip_empty_area=False)]
    _fill_vertical_merges(rows, sheet.merged_cell_ranges or [])
    return Sheet(name=name, rows=rows, serial_epoch=epoch, hidden_rows=hidden)


def _check_size(rows: int, columns: int) -> None:
    if rows > MAX_SHEET_ROWS or columns > MAX_SHEET_COLUMNS:
        raise IntakeError(
            f"Le tableau est bien trop grand ({rows} lignes, {columns} colonnes ; "
            f"au plus {MAX_SHEET_ROWS} lignes et {MAX_SHEET_COLUMNS} colonnes). "
            "Déposez une fiche ou une liste de fiches, pas un export complet."
        )


def _fill_vertical_merges(rows: list[list[Any]], ranges: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    # Each range may span the whole sheet: bound the work a forged list of merges can cause.
    if len(ranges) > MAX_MERGED_RANGES:
        raise IntakeError(
            f"Le classeur contient trop de cellules fusionnées ({len(ranges)} ; au plus {MAX_MERGED_RANGES}). "
            "Annulez les fusions (Accueil > Fusionner et centrer) puis déposez à nouveau le fichier."
        )
    for (top, left), (bottom, _right) in ranges:
        if top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        for r in range(top + 1, min(bottom, len(rows) - 1) + 1):
            if left < len(rows[r]) and rows[r][left] in ("", None):
                rows[r][left] = value


def _xlsx_epoch(path: Path) -> dt.date:
    with zipfile.ZipFile(path) as archive:
        if "xl/workbook.xml" not in archive.namelist():
            return EPOCH_1900
        with archive.open("xl/workbook.xml") as part:
            # workbookPr sits near the top of workbook.xml; a bounded head is enough.
            head = part.read(16 * 1024)
    return EPOCH_1904 if _DATE1904.search(head) else EPOCH_1900


def _ods_epoch(path: Path) -> dt.date:
    """The ``table:null-date`` of an ods file (LibreOffice lets users change it), else 1899-12-30."""
    with zipfile.ZipFile(path) as archive:
        if "content.xml" not in archive.namelist():
            return EPOCH_1900
        with archive.open("content.xml") as part:
            window = b""
            # The calculation settings precede the first table; stop reading there.
            while chunk := part.read(64 * 1024):
                window = window[-512:] + chunk
                if match := _NULL_DATE.search(window):
                    return dt.date(*map(int, match.groups()))
                if b"<table:table " in window:
                    break
    return EPOCH_1900


_EPOCH_READERS = {Format.XLSX: _xlsx_epoch, Format.ODS: _ods_epoch}


def _unreadable(fmt: Format, exc: Exception) -> IntakeError:
    if isinstance(exc, python_calamine.PasswordError):
        return IntakeError(
            f"Le fichier ({fmt.value}) est protégé par mot de passe et ne peut pas être lu. "
            "Enregistrez-le sans mot de passe puis déposez-le à nouveau."
        )
    return IntakeError(
        f"Le fichier ressemble à un {fmt.value} mais il est endommagé ou incomplet. "
        "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
    )


def decode_text(data: bytes) -> str:
    encodings = ("utf-16",) if data.startswith(UTF16_BOMS) else ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IntakeError(
        "Le fichier texte n'est ni en UTF-8, ni en UTF-16, ni en Windows-1252 (encodage inconnu ou fichier "
        "tronqué). Enregistrez-le depuis votre tableur au format « CSV UTF-8 »."
    )


def read_csv_rows(data: bytes, known_labels: Callable[[list[str]], int] = len) -> list[list[Any]]:
    text = decode_text(data)
    delimiter = _csv_delimiter(text, known_labels)
    rows: list[list[Any]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
            _check_size(len(rows), len(row))
    except csv.Error as exc:
        raise IntakeError(
            "Le fichier CSV est mal formé (guillemets non refermés ?). "
            "Ouvrez-le dans votre tableur, vérifiez-le et enregistrez-le à nouveau."
        ) from exc
    return rows


def _csv_delimiter(text: str, known_labels: Callable[[list[str]], int]) -> str:
    """The delimiter under which some early line reads as the most form labels.

    Counting characters is fooled by commas in a title or in free text of a ``;`` file;
    the header row is not. Ties go to the delimiter seen most often, then to ``;``.
    """
    head = "\n".join(text.split("\n", _DELIMITER_LINES)[:_DELIMITER_LINES])

    def score(delimiter: str) -> tuple[int, int]:
        try:
            lines = list(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter))
        except csv.Error:
            return (0, 0)
        return (max((known_labels(line) for line in lines), default=0), head.count(delimiter))

    return max(_DELIMITERS, key=score)
