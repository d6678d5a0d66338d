"""Cell extents of a legacy xls workbook, read before calamine allocates its grid.

calamine builds a dense grid from the first to the last cell of each sheet: a 6 KB xls
with one cell at row 65 536, column 256 costs it about 1 GiB. This module finds the
workbook stream in the OLE2 compound file (a minimal reader: FAT, mini FAT, directory)
and walks the BIFF records to find each sheet's last row and column holding a cell.
It reads at most the file (already capped by the guards) and follows every sector
chain with a step bound, so a hostile file with cyclic chains cannot loop.
"""

from __future__ import annotations

import struct

from ..errors import IntakeError

_ENDOFCHAIN = 0xFFFFFFFE
_FREESECT = 0xFFFFFFFF
_HEADER_DIFAT = 109
_DIR_ENTRY = 128
_STREAM, _ROOT = 2, 5
_WORKBOOK_NAMES = ("Workbook", "Book")

_BOF, _EOF = 0x0809, 0x000A
_WORKSHEET = 0x0010
# Records whose data starts with row, column (2 bytes each).
_CELL_RECORDS = {0x0006, 0x00D6, 0x00FD, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E}
# Records holding a run of cells: row, first column ... last column (last 2 bytes).
_MULTI_RECORDS = {0x00BD, 0x00BE}


def xls_extents(data: bytes) -> list[tuple[int, int]]:
    """(rows, columns) spanned from A1 by the cells of each worksheet of an xls file."""
    try:
        return _biff_extents(workbook_stream(data))
    except (struct.error, IndexError, ValueError) as exc:
        raise _damaged() from exc


def _damaged() -> IntakeError:
    return IntakeError(
        "Le classeur Excel 97-2003 est endommagé (structure interne illisible). "
        "Ouvrez-le, enregistrez-le au format Excel (.xlsx) puis déposez-le à nouveau."
    )


def workbook_stream(data: bytes) -> bytes:
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if not 7 <= shift <= 16 or not 2 <= mini_shift < shift:
        raise ValueError("sector sizes")
    size, mini_size = 1 << shift, 1 << mini_shift
    (fat_count, dir_start, _, cutoff, minifat_start, minifat_count, difat_start, difat_count) = struct.unpack_from(
        "<IIIIIIII", data, 0x2C
    )
    sectors = -(-(len(data) - size) // size)   # the last sector may be cut short

    def sector(number: int) -> bytes:
        offset = (number + 1) * size
        if offset >= len(data):
            raise ValueError("sector outside the file")
        return data[offset:offset + size]

    fat_sectors = list(struct.unpack_from(f"<{_HEADER_DIFAT}I", data, 0x4C))
    next_difat = difat_start
    for _ in range(min(difat_count, sectors)):
        if next_difat in (_ENDOFCHAIN, _FREESECT):
            break
        entries = struct.unpack(f"<{size // 4}I", sector(next_difat))
        fat_sectors.extend(entries[:-1])
        next_difat = entries[-1]
    fat_sectors = [s for s in fat_sectors[:fat_count] if s not in (_ENDOFCHAIN, _FREESECT)]
    fat = [entry for s in fat_sectors for entry in struct.unpack(f"<{size // 4}I", sector(s))]

    def chain(start: int, table: list[int], limit: int) -> list[int]:
        numbers = []
        current = start
        while current not in (_ENDOFCHAIN, _FREESECT):
            if len(numbers) > limit or current >= len(table):
                raise ValueError("broken or cyclic sector chain")
            numbers.append(current)
            current = table[current]
        return numbers

    directory = b"".join(sector(n) for n in chain(dir_start, fat, sectors))
    entries = [directory[i:i + _DIR_ENTRY] for i in range(0, len(directory) - _DIR_ENTRY + 1, _DIR_ENTRY)]
    root = next(e for e in entries if e[66] == _ROOT)
    for entry in entries:
        name_length = struct.unpack_from("<H", entry, 64)[0]
        name = entry[:max(0, name_length - 2)].decode("utf-16-le", errors="replace")
        if entry[66] != _STREAM or name not in _WORKBOOK_NAMES:
            continue
        start, length = struct.unpack_from("<II", entry, 116)
        if length >= cutoff:
            stream = b"".join(sector(n) for n in chain(start, fat, sectors))
            return stream[:length]
        minifat_bytes = b"".join(sector(n) for n in chain(minifat_start, fat, min(minifat_count, sectors)))
        minifat = list(struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes))
        root_start, root_length = struct.unpack_from("<II", root, 116)
        ministream = b"".join(sector(n) for n in chain(root_start, fat, sectors))[:root_length]
        numbers = chain(start, minifat, len(ministream) // mini_size + 1)
        return b"".join(ministream[n * mini_size:(n + 1) * mini_size] for n in numbers)[:length]
    raise ValueError("no workbook stream")


def _biff_extents(stream: bytes) -> list[tuple[int, int]]:
    extents: list[tuple[int, int]] = []
    in_sheet = False
    max_row = max_col = -1
    position = 0
    while position + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, position)
        record = stream[position + 4:position + 4 + length]
        position += 4 + length
        if kind == _BOF:
            in_sheet = len(record) >= 4 and struct.unpack_from("<H", record, 2)[0] == _WORKSHEET
            max_row = max_col = -1
        elif kind == _EOF:
            if in_sheet and max_row >= 0:
                extents.append((max_row + 1, max_col + 1))
            in_sheet = False
        elif in_sheet and kind in _CELL_RECORDS and len(record) >= 4:
            row, col = struct.unpack_from("<HH", record, 0)
            max_row, max_col = max(max_row, row), max(max_col, col)
        elif in_sheet and kind in _MULTI_RECORDS and len(record) >= 6:
            row = struct.unpack_from("<H", record, 0)[0]
            last_col = struct.unpack_from("<H", record, len(record) - 2)[0]
            max_row, max_col = max(max_row, row), max(max_col, last_col)
    return extents
