"""Builders shared by the merge tests: fictional young people and their forms."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl

from resana_sync.merge import plan_merge
from resana_sync.records import Record
from resana_sync.schema import FormSchema
from resana_sync.workbook import Plan, SharedWorkbook

NOW = dt.datetime(2025, 12, 1, 20, 0, tzinfo=dt.timezone.utc)


def fields(nom: str = "MARTIN", prenom: str = "Léa", naissance: dt.date = dt.date(2012, 3, 4),
           fiche: dt.date = dt.date(2025, 11, 3), **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "date_fiche": fiche, "nom": nom, "prenom": prenom, "date_naissance": naissance,
        "etablissement": "Collège des Remparts", "classe": "4e", "situation_scolaire": "Scolarisé(e)",
        "motifs": ("Absentéisme",), "famille_informee": True, "referent": "Mme Professeure",
    }
    values.update(extra)
    return values


def record(structure: str = "PJJ", path: str | None = None, row: int = 2, flags: tuple[str, ...] = (),
           sha: str = "a" * 64, **kw: Any) -> Record:
    path = path or f"Dépôts/{structure}/fiches.xlsx"
    return Record(structure=structure, source_path=path, row_number=row, fields=fields(**kw), flags=flags,
                  source_sha256=sha)


def merge(book: SharedWorkbook, records: list[Record], schema: FormSchema, pushed: Any = None,
          now: dt.datetime = NOW) -> Plan:
    plan = plan_merge(book.snapshot(), records, pushed, schema=schema, now=now)
    book.apply(plan)
    return plan


def reopen(book: SharedWorkbook, schema: FormSchema) -> SharedWorkbook:
    return SharedWorkbook.open(book.to_bytes(), schema)


def sheet_rows(data: bytes, sheet: str) -> list[dict[str, Any]]:
    """Rows of a saved workbook as header -> value, read back with plain openpyxl."""
    ws = openpyxl.load_workbook(io.BytesIO(data))[sheet]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:] if any(v is not None for v in r)]


def column_of(ws: Any, title: str) -> int:
    return next(c.column for c in ws[1] if c.value == title)


def row_of(ws: Any, sid: str) -> int:
    col = column_of(ws, "Identifiant")
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, col).value == sid)


def edit(data: bytes, change: Any) -> bytes:
    """The coordinator at work: open the saved workbook, change it, save it."""
    wb = openpyxl.load_workbook(io.BytesIO(data), rich_text=True)
    change(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def set_cell(sheet: str, sid: str, title: str, value: Any) -> Any:
    def change(wb: Any) -> None:
        ws = wb[sheet]
        ws.cell(row_of(ws, sid), column_of(ws, title)).value = value
    return change


def suivi_by_id(data: bytes) -> dict[str, dict[str, Any]]:
    return {r["Identifiant"]: r for r in sheet_rows(data, "Suivi")}
