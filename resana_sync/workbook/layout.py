"""The sheets and columns of the shared workbook, derived from the form schema. Pure.

Columns are identified by a stable id; the workbook finds them by their folded
header text in row 1, wherever the coordinator moved them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import FormSchema, WorkbookColumn
from . import cells

SUIVI = "Suivi"
CONTRIBUTIONS = "Contributions"
JOURNAL = "Journal"
METADATA = "_resana_sync"

DERIVED, COORDINATOR, CONNECTOR = "derived", "coordinator", "connector"

# Derived columns that carry the connector's notices rather than partner data.
NOTICE_RULES = frozenset({"flags", "conflicts", "near_matches"})
_DATE_RULES = frozenset({"earliest", "latest_date"})
_FIELD_KINDS = {"date": cells.DATE, "boolean": cells.BOOL, "integer": cells.INT, "array": cells.LIST}


@dataclass(frozen=True)
class Column:
    id: str
    title: str
    kind: str = cells.TEXT
    owner: str = CONNECTOR
    rule: str | None = None
    source: str | None = None
    initial: str | None = None
    values: tuple[str, ...] = ()
    width: int = 16
    hidden: bool = False   # technical columns the connector needs, out of the coordinator's way


@dataclass(frozen=True)
class Layout:
    suivi: tuple[Column, ...]
    contributions: tuple[Column, ...]
    journal: tuple[Column, ...]

    @property
    def derived(self) -> tuple[Column, ...]:
        return tuple(c for c in self.suivi if c.owner == DERIVED)

    @property
    def coordinator(self) -> tuple[Column, ...]:
        return tuple(c for c in self.suivi if c.owner == COORDINATOR)

    def sheet_columns(self, sheet: str) -> tuple[Column, ...]:
        return {SUIVI: self.suivi, CONTRIBUTIONS: self.contributions, JOURNAL: self.journal}[sheet]


def layout_of(schema: FormSchema) -> Layout:
    return Layout(
        suivi=tuple(_derived(schema, c) for c in schema.derived_columns)
        + tuple(_coordinator(c) for c in schema.coordinator_columns),
        contributions=_contribution_columns(schema),
        journal=JOURNAL_COLUMNS,
    )


def _derived(schema: FormSchema, col: WorkbookColumn) -> Column:
    if col.rule in _DATE_RULES:
        kind = cells.DATE
    elif col.source and col.rule in ("latest", "first", "union"):
        kind = _FIELD_KINDS.get(schema.field(col.source).type, cells.TEXT)
    else:
        kind = cells.TEXT
    width = 40 if col.rule in NOTICE_RULES else 12 if kind == cells.DATE else 18
    return Column(col.id, col.title, kind, DERIVED, col.rule, col.source, width=width)


def _coordinator(col: WorkbookColumn) -> Column:
    kind = cells.DATE if col.type == "date" else cells.TEXT
    return Column(col.id, col.title, kind, COORDINATOR, initial=col.initial, values=col.values,
                  width=12 if kind == cells.DATE else 24)


def _contribution_columns(schema: FormSchema) -> tuple[Column, ...]:
    fields = tuple(
        Column(f.id, f.label, _FIELD_KINDS.get(f.type, cells.TEXT), source=f.id, width=40 if f.long_text else 16)
        for f in schema.fields
    )
    return (
        Column("situation_id", "Identifiant", width=11),
        Column("structure", "Structure", width=20),
        Column("source_path", "Fichier source", width=30),
        Column("row_number", "Ligne", cells.INT, width=7),
        Column("source_sha256", "Empreinte du fichier", width=18),
        Column("imported_at", "Importée le", cells.DATETIME, width=16),
        *fields,
        Column("flags", "Signalements", cells.LIST, width=40),
        Column("key", "Clé", width=18, hidden=True),
        Column("fingerprint", "Empreinte de la ligne", width=18, hidden=True),
    )


JOURNAL_COLUMNS = (
    Column("when", "Date", cells.DATETIME, width=16),
    Column("structure", "Structure", width=20),
    Column("file", "Fichier", width=30),
    Column("path", "Chemin", width=40),
    Column("sha256", "Empreinte", width=18),
    Column("outcome", "Résultat", width=14),
    Column("accepted", "Lignes acceptées", cells.INT, width=10),
    Column("rejected", "Lignes rejetées", cells.INT, width=10),
    Column("message", "Message", width=60),
)
