"""Local state of the connector (SQLite on local disk).

It holds what cannot be read back cheaply or safely from the remote: the files seen
with their content hash and outcome, the derived cells as last pushed (the base of
the three-way merge), the runs, and the version of the workbook last written. Every
write is one transaction. Values are JSON, dates as tagged ISO strings.

If the file is lost, ``rebuild_from(snapshot)`` restores the pushed cells from the
workbook's hidden metadata sheet; files are then simply read again, which the merge
absorbs without duplicates (contributions are keyed, the Journal dedups on hashes).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import StateError
from .records import Outcome
from .workbook.cells import decode_values, encode_values

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, outcome TEXT NOT NULL, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pushed (
    situation_id TEXT PRIMARY KEY, cells TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, trigger TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, ok INTEGER, summary TEXT);
"""


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """sqlite and decoding errors become one StateError saying what to do."""

    @functools.wraps(method)
    def wrapper(self: State, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, ValueError, OSError) as exc:
            raise StateError(
                f"L'état local ({self.path}) ne peut pas être lu ou écrit ({type(exc).__name__}). "
                "Vérifiez l'espace disque et les droits du dossier ; si le fichier est abîmé, déplacez-le : "
                "le tableau de suivi garde ce qu'il faut pour repartir."
            ) from exc

    return wrapper


class State:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            os.chmod(self.path, 0o600)   # the state names files of partners who work with minors
            with self._db:
                self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(
                f"L'état local ({self.path}) est illisible ou ne peut pas être créé ({exc}). "
                "Vérifiez les droits du dossier ; si le fichier est abîmé, déplacez-le : "
                "il sera reconstruit à partir du tableau de suivi au prochain passage."
            ) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files seen ---------------------------------------------------------------------

    @_translated
    def file_seen(self, path: str) -> tuple[str, Outcome | str] | None:
        row = self._db.execute("SELECT sha256, outcome FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        try:
            return row[0], Outcome(row[1])
        except ValueError:
            return row[0], row[1]

    @_translated
    def record_file(self, path: str, sha256: str, outcome: Outcome | str, seen_at: dt.datetime) -> None:
        value = outcome.value if isinstance(outcome, Outcome) else str(outcome)
        with self._db:
            self._db.execute(
                "INSERT INTO files (path, sha256, outcome, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, outcome = excluded.outcome, "
                "seen_at = excluded.seen_at",
                (path, sha256, value, seen_at.isoformat()),
            )

    # --- derived cells last pushed ------------------------------------------------------

    @_translated
    def pushed(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT situation_id, cells FROM pushed").fetchall()
        return {sid: decode_values(text) for sid, text in rows}

    @_translated
    def save_pushed(self, mapping: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the whole base with ``mapping`` (typically ``Plan.pushed_after``)."""
        with self._db:
            self._db.execute("DELETE FROM pushed")
            self._db.executemany(
                "INSERT INTO pushed (situation_id, cells) VALUES (?, ?)",
                [(sid, encode_values(dict(values))) for sid, values in sorted(mapping.items())],
            )
        log.info("state: pushed cells saved for %d situation(s)", len(mapping))

    # --- runs ---------------------------------------------------------------------------

    @_translated
    def start_run(self, trigger: str, now: dt.datetime | None = None) -> int:
        started = (now or dt.datetime.now(dt.timezone.utc)).isoformat()
        with self._db:
            cursor = self._db.execute("INSERT INTO runs (trigger, started_at) VALUES (?, ?)", (trigger, started))
        return int(cursor.lastrowid)

    @_translated
    def finish_run(self, run_id: int, ok: bool, summary: dict[str, Any], now: dt.datetime | None = None) -> None:
        finished = (now or dt.datetime.now(dt.timezone.utc)).isoformat()
        with self._db:
            self._db.execute(
                "UPDATE runs SET finished_at = ?, ok = ?, summary = ? WHERE id = ?",
                (finished, int(ok), json.dumps(summary, ensure_ascii=False, default=str), run_id),
            )

    @_translated
    def recent_runs(self, count: int = 5) -> list[dict[str, Any]]:
        """The latest runs, newest first: trigger, start and end (aware, UTC), ok, summary."""
        rows = self._db.execute(
            "SELECT trigger, started_at, finished_at, ok, summary FROM runs ORDER BY id DESC LIMIT ?", (count,)
        ).fetchall()
        return [
            {"trigger": trigger, "started": dt.datetime.fromisoformat(started),
             "finished": dt.datetime.fromisoformat(finished) if finished else None,
             "ok": bool(ok), "summary": json.loads(summary) if summary else {}}
            for trigger, started, finished, ok, summary in rows
        ]

    @_translated
    def last_success(self) -> dt.datetime | None:
        row = self._db.execute("SELECT MAX(finished_at) FROM runs WHERE ok = 1").fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None
