"""The public API end to end: a new workbook, a merge, a save, a second merge that changes nothing."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl

from resana_sync.records import FileResult, Outcome
from resana_sync.state import State
from resana_sync.workbook import SharedWorkbook

from .helpers import NOW, merge, record, reopen, sheet_rows


def test_new_workbook_has_the_three_sheets_and_a_very_hidden_metadata_sheet(schema):
    book = SharedWorkbook.open(None, schema)
    saved = openpyxl.load_workbook(io.BytesIO(book.to_bytes()))
    assert saved.sheetnames[:3] == ["Suivi", "Contributions", "Journal"]
    hidden = [ws for ws in saved.worksheets if ws.sheet_state == "veryHidden"]
    assert len(hidden) == 1
    for ws in saved.worksheets[:3]:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
        assert all(cell.font.b for cell in ws[1])
        assert all(ws.column_dimensions[c.column_letter].width >= 7 for c in ws[1])
    contributions = saved["Contributions"]
    hidden = {c.value for c in contributions[1] if contributions.column_dimensions[c.column_letter].hidden}
    assert hidden == {"Clé", "Empreinte de la ligne"}
    lists = {v.formula1 for v in saved["Suivi"].data_validations.dataValidation}
    assert '"Nouvelle,En cours,En veille,Clôturée"' in lists


def test_same_person_from_two_partners_is_one_situation_and_a_second_run_changes_nothing(schema):
    book = SharedWorkbook.open(None, schema)
    records = [
        record("PJJ", nom="Martin", prenom="Lea", row=2),
        record("Collège des Remparts", nom="MARTIN", prenom="Léa", fiche=dt.date(2025, 11, 10), row=4),
        record("Collège des Remparts", nom="DUBOIS", prenom="Enzo", naissance=dt.date(2012, 9, 2), row=5),
    ]
    plan = merge(book, records, schema)
    # same first fiche date: ids follow the identity key, so DUBOIS comes before MARTIN;
    # names keep the first referral's spelling (the PJJ's "Martin")
    assert [(s.sid, s.cells["nom"]) for s in plan.new_situations] == [("2025-001", "DUBOIS"), ("2025-002", "Martin")]
    data = book.to_bytes()
    suivi = sheet_rows(data, "Suivi")
    assert len(suivi) == 2 and len(sheet_rows(data, "Contributions")) == 3
    martin = next(r for r in suivi if r["Identifiant"] == "2025-002")
    assert martin["Structures contributrices"] == "Collège des Remparts ; PJJ"
    assert martin["Structure à l'origine"] == "PJJ"
    assert martin["Statut"] == "Nouvelle"

    again = SharedWorkbook.open(data, schema)
    second = merge(again, records, schema, pushed=plan.pushed_after)
    assert second.is_empty, second.describe()
    assert second.describe() == ["Rien à modifier dans le tableau de suivi."]


def test_state_round_trip(tmp_path: Path, schema):
    book = SharedWorkbook.open(None, schema)
    plan = merge(book, [record()], schema)
    with State(tmp_path / "state" / "state.sqlite") as state:
        state.save_pushed(plan.pushed_after)
        assert state.pushed() == plan.pushed_after
        state.record_file("Dépôts/PJJ/fiches.xlsx", "a" * 64, Outcome.IMPORTED, NOW)
        assert state.file_seen("Dépôts/PJJ/fiches.xlsx") == ("a" * 64, Outcome.IMPORTED)
        assert state.file_seen("autre") is None
        run = state.start_run("manuel")
        assert state.last_success() is None
        state.finish_run(run, True, {"situations": 1})
        assert state.last_success() is not None


def test_journal_one_row_per_new_file_version_and_none_for_unchanged(schema):
    book = SharedWorkbook.open(None, schema)
    results = [
        FileResult("PJJ", "Dépôts/PJJ/fiches.xlsx", Outcome.IMPORTED, "a" * 64, [record()], [], 1, "1 ligne rejetée"),
        FileResult("MDA", "Dépôts/MDA/Thumbs.db", Outcome.IGNORED, "c" * 64),
        FileResult("AEMO", "Dépôts/AEMO/x.xls", Outcome.UNCHANGED, "d" * 64),
    ]
    assert book.add_journal(results, NOW) == 2
    assert book.add_journal(results, NOW) == 0
    rows = sheet_rows(reopen(book, schema).to_bytes(), "Journal")
    assert [(r["Structure"], r["Résultat"], r["Lignes acceptées"], r["Lignes rejetées"]) for r in rows] == [
        ("PJJ", "importé", 1, 1), ("MDA", "ignoré", 0, 0)]


def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path):
    import pytest

    from resana_sync.errors import StateError
    damaged = tmp_path / "state.sqlite"
    damaged.write_bytes(b"ceci n'est pas une base" * 100)
    with pytest.raises(StateError, match="état local"):
        State(damaged)


def test_a_state_that_breaks_after_opening_is_a_clear_error(tmp_path: Path):
    import pytest

    from resana_sync.errors import StateError

    state = State(tmp_path / "state.sqlite")
    state._db.execute("DROP TABLE files")  # a damaged or foreign file
    with pytest.raises(StateError, match="ne peut pas être lu ou écrit"):
        state.file_seen("Dépôts/PJJ/x.csv")
