"""The coordinator's hand work survives merges; what openpyxl would drop is named before any push."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from resana_sync.workbook import SharedWorkbook

from .coordinator import apply_edits, check_edits
from .helpers import edit, merge, record, sheet_rows, suivi_by_id

NAMES = ["ARNAUD", "BLANC", "CARON", "DURAND", "EVRARD", "FAURE", "GARNIER", "HUBERT", "IMBERT", "JOLY"]


def test_a_workbook_with_coordinator_edits_of_every_kind_comes_back_from_ten_merges_intact(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record("PJJ")], schema)
    data = edit(book.to_bytes(), apply_edits)
    pushed = first.pushed_after
    records = [record("PJJ")]
    for run in range(10):
        records.append(record("AEMO", nom=NAMES[run], prenom="Alex", row=run + 2))
        records[0] = record("PJJ", classe=["3e", "4e"][run % 2], fiche=dt.date(2025, 11, 3 + run))
        book = SharedWorkbook.open(data, schema)
        assert book.feature_losses() == []
        plan = merge(book, records, schema, None if run % 3 == 2 else pushed)   # state lost every third run
        pushed = plan.pushed_after
        data = book.to_bytes()
        check_edits(openpyxl.load_workbook(io.BytesIO(data), rich_text=True))
    suivi = suivi_by_id(data)
    assert len(suivi) == 11 and len(sheet_rows(data, "Contributions")) == 11
    assert suivi["2025-001"]["Classe"] == "4e" and suivi["2025-001"]["À vérifier"] is None
    again = SharedWorkbook.open(data, schema)
    assert merge(again, records, schema, pushed).is_empty


def foreign_workbook(path: Path) -> Path:
    """A shared workbook written by another tool (as LibreOffice or Excel would): fills, a note,
    a list validation, a frozen header, an extra sheet."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Suivi")
    header = wb.add_format({"bold": True, "bg_color": "#C6EFCE"})
    fill = wb.add_format({"bg_color": "#FFC7CE"})
    ws.write_row(0, 0, ["Identifiant", "Nom", "Prénom", "Date de naissance", "Statut", "Observations"], header)
    ws.write_row(1, 0, ["2025-001", "MARTIN", "Léa"])
    ws.write_datetime(1, 3, dt.datetime(2012, 3, 4), wb.add_format({"num_format": "dd/mm/yyyy"}))
    ws.write(1, 4, "En cours", fill)
    ws.write(1, 5, "famille rencontrée")
    ws.write_comment("F2", "Note de la coordinatrice")
    ws.data_validation("E2:E200", {"validate": "list", "source": ["Nouvelle", "En cours", "Clôturée"]})
    ws.freeze_panes(1, 0)
    ws.set_column("F:F", 45)
    wb.add_worksheet("Réunions").write("A1", "Réunion du 15/01")
    wb.close()
    return path


