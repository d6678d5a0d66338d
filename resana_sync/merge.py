"""Pure merge planning: (workbook snapshot, accepted records, last pushed cells) -> Plan.

No I/O. The plan is deterministic: the same snapshot, the same set of records (in any
order) and the same base give the same plan, and planning again over the workbook
the plan produced gives an empty plan.

How a run merges (see docs/DECISIONS.md, "Merge"):

1. Merges confirmed by the coordinator ("Fusionner avec (identifiant)") re-point the
   absorbed situation's contributions to the kept one.
2. Each record updates the contribution of the same (structure, source file, person)
   when there is one, else becomes a new contribution.
3. New contributions join the situation of the same person, else new situations,
   numbered in a deterministic order.
4. Every derived cell is recomputed from all the situation's contributions and
   three-way merged against the cell and the last pushed value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .identity import Identity, blocking_keys, near_match, same_person
from .records import Record
from .schema import FormSchema
from .workbook import cells
from .workbook.layout import Column, Layout, NOTICE_RULES, layout_of
from .workbook.model import (
    Conflict, ContributionRow, Merge, Metadata, NearMatch, NewContribution, NewSituation, Plan,
    PushedCells, SetCell, UpdateContribution, WorkbookSnapshot,
)

__all__ = ["Plan", "plan_merge", "school_year", "WorkbookSnapshot"]

log = logging.getLogger(__name__)

_SID = re.compile(r"^(\d{4})-(\d{3,})$")
_IDENTITY_SOURCES = ("nom", "prenom", "date_naissance", "ine")


@dataclass(frozen=True)
class _Contribution:
    """A contribution as it will be after the merge (working copy)."""

    row: ContributionRow
    identity: Identity

    @property
    def order(self) -> tuple:
        """Oldest first; ties broken on where it came from, never on arrival order."""
        fiche = self.row.fields.get("date_fiche") or dt.date.min
        return (fiche, self.row.structure, self.row.source_path, self.row.row_number, self.row.key)


def plan_merge(
    snapshot: WorkbookSnapshot,
    records: list[Record],
    pushed: Mapping[str, Mapping[str, object]] | None,
    *,
    schema: FormSchema,
    now: dt.datetime,
) -> Plan:
    layout = layout_of(schema)
    rows_by_sid = {row.sid: row for row in reversed(snapshot.suivi)}   # first row wins on duplicates
    merged_into, merge_problems = _confirmed_merges(snapshot, rows_by_sid, layout)
    before = {c.key: c for c in snapshot.contributions}
    after = {key: _repointed(row, merged_into) for key, row in before.items()}
    pending = _integrate(after, records, layout, now)
    last_sequence = _last_sequence(snapshot)
    _assign_situations(after, pending, rows_by_sid, merged_into, layout, last_sequence, now.date())

    by_sid: dict[str, list[_Contribution]] = defaultdict(list)
    for row in after.values():
        by_sid[row.situation_id].append(_Contribution(row, Identity.of(row.fields)))
    for group in by_sid.values():
        group.sort(key=lambda c: c.order)

    near = _near_matches(by_sid, rows_by_sid, layout)
    base = pushed or {}
    suivi = _plan_suivi(layout, schema, by_sid, rows_by_sid, merged_into, merge_problems, near, base, snapshot)
    metadata = Metadata(pushed=suivi.pushed_after, merged_into=merged_into, last_sequence=last_sequence)
    contribution_changes = _contribution_changes(before, after, layout)

    plan = Plan(
        new_situations=suivi.new_situations,
        cell_updates=suivi.cell_updates,
        new_contributions=contribution_changes[0],
        contribution_updates=contribution_changes[1],
        merges=_merges_done(before.values(), merged_into),
        conflicts=suivi.conflicts,
        near_matches=tuple(NearMatch(sid, other) for sid in sorted(near) for other in near[sid]),
        metadata=metadata,
        metadata_changed=metadata != snapshot.metadata,
    )
    log.info("plan: %d new situation(s), %d derived cell(s), %d new / %d updated contribution(s), "
             "%d conflict(s), %d merge(s)", len(plan.new_situations), len(plan.cell_updates),
             len(plan.new_contributions), len(plan.contribution_updates), len(plan.conflicts), len(plan.merges))
    return plan


def school_year(day: dt.date) -> int:
    """The school year a date belongs to, named by its starting year (September)."""
    return day.year if day.month >= 9 else day.year - 1


# --- 1. merges confirmed by the coordinator -------------------------------------------

def _confirmed_merges(
    snapshot: WorkbookSnapshot, rows_by_sid: Mapping[str, Any], layout: Layout,
) -> tuple[dict[str, str], dict[str, str]]:
    """absorbed id -> kept id (chains resolved), and French problems per situation."""
    # a target may be any situation: with contributions, merged already, or a row typed by hand
    known = {c.situation_id for c in snapshot.contributions} | set(snapshot.metadata.merged_into) | set(rows_by_sid)
    column = _column_by_rule_or_id(layout.coordinator, "fusionner_avec")
    edges = dict(snapshot.metadata.merged_into)
    problems: dict[str, str] = {}
    for sid in sorted(rows_by_sid):
        target = rows_by_sid[sid].cells.get(column.id) if column else None
        if target is None:
            continue
        target = str(target).strip()
        if target == sid or target not in known:
            problems[sid] = f"Fusion impossible : « {target} » n'est pas l'identifiant d'une autre situation"
        elif sid not in edges:
            edges[sid] = target
    return _resolve_chains(edges), problems


def _resolve_chains(edges: Mapping[str, str]) -> dict[str, str]:
    """Follow absorbed -> kept links to the end; in a cycle the smallest id is kept."""
    resolved: dict[str, str] = {}
    for start in sorted(edges):
        seen = [start]
        while seen[-1] in edges and edges[seen[-1]] not in seen:
            seen.append(edges[seen[-1]])
        end = seen[-1]
        if end in edges:  # cycle: keep its smallest member
            cycle = seen[seen.index(edges[end]):]
            end = min(cycle)
        if end != start:
            resolved[start] = end
    return resolved


def _repointed(row: ContributionRow, merged_into: Mapping[str, str]) -> ContributionRow:
    kept = merged_into.get(row.situation_id)
    return replace(row, situation_id=kept) if kept else row


def _merges_done(before: Iterable[ContributionRow], merged_into: Mapping[str, str]) -> tuple[Merge, ...]:
    """The merges this run carries out: absorbed situations that still had contributions."""
    moved: dict[str, int] = defaultdict(int)
    for row in before:
        if row.situation_id in merged_into:
            moved[row.situation_id] += 1
    return tuple(Merge(sid, merged_into[sid], count) for sid, count in sorted(moved.items()))


# --- 2. records -> contributions ------------------------------------------------------

def _integrate(
    contributions: dict[str, ContributionRow], records: Iterable[Record], layout: Layout, now: dt.datetime,
) -> list[str]:
    """Update or add the contribution of every record; returns the keys still without situation."""
    pending: list[str] = []
    by_file: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        by_file[(record.structure, record.source_path)].append(record)
    known: dict[tuple[str, str], list[ContributionRow]] = defaultdict(list)
    for row in contributions.values():
        known[(row.structure, row.source_path)].append(row)
    for file, group in sorted(by_file.items()):
        matches = _match_rows(sorted(group, key=lambda r: r.row_number), known.get(file, []), layout)
        for record, match in matches:
            if match is not None:
                contributions[match.key] = _updated(match, record, layout, now)
            else:
                row = _new_contribution(record, Identity.of(record.fields), contributions, layout, now)
                contributions[row.key] = row
                pending.append(row.key)
    return pending


def _match_rows(records: list[Record], existing: list[ContributionRow],
                layout: Layout) -> list[tuple[Record, ContributionRow | None]]:
    """Pair the rows of a file version with the contributions of the file's earlier versions.

    An unchanged row keeps its contribution (same fingerprint), then the same person on
    the same row, then the same person in row order. The first pass makes the pairing
    stable when one person has several rows in a file: a second run pairs every row with
    the contribution it just wrote.
    """
    free = sorted(existing, key=lambda c: (c.row_number, c.key))
    known = {c.key: Identity.of(c.fields) for c in free}
    wanted = [(_fingerprint(r, layout), Identity.of(r.fields)) for r in records]
    tests = (
        lambda i, c: c.fingerprint == wanted[i][0],
        lambda i, c: c.row_number == records[i].row_number and same_person(wanted[i][1], known[c.key]),
        lambda i, c: same_person(wanted[i][1], known[c.key]),
    )
    paired: dict[int, ContributionRow] = {}
    for test in tests:
        for i in range(len(records)):
            match = None if i in paired else next((c for c in free if test(i, c)), None)
            if match is not None:
                free.remove(match)
                paired[i] = match
    return [(record, paired.get(i)) for i, record in enumerate(records)]


def _updated(row: ContributionRow, record: Record, layout: Layout, now: dt.datetime) -> ContributionRow:
    fingerprint = _fingerprint(record, layout)
    if fingerprint == row.fingerprint:
        return row
    return replace(row, row_number=record.row_number, source_sha256=record.source_sha256,
                   fields=dict(record.fields), flags=tuple(record.flags), fingerprint=fingerprint,
                   imported_at=cells.wall_clock(now))


def _new_contribution(record: Record, identity: Identity, existing: Mapping[str, Any], layout: Layout,
                      now: dt.datetime) -> ContributionRow:
    occurrence = 0
    while (key := _digest([record.structure, record.source_path, identity.key, occurrence])) in existing:
        occurrence += 1
    return ContributionRow(
        key=key, situation_id="", structure=record.structure, source_path=record.source_path,
        row_number=record.row_number, source_sha256=record.source_sha256, fields=dict(record.fields),
        flags=tuple(record.flags), fingerprint=_fingerprint(record, layout), imported_at=cells.wall_clock(now),
    )


def _fingerprint(record: Record, layout: Layout) -> str:
    values = [cells.to_cell(record.fields.get(col.source), col.kind) for col in layout.contributions if col.source]
    return _digest([record.structure, record.source_path, record.row_number, values, sorted(record.flags)])


def _digest(parts: list[Any]) -> str:
    text = json.dumps(parts, ensure_ascii=False, default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- 3. situations for new contributions ----------------------------------------------

def _assign_situations(
    contributions: dict[str, ContributionRow], pending: list[str], rows_by_sid: Mapping[str, Any],
    merged_into: Mapping[str, str], layout: Layout, last_sequence: dict[int, int], today: dt.date,
) -> None:
    """Give every pending contribution a situation: the same person's, else a new one.

    Rows the coordinator typed in by hand (an id, no contribution yet, e.g. taken over
    from the cell's previous workbook) are candidates too, through their identity cells.
    """
    index = _IdentityIndex()
    waiting = set(pending)
    for row in contributions.values():
        if row.key not in waiting:
            index.add(Identity.of(row.fields), row.situation_id)
    for sid, row in rows_by_sid.items():
        if sid not in merged_into:
            index.add(_row_identity(row, layout), sid)
    unmatched = []
    for key in pending:
        sid = index.best(Identity.of(contributions[key].fields))
        if sid:
            contributions[key] = replace(contributions[key], situation_id=sid)
        else:
            unmatched.append(key)
    for cluster in _clusters([contributions[k] for k in unmatched]):
        first = min(cluster, key=lambda c: (c.fields.get("date_fiche") or dt.date.max, Identity.of(c.fields).key))
        year = school_year(first.fields.get("date_fiche") or today)
        last_sequence[year] = last_sequence.get(year, 0) + 1
        sid = f"{year}-{last_sequence[year]:03d}"
        for row in cluster:
            contributions[row.key] = replace(row, situation_id=sid)


class _IdentityIndex:
    """Identities known for each situation, looked up by INE and by names + birth date."""

    def __init__(self) -> None:
        self._by_key: dict[tuple, set[tuple[Identity, str]]] = defaultdict(set)

    def add(self, identity: Identity, sid: str) -> None:
        for key in _exact_keys(identity):
            self._by_key[key].add((identity, sid))

    def sids(self) -> set[str]:
        return {sid for entries in self._by_key.values() for _, sid in entries}

    def best(self, identity: Identity) -> str | None:
        """The situation of the same person: an INE match first, then the smallest id."""
        found = {(not (identity.ine and other.ine), sid)
                 for key in _exact_keys(identity) for other, sid in self._by_key.get(key, ())
                 if same_person(identity, other)}
        return min(found)[1] if found else None


def _exact_keys(identity: Identity) -> list[tuple]:
    keys: list[tuple] = [("ine", identity.ine)] if identity.ine else []
    if identity.has_names:
        keys.append(("names", identity.nom, identity.prenom, identity.naissance))
    return keys


def _clusters(rows: list[ContributionRow]) -> list[list[ContributionRow]]:
    """Group new contributions of the same person; clusters in a deterministic order."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    identities = [Identity.of(r.fields) for r in rows]
    by_key: dict[tuple, list[int]] = defaultdict(list)
    for i, identity in enumerate(identities):
        for key in _exact_keys(identity):
            by_key[key].append(i)
    for members in by_key.values():
        for i in members[1:]:
            if same_person(identities[members[0]], identities[i]):
                parent[root(i)] = root(members[0])
    groups: dict[int, list[ContributionRow]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[root(i)].append(row)

    def order(group: list[ContributionRow]) -> tuple:
        return min((r.fields.get("date_fiche") or dt.date.max, Identity.of(r.fields).key, r.key) for r in group)

    return sorted(groups.values(), key=order)


def _last_sequence(snapshot: WorkbookSnapshot) -> dict[int, int]:
    """Highest sequence issued per school year: from the metadata and every id in sight."""
    last = dict(snapshot.metadata.last_sequence)
    sids = [row.sid for row in snapshot.suivi] + [c.situation_id for c in snapshot.contributions]
    for sid in sids:
        if match := _SID.match(sid):
            year, seq = int(match[1]), int(match[2])
            last[year] = max(last.get(year, 0), seq)
    return last


def _row_identity(row: Any, layout: Layout) -> Identity:
    """Identity in a Suivi row as it stands, including the coordinator's corrections."""
    return Identity.of({col.source: row.cells.get(col.id) for col in layout.derived
                        if col.source in _IDENTITY_SOURCES and col.rule in ("latest", "first")})


# --- near matches ---------------------------------------------------------------------

def _near_matches(by_sid: Mapping[str, list[_Contribution]], rows_by_sid: Mapping[str, Any],
                  layout: Layout) -> dict[str, list[str]]:
    identities: dict[str, set[Identity]] = {sid: {c.identity for c in group} for sid, group in by_sid.items()}
    for sid in identities:
        if sid in rows_by_sid:
            identities[sid].add(_row_identity(rows_by_sid[sid], layout))
    blocks: dict[str, set[str]] = defaultdict(set)
    for sid, known in identities.items():
        for identity in known:
            for key in blocking_keys(identity):
                blocks[key].add(sid)
    pairs = {(a, b) for members in blocks.values() for a in members for b in members if a < b}
    near: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(pairs):
        if any(near_match(x, y) or same_person(x, y) for x in identities[a] for y in identities[b]):
            near[a].append(b)
            near[b].append(a)
    return {sid: sorted(others) for sid, others in near.items()}


# --- 4. Suivi: derived values and the three-way merge ---------------------------------

@dataclass
class _SuiviPlan:
    new_situations: tuple[NewSituation, ...]
    cell_updates: tuple[SetCell, ...]
    conflicts: tuple[Conflict, ...]
    pushed_after: dict[str, dict[str, Any]]


def _plan_suivi(
    layout: Layout, schema: FormSchema, by_sid: Mapping[str, list[_Contribution]],
    rows_by_sid: Mapping[str, Any], merged_into: Mapping[str, str], merge_problems: Mapping[str, str],
    near: Mapping[str, list[str]], base: PushedCells, snapshot: WorkbookSnapshot,
) -> _SuiviPlan:
    new: list[NewSituation] = []
    updates: list[SetCell] = []
    conflicts: list[Conflict] = []
    pushed_after: dict[str, dict[str, Any]] = {}
    contributed = {c.situation_id for c in snapshot.contributions}
    for sid in sorted(set(by_sid) | (set(merged_into) & set(rows_by_sid))):
        row = rows_by_sid.get(sid)
        if sid in merged_into:
            computed = {**row.cells, **_notice(layout, "flags", f"Fusionnée dans {merged_into[sid]}")}
        else:
            computed = _derive(layout, schema, sid, by_sid[sid], near.get(sid, ()))
        computed = {col.id: computed.get(col.id) for col in layout.derived if col.id != "situation_id"}
        if row is None:
            computed.update(_notice(layout, "conflicts", merge_problems.get(sid)))
            new.append(NewSituation(sid, {"situation_id": sid, **computed, **_initial_values(layout)}))
            pushed_after[sid] = computed
            continue
        merged = _three_way(layout, sid, row.cells, computed,
                            _base_of(sid, row, base, snapshot.metadata, sid in contributed), merge_problems.get(sid))
        updates += merged[0]
        conflicts += merged[1]
        pushed_after[sid] = merged[2]
    return _SuiviPlan(tuple(new), tuple(updates), tuple(conflicts), pushed_after)


def _base_of(sid: str, row: Any, base: PushedCells, metadata: Metadata, contributed: bool) -> Mapping[str, Any]:
    """What the connector last wrote in the row's derived cells.

    From the workbook's hidden metadata, written in the same file as the cells and so
    always consistent with them (even when the coordinator restores an archived copy);
    else from the local state (a tool dropped the hidden sheet). A column missing there
    (the schema grew) counts as last written as it stands. With both lost, the cells themselves are
    the base (no false conflict). A row that never had a contribution was typed by the
    coordinator: nothing in it was written by the connector.
    """
    pushed = metadata.pushed.get(sid) or base.get(sid)
    if pushed is not None:
        return {**row.cells, **pushed}
    return row.cells if contributed else {}


def _three_way(
    layout: Layout, sid: str, cell_values: Mapping[str, Any], computed: dict[str, Any],
    base: Mapping[str, Any], merge_problem: str | None,
) -> tuple[list[SetCell], list[Conflict], dict[str, Any]]:
    """Decide every derived cell of one existing row against its hand value and its base.

    A cell that still holds what was last pushed follows the forms. A cell the
    coordinator changed keeps the hand value; if the forms moved too, it is a conflict
    listed in "À vérifier". Notice columns are rewritten only when their content changes.
    """
    updates: list[SetCell] = []
    conflicts: list[Conflict] = []
    pushed: dict[str, Any] = {}
    data = [c for c in layout.derived if c.id != "situation_id" and c.rule not in NOTICE_RULES]
    notices = [c for c in layout.derived if c.rule in NOTICE_RULES]
    for col in data:
        cell, new, old = cell_values.get(col.id), computed[col.id], base.get(col.id)
        if col.id not in cell_values or cell == new or cell == old:
            pushed[col.id] = new
            if cell != new:
                updates.append(SetCell(sid, col.id, col.title, new))
            continue
        pushed[col.id] = old
        if new != old:
            conflicts.append(Conflict(sid, col.title))
    computed.update(_notice(layout, "conflicts", _verification_text(conflicts, merge_problem)))
    for col in notices:
        cell, new, old = cell_values.get(col.id), computed[col.id], base.get(col.id)
        hand_kept = col.id in cell_values and cell != old and new == old
        pushed[col.id] = old if hand_kept else new
        if cell != new and not hand_kept:
            updates.append(SetCell(sid, col.id, col.title, new))
    return updates, conflicts, pushed


def _verification_text(conflicts: list[Conflict], merge_problem: str | None) -> str | None:
    parts = []
    if conflicts:
        titles = ", ".join(c.title for c in conflicts)
        parts.append(f"Modifié à la main, les fiches indiquent autre chose : {titles}")
    if merge_problem:
        parts.append(merge_problem)
    return cells.join(parts) or None


def _derive(layout: Layout, schema: FormSchema, sid: str, group: list[_Contribution],
            near: Iterable[str]) -> dict[str, Any]:
    """Every derived value of one situation: a pure function of its contributions."""
    values: dict[str, Any] = {"situation_id": sid}
    for col in layout.derived:
        rule = _RULES.get(col.rule or "")
        if rule is not None:
            values[col.id] = cells.to_cell(rule(col, schema, group), col.kind)
    near = list(near)
    values.update(_notice(layout, "near_matches", f"Doublon possible : {', '.join(near)}" if near else None))
    return values


def _present(col: Column, group: list[_Contribution]) -> list[Any]:
    return [c.row.fields.get(col.source) for c in group if c.row.fields.get(col.source) not in (None, "", ())]


def _latest(col: Column, schema: FormSchema, group: list[_Contribution]) -> Any:
    present = _present(col, group)
    return present[-1] if present else None


def _first(col: Column, schema: FormSchema, group: list[_Contribution]) -> Any:
    """The spelling of the first referral: a later form spelling a name otherwise
    ("Lea" for "Léa") does not rename the young person in Suivi."""
    present = _present(col, group)
    return present[0] if present else None


def _fiche_dates(group: list[_Contribution]) -> list[dt.date]:
    return [c.row.fields["date_fiche"] for c in group if c.row.fields.get("date_fiche")]


def _union(col: Column, schema: FormSchema, group: list[_Contribution]) -> tuple[str, ...]:
    items = {item for c in group for item in (c.row.fields.get(col.source) or ())}
    known = schema.field(col.source).values
    return tuple(v for v in known if v in items) + tuple(sorted(items - set(known)))


def _flags(col: Column, schema: FormSchema, group: list[_Contribution]) -> tuple[str, ...]:
    """Flags of each structure's latest contribution: an older, since corrected form no longer counts."""
    latest = {c.row.structure: c for c in group}
    return tuple(sorted({flag for c in latest.values() for flag in c.row.flags}))


_RULES = {
    "latest": _latest,
    "first": _first,
    "earliest": lambda col, schema, group: min(_fiche_dates(group), default=None),
    "latest_date": lambda col, schema, group: max(_fiche_dates(group), default=None),
    "first_structure": lambda col, schema, group: group[0].row.structure,
    "structures": lambda col, schema, group: tuple(sorted({c.row.structure for c in group})),
    "union": _union,
    "flags": _flags,
}


def _notice(layout: Layout, rule: str, text: str | None) -> dict[str, Any]:
    col = _column_by_rule_or_id(layout.derived, rule)
    return {col.id: cells.to_cell(text, cells.TEXT)} if col else {}


def _column_by_rule_or_id(columns: Iterable[Column], name: str) -> Column | None:
    return next((c for c in columns if c.rule == name or c.id == name), None)


def _initial_values(layout: Layout) -> dict[str, Any]:
    return {col.id: col.initial for col in layout.coordinator if col.initial is not None}


# --- contributions: what to write -----------------------------------------------------

def _contribution_changes(
    before: Mapping[str, ContributionRow], after: Mapping[str, ContributionRow], layout: Layout,
) -> tuple[tuple[NewContribution, ...], tuple[UpdateContribution, ...]]:
    new: list[NewContribution] = []
    updated: list[UpdateContribution] = []
    for key in sorted(after, key=lambda k: (after[k].situation_id, after[k].structure, k)):
        row = after[key]
        values = contribution_cells(row, layout)
        if key not in before:
            new.append(NewContribution(key, row.situation_id, row.structure, values))
            continue
        old = contribution_cells(before[key], layout)
        changed = {col: value for col, value in values.items() if old.get(col) != value}
        if changed:
            updated.append(UpdateContribution(key, row.situation_id, row.structure, changed))
    return tuple(new), tuple(updated)


def contribution_cells(row: ContributionRow, layout: Layout) -> dict[str, Any]:
    """The canonical cell values of one Contributions row, by column id."""
    own = {
        "situation_id": row.situation_id, "structure": row.structure, "source_path": row.source_path,
        "row_number": row.row_number, "source_sha256": row.source_sha256, "imported_at": row.imported_at,
        "flags": row.flags, "key": row.key, "fingerprint": row.fingerprint,
    }
    return {col.id: cells.to_cell(row.fields.get(col.source) if col.source else own.get(col.id), col.kind)
            for col in layout.contributions}
