"""Cell extents of a legacy xls workbook, read before calamine allocates its grid.

calamine builds a dense grid from the first to the last cell of each sheet: a 6 KB xls
with one cell at row 65 536, column 256 costs it about 1 GiB. This module finds the
workbook stream in the OLE2 compound file (a minimal reader: FAT, mini FAT, directory)
and walks the BIFF records to find each sheet's last row and column holding a cell, or
declared by its DIMENSIONS record (calamine trusts that record to size its grid).
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

_BOF, _EOF, _DIMENSIONS = 0x0809, 0x000A, 0x0200
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
    """The BIFF workbook stream of an OLE2 compound file (ValueError/struct.error if broken)."""
    return _CompoundFile(data).stream(_WORKBOOK_NAMES)


class _CompoundFile:
    """Just enough of [MS-CFB] to read one stream: header, DIFAT, FAT, directory, mini stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if not 7 <= shift <= 16 or not 2 <= mini_shift < shift:
            raise ValueError("sector sizes")
        self.size, self.mini_size = 1 << shift, 1 << mini_shift
        (fat_count, self.dir_start, _, self.cutoff, self.minifat_start, self.minifat_count,
         difat_start, difat_count) = struct.unpack_from("<IIIIIIII", data, 0x2C)
        self.sectors = -(-(len(data) - self.size) // self.size)   # the last sector may be cut short
        self.fat = self._fat(fat_count, difat_start, difat_count)

    def sector(self, number: int) -> bytes:
        offset = (number + 1) * self.size
        if offset >= len(self.data):
            raise ValueError("sector outside the file")
        return self.data[offset:offset + self.size]

    def _entries(self, number: int) -> tuple[int, ...]:
        return struct.unpack(f"<{self.size // 4}I", self.sector(number))

    def _fat(self, fat_count: int, difat_start: int, difat_count: int) -> list[int]:
        fat_sectors = list(struct.unpack_from(f"<{_HEADER_DIFAT}I", self.data, 0x4C))
        next_difat = difat_start
        for _ in range(min(difat_count, self.sectors)):
            if next_difat in (_ENDOFCHAIN, _FREESECT):
                break
            entries = self._entries(next_difat)
            fat_sectors.extend(entries[:-1])
            next_difat = entries[-1]
        used = [s for s in fat_sectors[:fat_count] if s not in (_ENDOFCHAIN, _FREESECT)]
        return [entry for s in used for entry in self._entries(s)]

    @staticmethod
    def chain(start: int, table: list[int], limit: int) -> list[int]:
        """Sector numbers from ``start``; a chain longer than ``limit`` is cyclic or forged."""
        numbers = []
        current = start
        while current not in (_ENDOFCHAIN, _FREESECT):
            if len(numbers) > limit or current >= len(table):
                raise ValueError("broken or cyclic sector chain")
            numbers.append(current)
            current = table[current]
        return numbers

    def _read(self, start: int) -> bytes:
        return b"".join(self.sector(n) for n in self.chain(start, self.fat, self.sectors))

    def stream(self, names: tuple[str, ...]) -> bytes:
        directory = self._read(self.dir_start)
        entries = [directory[i:i + _DIR_ENTRY] for i in range(0, len(directory) - _DIR_ENTRY + 1, _DIR_ENTRY)]
        for entry in entries:
            if entry[66] == _STREAM and _entry_name(entry) in names:
                start, length = struct.unpack_from("<II", entry, 116)
                if length >= self.cutoff:
                    return self._read(start)[:length]
                root = next((e for e in entries if e[66] == _ROOT), None)
                if root is None:
                    raise ValueError("no root entry")
                return self._read_mini(root, start)[:length]
        raise ValueError("no workbook stream")

    def _read_mini(self, root: bytes, start: int) -> bytes:
        minifat_bytes = b"".join(
            self.sector(n) for n in self.chain(self.minifat_start, self.fat, min(self.minifat_count, self.sectors))
        )
        minifat = list(struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes))
        root_start, root_length = struct.unpack_from("<II", root, 116)
        ministream = self._read(root_start)[:root_length]
        numbers = self.chain(start, minifat, len(ministream) // self.mini_size + 1)
        return b"".join(ministream[n * self.mini_size:(n + 1) * self.mini_size] for n in numbers)


def _entry_name(entry: bytes) -> str:
    length = struct.unpack_from("<H", entry, 64)[0]
    return entry[:max(0, min(length, 64) - 2)].decode("utf-16-le", errors="replace")


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
        elif in_sheet and kind == _DIMENSIONS:
            # calamine sizes its grid from this record: a forged one must count, and a
            # reversed one (first row after last) is refused outright.
            last_row, last_col = _dimensions(record)
            max_row, max_col = max(max_row, last_row - 1), max(max_col, last_col - 1)
        elif in_sheet and kind in _CELL_RECORDS and len(record) >= 4:
            row, col = struct.unpack_from("<HH", record, 0)
            max_row, max_col = max(max_row, row), max(max_col, col)
        elif in_sheet and kind in _MULTI_RECORDS and len(record) >= 6:
            row = struct.unpack_from("<H", record, 0)[0]
            last_col = struct.unpack_from("<H", record, len(record) - 2)[0]
            max_row, max_col = max(max_row, row), max(max_col, last_col)
    return extents


def _dimensions(record: bytes) -> tuple[int, int]:
    """(last row + 1, last column + 1) of a DIMENSIONS record (BIFF8: 32-bit rows; BIFF5: 16-bit)."""
    if len(record) >= 14:
        first_row, end_row, first_col, end_col = struct.unpack_from("<IIHH", record, 0)
    else:
        first_row, end_row, first_col, end_col = struct.unpack_from("<HHHH", record, 0)
    if first_row > end_row or first_col > end_col:
        raise ValueError("reversed sheet dimensions")
    return end_row, end_col
