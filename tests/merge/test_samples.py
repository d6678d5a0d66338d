"""The sample tree of ../shared/samples through intake and the merge: 7 situations, 9 contributions,
and a second merge over the same forms (in another order) changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from resana_sync.intake import check_file, is_artefact
from resana_sync.merge import plan_merge
from resana_sync.workbook import SharedWorkbook

from .helpers import NOW

SAMPLES = Path(__file__).parents[1] / "data" / "samples"


def sample_records(schema):
    records = []
    for path in sorted((SAMPLES / "Dépôts").rglob("*")):
        if path.is_dir() or is_artefact(path.name):
            continue
        structure = path.parent.name
        validation = check_file(path, schema, display_name=path.name, structure=structure,
                                source_path=f"Dépôts/{structure}/{path.name}",
                                sha256=hashlib.sha256(path.read_bytes()).hexdigest(), today=dt.date(2025, 12, 1))
        records += validation.records
    return records


def test_sample_tree_gives_seven_situations_and_nine_contributions(schema):
    records = sample_records(schema)
    book = SharedWorkbook.open(None, schema)
    plan = plan_merge(book.snapshot(), records, None, schema=schema, now=NOW)
    book.apply(plan)
    snapshot = SharedWorkbook.open(book.to_bytes(), schema).snapshot()
    assert (len(snapshot.suivi), len(snapshot.contributions)) == (7, 9)
    structures = sorted(row.cells["structures"] for row in snapshot.suivi)
    assert "Collège des Remparts ; PJJ" in structures and "AEMO ; Centres sociaux" in structures
    again = plan_merge(snapshot, list(reversed(records)), plan.pushed_after, schema=schema, now=NOW)
    assert again.is_empty
