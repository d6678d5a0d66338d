"""The shared workbook on disk: read a snapshot, apply a plan, journal files, save.

The coordinator edits this workbook by hand, so everything here works in place with
openpyxl: columns are found by their header text, rows by their key (situation id,
contribution key), new rows go after the last used row, and nothing else is touched.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import WorkbookError
from ..records import FileResult, Outcome
from ..schema import FormSchema
from ..text import fold
from . import cells, features
from .layout import CONTRIBUTIONS, JOURNAL, METADATA, SUIVI, Column, Layout, layout_of
from .model import ContributionRow, Metadata, Plan, SuiviRow, WorkbookSnapshot

log = logging.getLogger(__name__)

DATE_FORMAT = "DD/MM/YYYY"
DATETIME_FORMAT = "DD/MM/YYYY HH:MM"
_FORMATS = {cells.DATE: DATE_FORMAT, cells.DATETIME: DATETIME_FORMAT}
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_VALIDATED_ROWS = 5000   # list validations of a new workbook cover this many rows
_HEADER_SEARCH = 10      # title rows the coordinator may insert above the headers
# Excel stores a password-protected xlsx (and any .xls) in an OLE compound file.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SharedWorkbook:
    """The shared tracking workbook, loaded whole so that saving keeps the hand work."""

    def __init__(self, book: Workbook, schema: FormSchema, original: bytes | None) -> None:
        self._book = book
        self._schema = schema
        self._layout = layout_of(schema)
        self._original = original
        self._sheets = {name: _Sheet(self._sheet(name), self._layout.sheet_columns(name))
                        for name in (SUIVI, CONTRIBUTIONS, JOURNAL)}

    @classmethod
    def open(cls, data: bytes | None, schema: FormSchema) -> SharedWorkbook:
        """Load the workbook (``None``: create a new one). Missing sheets and columns are added."""
        if data is None:
            return cls(_new_book(layout_of(schema)), schema, None)
        try:
            with warnings.catch_warnings():
                # openpyxl warns about each feature it will drop; feature_losses() reports them.
                warnings.simplefilter("ignore", UserWarning)
                book = load_workbook(io.BytesIO(data), rich_text=True, keep_links=True)
        except Exception as exc:  # openpyxl raises many unrelated types on a damaged file
            raise WorkbookError(_unreadable_message(data)) from exc
        return cls(book, schema, data)

    # --- reading ------------------------------------------------------------------------

    def snapshot(self) -> WorkbookSnapshot:
        return WorkbookSnapshot(
            suivi=tuple(self._suivi_rows()),
            contributions=tuple(self._contribution_rows()),
            metadata=self._metadata(),
            journal=frozenset(self._journal_keys()),
        )

    def _suivi_rows(self) -> Iterable[SuiviRow]:
        sheet = self._sheets[SUIVI]
        for _, values in sheet.rows():
            sid = values.get("situation_id")
            if sid is not None:
                yield SuiviRow(sid=str(sid).strip(), cells=values)

    def _contribution_rows(self) -> Iterable[ContributionRow]:
        fields = {f.id: f for f in self._schema.fields}
        for _, values in self._sheets[CONTRIBUTIONS].rows():
            if not values.get("key"):
                continue
            yield ContributionRow(
                key=str(values["key"]),
                situation_id=str(values.get("situation_id") or ""),
                structure=str(values.get("structure") or ""),
                source_path=str(values.get("source_path") or ""),
                row_number=values.get("row_number") if isinstance(values.get("row_number"), int) else 0,
                source_sha256=str(values.get("source_sha256") or ""),
                fields={fid: cells.field_value(values.get(fid), spec.type) for fid, spec in fields.items()},
                flags=cells.field_value(values.get("flags"), "array"),
                fingerprint=str(values.get("fingerprint") or ""),
                imported_at=values.get("imported_at") if isinstance(values.get("imported_at"), dt.datetime) else None,
            )

    def _journal_keys(self) -> Iterable[tuple[str, str, str]]:
        for _, values in self._sheets[JOURNAL].rows():
            yield str(values.get("path") or ""), str(values.get("sha256") or ""), str(values.get("outcome") or "")

    def _metadata(self) -> Metadata:
        """The hidden sheet's content; unreadable, it is ignored (the local state takes over)."""
        if METADATA not in self._book.sheetnames:
            return Metadata()
        pushed: dict[str, dict[str, Any]] = {}
        merged: dict[str, str] = {}
        sequence: dict[int, int] = {}
        try:
            for kind, key, value in self._book[METADATA].iter_rows(min_row=2, max_col=3, values_only=True):
                if kind == "pushed" and key and value:
                    pushed[str(key)] = cells.decode_values(value)
                elif kind == "merged" and key and value:
                    merged[str(key)] = str(value)
                elif kind == "sequence" and key and value:
                    sequence[int(key)] = int(value)
        except (ValueError, TypeError, AttributeError):
            log.warning("hidden metadata sheet unreadable: ignored")
            return Metadata()
        return Metadata(pushed=pushed, merged_into=merged, last_sequence=sequence)

    # --- writing ------------------------------------------------------------------------

    def apply(self, plan: Plan) -> None:
        """Write the plan. Coordinator cells are written only on the rows created here."""
        contributions = self._sheets[CONTRIBUTIONS]
        suivi = self._sheets[SUIVI]
        if not _targets_present(plan, contributions.row_index("key"), suivi.row_index("situation_id")):
            # Checked before any write: a half-applied plan would be worse than none.
            raise WorkbookError("Le tableau de suivi a changé depuis la préparation de la fusion : relancez.")
        rows = contributions.row_index("key")
        for change in plan.contribution_updates:
            contributions.write(rows[change.key], change.cells)
        free = contributions.free_rows()
        for new in plan.new_contributions:
            contributions.write(next(free), new.cells)
        free = suivi.free_rows()
        for situation in plan.new_situations:
            suivi.write(next(free), situation.cells)
        sids = suivi.row_index("situation_id")
        for update in plan.cell_updates:
            suivi.write(sids[update.sid], {update.column: update.value})
        if plan.metadata_changed:
            self._write_metadata(plan.metadata)
        for sheet in (suivi, contributions):
            sheet.extend_filters()
        log.info("applied: %d new situation(s), %d derived cell(s), %d new / %d updated contribution(s)",
                 len(plan.new_situations), len(plan.cell_updates), len(plan.new_contributions),
                 len(plan.contribution_updates))

    def add_journal(self, results: list[FileResult], now: dt.datetime) -> int:
        """One Journal row per file seen with a new (path, content hash, outcome); unchanged files
        add nothing. The outcome is in the key so that a file rejected once (a reader timeout)
        and accepted later with the same bytes is journaled as imported.

        Returns the number of rows added (0: the Journal is as it was)."""
        journal = self._sheets[JOURNAL]
        seen = set(self._journal_keys())
        when = cells.wall_clock(now)
        free = journal.free_rows()
        added = 0
        for result in results:
            key = (result.path, result.sha256, result.outcome.value)
            if result.outcome is Outcome.UNCHANGED or key in seen:
                continue
            seen.add(key)
            journal.write(next(free), {
                "when": when, "structure": result.structure, "file": result.name, "path": result.path,
                "sha256": result.sha256, "outcome": result.outcome.value,
                "accepted": len(result.records), "rejected": result.rejected_rows,
                "message": result.message,
            })
            added += 1
        if added:
            journal.extend_filters()
        log.info("journal: %d row(s) added", added)
        return added

    def feature_losses(self, saved: bytes | None = None) -> list[str]:
        """French descriptions of what saving this workbook with openpyxl would drop.
        ``saved``: the bytes ``to_bytes`` already gave, so the workbook is not saved twice."""
        if not self._original:
            return []
        return features.losses(self._original, saved if saved is not None else self.to_bytes())

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        try:
            self._book.save(buffer)
        except Exception as exc:
            raise WorkbookError("Le tableau de suivi partagé n'a pas pu être enregistré.") from exc
        return buffer.getvalue()

    # --- helpers ------------------------------------------------------------------------

    def _sheet(self, name: str) -> Worksheet:
        if name not in self._book.sheetnames:
            log.info("sheet %s missing: added", name)
            return _add_sheet(self._book, name, self._layout.sheet_columns(name))
        return self._book[name]

    def _write_metadata(self, metadata: Metadata) -> None:
        if METADATA in self._book.sheetnames:
            del self._book[METADATA]
        sheet = _metadata_sheet(self._book)
        rows = [("pushed", sid, cells.encode_values(dict(values))) for sid, values in sorted(metadata.pushed.items())]
        rows += [("merged", sid, kept) for sid, kept in sorted(metadata.merged_into.items())]
        rows += [("sequence", year, seq) for year, seq in sorted(metadata.last_sequence.items())]
        for number, values in enumerate(rows, start=2):
            for column, value in enumerate(values, start=1):
                _write_cell(sheet.cell(row=number, column=column), value, cells.TEXT)


