"""Builders of partner files for intake tests: written the way Excel-like tools write them."""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest
import xlsxwriter

from resana_sync.intake import check_file
from resana_sync.validate import Validation

TODAY = dt.date(2025, 11, 20)

HEADER = [
    "Date de la fiche", "Nom", "Prénom", "Date de naissance", "Sexe", "INE", "Établissement", "Classe",
    "Situation scolaire actuelle", "Motif(s)", "Absences (demi-journées, dernier mois)", "Famille informée",
    "Professionnel référent", "Contact du référent", "Éléments de situation", "Actions déjà engagées",
    "Demande à la cellule",
]


def good_row(**changes: Any) -> list[Any]:
    """A valid form row (fictional), by header label; ``changes`` override by field position name."""
    values = {
        "Date de la fiche": dt.date(2025, 11, 4), "Nom": "DURAND", "Prénom": "Zoé",
        "Date de naissance": dt.date(2012, 3, 12), "Sexe": "F", "INE": "", "Établissement": "Collège de la Corderie",
        "Classe": "5e", "Situation scolaire actuelle": "Scolarisé(e)", "Motif(s)": "Absentéisme",
        "Absences (demi-journées, dernier mois)": 4, "Famille informée": "Oui",
        "Professionnel référent": "Mme Test (CPE)", "Contact du référent": "cpe@example.org",
        "Éléments de situation": "", "Actions déjà engagées": "", "Demande à la cellule": "",
    }
    for key, value in changes.items():
        values[_LABEL_BY_ARG[key]] = value
    return [values[label] for label in HEADER]


_LABEL_BY_ARG = {
    "date_fiche": "Date de la fiche", "nom": "Nom", "prenom": "Prénom", "date_naissance": "Date de naissance",
    "sexe": "Sexe", "ine": "INE", "etablissement": "Établissement", "classe": "Classe",
    "situation_scolaire": "Situation scolaire actuelle", "motifs": "Motif(s)",
    "absences": "Absences (demi-journées, dernier mois)", "famille_informee": "Famille informée",
    "referent": "Professionnel référent", "contact_referent": "Contact du référent",
    "elements": "Éléments de situation", "actions_engagees": "Actions déjà engagées", "demande": "Demande à la cellule",
}


def write_openpyxl(path: Path, rows: Sequence[Sequence[Any]], *, epoch_1904: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    if epoch_1904:
        workbook.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = workbook.active
    sheet.title = "Fiches"
    for row in rows:
        sheet.append(list(row))
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, dt.date):
                cell.number_format = "DD/MM/YYYY"
    workbook.save(path)
    return path


def write_xlsxwriter(path: Path, rows: Sequence[Sequence[Any]], *, start_row: int = 0) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Fiches")
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    for r, row in enumerate(rows, start=start_row):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
            elif value not in ("", None):
                sheet.write(r, c, value)
    workbook.close()
    return path


def write_french_excel_csv(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    """As French Excel's « CSV (séparateur : point-virgule) »: cp1252, ``;``, CRLF, dates as text."""
    lines = [";".join(_csv_cell(v) for v in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def _csv_cell(value: Any) -> str:
    text = value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ';"\r\n') else text


def write_ods(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    null_date: dt.date | None = None,
    hidden: Sequence[int] = (),
    raw_rows_xml: str = "",
) -> Path:
    """A minimal OpenDocument spreadsheet, as the ODF spec lays it out; ``hidden``: 1-based rows;
    ``raw_rows_xml`` is appended as is after ``rows`` (repeats, padding)."""
    settings = (f'<table:calculation-settings><table:null-date table:date-value="{null_date.isoformat()}"/>'
                "</table:calculation-settings>" if null_date else "")
    body = "".join(
        ('<table:table-row table:visibility="collapse">' if number in hidden else "<table:table-row>")
        + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
        for number, row in enumerate(rows, start=1)
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
        f'<office:body><office:spreadsheet>{settings}<table:table table:name="Fiches">{body}{raw_rows_xml}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def _ods_cell(value: Any) -> str:
    if isinstance(value, dt.date):
        return f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}"/>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<table:table-cell office:value-type="float" office:value="{value}"/>'
    if value in ("", None):
        return "<table:table-cell/>"
    return f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p></table:table-cell>'


_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def write_compound_file(path: Path, stream: bytes, name: str = "Workbook") -> Path:
    """An OLE2 file (v3, 512-byte sectors) holding one stream in regular sectors, as Excel does."""
    size = 512
    stream = stream + b"\x00" * (-len(stream) % size)
    count = len(stream) // size
    fat = [_FATSECT, _END] + [3 + i if i < count - 1 else _END for i in range(count)]
    fat += [_FREE] * (128 - len(fat))

    def entry(entry_name: str, kind: int, start: int, length: int, child: int = _NOSTREAM) -> bytes:
        encoded = (entry_name + "\0").encode("utf-16-le")
        raw = bytearray(128)
        raw[:len(encoded)] = encoded
        struct.pack_into("<HBB", raw, 64, len(encoded), kind, 1)
        struct.pack_into("<III", raw, 68, _NOSTREAM, _NOSTREAM, child)
        struct.pack_into("<II", raw, 116, start, length)
        return bytes(raw)

    directory = entry("Root Entry", 5, _END, 0, child=1) + entry(name, 2, 2, len(stream)) + b"\x00" * 256
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, _END, 0, _END, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([_FREE] * 108))
    path.write_bytes(bytes(header) + struct.pack("<128I", *fat) + directory + stream)
    return path


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
EMPTY_WORKBOOK = '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'


def write_xlsx_with_part(path: Path, name: str, head: bytes, filler: bytes, size: int, tail: bytes = b"") -> Path:
    """A minimal xlsx whose ``name`` part is streamed (the test never holds it in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", EMPTY_WORKBOOK)
        with archive.open(name, "w", force_zip64=True) as part:
            part.write(head)
            for _ in range(size // len(filler)):
                part.write(filler)
            part.write(tail)
    return path


ODS_REPEAT_BOMB = (
    '<table:table-row table:number-rows-repeated="100000"><table:table-cell table:number-columns-repeated="1000" '
    'office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>'
)


def write_zip_bomb(path: Path, size: int) -> Path:
    """An xlsx whose shared strings decompress to ``size`` bytes of one string."""
    return write_xlsx_with_part(
        path, "xl/sharedStrings.xml",
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>',
        b"a" * 1024 * 1024, size, b"</t></si></sst>",
    )


@pytest.fixture
def check(schema) -> Callable[..., Validation]:
    def run(path: Path, structure: str = "Collège de la Corderie", **kwargs: Any) -> Validation:
        return check_file(
            path, schema, display_name=path.name, structure=structure, source_path=f"Dépôts/{structure}/{path.name}",
            sha256="0" * 64, today=kwargs.pop("today", TODAY), **kwargs,
        )
    return run
