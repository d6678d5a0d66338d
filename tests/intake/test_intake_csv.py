"""CSV as partners export it: encodings, delimiters, quoted cells, row numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import HEADER, good_row, write_french_excel_csv

from resana_sync.errors import IntakeError
from resana_sync.intake import read_rows

SHORT_HEADER = "Date fiche;NOM;Prenom;Date naissance;Etablissement;Classe;Situation scolaire;Motifs;Famille informee;Referent"
SHORT_ROW = "04/11/2025;DURAND;Zoé;12/03/2012;Corderie;5e;scolarise;Absentéisme;Oui;Mme Test"


@pytest.mark.parametrize(("encoding", "delimiter", "newline"), [
    ("cp1252", ";", "\r\n"), ("utf-8", ";", "\n"), ("utf-8-sig", ";", "\r\n"),
    ("utf-8", ",", "\n"), ("utf-8-sig", ",", "\r\n"), ("cp1252", "\t", "\r\n"),
])
def test_encodings_and_delimiters(tmp_path: Path, check, encoding: str, delimiter: str, newline: str) -> None:
    text = newline.join([SHORT_HEADER, SHORT_ROW]).replace(";", delimiter) + newline
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    result = check(path)
    [record] = result.records
    assert (record.fields["prenom"], record.fields["date_naissance"]) == ("Zoé", dt.date(2012, 3, 12))
    assert record.row_number == 2


def test_quoted_cells_with_separators_and_line_breaks(tmp_path: Path, check) -> None:
    rows = [HEADER, good_row(nom="A", elements="Ligne 1\nLigne 2; suite", motifs="Absentéisme\nSanté"), good_row(nom="B")]
    path = write_french_excel_csv(tmp_path / "export.csv", rows)
    result = check(path)
    assert [r.fields["nom"] for r in result.records] == ["A", "B"]
    assert result.records[0].fields["elements"] == "Ligne 1\nLigne 2; suite"
    assert result.records[0].fields["motifs"] == ("Absentéisme", "Santé")
    # Record numbers, as a spreadsheet shows the file: B is on row 3 even though it starts on line 5.
    assert [r.row_number for r in result.records] == [2, 3]


def test_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"Fiches du mois\r\n\r\n{SHORT_HEADER}\r\n;;;;;;;;;\r\n{SHORT_ROW}\r\n".encode("cp1252"))
    [row] = read_rows(path, path.name)
    assert (row.row_number, row.header_row, row.titles) == (5, 3, ("Fiches du mois",))


def test_csv_values_are_text_so_zeros_stay(tmp_path: Path, check) -> None:
    path = write_french_excel_csv(tmp_path / "e.csv", [HEADER, good_row(ine="0123456789K", absences="03")])
    [record] = check(path).records
    assert (record.fields["ine"], record.fields["absences"]) == ("0123456789K", 3)


def test_undecodable_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"Nom;Pr\x81nom;Date de naissance\r\n")   # 0x81 is undefined in cp1252 and invalid UTF-8
    with pytest.raises(IntakeError, match="encodage|format"):
        read_rows(path, path.name)


def test_csv_with_too_many_rows_or_columns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resana_sync.intake.readers.MAX_SHEET_ROWS", 20)
    path = tmp_path / "e.csv"
    path.write_bytes((SHORT_HEADER + "\r\n" + (SHORT_ROW + "\r\n") * 30).encode("cp1252"))
    with pytest.raises(IntakeError, match=r"bien trop grand \(21 lignes"):
        read_rows(path, path.name)
    wide = tmp_path / "w.csv"
    wide.write_bytes((SHORT_HEADER + ";" * 300 + "\r\n").encode())
    with pytest.raises(IntakeError, match=r"310 colonnes"):
        read_rows(wide, wide.name)


def test_title_with_commas_does_not_fool_the_delimiter(tmp_path: Path, check) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"Fiches de novembre, collège, liste\r\n{SHORT_HEADER}\r\n{SHORT_ROW}\r\n".encode("cp1252"))
    [record] = check(path).records
    assert (record.row_number, record.fields["nom"]) == (3, "DURAND")


def test_commas_in_free_text_do_not_fool_the_delimiter(tmp_path: Path, check) -> None:
    text = "absences, retards, refus, conflits, fatigue, isolement, " * 3
    rows = [HEADER] + [good_row(nom=f"N{i}", elements=text, actions_engagees=text) for i in range(5)]
    path = write_french_excel_csv(tmp_path / "export.csv", rows)
    result = check(path)
    assert [r.fields["nom"] for r in result.records] == [f"N{i}" for i in range(5)]
    assert result.records[0].fields["elements"] == text.strip()


def test_excel_unicode_text_export_utf16_tabs(tmp_path: Path, check) -> None:
    path = tmp_path / "export.txt"
    text = "\r\n".join([SHORT_HEADER, SHORT_ROW]).replace(";", "\t") + "\r\n"
    path.write_bytes(text.encode("utf-16"))   # BOM + UTF-16LE, as Excel writes it
    [record] = check(path).records
    assert (record.fields["prenom"], record.row_number) == ("Zoé", 2)


def test_truncated_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes("Nom\tPrénom".encode("utf-16")[:-1])
    with pytest.raises(IntakeError, match="encodage inconnu ou fichier tronqué"):
        read_rows(path, path.name)
