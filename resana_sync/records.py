"""Plain data passed between the stages of a run: intake -> validate -> merge -> reports.

These types hold no behaviour and do no I/O, so every stage can be tested alone.
Values in ``Record.fields`` are already normalised: ``datetime.date`` for dates,
``int`` for integers, ``bool`` for Oui/Non, ``tuple[str, ...]`` for multi-value
lists, ``str`` (NFC, trimmed, control characters removed) for text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class Severity(str, Enum):
    ERROR = "erreur"          # the row (or the whole file) is rejected
    WARNING = "avertissement"  # accepted, but the partner should fix something
    FLAG = "signalement"      # accepted, and the coordinator must look at it


class Outcome(str, Enum):
    """What became of one file a partner dropped. Every file ends in exactly one."""

    IMPORTED = "importé"
    UPDATED = "mis à jour"
    UNCHANGED = "déjà importé"   # seen before with the same content: nothing to do
    REJECTED = "rejeté"
    IGNORED = "ignoré"           # editor/system artefacts, never reported to partners
    DEFERRED = "reporté"         # in flux or locked: retried at the next run


@dataclass(frozen=True)
class Problem:
    """One problem found in a partner file, phrased for that partner (French).

    ``row`` is the spreadsheet row number as the partner sees it (1-based), ``column``
    the column label as written in the file. ``value`` may hold personal data: it goes
    to the partner's own report only, never to logs.
    """

    severity: Severity
    message: str
    file: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    hint: str | None = None
    code: str = ""
    # the reason alone ("cette date n'existe pas"), for reports that show file/row/column apart
    reason: str = ""


@dataclass(frozen=True)
class RawRow:
    """One form row as read from a file: labels as the partner wrote them -> raw cell values.

    Cell values keep the type the reader gave them (``str``, ``float``, ``int``, ``bool``,
    ``date``/``datetime``), so validation can tell an identifier typed as a number from
    one typed as text. The file-level fields are the same object on every row of a file.
    """

    row_number: int
    cells: Mapping[str, Any]
    # label -> spreadsheet coordinates for messages, e.g. {"Nom": "B5"}
    positions: Mapping[str, str] = field(default_factory=dict)
    # label -> row the partner sees for that value (differs from row_number in a vertical fiche)
    label_rows: Mapping[str, int] = field(default_factory=dict)
    header_row: int | None = None
    # free text found outside the table (titles above the header): checked against the structure
    titles: tuple[str, ...] = ()
    # day 0 of the workbook's serial dates, to read a date typed in a General cell
    serial_epoch: dt.date = dt.date(1899, 12, 30)
    # a filled row the partner hid or filtered out: reported, never imported
    hidden: bool = False


@dataclass(frozen=True)
class Record:
    """One accepted form row, normalised, with where it came from."""

    structure: str
    source_path: str
    row_number: int
    fields: Mapping[str, Any]
    flags: tuple[str, ...] = ()
    source_sha256: str = ""


@dataclass
class FileResult:
    """Everything known about one file seen in a partner's inbox during a run."""

    structure: str
    path: str
    outcome: Outcome
    sha256: str = ""
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected_rows: int = 0
    message: str = ""
    seen_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]
