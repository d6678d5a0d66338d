"""Find the form in a sheet and cut it into ``RawRow``s.

Two layouts are recognised, by counting cells that match a known label (the schema's
labels and variants, compared with ``text.fold``):

* a **table**: one header row (possibly below a title) and one form row per line below;
* a **vertical fiche**: labels down one column (usually A), each value to its right.

The layout with the most matching labels wins; at least ``MIN_LABELS`` must match or
the sheet holds no form. Blank rows, and rows where every known column is empty, are
skipped, and so is a copy of the header further down. A filled table row the partner
hid is kept, marked ``hidden``, so validation can tell the partner it was not imported
(hidden rows of a vertical fiche are read: hiding a label row there is page layout).
Labels keep the partner's spelling: validation reports them as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import IntakeError
from ..records import RawRow
from ..schema import FieldSpec
from ..text import clean_text, fold
from .readers import Sheet

MIN_LABELS = 3
SCAN_ROWS = 60        # the header is near the top; titles and notes rarely take more
SCAN_COLUMNS = 6      # a vertical fiche has its labels in one of the first columns
FICHE_VALUE_REACH = 2


@dataclass(frozen=True)
class Found:
    score: int
    rows: list[RawRow]
    # why this layout cannot be used; raised only if it is the best one, so a stray
    # second sheet cannot reject a file whose form is fine
    refusal: str | None = None


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not clean_text(value))


def cell_text(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def find_form(sheets: list[Sheet], labels: Mapping[str, FieldSpec]) -> list[RawRow]:
    """The rows of the best-matching layout over all visible sheets (first sheet wins ties)."""
    best: Found | None = None
    for sheet in sheets:
        for found in (_as_table(sheet, labels), _as_fiche(sheet, labels)):
            if found and (best is None or found.score > best.score):
                best = found
    if best is None:
        raise IntakeError(
            "Aucune fiche de situation n'a été reconnue dans ce fichier : ni ligne d'en-tête "
            f"ni colonne d'intitulés ne contient au moins {MIN_LABELS} intitulés de la fiche "
            "(« Nom », « Prénom », « Date de naissance »…). Utilisez le modèle « Fiche de situation.xlsx »."
        )
    if best.refusal:
        raise IntakeError(best.refusal)
    return best.rows


def count_labels(values: list[Any], labels: Mapping[str, FieldSpec]) -> int:
    """How many of these cells are form labels."""
    return sum(1 for value in values if (text := cell_text(value)) and fold(text) in labels)


def _as_table(sheet: Sheet, labels: Mapping[str, FieldSpec]) -> Found | None:
    scores = [
        (count_labels(row, labels), index)
        for index, row in enumerate(sheet.rows[:SCAN_ROWS])
    ]
    score, header_index = max(scores, key=lambda item: (item[0], -item[1]), default=(0, 0))
    if score < MIN_LABELS:
        return None
    header = {col: cell_text(v) for col, v in enumerate(sheet.rows[header_index]) if cell_text(v)}
    refusal = _duplicate_refusal(list(header.values()), labels, f"ligne {header_index + 1}")
    if refusal:
        return Found(score, [], refusal)
    titles = tuple(t for row in sheet.rows[:header_index] for t in map(cell_text, row) if t)
    known = [col for col, label in header.items() if fold(label) in labels]
    rows = []
    for index in range(header_index + 1, len(sheet.rows)):
        row = _table_row(sheet, index, header, known, labels, header_index + 1, titles)
        if row:
            rows.append(row)
    return Found(score, rows)


def _table_row(
    sheet: Sheet,
    index: int,
    header: dict[int, str],
    known: list[int],
    labels: Mapping[str, FieldSpec],
    header_row: int,
    titles: tuple[str, ...],
) -> RawRow | None:
    values = sheet.rows[index]
    known_values = [values[col] for col in known if col < len(values)]
    if all(is_blank(v) for v in known_values):
        return None
    if count_labels(known_values, labels) >= MIN_LABELS:
        return None   # the header repeated further down (printing, pasted blocks)
    number = index + 1
    cells: dict[str, Any] = {}
    positions: dict[str, str] = {}
    for col, value in enumerate(values):
        label = header.get(col)
        if label is None and is_blank(value):
            continue
        label = label or f"(colonne {column_letter(col)} sans intitulé)"
        cells[label] = value
        positions[label] = f"{column_letter(col)}{number}"
    return RawRow(
        row_number=number,
        cells=cells,
        positions=positions,
        label_rows={label: number for label in cells},
        header_row=header_row,
        titles=titles,
        serial_epoch=sheet.serial_epoch,
        hidden=number in sheet.hidden_rows,
    )


def _as_fiche(sheet: Sheet, labels: Mapping[str, FieldSpec]) -> Found | None:
    best_score, label_col = 0, 0
    for col in range(SCAN_COLUMNS):
        score = count_labels([row[col] if col < len(row) else "" for row in sheet.rows], labels)
        if score > best_score:
            best_score, label_col = score, col
    if best_score < MIN_LABELS:
        return None
    entries: list[tuple[str, int, int]] = []   # (label, row index, value column)
    titles: list[str] = []
    for index, row in enumerate(sheet.rows):
        label = cell_text(row[label_col]) if label_col < len(row) else ""
        value_col = _value_column(row, label_col)
        if label and (fold(label) in labels or value_col is not None):
            entries.append((label, index, label_col + 1 if value_col is None else value_col))
        else:
            titles.extend(t for t in map(cell_text, row) if t)
    refusal = _duplicate_refusal([label for label, _, _ in entries], labels, f"colonne {column_letter(label_col)}")
    if refusal:
        return Found(best_score, [], refusal)
    cells = {label: _cell(sheet.rows[index], col) for label, index, col in entries}
    if not _has_known_value(cells, labels):
        return Found(best_score, [])
    label_rows = {label: index + 1 for label, index, _ in entries}
    row = RawRow(
        row_number=min(label_rows.values()),
        cells=cells,
        positions={label: f"{column_letter(col)}{index + 1}" for label, index, col in entries},
        label_rows=label_rows,
        header_row=None,
        titles=tuple(titles),
        serial_epoch=sheet.serial_epoch,
    )
    return Found(best_score, [row])


def _cell(row: list[Any], col: int) -> Any:
    return row[col] if col < len(row) else ""


def _value_column(row: list[Any], label_col: int) -> int | None:
    """The filled cell right of the label: next column, or the one after when the label is
    merged over two columns. Further right is help text, not the value."""
    for col in range(label_col + 1, min(label_col + 1 + FICHE_VALUE_REACH, len(row))):
        if not is_blank(row[col]):
            return col
    return None


def _has_known_value(cells: Mapping[str, Any], labels: Mapping[str, FieldSpec]) -> bool:
    return any(fold(label) in labels and not is_blank(value) for label, value in cells.items())


def _duplicate_refusal(found: list[str], labels: Mapping[str, FieldSpec], where: str) -> str | None:
    """Two columns for one field would make the file ambiguous: the whole file is refused."""
    seen: dict[str, str] = {}
    for label in found:
        spec = labels.get(fold(label))
        key = spec.id if spec else fold(label)
        if key in seen:
            first = seen[key]
            same = f"« {label} »" if first == label else f"« {first} » et « {label} »"
            return (
                f"La même colonne apparaît deux fois ({same}, {where}) : on ne peut pas savoir "
                "laquelle est la bonne. Supprimez ou renommez l'une des deux puis déposez à nouveau le fichier."
            )
        seen[key] = label
    return None

