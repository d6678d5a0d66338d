"""Formulas whose result was never saved.

A workbook written by a program (not by a spreadsheet application) may hold formulas
without their cached value; every reader then sees those cells as empty, and a partner
would be told "information obligatoire manquante" for a cell that looks filled on their
screen. Counting them lets the report say why, and what to do (open and save the file).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.parsers import expat

from .sniff import ZIP_ERRORS

_CHUNK = 64 * 1024


def formulas_without_values(path: Path) -> int:
    """How many cells of the xlsx's worksheets have a formula but no saved value (0 when the
    parts cannot be scanned: this only adds an explanation, it never refuses a file).
    The worksheets are streamed (the guards have already capped their size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
            return sum(_count(archive, name) for name in sheets)
    except (*ZIP_ERRORS, expat.ExpatError, LookupError):  # LookupError: an unknown XML encoding
        return 0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _count(archive: zipfile.ZipFile, name: str) -> int:
    # A value is there when <v> (or an inline string) holds text: openpyxl writes "<v></v>".
    # A formula cell typed "str" with a <v> did save its result: the empty string.
    state = {"f": False, "v": False, "in_v": False, "text": False, "count": 0}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "c":
            state["f"] = state["v"] = False
            state["text"] = attrs.get("t") == "str"
        elif local == "f":
            state["f"] = True
        elif local in ("v", "t"):
            state["in_v"] = True
            state["v"] = state["v"] or bool(state["text"])

    def text(data: str) -> None:
        if state["in_v"] and data.strip():
            state["v"] = True

    def end(tag: str) -> None:
        local = _local(tag)
        if local in ("v", "t"):
            state["in_v"] = False
        elif local == "c" and state["f"] and not state["v"]:
            state["count"] += 1

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    with archive.open(name) as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return int(state["count"])
