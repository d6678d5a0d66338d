"""The blank form generated from the schema, and a filled copy read back through intake."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest

from resana_sync.template import FORM_SHEET, HELP_SHEET, LISTS_SHEET, TEMPLATE_NAME, build_template


@pytest.fixture(scope="module")
def template_bytes(schema) -> bytes:
    return build_template(schema)


@pytest.fixture
def workbook(template_bytes: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(template_bytes))


def test_template_name_and_determinism(schema, template_bytes: bytes) -> None:
    assert TEMPLATE_NAME == "Fiche de situation.xlsx"
    assert build_template(schema) == template_bytes


def test_header_row_has_every_label_with_a_help_note(schema, workbook) -> None:
    sheet = workbook[FORM_SHEET]
    assert workbook.sheetnames == [FORM_SHEET, HELP_SHEET, LISTS_SHEET]
    assert [c.value for c in sheet[1]] == [f.label for f in schema.fields]
    note = sheet.cell(row=1, column=[f.id for f in schema.fields].index("classe") + 1).comment.text
    assert "Obligatoire." in note and "6e ; 5e ; 4e ; 3e" in note
    assert sheet.freeze_panes == "A2"


def test_dropdowns_for_every_list_field_and_oui_non(schema, workbook) -> None:
    sheet = workbook[FORM_SHEET]
    by_column = {}
    for validation in sheet.data_validations.dataValidation:
        for cell_range in validation.sqref.ranges:
            by_column[cell_range.min_col] = validation
    for col, spec in enumerate(schema.fields, start=1):
        if spec.values or spec.type == "boolean":
            assert by_column[col].type == "list", spec.id
    famille = [f.id for f in schema.fields].index("famille_informee") + 1
    assert by_column[famille].formula1 == '"Oui,Non"'
    classe = [f.id for f in schema.fields].index("classe") + 1
    assert not by_column[classe].formula1.startswith("=")   # OOXML formulas carry no "="
    target = workbook.defined_names[by_column[classe].formula1].attr_text
    values = [c.value for (c,) in workbook[LISTS_SHEET][target.split("!")[1].replace("$", "")]]
    assert values == ["6e", "5e", "4e", "3e", "SEGPA", "ULIS", "UPE2A", "Autre"]
    assert workbook[LISTS_SHEET].sheet_state == "hidden"


def test_formats_keep_dates_and_leading_zeros(schema, workbook) -> None:
    sheet = workbook[FORM_SHEET]
    ids = [f.id for f in schema.fields]
    assert sheet.cell(row=2, column=ids.index("date_naissance") + 1).number_format == "DD/MM/YYYY"
    assert sheet.cell(row=50, column=ids.index("ine") + 1).number_format == "@"
    assert sheet.cell(row=2, column=ids.index("contact_referent") + 1).number_format == "@"


def test_instructions_sheet_in_french(workbook) -> None:
    sheet = workbook[HELP_SHEET]
    text = "\n".join(str(c.value) for (c,) in sheet.iter_rows(max_col=1) if c.value)
    assert "Remplissez une ligne par jeune" in text and "« Date de naissance »" in text


def test_filled_template_reads_back(tmp_path: Path, template_bytes: bytes, check) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(template_bytes))
    sheet = workbook[FORM_SHEET]
    values = {
        "Date de la fiche": dt.date(2025, 11, 4), "Nom": "DURAND", "Prénom": "Zoé", "Date de naissance": "03/12/2012",
        "INE": "0123456789K", "Établissement": "Collège de la Corderie", "Classe": "4e",
        "Situation scolaire actuelle": "Scolarisé(e)", "Motif(s)": "Absentéisme; Santé", "Famille informée": "Oui",
        "Professionnel référent": "M. Test", "Contact du référent": "0612345678",
    }
    for cell in sheet[1]:
        if cell.value in values:
            sheet.cell(row=2, column=cell.column, value=values[cell.value])
    path = tmp_path / "Fiche remplie.xlsx"
    workbook.save(path)
    result = check(path)
    assert result.problems == [] and result.rejected_rows == 0
    [record] = result.records
    assert record.row_number == 2
    assert (record.fields["ine"], record.fields["contact_referent"]) == ("0123456789K", "0612345678")
    assert record.fields["motifs"] == ("Absentéisme", "Santé")
    assert record.fields["date_naissance"] == dt.date(2012, 12, 3)


def test_blank_template_is_rejected_as_empty(tmp_path: Path, template_bytes: bytes, check) -> None:
    path = tmp_path / "Fiche de situation.xlsx"
    path.write_bytes(template_bytes)
    result = check(path)
    assert result.file_rejected and [p.code for p in result.problems] == ["aucune-ligne"]
