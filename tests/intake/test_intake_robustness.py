"""Validation never raises, whatever the cells hold: every value ends as a field or a problem."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from conftest import HEADER, TODAY
from hypothesis import given, settings
from hypothesis import strategies as st

from resana_sync.errors import IntakeError
from resana_sync.intake import UNEXPECTED_MESSAGE, check_file
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
    assert all(0 < rows <= 65536 and 0 < columns <= 65536 for rows, columns in extents)   # 16-bit BIFF fields


SAMPLES = Path(__file__).parents[1] / "data" / "samples" / "Dépôts"
ZIP_SAMPLES = [SAMPLES / "Collège des Remparts" / "Fiches novembre.xlsx", SAMPLES / "PJJ" / "Situation MARTIN Léa.ods"]


def _mutated_zip(source: Path, part_choice: int, edits: list[tuple[int, int]], recompress: bool) -> bytes:
    """Flip bytes in one XML part, then either rebuild the zip (valid CRCs) or keep the raw bytes."""
    data = source.read_bytes()
    if not recompress:
        raw = bytearray(data)
        for offset, value in edits:
            raw[offset % len(raw)] = value
        return bytes(raw)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    xml_parts = sorted(name for name in parts if name.endswith(".xml"))
    name = xml_parts[part_choice % len(xml_parts)]
    body = bytearray(parts[name])
    for offset, value in edits:
        body[offset % len(body)] = value
    parts[name] = bytes(body)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, content in parts.items():
            archive.writestr(part, content)
    return out.getvalue()


@settings(max_examples=120)
@given(source=st.sampled_from(ZIP_SAMPLES), part_choice=st.integers(0, 50), recompress=st.booleans(),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(list(b'<>"=/0123456789 aZ\x00\xff'))),
                      min_size=1, max_size=10))
def test_corrupted_workbooks_end_in_a_named_outcome(tmp_path_factory, schema, source, part_choice, edits, recompress):
    path = tmp_path_factory.mktemp("fuzz") / source.name
    path.write_bytes(_mutated_zip(source, part_choice, edits, recompress))
    result = check_file(path, schema, display_name=path.name, structure="S", source_path="p", sha256="", today=TODAY)
    assert len(result.records) + result.rejected_rows > 0 or result.problems
    assert all(UNEXPECTED_MESSAGE not in p.message for p in result.problems)
