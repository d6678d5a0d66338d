"""Rows a partner hid (or filtered out) in a visible sheet, which calamine does not report.

Hidden rows of a form table are not imported: the partner checked the file as displayed
and did not see them, and only what the partner chose to share may be shared. Intake
tells the partner which rows were left out (see ``layout`` and ``validate``).

xlsx: ``<row r="5" hidden="1">`` in the sheet's part, found by name through
``xl/workbook.xml`` and its relationships. ods: ``table:visibility`` "collapse" or
"filter" on a row, rows counted with their repeats. xls and CSV: none (calamine does not
expose row visibility in BIFF; CSV has none).

Only called after the guards: the parts are bounded and carry no DOCTYPE.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import ElementTree

from ..errors import IntakeError
from .sniff import Format

_CHUNK = 64 * 1024
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b[^>]*>")
_ROW_NUMBER = re.compile(rb"""\br=["'](\d+)["']""")
_HIDDEN = re.compile(rb"""\bhidden=["'](?:1|true)["']""")

HiddenRows = dict[str, frozenset[int]]


def hidden_rows(path: Path, fmt: Format) -> HiddenRows:
    """Sheet name -> 1-based numbers of its hidden rows (sheets without any are absent)."""
    readers = {Format.XLSX: _xlsx_hidden_rows, Format.ODS: _ods_hidden_rows}
    if fmt not in readers:
        return {}
    try:
        return readers[fmt](path)
    except (ParseError, expat.ExpatError, LookupError, ValueError, zipfile.BadZipFile) as exc:
        # Hidden rows must not be shared by mistake: a structure we cannot read refuses the file.
        raise IntakeError(
            "Le classeur est endommagé (sa structure interne est illisible). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc


def _xlsx_hidden_rows(path: Path) -> HiddenRows:
    with zipfile.ZipFile(path) as archive:
        result: HiddenRows = {}
        for name, part in _xlsx_sheet_parts(archive).items():
            with archive.open(part) as stream:
                rows = _xlsx_hidden_in(stream)
            if rows:
                result[name] = rows
        return result


def _xlsx_sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    names = set(archive.namelist())
    if not {"xl/workbook.xml", "xl/_rels/workbook.xml.rels"} <= names:
        return {}
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    parts = {}
    for sheet in workbook.iter(f"{_MAIN_NS}sheet"):
        target = targets.get(sheet.get(_REL_ID), "")
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        if part in names:
            parts[sheet.get("name", "")] = part
    return parts


def _xlsx_hidden_in(stream: IO[bytes]) -> frozenset[int]:
    hidden: set[int] = set()
    tail = b""
    while chunk := stream.read(_CHUNK):
        window = tail + chunk
        cut = window.rfind(b"<")
        window, tail = window[:cut], window[cut:]
        for tag in _ROW_TAG.findall(window):
            number = _ROW_NUMBER.search(tag)
            if number and _HIDDEN.search(tag):
                hidden.add(int(number.group(1)))
    return frozenset(hidden)


def _ods_hidden_rows(path: Path) -> HiddenRows:
    tracker = _OdsRows()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = tracker.start
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    return {name: frozenset(rows) for name, rows in tracker.hidden.items() if rows}


class _OdsRows:
    _MAX_HIDDEN_RUN = 10_000   # a collapsed block longer than any form is padding, not data

    def __init__(self) -> None:
        self.hidden: dict[str, set[int]] = {}
        self.table = ""
        self.next_row = 1

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit("}", 1)[-1]
        if tag == "table":
            self.table = _attr(attrs, "name") or ""
            self.next_row = 1
        elif tag == "table-row":
            declared = _attr(attrs, "number-rows-repeated") or ""
            repeat = int(declared) if declared.isdigit() else 1
            if _attr(attrs, "visibility") in ("collapse", "filter") and repeat <= self._MAX_HIDDEN_RUN:
                self.hidden.setdefault(self.table, set()).update(range(self.next_row, self.next_row + repeat))
            self.next_row += repeat


def _attr(attrs: dict[str, str], local: str) -> str | None:
    for key, value in attrs.items():
        if key.rsplit("}", 1)[-1] == local:
            return value
    return None
