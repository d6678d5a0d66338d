"""How values look in the shared workbook's cells. Pure: no openpyxl, no I/O.

Every value the connector writes goes through ``to_cell`` first, and every cell it
reads goes through ``from_cell``; the planner compares values in that one canonical
form, so what it computes equals what it reads back after a save.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from ..text import CONTROL_CHARACTERS

EXCEL_TEXT_LIMIT = 32_767
TRUNCATION_MARKER = "[…] (texte tronqué, voir le fichier source)"
LIST_SEPARATOR = " ; "
YES, NO = "Oui", "Non"
# A text starting with one of these is re-read as a formula by spreadsheet tools (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

# Characters that XML 1.0 and Excel refuse in a cell; Word pastes some of them.

# Kinds of cell: how a column's values are written and compared.
TEXT, DATE, DATETIME, BOOL, INT, LIST = "text", "date", "datetime", "bool", "int", "list"


def to_cell(value: Any, kind: str) -> Any:
    """The canonical cell value of a Python value for a column of this kind."""
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, (tuple, list)):
        return inert_text(LIST_SEPARATOR.join(str(item) for item in value))
    if kind == DATE and isinstance(value, dt.datetime):
        return value.date()
    if kind in (DATE, DATETIME, INT) and isinstance(value, (dt.date, int)) and not isinstance(value, bool):
        return value
    return inert_text(str(value))


def from_cell(raw: Any, kind: str) -> Any:
    """The canonical form of what a cell holds, whoever wrote it (connector or coordinator)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, dt.datetime):
        return raw.date() if kind == DATE and raw.time() == dt.time() else raw
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool):
        return YES if raw else NO
    if isinstance(raw, (int, float, dt.date, dt.time)):
        return raw
    return str(raw)


def field_value(raw: Any, field_type: str) -> Any:
    """Back from a Contributions cell to the normalised form value (see records.Record)."""
    value = from_cell(raw, DATE if field_type == "date" else TEXT)
    if value is None:
        return () if field_type == "array" else None
    if field_type == "boolean":
        return {YES: True, NO: False}.get(value, value)
    if field_type == "array":
        return tuple(part.strip() for part in str(value).split(LIST_SEPARATOR.strip()) if part.strip())
    if field_type == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def inert_text(value: str) -> str:
    """Partner text made safe for a cell: control characters removed, cut at Excel's limit.

    Leading formula triggers are kept as typed; the writer marks such cells as text.
    """
    text = CONTROL_CHARACTERS.sub("", value)
    if len(text) > EXCEL_TEXT_LIMIT:
        text = text[: EXCEL_TEXT_LIMIT - len(TRUNCATION_MARKER) - 1] + " " + TRUNCATION_MARKER
    return text


def wall_clock(moment: dt.datetime) -> dt.datetime:
    """A time for a cell: cells hold no time zone, so the wall clock of ``moment``'s own zone.

    Callers pass ``now`` in the cell's time zone (naive local time, or aware in the
    configured zone); seconds are enough for an import time.
    """
    return moment.replace(tzinfo=None, microsecond=0)


def needs_quote_prefix(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def join(items: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(items)


def encode_values(values: dict[str, Any]) -> str:
    """JSON for cell values, dates as ISO strings tagged so they decode as dates again."""
    return json.dumps({k: _encode(v) for k, v in sorted(values.items())}, ensure_ascii=False, sort_keys=True)


def decode_values(text: str) -> dict[str, Any]:
    return {k: _decode(v) for k, v in json.loads(text).items()}


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$date" in value:
        return dt.date.fromisoformat(value["$date"])
    if isinstance(value, dict) and "$datetime" in value:
        return dt.datetime.fromisoformat(value["$datetime"])
    return value
