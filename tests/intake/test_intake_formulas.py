"""A formula whose result was never saved is read as empty: the partner is told why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

from resana_sync.intake import check_file
from resana_sync.records import Severity
from resana_sync.schema import load_schema

SCHEMA = load_schema()


def test_formulas_without_saved_values_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "fiche.xlsx"
    book = openpyxl.Workbook()  # openpyxl writes formulas without their result, as some programs do
    sheet = book.active
    sheet.append([f.label for f in SCHEMA.fields])
    sheet.append(["04/11/2025", '=UPPER("robin")', "Zoé", "14/03/2011", "F", "", "Collège des Remparts", "4e",
                  "Scolarisé(e)", "Absentéisme", 3, "Oui", "Mme Référente", "", "", "", ""])
    book.save(path)

    validation = check_file(path, SCHEMA, display_name="fiche.xlsx", structure="PJJ", source_path="Dépôts/PJJ/f",
                            sha256="0", today=dt.date(2025, 11, 20))

    [warning] = [p for p in validation.problems if p.code == "formules-sans-valeur"]
    assert warning.severity is Severity.WARNING and warning.row is None
    assert warning.reason.startswith("1 cellule(s) contiennent une formule")
    assert validation.rejected_rows == 1  # the name really is missing for the connector


def test_a_workbook_saved_by_a_spreadsheet_has_no_such_warning() -> None:
    sample = Path(__file__).parent.parent / "data" / "samples" / "Dépôts" / "CMPA" / "fiche CMPA.xlsx"
    validation = check_file(sample, SCHEMA, display_name=sample.name, structure="CMPA", source_path="x",
                            sha256="0", today=dt.date(2025, 11, 20))
    assert not [p for p in validation.problems if p.code == "formules-sans-valeur"]
