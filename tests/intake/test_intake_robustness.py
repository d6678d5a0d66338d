"""Validation never raises, whatever the cells hold: every value ends as a field or a problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import HEADER, TODAY
from hypothesis import given, settings
from hypothesis import strategies as st

from resana_sync.errors import IntakeError
from resana_sync.intake.biff import xls_extents
from resana_sync.records import RawRow
from resana_sync.validate import validate_rows

cell_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20), st.floats(allow_nan=True),
    st.text(max_size=40), st.dates(), st.datetimes(), st.times(),
    st.sampled_from(["31/02/2011", "03/12/2012", "Oui", "non", "4ème", "Absentéisme; Santé", "-", "=A1", "\x0b"]),
)
rows = st.lists(st.fixed_dictionaries({label: cell_values for label in HEADER}), min_size=1, max_size=3)


@given(rows=rows, epoch=st.sampled_from([dt.date(1899, 12, 30), dt.date(1904, 1, 1)]))
def test_validate_rows_never_raises_and_accounts_for_every_row(schema, rows, epoch) -> None:
    raw = [RawRow(row_number=n, cells=cells, serial_epoch=epoch) for n, cells in enumerate(rows, start=2)]
    result = validate_rows(raw, schema, file="f.xlsx", structure="S", source_path="S/f.xlsx", sha256="", today=TODAY)
    assert len(result.records) + result.rejected_rows == len(rows)
    for record in result.records:
        assert {"nom", "prenom", "date_naissance", "date_fiche"} <= set(record.fields)


XLS_SAMPLE = Path(__file__).parents[1] / "data" / "samples" / "Dépôts" / "AEMO" / "fiche AEMO.xls"


@settings(max_examples=150)
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=6655), st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=8))
def test_xls_walker_survives_corrupted_files(flips) -> None:
    data = bytearray(XLS_SAMPLE.read_bytes())
    for offset, value in flips:
        data[offset] = value
    try:
        extents = xls_extents(bytes(data))
    except IntakeError:
        return
    assert all(rows <= 65536 and columns <= 256 for rows, columns in extents)
