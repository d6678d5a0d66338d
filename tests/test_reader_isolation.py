"""A partner file that kills or hangs its reader is rejected; the run goes on."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from resana_sync.intake import check_file
from resana_sync.intake.isolation import CRASHED, TOO_SLOW, IsolatedReader
from resana_sync.schema import load_schema

SCHEMA = load_schema()
FORM = Path(__file__).parent / "data" / "samples" / "Dépôts" / "AEMO" / "fiche AEMO.xls"
KW = {"structure": "AEMO", "source_path": "Dépôts/AEMO/x", "sha256": "0", "today": dt.date(2025, 11, 20)}


def hostile_reader(path, schema, *, display_name, **kwargs):  # noqa: ANN001, ANN201 - runs in the worker
    """Stands for native code failing on a file: an abort, a hang, a runaway allocation."""
    if display_name == "abort.xlsx":
        os.abort()
    if display_name == "hang.xlsx":
        time.sleep(60)
    if display_name == "hog.xlsx":
        bytearray(8 * 1024 * 1024 * 1024)
    return check_file(path, schema, display_name=display_name, **kwargs)


def test_a_reader_that_aborts_hangs_or_runs_out_of_memory_rejects_only_that_file() -> None:
    with IsolatedReader(work=hostile_reader, deadline=2, memory_limit=1024 * 1024 * 1024) as reader:
        before = reader.check_file(FORM, SCHEMA, display_name="fiche AEMO.xls", **KW)
        aborted = reader.check_file(FORM, SCHEMA, display_name="abort.xlsx", **KW)
        hung = reader.check_file(FORM, SCHEMA, display_name="hang.xlsx", **KW)
        hog = reader.check_file(FORM, SCHEMA, display_name="hog.xlsx", **KW)
        after = reader.check_file(FORM, SCHEMA, display_name="fiche AEMO.xls", **KW)

    assert len(before.records) == len(after.records) == 1
    for result, reason in ((aborted, CRASHED), (hung, TOO_SLOW), (hog, CRASHED)):
        assert result.file_rejected and not result.records
        assert [p.reason for p in result.problems] == [reason]


def failing_machine(path, schema, *, display_name, **kwargs):  # noqa: ANN001, ANN201 - runs in the worker
    raise OSError(28, "No space left on device")


def test_a_machine_error_while_reading_defers_the_file_instead_of_blaming_the_partner() -> None:
    import pytest

    from resana_sync.errors import StorageError

    with IsolatedReader(work=failing_machine) as reader:
        with pytest.raises(StorageError, match="prochaine synchronisation"):
            reader.check_file(FORM, SCHEMA, display_name="fiche AEMO.xls", **KW)
