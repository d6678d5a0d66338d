"""Layouts partners produce: titles, vertical fiches, hidden sheets, blank rows, merges, formulas, variants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from conftest import HEADER, good_row, write_ods, write_openpyxl, write_xlsxwriter

from resana_sync.errors import IntakeError
from resana_sync.intake import read_rows
from resana_sync.records import Severity


def test_header_found_below_title_rows_with_spreadsheet_row_numbers(tmp_path: Path, check) -> None:
    rows = [["Fiches de situation — Collège de la Corderie"], ["(document confidentiel)"], [], HEADER,
            good_row(nom="A"), [], ["", ""], good_row(nom="B")]
    path = write_openpyxl(tmp_path / "fiche.xlsx", rows)
    raw = read_rows(path, path.name)
    assert [(r.row_number, r.cells["Nom"]) for r in raw] == [(5, "A"), (8, "B")]
    assert raw[0].header_row == 4
    assert raw[0].positions["Nom"] == "B5"
    result = check(path)
    assert [r.row_number for r in result.records] == [5, 8]


def test_table_starting_in_column_c(tmp_path: Path) -> None:
    path = write_xlsxwriter(tmp_path / "fiche.xlsx", [["", "", *HEADER], ["", "", *good_row()]], start_row=2)
    [row] = read_rows(path, path.name)
    assert (row.row_number, row.cells["Nom"], row.positions["Nom"]) == (4, "DURAND", "D4")


def test_vertical_fiche_written_by_openpyxl(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row(nom="Petit", date_naissance="05/06/2012")))
    rows = [["FICHE DE SITUATION"], [], *([label, values[label]] for label in HEADER)]
    path = write_openpyxl(tmp_path / "fiche.xlsx", rows)
    result = check(path)
    [record] = result.records
    assert (record.fields["nom"], record.fields["date_naissance"]) == ("Petit", dt.date(2012, 6, 5))
    assert record.row_number == 3


def test_vertical_fiche_field_problem_names_the_row_of_its_label(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row(date_naissance="31/02/2012")))
    rows = [[label, values[label]] for label in HEADER]
    path = write_openpyxl(tmp_path / "fiche.xlsx", rows)
    result = check(path)
    [error] = [p for p in result.problems if p.severity is Severity.ERROR]
    assert (error.row, error.column, error.value) == (HEADER.index("Date de naissance") + 1, "Date de naissance", "31/02/2012")


def test_hidden_sheet_with_labels_is_skipped(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    hidden = workbook.active
    hidden.title = "Ancien"
    hidden.append(HEADER)
    hidden.append(good_row(nom="CACHÉ"))
    hidden.sheet_state = "hidden"
    visible = workbook.create_sheet("Fiches")
    visible.append(HEADER)
    visible.append(good_row(nom="VISIBLE"))
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["VISIBLE"]


def test_vertically_merged_cell_belongs_to_each_row(tmp_path: Path, check) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(good_row(nom="UN"))
    sheet.append(good_row(nom="DEUX", date_fiche=None))
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("O1:Q1")   # a merged header over the three long texts
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    result = check(path)
    assert [(r.fields["nom"], r.fields["date_fiche"]) for r in result.records] == [
        ("UN", dt.date(2025, 11, 4)), ("DEUX", dt.date(2025, 11, 4))]


def test_formulas_give_their_cached_values(tmp_path: Path, check) -> None:
    path = tmp_path / "fiche.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    row = good_row()
    for col, value in enumerate(row):
        if isinstance(value, dt.date):
            sheet.write_datetime(1, col, dt.datetime.combine(value, dt.time()), workbook.add_format({"num_format": "dd/mm/yyyy"}))
        else:
            sheet.write(1, col, value)
    sheet.write_formula(1, 1, '=UPPER("durand")', None, "DURAND")
    sheet.write_formula(1, 10, "=2+2", None, 4)
    workbook.close()
    [record] = check(path).records
    assert (record.fields["nom"], record.fields["absences"]) == ("DURAND", 4)


@pytest.mark.parametrize(
    "labels",
    [
        ["  DATE DE LA FICHE ", "nom", "PRENOM", "Date  de  naissance", "etablissement", "CLASSE",
         "Situation scolaire", "Motifs", "Famille informée ?", "Référent"],
        ["Date fiche", "NOM", "Prenom", "Date naissance", "Etablissement", "Classe", "Situation scolaire",
         "Motifs", "Famille informee", "Referent"],
        ["Date", "Nom de famille", "Prénom", "Né(e) le", "Établissement scolaire", "Niveau", "Scolarité",
         "Motif", "Information de la famille", "Nom du référent"],
    ],
)
def test_label_variants(tmp_path: Path, check, labels: list[str]) -> None:
    values = ["04/11/2025", "DURAND", "Zoé", "12/03/2012", "Corderie", "5ème", "scolarise", "Absentéisme", "oui", "Mme T"]
    path = write_openpyxl(tmp_path / "fiche.xlsx", [labels, values])
    result = check(path)
    [record] = result.records
    assert record.fields["classe"] == "5e"
    assert record.fields["situation_scolaire"] == "Scolarisé(e)"
    assert record.fields["etablissement"] == "Collège de la Corderie"
    assert not [p for p in result.problems if p.severity is not Severity.FLAG]


def test_duplicated_column_rejects_the_whole_file(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [[*HEADER, "NOM"], [*good_row(), "AUTRE"]])
    result = check(path)
    assert result.file_rejected and result.records == []
    [problem] = result.problems
    assert "« Nom » et « NOM »" in problem.message and "deux fois" in problem.message


def test_unknown_columns_are_not_imported_and_reported(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [[*HEADER, "Adresse des parents"], [*good_row(), "3 rue X", "", "note"]])
    result = check(path)
    [record] = result.records
    assert "3 rue X" not in record.fields.values()
    warnings = {(p.column, p.row) for p in result.problems if p.code == "colonne-inconnue"}
    assert warnings == {("Adresse des parents", 1), ("(colonne T sans intitulé)", 1)}


def test_sheet_without_a_form_is_rejected(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [["Liste de courses"], ["pain", "lait"]])
    with pytest.raises(IntakeError, match="Aucune fiche de situation n'a été reconnue"):
        read_rows(path, path.name)


def test_header_only_file_is_rejected_as_empty(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, [], []])
    result = check(path)
    assert result.file_rejected and result.problems[0].code == "aucune-ligne"


def test_title_naming_another_structure_warns(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [["Collège de l'Arsenal — fiches de novembre"], HEADER, good_row()])
    result = check(path, structure="Collège des Remparts")
    [warning] = [p for p in result.problems if p.code == "autre-structure"]
    assert "Collège de l'Arsenal" in warning.message and warning.severity is Severity.WARNING
    assert len(result.records) == 1
    assert not [p for p in check(path, structure="Collège de l'Arsenal").problems if p.code == "autre-structure"]


def test_title_naming_a_partner_given_by_sync_warns(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [["Fiche PJJ"], HEADER, good_row()])
    result = check(path, structure="AEMO", known_structures=["PJJ", "AEMO", "CMPA"])
    assert [p.code for p in result.problems if p.code == "autre-structure"] == ["autre-structure"]


def test_empty_first_sheet_and_form_on_the_second(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Vide"
    sheet = workbook.create_sheet("Fiches")
    sheet.append(HEADER)
    sheet.append(good_row())
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]


def test_duplicates_on_a_secondary_sheet_do_not_reject_the_form(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    form = workbook.active
    form.append(HEADER)
    form.append(good_row())
    notes = workbook.create_sheet("Brouillon")
    notes.append(["Nom", "Prénom", "Nom"])
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]


def test_vertical_fiche_with_a_label_twice_is_rejected(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row()))
    rows = [*([label, values[label]] for label in HEADER), ["NOM", "AUTRE"]]
    result = check(write_openpyxl(tmp_path / "fiche.xlsx", rows))
    assert result.file_rejected and "« Nom » et « NOM », colonne A" in result.problems[0].message


def test_repeated_header_row_is_skipped(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(nom="A"), HEADER, good_row(nom="B")])
    result = check(path)
    assert [(r.fields["nom"], r.row_number) for r in result.records] == [("A", 2), ("B", 4)]
    assert result.rejected_rows == 0


def test_unknown_field_in_vertical_fiche_is_reported_on_its_row(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row()))
    rows = [*([label, values[label]] for label in HEADER), ["Adresse", "3 rue X"]]
    result = check(write_openpyxl(tmp_path / "fiche.xlsx", rows))
    [warning] = [p for p in result.problems if p.code == "colonne-inconnue"]
    assert (warning.column, warning.row) == ("Adresse", len(HEADER) + 1)


def test_labels_with_required_stars_colons_and_line_breaks(tmp_path: Path, check) -> None:
    labels = ["Date de la fiche *", "Nom *", "Prénom*", "Date de\nnaissance *", "Établissement :", "Classe\u00a0:",
              "Situation scolaire actuelle", "Motif(s) *", "Famille informée ?", "Professionnel référent"]
    values = [dt.date(2025, 11, 4), "DURAND", "Zoé", "12/03/2012", "Corderie", "5e", "Scolarisé(e)", "Santé", "Oui", "M"]
    result = check(write_openpyxl(tmp_path / "fiche.xlsx", [labels, values]))
    assert len(result.records) == 1 and result.problems == []


def test_vertical_fiche_help_column_is_not_a_value(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row(sexe="")))
    rows = [[label, values[label], "", "(aide : voir le modèle)"] for label in HEADER]
    [record] = check(write_openpyxl(tmp_path / "fiche.xlsx", rows)).records
    assert "sexe" not in record.fields and record.fields["nom"] == "DURAND"


def test_vertical_fiche_with_label_merged_over_two_columns(tmp_path: Path, check) -> None:
    values = dict(zip(HEADER, good_row()))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for r, label in enumerate(HEADER, start=1):
        sheet.cell(row=r, column=1, value=label)
        sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
        sheet.cell(row=r, column=3, value=values[label])
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    [record] = check(path).records
    assert (record.fields["date_fiche"], record.fields["prenom"]) == (dt.date(2025, 11, 4), "Zoé")


def _hidden_row_outcome(result) -> tuple[list[str], list[int], int]:
    hidden = [p.row for p in result.problems if p.code == "ligne-masquee"]
    return [r.fields["nom"] for r in result.records], hidden, result.rejected_rows


def test_hidden_rows_openpyxl_are_reported_not_imported(tmp_path: Path, check) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row(nom="A"), good_row(nom="CACHÉ"), good_row(nom="C")])
    workbook = openpyxl.load_workbook(path)
    workbook.active.row_dimensions[3].hidden = True
    workbook.save(path)
    result = check(path)
    assert _hidden_row_outcome(result) == (["A", "C"], [3], 0)
    warning = next(p for p in result.problems if p.code == "ligne-masquee")
    assert warning.severity is Severity.WARNING and "CACHÉ" not in warning.message


def test_hidden_rows_xlsxwriter_on_a_named_second_sheet(tmp_path: Path, check) -> None:
    path = tmp_path / "fiche.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Notes").write(0, 0, "brouillon")
    sheet = workbook.add_worksheet("Fiches de novembre")
    for r, row in enumerate([HEADER, good_row(nom="A", date_fiche="04/11/2025", date_naissance="12/03/2012"),
                             good_row(nom="B", date_fiche="04/11/2025", date_naissance="12/03/2012")]):
        sheet.write_row(r, 0, row)
    sheet.set_row(2, None, None, {"hidden": True})
    workbook.close()
    assert _hidden_row_outcome(check(path)) == (["A"], [3], 0)


def test_hidden_rows_ods(tmp_path: Path, check) -> None:
    path = write_ods(tmp_path / "fiche.ods", [HEADER, good_row(nom="A"), good_row(nom="B")], hidden=[2])
    assert _hidden_row_outcome(check(path)) == (["B"], [2], 0)


def test_only_hidden_rows_means_nothing_imported(tmp_path: Path, check) -> None:
    path = write_ods(tmp_path / "fiche.ods", [HEADER, good_row(nom="A")], hidden=[2])
    result = check(path)
    assert result.records == [] and result.outcome().value == "rejeté"
    assert [p.code for p in result.problems] == ["ligne-masquee"]
