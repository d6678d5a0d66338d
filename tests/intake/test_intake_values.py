"""Cell values as partners type them, read from real files and normalised by validation."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import openpyxl
import pytest
from conftest import HEADER, TODAY, good_row, write_french_excel_csv, write_ods, write_openpyxl, write_xlsxwriter

from resana_sync.records import RawRow, Severity
from resana_sync.validate import validate_rows


def _one(result):
    assert len(result.records) == 1, result.problems
    return result.records[0].fields


def _validate_cells(schema, **changes):
    cells = dict(zip(HEADER, good_row(**changes)))
    return validate_rows([RawRow(row_number=2, cells=cells)], schema, file="f.xlsx", structure="S",
                         source_path="S/f.xlsx", sha256="", today=TODAY)


@pytest.mark.parametrize("text", ["03/12/2012", "3/12/2012", "03-12-2012", "03.12.2012", " 03/12/2012 ", "2012-12-03",
                                  "03/12/2012 00:00:00"])
def test_day_first_text_dates(tmp_path: Path, check, text: str) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(date_naissance=text)])
    assert _one(check(path))["date_naissance"] == dt.date(2012, 12, 3)


def test_date_cells_from_xlsxwriter_and_openpyxl(tmp_path: Path, check) -> None:
    a = write_xlsxwriter(tmp_path / "a.xlsx", [HEADER, good_row(date_naissance=dt.date(2012, 12, 3))])
    b = write_openpyxl(tmp_path / "b.xlsx", [HEADER, good_row(date_naissance=dt.date(2012, 12, 3))])
    assert _one(check(a))["date_naissance"] == _one(check(b))["date_naissance"] == dt.date(2012, 12, 3)


@pytest.mark.parametrize(("epoch_1904", "serial"), [(False, 41246), (True, 39784)])
def test_serial_in_general_cell_uses_the_workbook_epoch(tmp_path: Path, check, epoch_1904: bool, serial: int) -> None:
    """The same day, 03/12/2012, typed as a bare number in a General cell of a 1900 or a 1904 workbook."""
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(date_naissance=serial)], epoch_1904=epoch_1904)
    workbook = openpyxl.load_workbook(path)
    assert workbook.active["D2"].number_format == "General"
    assert _one(check(path))["date_naissance"] == dt.date(2012, 12, 3)


def test_1904_workbook_date_cells_are_right(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(date_naissance=dt.date(2012, 12, 3))], epoch_1904=True)
    assert _one(check(path))["date_naissance"] == dt.date(2012, 12, 3)


@pytest.mark.parametrize(("text", "code"), [("31/02/2011", "date-impossible"), ("12/13/2012", "date-impossible"),
                                            ("mars 2012", "date"), ("2012", "date")])
def test_bad_dates_reject_the_row(schema, text: str, code: str) -> None:
    result = _validate_cells(schema, date_naissance=text)
    assert result.rejected_rows == 1
    [error] = [p for p in result.problems if p.severity is Severity.ERROR]
    assert (error.code, error.column, error.value, error.row) == (code, "Date de naissance", text, 2)


def test_identifiers_typed_as_numbers_are_flagged(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(ine=123456789, contact_referent=612345678)])
    result = check(path)
    fields = _one(result)
    assert (fields["ine"], fields["contact_referent"]) == ("123456789", "612345678")
    number_warnings = {p.column for p in result.problems if p.code == "nombre"}
    assert number_warnings == {"INE", "Contact du référent"}
    assert all(p.severity is Severity.WARNING for p in result.problems if p.code == "nombre")


def test_text_identifiers_keep_leading_zeros(tmp_path: Path, check) -> None:
    path = write_xlsxwriter(tmp_path / "fiche.xlsx", [HEADER, good_row(ine="0123456789K", contact_referent="06 12 34 56 78")])
    result = check(path)
    fields = _one(result)
    assert (fields["ine"], fields["contact_referent"]) == ("0123456789K", "06 12 34 56 78")
    assert not [p for p in result.problems if p.code in ("nombre", "contact", "ine-format")]


def test_csv_identifiers_keep_leading_zeros(tmp_path: Path, check) -> None:
    path = write_french_excel_csv(tmp_path / "e.csv", [HEADER, good_row(ine="0123456789K", contact_referent="0612345678")])
    fields = _one(check(path))
    assert (fields["ine"], fields["contact_referent"]) == ("0123456789K", "0612345678")


@pytest.mark.parametrize(("text", "expected"), [("Oui", True), ("OUI", True), ("oui", True), ("o", True), ("O", True),
                                                ("Vrai", True), ("Non", False), ("NON", False), ("n", False),
                                                ("faux", False), (True, True), (False, False)])
def test_oui_non_forms(schema, text, expected: bool) -> None:
    assert _one(_validate_cells(schema, famille_informee=text))["famille_informee"] is expected


def test_oui_non_unknown_answer_rejects_required_field(schema) -> None:
    result = _validate_cells(schema, famille_informee="Peut-être")
    assert result.rejected_rows == 1
    assert [p.code for p in result.problems] == ["oui-non"]


@pytest.mark.parametrize("text", ["Absentéisme; Santé", "Absentéisme,Santé", "Absentéisme\nSanté", "absenteisme ;sante",
                                  "Absentéisme\r\nSanté;", "Absences; Santé; Absentéisme"])
def test_several_motifs(schema, text: str) -> None:
    assert _one(_validate_cells(schema, motifs=text))["motifs"] == ("Absentéisme", "Santé")


def test_unknown_motif_rejects_with_allowed_values(schema) -> None:
    result = _validate_cells(schema, motifs="Absentéisme; Fugue")
    [error] = result.problems
    assert error.code == "valeur-non-prevue" and "« Fugue »" in error.reason and "Harcèlement" in error.hint


def test_control_characters_whitespace_and_nfc(tmp_path: Path, check) -> None:
    nfd = unicodedata.normalize("NFD", "Zoé")
    path = write_xlsxwriter(tmp_path / "fiche.xlsx", [HEADER, good_row(prenom=f"  {nfd}\t", elements="Texte\x0b collé\x07 de Word ")])
    fields = _one(check(path))
    assert fields["prenom"] == "Zoé" and len(fields["prenom"]) == 3
    assert fields["elements"] == "Texte collé de Word"


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("classe", "4ème", "4e"), ("classe", "quatrieme", "4e"), ("classe", "ulis", "ULIS"),
    ("situation_scolaire", "scolarise", "Scolarisé(e)"), ("situation_scolaire", "DÉSCOLARISÉE", "Déscolarisé(e)"),
    ("etablissement", "arsenal", "Collège de l'Arsenal"), ("etablissement", "COLLEGE DE L’ARSENAL", "Collège de l'Arsenal"),
    ("sexe", "Garçon", "M"),
])
def test_accepted_spellings(schema, field: str, text: str, expected: str) -> None:
    assert _one(_validate_cells(schema, **{field: text}))[field] == expected


def test_invalid_optional_value_is_a_warning_and_not_imported(schema) -> None:
    result = _validate_cells(schema, sexe="X", absences=-2)
    fields = _one(result)
    assert "sexe" not in fields and "absences" not in fields
    assert {(p.column, p.severity) for p in result.problems} == {("Sexe", Severity.WARNING),
                                                                 ("Absences (demi-journées, dernier mois)", Severity.WARNING)}


def test_integer_forms(schema) -> None:
    assert _one(_validate_cells(schema, absences="12"))["absences"] == 12
    assert _one(_validate_cells(schema, absences=7.0))["absences"] == 7


def test_missing_value_markers_count_as_empty(schema) -> None:
    result = _validate_cells(schema, nom="-")
    assert [(p.code, p.column) for p in result.problems] == [("obligatoire", "Nom")]


@pytest.mark.parametrize(("null_date", "serial"), [(None, 41246), (dt.date(1904, 1, 1), 39784)])
def test_ods_serial_uses_the_null_date(tmp_path: Path, check, null_date, serial: int) -> None:
    path = write_ods(tmp_path / "fiche.ods", [HEADER, good_row(date_naissance=serial, ine="0123456789K")], null_date=null_date)
    fields = _one(check(path))
    assert fields["date_naissance"] == dt.date(2012, 12, 3)
    assert fields["date_fiche"] == dt.date(2025, 11, 4)   # a real ODS date cell
    assert fields["ine"] == "0123456789K"
