"""Property-based tests of the merge over random histories of a watch cell.

Partners submit and re-submit (edited) forms, the coordinator edits coordinator cells and
derived cells, sorts Suivi, inserts columns, deletes rows, confirms merges, the local state is lost, the workbook goes through bytes. After
every run:

* planning again gives an empty plan (idempotent);
* no accepted contribution is lost, and every current form row is in Contributions as given;
* no coordinator cell and no hand-edited derived cell is ever overwritten;
* merges confirmed by the coordinator leave no contribution on an absorbed situation.

And the same set of forms gives the same Suivi whatever the order of files and rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from resana_sync.merge import plan_merge
from resana_sync.records import Record
from resana_sync.schema import load_schema
from resana_sync.workbook import SharedWorkbook, cells
from resana_sync.workbook.layout import layout_of

from .helpers import NOW, edit, fields

SCHEMA = load_schema()
LAYOUT = layout_of(SCHEMA)
FORM_KINDS = {c.source: c.kind for c in LAYOUT.contributions if c.source}

# A small world so that histories collide: the same people, near matches, one INE.
PEOPLE = [
    dict(nom="MARTIN", prenom="Léa", naissance=dt.date(2012, 3, 4)),
    dict(nom="MARTIN", prenom="Lena", naissance=dt.date(2012, 3, 4)),                     # typo of Léa
    dict(nom="DUBOIS", prenom="Enzo", naissance=dt.date(2012, 9, 2), ine="0123456789K"),
    dict(nom="Dubois", prenom="Enzo", naissance=dt.date(2012, 9, 2)),                     # same, no INE
    dict(nom="MOREAU", prenom="Noah", naissance=dt.date(2011, 5, 6)),
    dict(nom="MOREAU", prenom="Noah", naissance=dt.date(2011, 6, 5)),                     # day/month swapped
    dict(nom="FOURNIER", prenom="Chloé-Anne", naissance=dt.date(2013, 1, 20)),
]
STRUCTURES = ["PJJ", "AEMO", "Collège des Remparts"]
FILES = ["fiches.xlsx", "fiche 2.ods"]
FICHES = [dt.date(2025, 9, 15), dt.date(2025, 11, 3), dt.date(2026, 1, 10), dt.date(2026, 9, 7)]
CLASSES = ["6e", "5e", "4e", "3e"]
MOTIFS = ["Absentéisme", "Exclusion", "Santé", "Harcèlement"]

# Values partners never give: a hand edit is always a real difference.
HAND_DERIVED = {"nom": "CORRIGÉ", "classe": "Autre", "etablissement": "Non scolarisé"}
COORDINATOR_VALUES = {
    "statut": st.sampled_from(["En cours", "En veille", "Clôturée", None]),
    "decisions": st.text(alphabet="abc =+-@é;", max_size=12),
    "observations": st.sampled_from(["=appel famille", "RAS", None]),
    "prochaine_revue": st.sampled_from([dt.date(2026, 1, 15), None]),
}

rows = st.lists(
    st.fixed_dictionaries({
        "person": st.integers(0, len(PEOPLE) - 1),
        "classe": st.sampled_from(CLASSES),
        "fiche": st.sampled_from(FICHES),
        "famille": st.booleans(),
        "motifs": st.lists(st.sampled_from(MOTIFS), min_size=1, max_size=2, unique=True).map(tuple),
        "demande": st.sampled_from([None, "=HYPERLINK(\"x\")", "- rappel", "ok"]),
    }),
    min_size=1, max_size=3,
)
submissions = st.tuples(st.sampled_from(STRUCTURES), st.sampled_from(FILES), rows)


def form(structure: str, name: str, content: list[dict[str, Any]]) -> list[Record]:
    """The accepted records of one version of a partner's file."""
    path = f"Dépôts/{structure}/{name}"
    sha = hashlib.sha256(repr((path, content)).encode()).hexdigest()
    flags = ("Famille non informée : à vérifier avant la réunion",)
    return [
        Record(structure, path, number, fields(
            **PEOPLE[row["person"]], fiche=row["fiche"], classe=row["classe"], famille_informee=row["famille"],
            motifs=row["motifs"], demande=row["demande"],
        ), flags if not row["famille"] else (), sha)
        for number, row in enumerate(content, start=2)
    ]


def form_values(values: Any) -> tuple:
    return tuple(cells.to_cell(values.get(fid), kind) for fid, kind in sorted(FORM_KINDS.items()))


