"""Hostile and broken files are refused before parsing, with bounded memory and time."""

from __future__ import annotations

import re
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from conftest import (
    CONTENT_TYPES,
    EMPTY_WORKBOOK,
    HEADER,
    ODS_REPEAT_BOMB,
    good_row,
    write_ods,
    write_openpyxl,
    write_xlsx_with_part,
    write_zip_bomb,
)

from resana_sync.errors import IntakeError
from resana_sync.intake import Limits, read_rows
from resana_sync.intake.guards import run_with_deadline

_MIB = 1024 * 1024


def test_zip_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """200 MiB of one shared string in a small file: refused before parsing, under 4 MiB of Python memory."""
    bomb = write_zip_bomb(tmp_path / "fiche.xlsx", 200 * _MIB)
    assert bomb.stat().st_size < 1 * _MIB
    tracemalloc.start()
    try:
        with pytest.raises(IntakeError, match="taille démesurée"):
            read_rows(bomb, bomb.name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * _MIB


def test_highly_compressed_part_under_the_size_cap_is_refused_by_ratio(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "fiche.xlsx", 8 * _MIB)
    with pytest.raises(IntakeError, match="taille démesurée"):
        read_rows(bomb, bomb.name)


def test_forged_directory_sizes_are_detected(tmp_path: Path) -> None:
    """A part whose real content is larger than its directory says: zipfile stops, the CRC fails."""
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    # Shrink the uncompressed size in the central directory entry of that part.
    name = info.filename.encode()
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError, match="endommagé"):
        read_rows(path, path.name)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode() for i in range(1, 10))
        + b']>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>'
    )
    path = write_xlsx_with_part(tmp_path / "fiche.xlsx", "xl/sharedStrings.xml", laughs, b" ", 0)
    with pytest.raises(IntakeError, match="DOCTYPE ou entités"):
        read_rows(path, path.name)


def test_doctype_hidden_after_padding_is_still_found(tmp_path: Path) -> None:
    head = b'<?xml version="1.0"?>' + b" " * (200 * 1024) + b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><sst/>'
    path = write_xlsx_with_part(tmp_path / "fiche.xlsx", "xl/sharedStrings.xml", head, b" ", 0)
    with pytest.raises(IntakeError, match="DOCTYPE"):
        read_rows(path, path.name)


def test_too_many_parts(tmp_path: Path) -> None:
    path = tmp_path / "fiche.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", EMPTY_WORKBOOK)
        for i in range(30):
            archive.writestr(f"xl/media/image{i}.png", b"x")
    with pytest.raises(IntakeError, match=r"trop d'éléments internes \(32 ; au plus 20\)"):
        read_rows(path, path.name, limits=Limits(max_parts=20))


def test_file_size_cap(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    with pytest.raises(IntakeError, match="trop volumineux"):
        read_rows(path, path.name, limits=Limits(max_file_bytes=1000))


def test_total_uncompressed_cap(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    with pytest.raises(IntakeError, match="taille démesurée"):
        read_rows(path, path.name, limits=Limits(max_total_bytes=2000))


def test_parse_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    monkeypatch.setattr("resana_sync.intake.read_sheets", lambda *_: time.sleep(5))
    started = time.monotonic()
    with pytest.raises(IntakeError, match="dépassé 0,2 secondes"):
        read_rows(path, path.name, limits=Limits(parse_seconds=0.2))
    assert time.monotonic() - started < 2


def test_run_with_deadline_returns_value_and_reraises_errors() -> None:
    assert run_with_deadline(lambda: 42, 5) == 42
    with pytest.raises(ZeroDivisionError):
        run_with_deadline(lambda: 1 / 0, 5)


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1   # general purpose flag: encrypted
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError, match="mot de passe"):
        read_rows(path, path.name)


def test_sheet_with_too_many_rows_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resana_sync.intake.readers.MAX_SHEET_ROWS", 50)
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, *([good_row()] * 60)])
    with pytest.raises(IntakeError, match=r"bien trop grand \(61 lignes"):
        read_rows(path, path.name)


def test_far_away_cells_are_refused_before_calamine_allocates_them(tmp_path: Path) -> None:
    """A1 and XFD1048576: calamine would try to allocate 17 billion cells and abort the process."""
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Nom"
    workbook.active["XFD1048576"] = "x"
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    with pytest.raises(IntakeError, match=r"zone démesurée \(1048576 lignes sur 16384 colonnes\)"):
        read_rows(path, path.name)


def test_ods_repeated_rows_bomb_is_refused(tmp_path: Path) -> None:
    """A few hundred bytes declaring 10^5 rows of 10^3 filled cells each."""
    path = write_ods(tmp_path / "fiche.ods", [], raw_rows_xml=ODS_REPEAT_BOMB)
    assert path.stat().st_size < 2000
    with pytest.raises(IntakeError, match=r"zone démesurée \(100000 lignes sur 1000 colonnes\)"):
        read_rows(path, path.name)


def test_libreoffice_trailing_empty_repeats_are_not_counted(tmp_path: Path) -> None:
    """LibreOffice pads rows and sheets with huge repeated *empty* cells; they allocate nothing."""
    padding = ('<table:table-row table:number-rows-repeated="1048574"><table:table-cell '
               'table:number-columns-repeated="16384"/></table:table-row>')
    path = write_ods(tmp_path / "fiche.ods", [HEADER, good_row()], raw_rows_xml=padding)
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]


