"""What saving with openpyxl would drop from a workbook, found in its original bytes."""

from __future__ import annotations


def losses(original: bytes) -> list[str]:
    return []