class _Sheet:
    """One sheet whose columns are found by header text and whose rows are found by key."""

    def __init__(self, ws: Worksheet, columns: tuple[Column, ...]) -> None:
        self.ws = ws
        self.columns = {c.id: c for c in columns}
        self.added: set[str] = set()
        self.header = self._header_row(columns)
        self.index = self._header_index(columns)

    def _header_row(self, columns: tuple[Column, ...]) -> int:
        """Row 1, unless the coordinator inserted title rows above the headers."""
        titles = {fold(c.title) for c in columns}
        for number, values in enumerate(self.ws.iter_rows(max_row=_HEADER_SEARCH, values_only=True), start=1):
            if len(titles & {fold(str(v)) for v in values if v is not None}) >= 2:
                return number
        return 1

    def _header_index(self, columns: tuple[Column, ...]) -> dict[str, int]:
        """Column id -> column number; a missing header is added after the last one."""
        found: dict[str, int] = {}
        for cell in self.ws[self.header]:
            if cell.value is not None:
                found.setdefault(fold(str(cell.value)), cell.column)   # a duplicated header: the first
        index = {}
        for col in columns:
            number = found.get(fold(col.title))
            if number is None:
                number = max([c.column for c in self.ws[self.header] if c.value is not None], default=0) + 1
                _write_header(self.ws, number, col, self.header)
                self.added.add(col.id)
                log.info("column added to %s", self.ws.title)
            index[col.id] = number
        return index

    def rows(self) -> Iterable[tuple[int, dict[str, Any]]]:
        # A column just added holds no hand value yet: its cells are left out, not read as empty.
        wanted = {cid: number - 1 for cid, number in self.index.items() if cid not in self.added}
        first = self.header + 1
        for number, values in enumerate(self.ws.iter_rows(min_row=first, values_only=True), start=first):
            if not any(v is not None for v in values):
                continue
            yield number, {cid: cells.from_cell(_text(values[i]) if i < len(values) else None,
                                                self.columns[cid].kind)
                           for cid, i in wanted.items()}

    def row_index(self, column: str) -> dict[str, int]:
        """Key -> row number, first occurrence wins (a copied row must not steal updates)."""
        index: dict[str, int] = {}
        for number, values in self.rows():
            key = values.get(column)
            if key is not None:
                index.setdefault(str(key).strip(), number)
        return index

    def last_row(self) -> int:
        """The last row holding a value (formatting alone does not count); the header row if none."""
        last, first = self.header, self.header + 1
        for number, values in enumerate(self.ws.iter_rows(min_row=first, values_only=True), start=first):
            if any(v is not None for v in values):
                last = number
        return last

    def free_rows(self) -> Iterator[int]:
        """Row numbers for new rows: after the last used row, one after the other."""
        return itertools.count(self.last_row() + 1)

    def write(self, row: int, values: Mapping[str, Any]) -> None:
        """Write values through ``cells.to_cell``: whatever the caller, the cell gets inert data."""
        for cid, value in values.items():
            kind = self.columns[cid].kind
            cell = self.ws.cell(row=row, column=self.index[cid])
            if isinstance(cell, MergedCell):
                # The coordinator merged it into a neighbour: the layout is theirs, the value stays out.
                log.warning("%s: a cell merged by hand was left as it is (row %d)", self.ws.title, row)
                continue
            _write_cell(cell, cells.to_cell(value, kind), kind)

    def extend_filters(self) -> None:
        """Keep the autofilter and tables that start at the header row covering the rows added."""
        last = self.last_row()
        ref = self.ws.auto_filter.ref
        if ref and _first_row(ref) == self.header:
            self.ws.auto_filter.ref = _extended(ref, last)
        for table in self.ws.tables.values():
            if _first_row(table.ref) == self.header:
                table.ref = _extended(table.ref, last)
                if table.autoFilter is not None:
                    table.autoFilter.ref = table.ref