def test_a_long_hidden_list_sheet_is_accepted(tmp_path: Path) -> None:
    """Hidden reference lists may be long (more rows than a visible form may have): not a bomb."""
    path = tmp_path / "fiche.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    form = workbook.add_worksheet("Fiches")
    for r, row in enumerate([HEADER, good_row(date_fiche="04/11/2025", date_naissance="12/03/2012")]):
        form.write_row(r, 0, row)
    lists = workbook.add_worksheet("Établissements")
    for r in range(12000):
        lists.write_row(r, 0, [f"Collège {r}", "Ville", "0170000X"])
    lists.hide()
    workbook.close()
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]


def _strip_cell_references(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = re.sub(rb'(<c) r="[A-Z]+[0-9]+"', rb"\1", parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_cells_without_references_are_located_by_position(tmp_path: Path) -> None:
    path = write_openpyxl(tmp_path / "fiche.xlsx", [HEADER, good_row()])
    _strip_cell_references(path)
    assert [r.cells["Nom"] for r in read_rows(path, path.name)] == ["DURAND"]
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Nom"
    workbook.active["A1048576"] = "x"
    far = tmp_path / "far.xlsx"
    workbook.save(far)
    _strip_cell_references(far)
    with pytest.raises(IntakeError, match=r"zone démesurée \(1048576 lignes"):
        read_rows(far, far.name, limits=Limits(max_cells=1000))


XLS_SAMPLE = Path(__file__).parents[1] / "data" / "samples" / "Dépôts" / "AEMO" / "fiche AEMO.xls"


def test_xls_with_one_far_away_cell_is_refused_before_calamine(tmp_path: Path) -> None:
    """Patched LibreOffice xls: one LABELSST cell moved to row 65536, column 256 (calamine: ~1 GiB)."""
    data = bytearray(XLS_SAMPLE.read_bytes())
    cell = data.find(b"\xfd\x00\x0a\x00")
    data[cell + 4:cell + 8] = (65535).to_bytes(2, "little") + (255).to_bytes(2, "little")
    path = tmp_path / "fiche.xls"
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError, match=r"zone démesurée \(65536 lignes sur 256 colonnes\)"):
        read_rows(path, path.name)


def test_xls_with_a_cyclic_sector_chain_is_named_damaged(tmp_path: Path) -> None:
    data = bytearray(XLS_SAMPLE.read_bytes())
    first_fat_sector = int.from_bytes(data[0x4C:0x50], "little")
    fat = (first_fat_sector + 1) * 512
    data[fat:fat + 512] = (1).to_bytes(4, "little") * 128   # every sector points to sector 1
    path = tmp_path / "fiche.xls"
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError, match="endommagé"):
        read_rows(path, path.name)


def _patched_dimensions(tmp_path: Path, first_row: int, end_row: int, end_col: int) -> Path:
    data = bytearray(XLS_SAMPLE.read_bytes())
    record = data.find(b"\x00\x02\x0e\x00")   # DIMENSIONS, BIFF8 length 14
    data[record + 4:record + 16] = struct.pack("<IIHH", first_row, end_row, 0, end_col)
    path = tmp_path / "fiche.xls"
    path.write_bytes(bytes(data))
    return path


def test_xls_reversed_dimensions_are_damaged_not_a_crash(tmp_path: Path) -> None:
    """Found by fuzzing: calamine sizes its grid from DIMENSIONS and aborted on this one (1.9 TB)."""
    path = _patched_dimensions(tmp_path, first_row=0x53000000, end_row=2, end_col=17)
    with pytest.raises(IntakeError, match="endommagé"):
        read_rows(path, path.name)


def test_xls_forged_large_dimensions_are_refused(tmp_path: Path) -> None:
    path = _patched_dimensions(tmp_path, first_row=0, end_row=65536, end_col=256)
    with pytest.raises(IntakeError, match=r"zone démesurée \(65536 lignes sur 256 colonnes\)"):
        read_rows(path, path.name)


def test_forged_shared_strings_count_is_refused(tmp_path: Path) -> None:
    """Found by probing: calamine reserves uniqueCount strings up front (4 billion: 96 GB, abort)."""
    source = Path(__file__).parents[1] / "data" / "samples" / "Dépôts" / "CMPA" / "fiche CMPA.xlsx"
    with zipfile.ZipFile(source) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/sharedStrings.xml"] = re.sub(rb'uniqueCount="\d+"', b'uniqueCount="4000000000"', parts["xl/sharedStrings.xml"])
    path = tmp_path / "fiche.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(IntakeError, match="annonce 4000000000 textes partagés"):
        read_rows(path, path.name)


def test_forged_shared_strings_count_behind_a_long_comment_is_refused(tmp_path: Path) -> None:
    prolog = b'<?xml version="1.0"?><!--' + b"x" * 300_000 + b"-->"
    sst = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="4000000000">'
    path = write_xlsx_with_part(tmp_path / "fiche.xlsx", "xl/sharedStrings.xml", prolog + sst, b" ", 0,
                                b"<si><t>x</t></si></sst>")
    with pytest.raises(IntakeError, match="textes partagés"):
        read_rows(path, path.name)


def test_too_many_merged_ranges_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resana_sync.intake.readers.MAX_MERGED_RANGES", 3)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(good_row())
    for row in range(3, 8):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
    path = tmp_path / "fiche.xlsx"
    workbook.save(path)
    with pytest.raises(IntakeError, match=r"trop de cellules fusionnées \(5 ; au plus 3\)"):
        read_rows(path, path.name)
