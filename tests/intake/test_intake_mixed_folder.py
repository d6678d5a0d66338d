"""A folder that mixes every kind of input: each file ends in a clear outcome, memory stays bounded."""

from __future__ import annotations

import resource
import shutil
import tracemalloc
from pathlib import Path

import openpyxl
from conftest import (
    HEADER,
    ODS_REPEAT_BOMB,
    good_row,
    write_compound_file,
    write_french_excel_csv,
    write_ods,
    write_xlsx_with_part,
    write_zip_bomb,
)

from resana_sync.intake import is_artefact
from resana_sync.records import Outcome

_MIB = 1024 * 1024
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
          b"<sst><si><t>&b;</t></si></sst>")


def _mixed_folder(root: Path, samples: Path) -> Path:
    folder = root / "Mélange"
    folder.mkdir()
    for path in samples.rglob("*"):
        if path.is_file():
            shutil.copy(path, folder / path.name)
    (folder / "page.xlsx").write_bytes(b"<!DOCTYPE html><html><body>Session expir\xc3\xa9e</body></html>")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.7\n")
    (folder / "vide.xlsx").write_bytes(b"")
    write_zip_bomb(folder / "bombe.xlsx", 100 * _MIB)
    write_xlsx_with_part(folder / "rires.xlsx", "xl/sharedStrings.xml", LAUGHS, b" ", 0)
    far = openpyxl.Workbook()
    far.active["A1"], far.active["XFD1048576"] = "Nom", "x"
    far.save(folder / "loin.xlsx")
    write_ods(folder / "repetitions.ods", [], raw_rows_xml=ODS_REPEAT_BOMB)
    write_compound_file(folder / "protege.xlsx", b"\x00" * 5000, name="EncryptionInfo")
    write_french_excel_csv(folder / "liste.csv", [HEADER, good_row(nom="A"), good_row(nom="")])
    return folder


def test_every_file_of_a_mixed_folder_ends_in_an_outcome(tmp_path: Path, samples_space: Path, check) -> None:
    folder = _mixed_folder(tmp_path, samples_space / "Dépôts")
    outcomes: dict[str, tuple[Outcome, int, int]] = {}
    tracemalloc.start()
    try:
        for path in sorted(folder.iterdir()):
            if is_artefact(path.name):
                outcomes[path.name] = (Outcome.IGNORED, 0, 0)
                continue
            result = check(path)
            assert result.problems or result.records, path.name   # never silent
            outcomes[path.name] = (result.outcome(), len(result.records), result.rejected_rows)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rejected_file = (Outcome.REJECTED, 0, 0)
    assert outcomes == {
        ".DS_Store": (Outcome.IGNORED, 0, 0), "Thumbs.db": (Outcome.IGNORED, 0, 0),
        "~$Fiches novembre.xlsx": (Outcome.IGNORED, 0, 0), ".~lock.Fiches novembre.xlsx#": (Outcome.IGNORED, 0, 0),
        "Fiches novembre.xlsx": (Outcome.IMPORTED, 3, 0), "Situation MARTIN Léa.ods": (Outcome.IMPORTED, 1, 0),
        "export_situations.csv": (Outcome.IMPORTED, 2, 0), "fiche CMPA.xlsx": (Outcome.IMPORTED, 1, 0),
        "fiches arsenal.xlsx": (Outcome.IMPORTED, 1, 2), "fiche AEMO.xls": (Outcome.IMPORTED, 1, 0),
        "liste.csv": (Outcome.IMPORTED, 1, 1),
        "page.xlsx": rejected_file, "scan.pdf": rejected_file, "vide.xlsx": rejected_file, "bombe.xlsx": rejected_file,
        "rires.xlsx": rejected_file, "loin.xlsx": rejected_file, "repetitions.ods": rejected_file,
        "protege.xlsx": rejected_file,
    }
    assert python_peak < 16 * _MIB, python_peak
    # Whole-process high-water mark, Rust allocations included (Linux reports KiB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < 1024 * _MIB