def _targets_present(plan: Plan, keys: Mapping[str, int], sids: Mapping[str, int]) -> bool:
    """Every row the plan updates is in the workbook (the plan was made from this workbook)."""
    new_sids = {s.sid for s in plan.new_situations}
    return (all(c.key in keys for c in plan.contribution_updates)
            and all(u.sid in sids or u.sid in new_sids for u in plan.cell_updates))


def _unreadable_message(data: bytes) -> str:
    if data.startswith(_OLE_MAGIC):
        return ("Le tableau de suivi partagé est protégé par un mot de passe ou enregistré au format .xls : "
                "enregistrez-le au format .xlsx sans mot de passe (protégez plutôt les feuilles), puis relancez.")
    return ("Le tableau de suivi partagé ne peut pas être lu (fichier abîmé ou pas au format xlsx). "
            "Restaurez la dernière copie du dossier Archives/ puis relancez.")


def _first_row(ref: str) -> int:
    start = ref.partition(":")[0]
    return int(start.lstrip("$ABCDEFGHIJKLMNOPQRSTUVWXYZ") or 0)


def _extended(ref: str, last_row: int) -> str:
    start, _, end = ref.partition(":")
    end = end or start
    column = end.rstrip("0123456789")
    current = int(end[len(column):] or 0)
    return f"{start}:{column}{max(current, last_row)}"


