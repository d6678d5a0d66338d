"""Pure data exchanged between the workbook and the merge planner.

``WorkbookSnapshot`` is what the shared workbook holds, read once; ``Plan`` is what
one merge will write. Both are immutable (mappings inside must be treated as
read-only) and carry canonical cell values (see ``cells``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PushedCells = Mapping[str, Mapping[str, Any]]   # situation id -> derived column id -> value


@dataclass(frozen=True)
class SuiviRow:
    """One row of Suivi, found by its situation id; ``cells`` maps column id -> value."""

    sid: str
    cells: Mapping[str, Any]


@dataclass(frozen=True)
class ContributionRow:
    """One row of Contributions, with the form fields back in their normalised types."""

    key: str
    situation_id: str
    structure: str
    source_path: str
    row_number: int
    source_sha256: str
    fields: Mapping[str, Any]
    flags: tuple[str, ...] = ()
    fingerprint: str = ""
    imported_at: dt.datetime | None = None


@dataclass(frozen=True)
class Metadata:
    """What the connector keeps in the workbook's very hidden sheet.

    ``pushed``: the derived cells as last written (three-way merge base, survives the
    loss of the local state); ``merged_into``: situations merged by the coordinator;
    ``last_sequence``: highest sequence number issued per school year, so that ids
    are never reused even if the coordinator deletes a row.
    """

    pushed: PushedCells = field(default_factory=dict)
    merged_into: Mapping[str, str] = field(default_factory=dict)
    last_sequence: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkbookSnapshot:
    suivi: tuple[SuiviRow, ...] = ()
    contributions: tuple[ContributionRow, ...] = ()
    metadata: Metadata = field(default_factory=Metadata)
    journal: frozenset[tuple[str, str]] = frozenset()   # (path, sha256) already journaled

    def suivi_row(self, sid: str) -> SuiviRow | None:
        return next((row for row in self.suivi if row.sid == sid), None)


@dataclass(frozen=True)
class NewSituation:
    sid: str
    cells: Mapping[str, Any]          # derived values and the coordinator columns' initial values


@dataclass(frozen=True)
class SetCell:
    """Write a derived cell of an existing Suivi row."""

    sid: str
    column: str
    title: str
    value: Any


@dataclass(frozen=True)
class NewContribution:
    key: str
    sid: str
    structure: str
    cells: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateContribution:
    key: str
    sid: str
    structure: str
    cells: Mapping[str, Any]          # only the columns that change


@dataclass(frozen=True)
class Merge:
    absorbed: str
    kept: str
    contributions: int


@dataclass(frozen=True)
class Conflict:
    """A derived cell edited by hand whose partner value changed since: the hand value stays."""

    sid: str
    title: str


@dataclass(frozen=True)
class NearMatch:
    sid: str
    other: str


@dataclass(frozen=True)
class Plan:
    new_situations: tuple[NewSituation, ...] = ()
    cell_updates: tuple[SetCell, ...] = ()
    new_contributions: tuple[NewContribution, ...] = ()
    contribution_updates: tuple[UpdateContribution, ...] = ()
    merges: tuple[Merge, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    near_matches: tuple[NearMatch, ...] = ()
    metadata: Metadata = field(default_factory=Metadata)
    metadata_changed: bool = False

    @property
    def is_empty(self) -> bool:
        """Nothing to write. Standing conflicts and near matches are already in the cells."""
        return not (self.new_situations or self.cell_updates or self.new_contributions
                    or self.contribution_updates or self.metadata_changed)

    @property
    def pushed_after(self) -> PushedCells:
        """The derived cells as they will be after apply: the next three-way base."""
        return self.metadata.pushed

    def describe(self) -> list[str]:
        """French lines for ``run --dry-run``; situation ids and structures only, never names."""
        lines = [f"Nouvelle situation {a.sid}" for a in self.new_situations]
        lines += [f"{m.absorbed} fusionnée dans {m.kept} ({m.contributions} contribution(s) rattachée(s))"
                  for m in self.merges]
        lines += [f"Contribution ajoutée à {a.sid} ({a.structure})" for a in self.new_contributions]
        lines += [f"Contribution mise à jour pour {a.sid} ({a.structure})" for a in self.contribution_updates
                  if set(a.cells) != {"situation_id"}]   # a re-pointing is told by its merge line
        lines += [f"{a.sid} : « {a.title} » mis à jour" for a in self.cell_updates]
        lines += [f"{c.sid} : « {c.title} » modifié à la main et différent des fiches, valeur manuelle conservée"
                  for c in self.conflicts]
        lines += [f"Doublon possible : {n.sid} et {n.other}" for n in self.near_matches if n.sid < n.other]
        if self.is_empty:
            lines.append("Rien à modifier dans le tableau de suivi.")
        return lines
