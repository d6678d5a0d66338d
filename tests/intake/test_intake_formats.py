"""Format comes from content, not from the extension; each unreadable kind is named in French."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import HEADER, good_row, write_compound_file, write_french_excel_csv, write_openpyxl, write_xlsxwriter

from resana_sync.errors import IntakeError
from resana_sync.intake import read_rows
from resana_sync.intake.biff import workbook_stream
from resana_sync.intake.sniff import Format, sniff
from resana_sync.records import Outcome, Severity

SAMPLES = Path(__file__).parents[1] / "data" / "samples" / "Dépôts"


def _fake_ole2(*stream_names: str) -> bytes:
    """Enough of a compound file for sniffing: the magic, then directory names in UTF-16LE."""
    body = b"".join(name.encode("utf-16-le") + b"\x00\x00" for name in stream_names)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + body


def test_xlsx_saved_as_xls_is_read_as_xlsx(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xls", [HEADER, good_row()])
    assert sniff(path) is Format.XLSX
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]


def test_xlsm_extension_is_read(tmp_path: Path) -> None:
    path = write_xlsxwriter(tmp_path / "fiche.xlsm", [HEADER, good_row()])
    assert sniff(path) is Format.XLSX
    assert len(read_rows(path, path.name)) == 1


def test_ods_and_xls_by_content(tmp_path: Path) -> None:
    ods = shutil.copy(SAMPLES / "PJJ" / "Situation MARTIN Léa.ods", tmp_path / "renamed.xlsx")
    xls = shutil.copy(SAMPLES / "AEMO" / "fiche AEMO.xls", tmp_path / "renamed.csv")
    assert sniff(Path(ods)) is Format.ODS
    assert sniff(Path(xls)) is Format.XLS
    assert read_rows(Path(ods), "x")[0].cells["Nom"] == "Martin"
    assert read_rows(Path(xls), "x")[0].cells["Nom"] == "MOREAU"


def test_csv_with_bom_named_xls_is_read_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "fiche.xls"
    path.write_bytes("\ufeffNom,Prénom,Date de naissance\r\nDURAND,Zoé,12/03/2012\r\n".encode("utf-8"))
    assert sniff(path) is Format.CSV
    rows = read_rows(path, path.name)
    assert (rows[0].row_number, rows[0].cells["Nom"], rows[0].cells["Prénom"]) == (2, "DURAND", "Zoé")


@pytest.mark.parametrize(
    ("content", "fmt", "words"),
    [
        (b"<!DOCTYPE html><html><head><title>Connexion RESANA</title></head></html>", Format.HTML, "page web (HTML)"),
        (b"\xef\xbb\xbf\r\n  <html><body>Session expir\xc3\xa9e</body></html>", Format.HTML, "page de connexion"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", Format.PDF, "document PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Format.IMAGE, "image"),
        (b"", Format.EMPTY, "vide"),
        (_fake_ole2("Root Entry", "EncryptionInfo", "EncryptedPackage"), Format.ENCRYPTED, "protégé par mot de passe"),
        (_fake_ole2("Root Entry", "WordDocument"), Format.OTHER_OLE2, "pas un classeur"),
        (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>', Format.XML, "XML"),
        (b"\x00\x01\x02\x03binary\x00", Format.BINARY, "format inconnu"),
    ],
)
def test_unreadable_kinds_are_named(tmp_path: Path, content: bytes, fmt: Format, words: str) -> None:
    path = tmp_path / "fiche.xlsx"
    path.write_bytes(content)
    assert sniff(path) is fmt
    with pytest.raises(IntakeError) as caught:
        read_rows(path, path.name)
    assert words in caught.value.message


def test_binary_xlsb_is_unsupported_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "fiche.xlsb"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
    assert sniff(path) is Format.XLSB
    with pytest.raises(IntakeError, match=r"Format non pris en charge \(classeur Excel binaire \(xlsb\)\).*\.xlsx"):
        read_rows(path, path.name)


def test_word_document_renamed_xlsx_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "fiche.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert sniff(path) is Format.WORD
    with pytest.raises(IntakeError, match="Format non pris en charge.*traitement de texte"):
        read_rows(path, path.name)


def test_truncated_xlsx_is_named_damaged(tmp_path: Path) -> None:
    good = write_openpyxl(tmp_path / "good.xlsx", [HEADER, good_row()])
    path = tmp_path / "fiche.xlsx"
    path.write_bytes(good.read_bytes()[:1500])
    with pytest.raises(IntakeError, match="endommagé"):
        read_rows(path, path.name)


def test_check_file_turns_unreadable_file_into_one_whole_file_problem(tmp_path: Path, check) -> None:
    path = tmp_path / "fiche.pdf"
    path.write_bytes(b"%PDF-1.4\n")
    result = check(path)
    assert result.file_rejected is True
    assert (result.records, result.rejected_rows) == ([], 0)
    [problem] = result.problems
    assert (problem.severity, problem.row, problem.file) == (Severity.ERROR, None, "fiche.pdf")
    assert "Format non pris en charge (document PDF)" in problem.message


def test_french_excel_csv_cp1252_semicolon_crlf(tmp_path: Path, check) -> None:
    path = write_french_excel_csv(tmp_path / "export.csv", [HEADER, good_row(prenom="Zoé-Hélène", date_fiche=dt.date(2025, 11, 4))])
    assert b"Zo\xe9-H\xe9l\xe8ne" in path.read_bytes()
    result = check(path)
    assert [r.fields["prenom"] for r in result.records] == ["Zoé-Hélène"]
    assert result.records[0].fields["date_fiche"] == dt.date(2025, 11, 4)


def test_intake_error_carries_the_display_name(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(IntakeError) as caught:
        read_rows(path, "Fiche de Léa.pdf")
    assert caught.value.file == "Fiche de Léa.pdf"


def test_validation_outcome(tmp_path: Path, check) -> None:
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    unreadable = check(pdf)
    assert (unreadable.outcome(), unreadable.would_reject) == (Outcome.REJECTED, True)
    good = check(write_openpyxl(tmp_path / "b.xlsx", [HEADER, good_row()]))
    assert (good.outcome(Outcome.UPDATED), good.would_reject) == (Outcome.UPDATED, False)
    partly = check(write_openpyxl(tmp_path / "c.xlsx", [HEADER, good_row(), good_row(nom="")]))
    assert (partly.outcome(), partly.would_reject) == (Outcome.IMPORTED, True)
    none = check(write_openpyxl(tmp_path / "d.xlsx", [HEADER, good_row(nom="")]))
    assert none.outcome() == Outcome.REJECTED


def test_an_unanticipated_reader_failure_rejects_the_file_without_stopping(tmp_path: Path, check, monkeypatch) -> None:
    def broken(*_args):
        raise KeyError("DURAND Zoé")

    monkeypatch.setattr("resana_sync.intake.find_form", broken)
    result = check(write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()]))
    assert result.file_rejected and result.problems[0].code == "fichier-illisible"
    assert "contenu inattendu" in result.problems[0].message


def test_unreadable_workbook_structure_is_named_damaged(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/_rels/workbook.xml.rels"] = b"<Relationships><not-closed>"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(IntakeError, match="endommagé"):
        read_rows(path, path.name)


def test_xls_with_its_workbook_stream_in_regular_sectors(tmp_path: Path, check) -> None:
    """The sample keeps its small stream in the mini stream; Excel's larger ones use regular sectors."""
    stream = workbook_stream((SAMPLES / "AEMO" / "fiche AEMO.xls").read_bytes())
    padded = stream + b"\x00" * (5000 - len(stream))   # past the 4096-byte mini stream cutoff
    path = write_compound_file(tmp_path / "fiche.xls", padded)
    assert sniff(path) is Format.XLS
    assert [(r.fields["nom"], r.fields["date_naissance"]) for r in check(path).records] == [("MOREAU", dt.date(2011, 6, 30))]


def test_password_protected_ods_is_named(tmp_path: Path) -> None:
    path = tmp_path / "fiche.ods"
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        "</manifest:file-entry></manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", b"\x8a\x01\xff encrypted bytes")
    assert sniff(path) is Format.ENCRYPTED
    with pytest.raises(IntakeError, match="protégé par mot de passe"):
        read_rows(path, path.name)
