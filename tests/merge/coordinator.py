"""The coordinator's hand work of every kind, applied with openpyxl, and the check that it is intact."""

from __future__ import annotations

import datetime as dt
from typing import Any

from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from .helpers import column_of, row_of

YELLOW = "FFFFFF00"
SID = "2025-001"


def letter(ws: Any, title: str) -> str:
    return get_column_letter(column_of(ws, title))


def apply_edits(wb: Any) -> None:
    ws = wb["Suivi"]
    r = row_of(ws, SID)
    for cell in ws[r]:
        cell.fill = PatternFill("solid", fgColor=YELLOW)
    ws.cell(r, column_of(ws, "Nom")).value = "MARTIN-DURAND"           # a hand correction of a derived cell
    ws.cell(r, column_of(ws, "Nom")).font = Font(bold=True, color="FFFF0000")
    ws.cell(r, column_of(ws, "Statut")).value = "En cours"
    ws.cell(r, column_of(ws, "Statut")).border = Border(bottom=Side(style="thick"))
    ws.cell(r, column_of(ws, "Préconisations / décisions")).value = "Orientation vers le PRE"
    ws.cell(r, column_of(ws, "Préconisations / décisions")).comment = Comment("Vu en réunion du 12/11", "Coordination")
    ws.cell(r, column_of(ws, "Référent de suivi")).value = "M. B"
    revue = ws.cell(r, column_of(ws, "Prochaine revue"))
    revue.value = dt.datetime(2026, 1, 15)
    revue.number_format = "D MMM YYYY"
    ws.cell(r, column_of(ws, "Observations")).value = "=appel famille"   # typed as text by the coordinator
    ws.cell(r, column_of(ws, "Observations")).data_type = "s"
    ws.column_dimensions[letter(ws, "Observations")].width = 50
    ws.column_dimensions[letter(ws, "Structure à l'origine")].hidden = True
    ws.row_dimensions[r].height = 30
    ws.freeze_panes = "C2"
    extra = ws.max_column + 1
    ws.cell(1, extra).value = "Priorité"
    ws.cell(r, extra).value = "haute"
    validation = DataValidation(type="list", formula1='"Mme A,M. B"', allow_blank=True)
    validation.add(f"{letter(ws, 'Référent de suivi')}2:{letter(ws, 'Référent de suivi')}500")
    ws.add_data_validation(validation)
    statut = letter(ws, "Statut")
    ws.conditional_formatting.add(f"{statut}2:{statut}500",
                                  CellIsRule(operator="equal", formula=['"Clôturée"'],
                                             fill=PatternFill("solid", fgColor="FFBBBBBB")))
    wb.defined_names["Situations"] = DefinedName("Situations", attr_text="Suivi!$A$1:$A$500")
    meetings = wb.create_sheet("Réunions")
    meetings["A1"], meetings["B1"] = "Réunion", "Situations"
    meetings["A2"] = dt.datetime(2026, 1, 15)
    meetings["B2"] = "=COUNTA(Suivi!A:A)-1"
    meetings.merge_cells("C1:D1")
    meetings["C1"] = "Notes"


def check_edits(wb: Any) -> None:
    ws = wb["Suivi"]
    r = row_of(ws, SID)
    nom = ws.cell(r, column_of(ws, "Nom"))
    assert nom.value == "MARTIN-DURAND" and nom.font.b and nom.font.color.rgb == "FFFF0000"
    assert all(cell.fill.fgColor.rgb == YELLOW for cell in ws[r] if cell.column <= column_of(ws, "Statut"))
    assert ws.cell(r, column_of(ws, "Statut")).value == "En cours"
    assert ws.cell(r, column_of(ws, "Statut")).border.bottom.style == "thick"
    decisions = ws.cell(r, column_of(ws, "Préconisations / décisions"))
    assert decisions.value == "Orientation vers le PRE"
    assert decisions.comment is not None and decisions.comment.text == "Vu en réunion du 12/11"
    assert ws.cell(r, column_of(ws, "Référent de suivi")).value == "M. B"
    revue = ws.cell(r, column_of(ws, "Prochaine revue"))
    assert revue.value == dt.datetime(2026, 1, 15) and revue.number_format == "D MMM YYYY"
    observations = ws.cell(r, column_of(ws, "Observations"))
    assert observations.value == "=appel famille" and observations.data_type == "s"
    assert ws.column_dimensions[letter(ws, "Observations")].width == 50
    assert ws.column_dimensions[letter(ws, "Structure à l'origine")].hidden
    assert ws.row_dimensions[r].height == 30
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    assert ws.cell(r, column_of(ws, "Priorité")).value == "haute"
    assert any(v.formula1 == '"Mme A,M. B"' for v in ws.data_validations.dataValidation)
    assert any(rule.formula == ['"Clôturée"'] for cf in ws.conditional_formatting for rule in cf.rules)
    assert "Situations" in wb.defined_names
    meetings = wb["Réunions"]
    assert meetings["B2"].value == "=COUNTA(Suivi!A:A)-1"
    assert "C1:D1" in {str(m) for m in meetings.merged_cells.ranges}