def _text(value: Any) -> Any:
    """Rich text read with rich_text=True compares as its plain text."""
    return str(value) if type(value).__name__ == "CellRichText" else value


def _write_cell(cell: Any, value: Any, kind: str) -> None:
    """Write one value as inert data: a string is never a formula, a date gets a French format."""
    chosen = cell.number_format
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if cells.needs_quote_prefix(value):
            cell.quotePrefix = True
    fmt = _FORMATS.get(kind)
    if fmt and value is not None and chosen == "General":
        cell.number_format = fmt


# --- a new workbook -----------------------------------------------------------------------

def _new_book(layout: Layout) -> Workbook:
    book = Workbook()
    book.remove(book.active)
    for name in (SUIVI, CONTRIBUTIONS, JOURNAL):
        _add_sheet(book, name, layout.sheet_columns(name))
    _add_validations(book[SUIVI], layout)
    _metadata_sheet(book)
    book.active = 0
    return book


def _add_sheet(book: Workbook, name: str, columns: tuple[Column, ...]) -> Worksheet:
    ws = book.create_sheet(name)
    for number, col in enumerate(columns, start=1):
        _write_header(ws, number, col)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}1"
    return ws


def _write_header(ws: Worksheet, number: int, col: Column, row: int = 1) -> None:
    cell = ws.cell(row=row, column=number, value=col.title)
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    dimension = ws.column_dimensions[get_column_letter(number)]
    dimension.width = col.width
    dimension.hidden = col.hidden


def _add_validations(ws: Worksheet, layout: Layout) -> None:
    """Drop-down lists for the coordinator's columns that have a fixed set of values."""
    for number, col in enumerate(layout.suivi, start=1):
        if col.values:
            letter = get_column_letter(number)
            validation = DataValidation(type="list", formula1='"' + ",".join(col.values) + '"', allow_blank=True)
            validation.add(f"{letter}2:{letter}{_VALIDATED_ROWS}")
            ws.add_data_validation(validation)


def _metadata_sheet(book: Workbook) -> Worksheet:
    ws = book.create_sheet(METADATA)
    ws.sheet_state = "veryHidden"
    ws.append(["type", "clé", "valeur"])
    return ws

