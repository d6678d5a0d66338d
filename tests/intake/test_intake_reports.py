"""Partner reports (HTML for Retours/) and the text report of `resana-sync validate`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from resana_sync.intake import check_file
from resana_sync.records import FileResult, Outcome, Problem, Record, Severity
from resana_sync.reports import outcome_text, partner_report, partner_report_body, report_changed, text_report

NOW = dt.datetime(2025, 11, 20, 21, 30)


def _arsenal_results(samples_space: Path, schema) -> list[FileResult]:
    results = []
    for path in sorted((samples_space / "Dépôts" / "Collège de l'Arsenal").iterdir()):
        validation = check_file(path, schema, display_name=path.name, structure="Collège de l'Arsenal",
                                source_path=path.name, sha256="1" * 64, today=dt.date(2025, 11, 20))
        results.append(FileResult(
            structure="Collège de l'Arsenal", path=f"Dépôts/Collège de l'Arsenal/{path.name}",
            outcome=Outcome.REJECTED if validation.file_rejected else Outcome.IMPORTED,
            records=validation.records, problems=validation.problems, rejected_rows=validation.rejected_rows,
        ))
    return results


def test_arsenal_report_names_both_rejected_rows(samples_space: Path, schema) -> None:
    name, content = partner_report("Collège de l'Arsenal", _arsenal_results(samples_space, schema), NOW)
    page = content.decode("utf-8")
    assert name == "Compte rendu des dépôts.html"
    assert "fiches arsenal.xlsx" in page
    assert "Importé : 1 ligne importée, 2 lignes refusées." in page
    assert "<td>3</td><td>Nom</td><td></td>" in page
    assert "<td>4</td><td>Date de naissance</td><td>31/02/2011</td>" in page
    assert "cette date n&#x27;existe pas" in page
    assert "Compte rendu établi le 20/11/2025 à 21:30" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]   # self-contained


def test_report_escapes_partner_text() -> None:
    problem = Problem(Severity.ERROR, "m", "a.xlsx", row=2, column="<b>Nom</b>", value='<script>alert("x")</script>',
                      reason="r", hint="h")
    result = FileResult("S", "Dépôts/S/<img src=x>.xlsx", Outcome.IMPORTED, problems=[problem], rejected_rows=1)
    page = partner_report("S & Co", [result], NOW)[1].decode()
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "S &amp; Co" in page


def test_ignored_files_are_not_listed() -> None:
    results = [FileResult("S", "Dépôts/S/~$a.xlsx", Outcome.IGNORED), FileResult("S", "Dépôts/S/b.xlsx", Outcome.UNCHANGED)]
    body = partner_report_body("S", results)
    assert "~$a.xlsx" not in body and "b.xlsx" in body
    assert "Déjà importé, sans changement : 0 ligne importée." in body


def test_report_is_deterministic_and_changes_only_with_content() -> None:
    record = Record("S", "p", 2, {"nom": "X"})
    one = [FileResult("S", "Dépôts/S/b.xlsx", Outcome.IMPORTED, records=[record]),
           FileResult("S", "Dépôts/S/a.csv", Outcome.REJECTED, problems=[Problem(Severity.ERROR, "illisible", "a.csv")])]
    first = partner_report("S", one, NOW)[1]
    assert partner_report("S", list(reversed(one)), NOW)[1] == first
    later = partner_report("S", one, NOW + dt.timedelta(days=1))[1]
    assert later != first and not report_changed(first, later)
    other = partner_report("S", one[:1], NOW)[1]
    assert report_changed(first, other)
    assert report_changed(None, first)
    assert partner_report_body("S", one) == partner_report_body("S", list(reversed(one)))


def test_outcome_sentences() -> None:
    record = Record("S", "p", 2, {})
    assert outcome_text(FileResult("S", "x", Outcome.UPDATED, records=[record, record])) == "Mis à jour : 2 lignes importées."
    assert outcome_text(FileResult("S", "x", Outcome.REJECTED)) == \
        "Refusé : le fichier n'a pas pu être pris en compte (voir le détail)."
    hidden = Problem(Severity.WARNING, "m", "x", row=3, code="ligne-masquee")
    assert outcome_text(FileResult("S", "x", Outcome.REJECTED, problems=[hidden])) == \
        "Refusé : aucune ligne importée (voir le détail)."
    assert outcome_text(FileResult("S", "x", Outcome.IMPORTED, rejected_rows=3)) == \
        "Refusé : aucune ligne importée (3 lignes refusées)."
    assert outcome_text(FileResult("S", "x", Outcome.DEFERRED)).startswith("En attente")


def test_text_report_has_the_same_content(samples_space: Path, schema) -> None:
    text = text_report(_arsenal_results(samples_space, schema))
    assert text.splitlines()[0] == "fiches arsenal.xlsx — Importé : 1 ligne importée, 2 lignes refusées."
    assert "  [Erreur (ligne refusée)] ligne 4, colonne « Date de naissance » : cette date n'existe pas" in text
    assert "      valeur trouvée : « 31/02/2011 »" in text
    assert "      à faire : Corrigez la date." in text
    assert text_report([]) == "Aucun fichier à examiner (les fichiers de verrou et fichiers système sont ignorés).\n"
