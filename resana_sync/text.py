"""Text normalisation shared by intake, validation, identity matching and the workbook."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters except tab, LF and CR (Excel and XML refuse them; Word pastes them).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """NFC, control characters removed, surrounding whitespace trimmed."""
    return CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", value)).strip()


def strip_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(value: str) -> str:
    """A comparison key for labels and list values: case, accents, punctuation spacing folded."""
    text = strip_accents(clean_text(value)).casefold()
    text = text.replace("’", "'").replace("œ", "oe")
    text = re.sub(r"\s*([()/:?'.,-])\s*", r"\1", text)
    return _SPACES.sub(" ", text).strip(" :?*")   # "Nom *": forms mark required fields with a star


def fold_name(value: str) -> str:
    """Identity key for a person's name: case, accents, hyphens, apostrophes and spaces folded."""
    text = strip_accents(clean_text(value)).casefold()
    return re.sub(r"[\s\-'’.]+", "", text)
