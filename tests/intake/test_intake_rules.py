"""Rules of the form: required fields, age, family informed, INE and contact formats."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import HEADER, TODAY, good_row

from resana_sync.records import RawRow, Severity
from resana_sync.validate import validate_rows

RELAIS = "Relais MLDS / PSAD à prévoir"
FAMILY = "Famille non informée : à vérifier avant la réunion"


def _validate(schema, *rows, today=TODAY):
    raw = [RawRow(row_number=n, cells=dict(zip(HEADER, row))) for n, row in enumerate(rows, start=2)]
    return validate_rows(raw, schema, file="liste.xlsx", structure="S", source_path="S/liste.xlsx", sha256="abc", today=today)


@pytest.mark.parametrize(("birth", "fiche", "flagged"), [
    (dt.date(2009, 11, 1), dt.date(2025, 11, 4), True),    # already 16
    (dt.date(2010, 8, 31), dt.date(2025, 11, 4), True),    # 16 on the last day of the school year
    (dt.date(2010, 9, 1), dt.date(2025, 11, 4), False),    # 16 the day after: next school year
    (dt.date(2010, 8, 31), dt.date(2026, 6, 1), True),     # fiche in June: same school year end
    (dt.date(2010, 9, 1), dt.date(2026, 9, 2), True),      # new school year, turns 16 in it
    (dt.date(2012, 3, 12), dt.date(2025, 11, 4), False),
])
def test_relais_flag_at_16_by_end_of_school_year(schema, birth, fiche, flagged: bool) -> None:
    result = _validate(schema, good_row(date_naissance=birth, date_fiche=fiche), today=fiche)
    [record] = result.records
    assert (RELAIS in record.flags) is flagged


@pytest.mark.parametrize(("birth", "rejected"), [
    (dt.date(2016, 1, 1), True),    # 9 at the fiche date
    (dt.date(2015, 11, 4), False),  # 10 that day
    (dt.date(2007, 1, 1), False),   # 18
    (dt.date(2006, 11, 3), True),   # 19
    (dt.date(2026, 1, 1), True),    # born after the fiche
])
def test_improbable_age_rejects_the_row(schema, birth: dt.date, rejected: bool) -> None:
    result = _validate(schema, good_row(date_naissance=birth))
    assert result.rejected_rows == int(rejected)
    if rejected:
        [error] = result.problems
        assert error.code == "age-improbable" and "probablement erronée" in error.reason
        assert error.column == "Date de naissance" and error.value == birth.strftime("%d/%m/%Y")


def test_family_not_informed_is_accepted_and_flagged(schema) -> None:
    result = _validate(schema, good_row(famille_informee="Non"))
    [record] = result.records
    assert record.flags == (FAMILY,)
    [flag] = result.problems
    assert (flag.severity, flag.row, flag.column, flag.value) == (Severity.FLAG, 2, "Famille informée", "Non")


def test_each_required_field_missing_is_named(schema) -> None:
    result = _validate(schema, good_row(nom="", referent=" ", classe=None))
    assert result.rejected_rows == 1 and result.records == []
    assert sorted(p.column for p in result.problems) == ["Classe", "Nom", "Professionnel référent"]
    assert all(p.code == "obligatoire" and p.row == 2 for p in result.problems)


def test_missing_required_column_is_named_by_its_form_label(schema) -> None:
    cells = dict(zip(HEADER, good_row()))
    del cells["Classe"]
    result = validate_rows([RawRow(row_number=5, cells=cells)], schema, file="f", structure="S",
                           source_path="p", sha256="", today=TODAY)
    [error] = result.problems
    assert (error.column, error.row, error.code) == ("Classe", 5, "obligatoire")


def test_rejection_is_per_row(schema) -> None:
    result = _validate(schema, good_row(nom="A"), good_row(nom=""), good_row(nom="C"))
    assert [r.fields["nom"] for r in result.records] == ["A", "C"]
    assert [r.row_number for r in result.records] == [2, 4]
    assert result.rejected_rows == 1


@pytest.mark.parametrize(("ine", "warned"), [("123456789AB", False), ("1234567890A", False), ("2023A12345B", False),
                                             ("12345", True), ("ABCDEFGHIJK", True), ("123 456 789 ab", False)])
def test_ine_formats_warn_only(schema, ine: str, warned: bool) -> None:
    result = _validate(schema, good_row(ine=ine))
    assert len(result.records) == 1
    assert any(p.code == "ine-format" for p in result.problems) is warned


@pytest.mark.parametrize(("contact", "warned"), [("cpe@example.org", False), ("06 12 34 56 78", False),
                                                 ("05.46.00.00.00", False), ("+33 6 12 34 56 78", False),
                                                 ("voir secrétariat", True), ("", False)])
def test_contact_needs_an_email_or_a_phone(schema, contact: str, warned: bool) -> None:
    result = _validate(schema, good_row(contact_referent=contact))
    assert len(result.records) == 1
    assert any(p.code == "contact" and p.severity is Severity.WARNING for p in result.problems) is warned


def test_fiche_dated_in_the_future_warns(schema) -> None:
    result = _validate(schema, good_row(date_fiche=dt.date(2026, 1, 10)))
    assert len(result.records) == 1
    assert [p.code for p in result.problems] == ["date-future"]


def test_messages_name_file_row_column_value_and_what_to_do(schema) -> None:
    result = _validate(schema, good_row(classe="7e"))
    [error] = result.problems
    assert error.message.startswith("liste.xlsx, ligne 2, colonne « Classe » : « 7e » ne fait pas partie des valeurs prévues")
    assert "(valeur trouvée : « 7e »)" in error.message
    assert error.hint == "Choisissez parmi : 6e ; 5e ; 4e ; 3e ; SEGPA ; ULIS ; UPE2A ; Autre."


def test_record_carries_provenance(schema) -> None:
    [record] = _validate(schema, good_row()).records
    assert (record.structure, record.source_path, record.row_number, record.source_sha256) == ("S", "S/liste.xlsx", 2, "abc")