def run_once(book: SharedWorkbook, records: list[Record], pushed: Any) -> Any:
    plan = plan_merge(book.snapshot(), records, pushed, schema=SCHEMA, now=NOW)
    book.apply(plan)
    return plan


class WatchCell(RuleBasedStateMachine):
    """A shared workbook through a random history of submissions, hand edits and incidents."""

    def __init__(self) -> None:
        super().__init__()
        self.book = SharedWorkbook.open(None, SCHEMA)
        self.files: dict[tuple[str, str], list[Record]] = {}
        self.pushed: Any = None
        self.keys: set[str] = set()
        self.expected: dict[tuple[str, str], Any] = {}   # (sid, column id) -> hand value
        self.runs = 0

    def records(self) -> list[Record]:
        found = [r for version in self.files.values() for r in version]
        return found if self.runs % 2 else list(reversed(found))   # order must not matter

    def sids(self) -> list[str]:
        return sorted(row.sid for row in self.book.snapshot().suivi)

    @rule(submission=submissions, only_this_file=st.booleans())
    def partner_submits(self, submission, only_this_file):
        """Sync may give the merge every current form, or only the files that changed."""
        structure, name, content = submission
        self.files[(structure, name)] = form(structure, name, content)
        self.merge(self.files[(structure, name)] if only_this_file else None)

    @rule()
    def nightly_run_with_no_new_form(self):
        """Takes in the coordinator's edits since the last run (merges, notices); then idempotent."""
        self.merge()

    @precondition(lambda self: self.files)
    @rule(pick=st.integers(0, 50), column=st.sampled_from(sorted(COORDINATOR_VALUES)), data=st.data())
    def coordinator_edits_a_coordinator_cell(self, pick, column, data):
        value = data.draw(COORDINATOR_VALUES[column])
        self.set_cell(pick, column, value)

    @precondition(lambda self: self.files)
    @rule(pick=st.integers(0, 50), column=st.sampled_from(sorted(HAND_DERIVED)))
    def coordinator_corrects_a_derived_cell(self, pick, column):
        self.set_cell(pick, column, HAND_DERIVED[column])

    @precondition(lambda self: self.files)
    @rule(seed=st.integers(0, 2**16))
    def coordinator_sorts_suivi(self, seed):
        ws = self.book._book["Suivi"]   # the coordinator's own tool: openpyxl on the same workbook
        body = [[(c.value, c._style) for c in ws[r]] for r in range(2, ws.max_row + 1)]
        random.Random(seed).shuffle(body)
        for r, row in enumerate(body, start=2):
            for c, (value, style) in enumerate(row, start=1):
                cell = ws.cell(r, c)
                cell.value, cell._style = value, style

    @precondition(lambda self: self.files)
    @rule(pick=st.integers(0, 50), other=st.integers(0, 50))
    def coordinator_confirms_a_merge(self, pick, other):
        sids = self.sids()
        self.set_cell(pick, "fusionner_avec", sids[other % len(sids)])

    @precondition(lambda self: self.files)
    @rule(position=st.integers(1, 30))
    def coordinator_inserts_a_column(self, position):
        def insert(wb):
            ws = wb["Suivi"]
            ws.insert_cols(position)
            ws.cell(1, position).value = f"Colonne ajoutée {position}"
        self.book = SharedWorkbook.open(edit(self.book.to_bytes(), insert), SCHEMA)

    @precondition(lambda self: self.files)
    @rule(pick=st.integers(0, 50), sheet=st.sampled_from(["Suivi", "Contributions"]))
    def coordinator_deletes_a_row_then_runs(self, pick, sheet):
        """A deleted situation comes back at the end (its hand cells are gone with it); a deleted
        contribution whose form row is still there comes back too."""
        ws = self.book._book[sheet]
        row = 2 + pick % (ws.max_row - 1)
        ids = next(c.column for c in ws[1] if c.value == "Identifiant")
        if sheet == "Suivi":
            sid = ws.cell(row, ids).value
            self.expected = {key: value for key, value in self.expected.items() if key[0] != sid}
        else:   # the coordinator's deletion, not a loss by the connector
            self.keys.discard(ws.cell(row, next(c.column for c in ws[1] if c.value == "Clé")).value)
        ws.delete_rows(row)
        self.book = SharedWorkbook.open(self.book.to_bytes(), SCHEMA)
        self.merge()

    @rule()
    def local_state_is_lost(self):
        self.pushed = None

    @rule()
    def workbook_goes_through_the_server(self):
        self.book = SharedWorkbook.open(self.book.to_bytes(), SCHEMA)

    def set_cell(self, pick: int, column: str, value: Any) -> None:
        sids = self.sids()
        sid = sids[pick % len(sids)]
        ws = self.book._book["Suivi"]
        col = next(c.column for c in ws[1] if c.value == LAYOUT_TITLE[column])
        ids = next(c.column for c in ws[1] if c.value == "Identifiant")
        row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, ids).value == sid)
        cell = ws.cell(row, col)
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
        self.expected[(sid, column)] = value

    def merge(self, records: list[Record] | None = None) -> None:
        self.runs += 1
        plan = run_once(self.book, self.records() if records is None else records, self.pushed)
        self.pushed = plan.pushed_after
        again = plan_merge(self.book.snapshot(), list(reversed(self.records())), self.pushed,
                           schema=SCHEMA, now=NOW)
        assert again.is_empty, again.describe()

    @invariant()
    def no_contribution_is_ever_lost(self):
        snapshot = self.book.snapshot()
        keys = {c.key for c in snapshot.contributions}
        assert self.keys <= keys
        self.keys = keys
        held = {(c.structure, c.source_path, form_values(c.fields)) for c in snapshot.contributions}
        for record in self.records():
            assert (record.structure, record.source_path, form_values(record.fields)) in held
        sids = {row.sid for row in snapshot.suivi}
        assert {c.situation_id for c in snapshot.contributions} <= sids
        assert not {c.situation_id for c in snapshot.contributions} & set(snapshot.metadata.merged_into)

    @invariant()
    def hand_work_is_never_overwritten(self):
        rows = {row.sid: row for row in self.book.snapshot().suivi}
        for (sid, column), value in self.expected.items():
            kind = next(c.kind for c in LAYOUT.suivi if c.id == column)
            assert rows[sid].cells.get(column) == cells.from_cell(value, kind), (sid, column)


