"""Reports on partner files, in French: an HTML page per partner for its ``Retours/`` folder,
and the same content as plain text for ``resana-sync validate``.

A partner must never wonder whether its form was taken into account: every file it
dropped (except ignored artefacts) appears with its outcome, and every problem with its
row, column label, the value found and what to do.

Rewriting only on change: ``partner_report`` stamps ``generated_at`` in the page, so its
bytes change at every run. The page also carries a fingerprint of everything else
(``<meta name="resana-sync-contenu">``); ``report_changed(old, new)`` compares those
fingerprints, so sync rewrites a report only when its content changed.
``partner_report_body`` gives the timestamp-free content itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Iterable

from .records import FileResult, Outcome, Problem, Severity

REPORT_NAME = "Compte rendu des dépôts.html"
_FINGERPRINT = re.compile(rb'<meta name="resana-sync-contenu" content="([0-9a-f]{64})">')
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.FLAG: 2}
_SEVERITY_TEXT = {
    Severity.ERROR: "Erreur (ligne refusée)",
    Severity.WARNING: "À vérifier",
    Severity.FLAG: "Signalé à la coordination",
}
_STYLE = """
body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}.erreur{background:#fde8e8}.avertissement{background:#fff6dd}
.signalement{background:#e8f0fd}.ok{color:#176317}.ko{color:#a31515}
"""


def outcome_text(result: FileResult, *, checking: bool = False) -> str:
    """The outcome of one file in one French sentence; ``checking``: for ``validate``, which
    imports nothing and says what a sync would do."""
    accepted, rejected = len(result.records), result.rejected_rows
    if checking and result.outcome is Outcome.IMPORTED:
        refused = f", {_lines(rejected)} serai{'en' if rejected > 1 else ''}t refusée{_s(rejected)}" if rejected else ""
        return f"Valide : {_lines(accepted)} serai{'en' if accepted > 1 else ''}t importée{_s(accepted)}{refused}."
    if result.outcome is Outcome.DEFERRED:
        return "En attente : le fichier était en cours de modification ; il sera lu au prochain passage."
    if not accepted and (result.outcome is Outcome.REJECTED or rejected):
        if rejected:
            return f"Refusé : aucune ligne importée ({_lines(rejected)} refusée{_s(rejected)})."
        if not result.problems or any(p.row is None and p.severity is Severity.ERROR for p in result.problems):
            return "Refusé : le fichier n'a pas pu être pris en compte (voir le détail)."
        return "Refusé : aucune ligne importée (voir le détail)."
    verb = {
        Outcome.IMPORTED: "Importé",
        Outcome.UPDATED: "Mis à jour",
        Outcome.UNCHANGED: "Déjà importé, sans changement",
    }.get(result.outcome, result.outcome.value.capitalize())
    detail = f"{_lines(accepted)} importée{_s(accepted)}"
    if rejected:
        detail += f", {_lines(rejected)} refusée{_s(rejected)}"
    return f"{verb} : {detail}."


def partner_report_body(structure: str, results: Iterable[FileResult]) -> str:
    """The HTML content of a partner's report, without any timestamp (deterministic)."""
    shown = _reported(results)
    parts = [f"<h1>Retours sur vos dépôts — {_e(structure)}</h1>"]
    if not shown:
        parts.append("<p>Aucun fichier déposé n'a été traité.</p>")
        return "\n".join(parts)
    parts.append(
        "<p>Ce compte rendu concerne uniquement les fichiers déposés dans le dossier de votre structure. "
        "Les lignes refusées ne sont pas partagées : corrigez-les dans votre fichier puis déposez-le à nouveau "
        "(le même fichier corrigé met à jour la fiche, sans doublon).</p>"
    )
    parts.append("<table><tr><th>Fichier</th><th>Résultat</th></tr>")
    for result in shown:
        css = "ko" if result.outcome is Outcome.REJECTED or result.rejected_rows else "ok"
        parts.append(f'<tr><td>{_e(result.name)}</td><td class="{css}">{_e(outcome_text(result))}</td></tr>')
    parts.append("</table>")
    for result in shown:
        parts.append(_file_section(result))
    return "\n".join(parts)


def partner_report(structure: str, results: list[FileResult], generated_at: dt.datetime) -> tuple[str, bytes]:
    """File name and bytes of the partner's HTML report (self-contained, no external resource)."""
    body = partner_report_body(structure, results)
    fingerprint = hashlib.sha256(body.encode("utf-8")).hexdigest()
    page = (
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta name="resana-sync-contenu" content="{fingerprint}">\n'
        f"<title>Retours sur vos dépôts — {_e(structure)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n<p><small>Compte rendu établi le {generated_at:%d/%m/%Y à %H:%M} par resana-sync.</small></p>\n"
        "</body>\n</html>\n"
    )
    return REPORT_NAME, page.encode("utf-8")


def report_changed(old: bytes | None, new: bytes) -> bool:
    """True when ``new`` differs from ``old`` in anything but its timestamp."""
    if old is None:
        return True
    old_mark, new_mark = _FINGERPRINT.search(old), _FINGERPRINT.search(new)
    if old_mark is None or new_mark is None:
        return old != new
    return old_mark.group(1) != new_mark.group(1)


def text_report(results: list[FileResult], *, checking: bool = False) -> str:
    """The same content as plain French text, for a terminal."""
    lines: list[str] = []
    for result in _reported(results):
        lines.append(f"{result.name} — {outcome_text(result, checking=checking)}")
        for problem in _sorted_problems(result):
            where = ", ".join(filter(None, [_row_text(problem), _column_text(problem)])) or "fichier"
            lines.append(f"  [{_SEVERITY_TEXT[problem.severity]}] {where} : {_reason(problem)}")
            if problem.value:
                lines.append(f"      valeur trouvée : « {problem.value} »")
            if problem.hint:
                lines.append(f"      à faire : {problem.hint}")
        if not result.problems and result.message:
            lines.append(f"  {result.message}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else (
        "Aucun fichier à examiner (les fichiers de verrou et fichiers système sont ignorés).\n")


def _file_section(result: FileResult) -> str:
    parts = [f"<h2>{_e(result.name)}</h2>", f"<p>{_e(outcome_text(result))}</p>"]
    problems = _sorted_problems(result)
    if not problems:
        parts.append(f"<p>{_e(result.message)}</p>" if result.message else "<p>Aucune remarque.</p>")
        return "\n".join(parts)
    parts.append(
        "<table><tr><th>Ligne</th><th>Colonne</th><th>Valeur trouvée</th><th>Type</th>"
        "<th>Problème</th><th>À faire</th></tr>"
    )
    for problem in problems:
        parts.append(
            f'<tr class="{problem.severity.value}"><td>{_e(_row_cell(problem))}</td><td>{_e(problem.column or "")}</td>'
            f"<td>{_e(problem.value or '')}</td><td>{_e(_SEVERITY_TEXT[problem.severity])}</td>"
            f"<td>{_e(_reason(problem))}</td><td>{_e(problem.hint or '')}</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _reported(results: Iterable[FileResult]) -> list[FileResult]:
    return sorted((r for r in results if r.outcome is not Outcome.IGNORED), key=lambda r: (r.name, r.path))


def _sorted_problems(result: FileResult) -> list[Problem]:
    return sorted(
        result.problems,
        key=lambda p: (p.row or 0, _SEVERITY_ORDER[p.severity], p.column or "", p.reason or p.message),
    )


def _reason(problem: Problem) -> str:
    return problem.reason or problem.message


def _row_cell(problem: Problem) -> str:
    return str(problem.row) if problem.row else "—"


def _row_text(problem: Problem) -> str:
    return f"ligne {problem.row}" if problem.row else ""


def _column_text(problem: Problem) -> str:
    return f"colonne « {problem.column} »" if problem.column else ""


def _lines(count: int) -> str:
    return f"{count} ligne{_s(count)}"


def _s(count: int) -> str:
    return "s" if count > 1 else ""


def _e(text: str) -> str:
    return html.escape(text, quote=True)
