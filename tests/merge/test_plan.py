"""The merge planner, read as a specification: identity, ids, contributions, three-way conflicts,
near matches and merges confirmed by the coordinator."""

from __future__ import annotations

import datetime as dt
import itertools

from resana_sync.merge import plan_merge, school_year
from resana_sync.workbook import SharedWorkbook

from .helpers import NOW, edit, merge, record, set_cell, sheet_rows, suivi_by_id

MARTIN = dict(nom="MARTIN", prenom="Léa")
DUBOIS = dict(nom="DUBOIS", prenom="Enzo", naissance=dt.date(2012, 9, 2))
MOREAU = dict(nom="MOREAU", prenom="Noah", naissance=dt.date(2011, 5, 6))


def run(data: bytes | None, records, schema, pushed=None):
    """One run over saved bytes; returns the plan and the saved result."""
    book = SharedWorkbook.open(data, schema)
    plan = merge(book, records, schema, pushed)
    return plan, book.to_bytes()


# --- ids and order -----------------------------------------------------------------------

def test_school_year_starts_in_september():
    assert school_year(dt.date(2025, 11, 3)) == 2025
    assert school_year(dt.date(2026, 3, 1)) == 2025
    assert school_year(dt.date(2026, 9, 1)) == 2026


def test_same_forms_in_any_order_give_the_same_suivi(schema):
    records = [
        record("PJJ", row=2, **MARTIN),
        record("Collège des Remparts", row=3, fiche=dt.date(2025, 10, 1), **DUBOIS),
        record("Collège des Remparts", row=4, fiche=dt.date(2025, 11, 20), classe="3e", **MARTIN),
        record("AEMO", row=2, **MOREAU),
        record("Centres sociaux", row=5, fiche=dt.date(2025, 9, 30), **MOREAU),
    ]
    results = set()
    for order in itertools.islice(itertools.permutations(records), 0, None, 10):  # 12 of the 120 orders
        _, data = run(None, list(order), schema)
        results.add(repr(sorted(suivi_by_id(data).items())))
    assert len(results) == 1
    suivi = suivi_by_id(data)
    # numbered by first fiche date: MOREAU (30/09), DUBOIS (01/10), MARTIN (03/11)
    assert {sid: row["Nom"] for sid, row in suivi.items()} == {"2025-001": "MOREAU", "2025-002": "DUBOIS",
                                                               "2025-003": "MARTIN"}
    assert suivi["2025-003"]["Classe"] == "3e"   # latest fiche wins


def test_ids_continue_across_runs_and_are_never_reused_after_a_row_is_deleted(schema):
    _, data = run(None, [record(**MARTIN), record(row=3, **DUBOIS)], schema)
    data = edit(data, lambda wb: wb["Suivi"].delete_rows(2, 2))
    data = edit(data, lambda wb: wb["Contributions"].delete_rows(2, 2))  # the coordinator wiped everything
    plan, data = run(data, [record("AEMO", **MOREAU)], schema)
    assert [s.sid for s in plan.new_situations] == ["2025-003"]


def test_a_fiche_of_the_next_school_year_opens_a_new_series(schema):
    plan, _ = run(None, [record(fiche=dt.date(2026, 9, 15), **MARTIN)], schema)
    assert [s.sid for s in plan.new_situations] == ["2026-001"]


# --- contributions -----------------------------------------------------------------------

def test_an_edited_and_reuploaded_form_updates_its_contribution(schema):
    first, data = run(None, [record("PJJ", sha="1" * 64, **MARTIN)], schema)
    plan, data = run(data, [record("PJJ", sha="2" * 64, classe="3e", **MARTIN)], schema, first.pushed_after)
    assert not plan.new_contributions and len(plan.contribution_updates) == 1
    contributions = sheet_rows(data, "Contributions")
    assert len(contributions) == 1
    assert contributions[0]["Classe"] == "3e" and contributions[0]["Empreinte du fichier"] == "2" * 64
    assert suivi_by_id(data)["2025-001"]["Classe"] == "3e"


def test_a_row_moved_in_the_form_updates_its_row_number_only(schema):
    first, data = run(None, [record("PJJ", row=2, **MARTIN)], schema)
    plan, data = run(data, [record("PJJ", row=7, **MARTIN)], schema, first.pushed_after)
    assert [u.cells.keys() - {"imported_at", "fingerprint"} for u in plan.contribution_updates] == [{"row_number"}]
    assert not plan.cell_updates