def check_foreign(data: bytes, *, frozen: bool = True) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb["Suivi"]
    assert ws.freeze_panes == ("A2" if frozen else None)
    assert ws["A1"].fill.fgColor.rgb.endswith("C6EFCE") and ws["E2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ws["F2"].comment is not None and "coordinatrice" in ws["F2"].comment.text
    assert ws["F2"].value == "famille rencontrée" and ws["E2"].value == "En cours"
    assert any("Clôturée" in (v.formula1 or "") for v in ws.data_validations.dataValidation)
    assert ws.column_dimensions["F"].width >= 44
    assert wb["Réunions"]["A1"].value == "Réunion du 15/01"


def merge_foreign(data: bytes, schema) -> bytes:
    book = SharedWorkbook.open(data, schema)
    assert book.feature_losses() == []
    merge(book, [record("PJJ"), record("AEMO", nom="DUBOIS", prenom="Enzo")], schema)
    return book.to_bytes()


def test_a_workbook_written_by_another_tool_keeps_fills_notes_validation_and_frozen_header(tmp_path, schema):
    data = foreign_workbook(tmp_path / "suivi.xlsx").read_bytes()
    merged = merge_foreign(data, schema)
    check_foreign(merged)
    suivi = suivi_by_id(merged)
    # the row typed by hand is MARTIN's situation: her form joins it, DUBOIS gets the next id
    assert set(suivi) == {"2025-001", "2025-002"}
    assert suivi["2025-001"]["Observations"] == "famille rencontrée"
    assert suivi["2025-001"]["Structures contributrices"] == "PJJ"
    assert suivi["2025-002"]["Nom"] == "DUBOIS"


LIBREOFFICE_SAVED = Path(__file__).parent.parent / "data" / "suivi-coordination-libreoffice.xlsx"


def test_a_workbook_saved_by_libreoffice_keeps_fills_notes_validation_and_frozen_header(schema):
    """The workbook of ``foreign_workbook`` re-saved by LibreOffice Calc 7.4 (committed, so this
    always runs; the test below redoes the conversion where LibreOffice is installed).

    LibreOffice without a window writes no view settings, so its file has no frozen header
    to keep: that it stays as it is (none added, none lost) is checked here, and the frozen
    header itself on the xlsxwriter file above."""
    data = LIBREOFFICE_SAVED.read_bytes()
    assert b"LibreOffice" in zipfile.ZipFile(io.BytesIO(data)).read("docProps/app.xml")
    check_foreign(data, frozen=False)
    merged = data
    for _ in range(10):
        merged = merge_foreign(merged, schema)
    check_foreign(merged, frozen=False)


@pytest.mark.skipif(shutil.which("soffice") is None,
                    reason="LibreOffice (soffice) is not installed; the committed LibreOffice file is checked above")
def test_a_workbook_converted_now_by_libreoffice_keeps_fills_notes_validation_and_frozen_header(tmp_path, schema):
    source = foreign_workbook(tmp_path / "source.xlsx")
    out = tmp_path / "lo"
    subprocess.run(["soffice", "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=120)
    data = (out / "source.xlsx").read_bytes()
    check_foreign(data, frozen=False)
    check_foreign(merge_foreign(data, schema), frozen=False)


# --- feature losses ------------------------------------------------------------------------

def xlsxwriter_book(tmp_path: Path, build) -> bytes:
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Suivi")
    ws.write_row(0, 0, ["Identifiant", "Nom"])
    build(wb, ws)
    wb.close()
    return path.read_bytes()


@pytest.mark.parametrize("build, expected", [
    (lambda wb, ws: ws.add_sparkline("C2", {"range": "Suivi!D2:F2"}), "sparkline"),
    (lambda wb, ws: ws.insert_textbox("C2", "à rappeler"), "formes ou zones de texte"),
    (lambda wb, ws: ws.conditional_format("D2:D9", {"type": "data_bar", "data_bar_2010": True}),
     "mises en forme conditionnelles récentes"),
])
def test_features_openpyxl_would_drop_are_named(tmp_path, schema, build, expected):
    book = SharedWorkbook.open(xlsxwriter_book(tmp_path, build), schema)
    losses = book.feature_losses()
    assert any(expected in loss for loss in losses), losses


def with_parts(data: bytes, parts: dict[str, bytes], content_types: str = "", sheet_xml=None) -> bytes:
    """Add parts (and content types) to a package, as Excel would write them."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                body = body.replace(b"</Types>", content_types.encode() + b"</Types>")
            if item.filename == "xl/worksheets/sheet1.xml" and sheet_xml:
                body = sheet_xml(body)
            target.writestr(item, body)
        for name, body in parts.items():
            target.writestr(name, body)
    return out.getvalue()


THREADED = (b'<?xml version="1.0" encoding="UTF-8"?><ThreadedComments '
            b'xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"/>')
X14_VALIDATION = (b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
                  b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
                  b'<x14:dataValidations count="0"/></ext></extLst></worksheet>')


def test_threaded_comments_pivot_tables_and_x14_validations_are_named(tmp_path, schema):
    data = xlsxwriter_book(tmp_path, lambda wb, ws: None)
    data = with_parts(
        data,
        {"xl/threadedComments/threadedComment1.xml": THREADED, "xl/pivotTables/pivotTable1.xml": b"<x/>"},
        '<Override PartName="/xl/threadedComments/threadedComment1.xml" '
        'ContentType="application/vnd.ms-excel.threadedcomments+xml"/>'
        '<Override PartName="/xl/pivotTables/pivotTable1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.pivotTable+xml"/>',
        sheet_xml=lambda body: body.replace(b"</worksheet>", X14_VALIDATION),
    )
    losses = SharedWorkbook.open(data, schema).feature_losses()
    assert any("commentaires modernes" in loss and "notes" in loss for loss in losses), losses
    assert any("tableaux croisés dynamiques" in loss for loss in losses), losses
    assert any("listes déroulantes" in loss for loss in losses), losses


def test_a_plain_coordinator_workbook_loses_nothing(schema):
    book = SharedWorkbook.open(None, schema)
    merge(book, [record()], schema)
    data = edit(book.to_bytes(), apply_edits)
    assert SharedWorkbook.open(data, schema).feature_losses() == []
    assert SharedWorkbook.open(None, schema).feature_losses() == []


SAMPLES = Path(__file__).parents[1] / "data" / "samples" / "Dépôts"
EXCEL_WORKBOOK_EXTENSIONS = (
    b'<extLst><ext uri="{140A7094-0E35-4892-8432-C4D2E57EDEB5}" '
    b'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main">'
    b'<x15:workbookPr chartTrackingRefBase="1"/></ext>'
    b'<ext uri="{B58B0392-4F1F-4190-BB64-5DF3571DCE5F}" '
    b'xmlns:xcalcf="http://schemas.microsoft.com/office/spreadsheetml/2018/calcfeatures">'
    b'<xcalcf:calcFeatures/></ext></extLst></workbook>'
)


def test_files_saved_by_libreoffice_or_excel_are_not_refused_for_their_everyday_extensions(schema):
    for path in (SAMPLES / "Collège des Remparts" / "Fiches novembre.xlsx",     # written by LibreOffice
                 SAMPLES / "Collège de l'Arsenal" / "fiches arsenal.xlsx"):
        assert b"loext" in zipfile.ZipFile(path).read("xl/workbook.xml")
        assert SharedWorkbook.open(path.read_bytes(), schema).feature_losses() == []
    excel = with_workbook_xml(SharedWorkbook.open(None, schema).to_bytes(),
                              lambda body: body.replace(b"</workbook>", EXCEL_WORKBOOK_EXTENSIONS))
    assert SharedWorkbook.open(excel, schema).feature_losses() == []


def test_an_unknown_extension_is_named_rather_than_dropped_silently(schema):
    unknown = b'<extLst><ext uri="{00000000-1111-2222-3333-444444444444}"><x/></ext></extLst></workbook>'
    data = with_workbook_xml(SharedWorkbook.open(None, schema).to_bytes(),
                             lambda body: body.replace(b"</workbook>", unknown))
    assert any("{00000000-1111-2222-3333-444444444444}" in loss
               for loss in SharedWorkbook.open(data, schema).feature_losses())


def with_workbook_xml(data: bytes, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            target.writestr(item, change(body) if item.filename == "xl/workbook.xml" else body)
    return out.getvalue()


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + \
        chunk(b"IEND", b"")


def test_images_are_kept_with_pillow_and_named_as_lost_without_it(tmp_path, schema):
    def build(wb, ws):
        ws.insert_image("C3", "logo.png", {"image_data": io.BytesIO(tiny_png())})
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"values": "=Suivi!$A$2:$A$4"})
        ws.insert_chart("E5", chart)
    losses = SharedWorkbook.open(xlsxwriter_book(tmp_path, build), schema).feature_losses()
    if importlib.util.find_spec("PIL") is None:   # openpyxl keeps images only with Pillow
        assert losses == ["des images : placez-les dans un autre classeur"]
    else:
        assert losses == []