LAYOUT_TITLE = {c.id: c.title for c in LAYOUT.suivi}
TestWatchCell = WatchCell.TestCase
# At least 300 histories of up to 10 steps in every suite run (about a minute on 2 cores);
# the "thorough" profile runs 2000.
TestWatchCell.settings = settings(max_examples=max(300, settings.default.max_examples),
                                  stateful_step_count=10, deadline=None)


# --- order independence --------------------------------------------------------------------

histories = st.lists(submissions, min_size=1, max_size=5, unique_by=lambda s: (s[0], s[1]))


def suivi_content(book: SharedWorkbook) -> list[tuple]:
    return sorted(tuple(sorted((k, repr(v)) for k, v in row.cells.items())) for row in book.snapshot().suivi)


@settings(max_examples=100)   # cheap to explore; keeps the suite under its time budget
@given(histories, st.randoms(use_true_random=False))
def test_same_forms_in_any_order_give_the_same_suivi(history, rnd):
    records = [r for structure, name, content in history for r in form(structure, name, content)]
    shuffled = list(records)
    rnd.shuffle(shuffled)
    books = [SharedWorkbook.open(None, SCHEMA) for _ in range(2)]
    run_once(books[0], records, None)
    run_once(books[1], shuffled, None)
    assert suivi_content(books[0]) == suivi_content(books[1])


def canonical_suivi(book: SharedWorkbook) -> list[tuple]:
    """Suivi content with ids replaced by the set of contributions they hold."""
    snapshot = book.snapshot()
    members: dict[str, list[str]] = {}
    for c in snapshot.contributions:
        members.setdefault(c.situation_id, []).append(f"{c.structure}/{c.source_path}/{c.row_number}")
    names = {sid: "+".join(sorted(m)) for sid, m in members.items()}

    def rename(value: Any) -> str:
        return re.sub(r"\d{4}-\d{3}", lambda m: names.get(m[0], m[0]), repr(value))

    return sorted(tuple(sorted((k, rename(v)) for k, v in row.cells.items())) for row in snapshot.suivi)


@settings(max_examples=60)
@given(histories, st.randoms(use_true_random=False))
def test_same_forms_in_batches_of_any_order_give_the_same_suivi_up_to_ids(history, rnd):
    versions = [form(structure, name, content) for structure, name, content in history]
    results = []
    for order in (versions, rnd.sample(versions, len(versions))):
        book, pushed, submitted = SharedWorkbook.open(None, SCHEMA), None, []
        for version in order:
            submitted += version
            pushed = run_once(book, submitted, pushed).pushed_after
        results.append(canonical_suivi(book))
    assert results[0] == results[1]