def test_a_form_with_an_ine_added_later_updates_the_same_contribution(schema):
    first, data = run(None, [record("PJJ", **MARTIN)], schema)
    plan, data = run(data, [record("PJJ", ine="0123456789K", **MARTIN)], schema, first.pushed_after)
    assert len(sheet_rows(data, "Contributions")) == 1
    assert suivi_by_id(data)["2025-001"]["INE"] == "0123456789K"


def test_two_rows_for_the_same_young_person_in_one_file_are_two_contributions(schema):
    records = [record("PJJ", row=2, **MARTIN), record("PJJ", row=3, fiche=dt.date(2025, 11, 20), **MARTIN)]
    first, data = run(None, records, schema)
    assert len(sheet_rows(data, "Contributions")) == 2 and len(suivi_by_id(data)) == 1
    again, _ = run(data, list(reversed(records)), schema, first.pushed_after)
    assert again.is_empty


def test_a_contribution_that_disappears_from_the_form_is_kept(schema):
    first, data = run(None, [record("PJJ", row=2, **MARTIN), record("PJJ", row=3, **DUBOIS)], schema)
    plan, data = run(data, [record("PJJ", row=2, **MARTIN)], schema, first.pushed_after)
    assert plan.is_empty
    assert len(sheet_rows(data, "Contributions")) == 2


def test_a_situation_whose_row_was_deleted_comes_back_with_its_id(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, lambda wb: wb["Suivi"].delete_rows(2))
    plan, data = run(data, [], schema, first.pushed_after)
    assert [s.sid for s in plan.new_situations] == ["2025-001"]
    assert suivi_by_id(data)["2025-001"]["Nom"] == "MARTIN"


# --- three-way conflicts ----------------------------------------------------------------

def test_a_hand_correction_stays_and_is_not_a_conflict_while_the_forms_do_not_change(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Nom", "MARTIN-DURAND"))
    plan, data = run(data, [record(**MARTIN)], schema, first.pushed_after)
    assert plan.is_empty and not plan.conflicts
    assert suivi_by_id(data)["2025-001"]["Nom"] == "MARTIN-DURAND"


def test_a_partner_change_against_a_hand_correction_is_flagged_and_the_hand_value_kept(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Classe", "SEGPA"))
    plan, data = run(data, [record(classe="3e", **MARTIN)], schema, first.pushed_after)
    row = suivi_by_id(data)["2025-001"]
    assert row["Classe"] == "SEGPA"
    assert row["À vérifier"] == "Modifié à la main, les fiches indiquent autre chose : Classe"
    assert sheet_rows(data, "Contributions")[0]["Classe"] == "3e"
    assert [c.title for c in plan.conflicts] == ["Classe"]
    assert any("« Classe » modifié à la main" in line for line in plan.describe())

    again, data = run(data, [record(classe="3e", **MARTIN)], schema, plan.pushed_after)
    assert again.is_empty and [c.title for c in again.conflicts] == ["Classe"]

    # the coordinator adopts the partner's value: the flag goes away
    data = edit(data, set_cell("Suivi", "2025-001", "Classe", "3e"))
    resolved, data = run(data, [record(classe="3e", **MARTIN)], schema, again.pushed_after)
    assert suivi_by_id(data)["2025-001"]["À vérifier"] is None and not resolved.conflicts


def test_clearing_a_verifier_acknowledges_the_conflict(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Classe", "SEGPA"))
    plan, data = run(data, [record(classe="3e", **MARTIN)], schema, first.pushed_after)
    data = edit(data, set_cell("Suivi", "2025-001", "À vérifier", None))
    again, data = run(data, [record(classe="3e", **MARTIN)], schema, plan.pushed_after)
    assert again.is_empty
    assert suivi_by_id(data)["2025-001"]["À vérifier"] is None
    assert suivi_by_id(data)["2025-001"]["Classe"] == "SEGPA"


def test_lost_state_is_rebuilt_from_the_workbook_without_false_conflicts(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Classe", "SEGPA"))
    with_state, _ = run(data, [record(classe="3e", **MARTIN)], schema, first.pushed_after)
    without_state, _ = run(data, [record(classe="3e", **MARTIN)], schema, None)
    assert with_state == without_state
    unchanged, _ = run(data, [record(**MARTIN)], schema, None)
    assert unchanged.is_empty and not unchanged.conflicts


def test_with_state_and_metadata_both_lost_there_is_no_false_conflict_and_no_duplicate(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, lambda wb: wb.remove(wb["_resana_sync"]))
    plan, data = run(data, [record(**MARTIN)], schema, None)
    assert not plan.conflicts and not plan.new_situations and not plan.new_contributions
    assert plan.metadata_changed
    again, _ = run(data, [record(**MARTIN)], schema, None)
    assert again.is_empty


# --- near matches and merges -------------------------------------------------------------

def test_near_matches_are_flagged_on_both_rows_and_never_merged(schema):
    records = [record("PJJ", **MARTIN), record("AEMO", nom="MARTIN", prenom="Lena"),
               record("CMPA", naissance=dt.date(2012, 4, 3), **MARTIN)]
    plan, data = run(None, records, schema)
    suivi = suivi_by_id(data)
    assert len(suivi) == 3
    flags = {sid: row["Doublon possible"] for sid, row in suivi.items()}
    assert flags == {"2025-001": "Doublon possible : 2025-002, 2025-003",
                     "2025-002": "Doublon possible : 2025-001",
                     "2025-003": "Doublon possible : 2025-001"}
    assert "Doublon possible : 2025-001 et 2025-002" in plan.describe()


def test_a_merge_confirmed_by_the_coordinator_repoints_contributions_and_keeps_both_rows(schema):
    records = [record("PJJ", **MARTIN), record("AEMO", nom="MARTIN", prenom="Lena")]
    first, data = run(None, records, schema)
    data = edit(data, set_cell("Suivi", "2025-002", "Fusionner avec (identifiant)", "2025-001"))
    data = edit(data, set_cell("Suivi", "2025-002", "Préconisations / décisions", "Voir 2025-001"))
    plan, data = run(data, records, schema, first.pushed_after)
    assert [(m.absorbed, m.kept, m.contributions) for m in plan.merges] == [("2025-002", "2025-001", 1)]
    suivi = suivi_by_id(data)
    assert suivi["2025-002"]["Signalements"] == "Fusionnée dans 2025-001"
    assert suivi["2025-002"]["Préconisations / décisions"] == "Voir 2025-001"
    assert suivi["2025-001"]["Structures contributrices"] == "AEMO ; PJJ"
    assert suivi["2025-001"]["Doublon possible"] is None
    assert {r["Identifiant"] for r in sheet_rows(data, "Contributions")} == {"2025-001"}

    again, data = run(data, records + [record("CMPA", nom="MARTIN", prenom="Lena")], schema, plan.pushed_after)
    assert not again.new_situations   # the absorbed identity now lives in 2025-001
    data = edit(data, set_cell("Suivi", "2025-002", "Fusionner avec (identifiant)", None))
    last, _ = run(data, records, schema, again.pushed_after)
    assert last.is_empty   # the merge is recorded: clearing the cell does not undo it


def test_an_unknown_merge_target_is_reported_and_nothing_moves(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Fusionner avec (identifiant)", "2025-999"))
    plan, data = run(data, [record(**MARTIN)], schema, first.pushed_after)
    assert not plan.merges
    assert "Fusion impossible" in suivi_by_id(data)["2025-001"]["À vérifier"]


def test_merge_chains_and_cycles_resolve_deterministically(schema):
    records = [record("PJJ", **MARTIN), record("AEMO", **DUBOIS), record("CMPA", **MOREAU)]
    first, data = run(None, records, schema)
    ids = sorted(suivi_by_id(data))
    data = edit(data, set_cell("Suivi", ids[0], "Fusionner avec (identifiant)", ids[1]))
    data = edit(data, set_cell("Suivi", ids[1], "Fusionner avec (identifiant)", ids[2]))
    data = edit(data, set_cell("Suivi", ids[2], "Fusionner avec (identifiant)", ids[0]))
    plan, data = run(data, records, schema, first.pushed_after)
    assert {(m.absorbed, m.kept) for m in plan.merges} == {(ids[1], ids[0]), (ids[2], ids[0])}


def test_a_name_corrected_by_the_coordinator_is_matched_by_later_forms(schema):
    first, data = run(None, [record("PJJ", nom="MARTN", prenom="Léa")], schema)
    data = edit(data, set_cell("Suivi", "2025-001", "Nom", "MARTIN"))
    plan, data = run(data, [record("AEMO", **MARTIN)], schema, first.pushed_after)
    assert not plan.new_situations
    assert suivi_by_id(data)["2025-001"]["Structures contributrices"] == "AEMO ; PJJ"


def test_describe_names_situations_and_structures_never_people(schema):
    plan = plan_merge(SharedWorkbook.open(None, schema).snapshot(), [record(**MARTIN)], None,
                      schema=schema, now=NOW)
    text = "\n".join(plan.describe())
    assert "2025-001" in text and "MARTIN" not in text and "Léa" not in text


def test_a_row_typed_by_the_coordinator_is_joined_and_its_hand_values_are_kept(schema):
    def hand_row(wb):
        ws = wb["Suivi"]
        values = {"Identifiant": "2025-001", "Nom": "MARTIN", "Prénom": "Léa",
                  "Date de naissance": dt.datetime(2012, 3, 4), "Classe": "5e", "Statut": "En veille"}
        for title, value in values.items():
            ws.cell(2, [c.value for c in ws[1]].index(title) + 1).value = value
    data = edit(SharedWorkbook.open(None, schema).to_bytes(), hand_row)
    plan, data = run(data, [record("PJJ", **MARTIN)], schema)
    assert not plan.new_situations
    row = suivi_by_id(data)["2025-001"]
    assert (row["Classe"], row["Statut"], row["Structures contributrices"]) == ("5e", "En veille", "PJJ")
    assert row["À vérifier"] == "Modifié à la main, les fiches indiquent autre chose : Classe"


def test_rows_of_one_person_moving_inside_a_file_pair_stably_with_their_contributions(schema):
    """Found by the property tests: a person with two rows whose rows move must not flip-flop."""
    versions = [
        [record("PJJ", row=2, **MARTIN)],
        [record("PJJ", row=2, **MARTIN), record("PJJ", row=3, classe="3e", **MARTIN)],
        [record("PJJ", row=2, nom="MARTIN", prenom="Lena"), record("PJJ", row=3, nom="MARTIN", prenom="Lena"),
         record("PJJ", row=4, **MARTIN)],
    ]
    data, pushed = None, None
    for version in versions:
        plan, data = run(data, version, schema, pushed)
        pushed = plan.pushed_after
        again, _ = run(data, list(reversed(version)), schema, pushed)
        assert again.is_empty, again.describe()
    assert len(sheet_rows(data, "Contributions")) == 4


def test_an_archived_copy_restored_by_the_coordinator_follows_the_forms_again(schema):
    """The base comes from the workbook itself: the local state may be newer than a restored copy."""
    first, archived = run(None, [record(classe="4e", **MARTIN)], schema)
    second, _ = run(archived, [record(classe="3e", **MARTIN)], schema, first.pushed_after)
    plan, data = run(archived, [record(classe="3e", **MARTIN)], schema, second.pushed_after)
    assert suivi_by_id(data)["2025-001"]["Classe"] == "3e" and not plan.conflicts


def test_when_the_hidden_sheet_is_gone_the_local_state_still_recognises_hand_edits(schema):
    first, data = run(None, [record(**MARTIN)], schema)
    data = edit(data, lambda wb: wb.remove(wb["_resana_sync"]))
    data = edit(data, set_cell("Suivi", "2025-001", "Classe", "SEGPA"))
    plan, data = run(data, [record(classe="3e", **MARTIN)], schema, first.pushed_after)
    assert suivi_by_id(data)["2025-001"]["Classe"] == "SEGPA" and [c.title for c in plan.conflicts] == ["Classe"]


def test_a_merge_into_a_situation_whose_contributions_were_deleted_by_hand_is_stable(schema):
    """Found by the property tests: the merge target must not depend on contributions recreated in the run."""
    records = [record("PJJ", row=2, **MARTIN), record("PJJ", row=3, nom="MARTIN", prenom="Lena")]
    first, data = run(None, records, schema)
    data = edit(data, set_cell("Suivi", "2025-002", "Fusionner avec (identifiant)", "2025-001"))
    data = edit(data, lambda wb: wb["Contributions"].delete_rows(2))   # MARTIN Léa's contribution
    plan, data = run(data, records, schema, first.pushed_after)
    assert [(m.absorbed, m.kept) for m in plan.merges] == [("2025-002", "2025-001")]
    assert {r["Identifiant"] for r in sheet_rows(data, "Contributions")} == {"2025-001"}
    again, _ = run(data, records, schema, plan.pushed_after)
    assert again.is_empty, again.describe()
