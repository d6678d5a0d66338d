"""Is it the same young person? Pure functions, no I/O.

Two descriptions are the same person when both carry an INE and the INEs are equal;
otherwise when the folded last name, folded first name and birth date are equal.
Near matches (a one-letter typo in a name with the same birth date, day and month
swapped, first and last name swapped, same person but different INEs) are only ever
flagged for the coordinator, never merged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .text import fold_name


@dataclass(frozen=True, order=True)
class Identity:
    """The identity part of one description of a young person, already folded."""

    nom: str
    prenom: str
    naissance: dt.date | None
    ine: str = ""

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Identity:
        """Identity of a form record's fields, or of the identity cells of a Suivi row."""
        return cls(
            nom=_folded(fields.get("nom")),
            prenom=_folded(fields.get("prenom")),
            naissance=_as_date(fields.get("date_naissance")),
            ine=_ine(fields.get("ine")),
        )

    @property
    def key(self) -> str:
        """A total, deterministic sort key (no personal data leaves the process with it)."""
        born = self.naissance.isoformat() if self.naissance else ""
        return f"{self.nom}|{self.prenom}|{born}|{self.ine}"

    @property
    def has_names(self) -> bool:
        return bool(self.nom and self.prenom and self.naissance)


def same_person(a: Identity, b: Identity) -> bool:
    if a.ine and b.ine:
        return a.ine == b.ine
    return a.has_names and b.has_names and (a.nom, a.prenom, a.naissance) == (b.nom, b.prenom, b.naissance)


def near_match(a: Identity, b: Identity) -> bool:
    """True when a and b may be one person but the identity rule says they are not."""
    if same_person(a, b) or not (a.has_names and b.has_names):
        return False
    same_names = (a.nom, a.prenom) == (b.nom, b.prenom)
    if a.naissance == b.naissance:
        return (
            same_names  # same person by name, but different INEs: one INE is probably mistyped
            or (a.nom, a.prenom) == (b.prenom, b.nom)
            or (a.nom == b.nom and _one_edit_apart(a.prenom, b.prenom))
            or (a.prenom == b.prenom and _one_edit_apart(a.nom, b.nom))
        )
    return same_names and _swapped_day_month(a.naissance) == b.naissance


def blocking_keys(identity: Identity) -> tuple[str, ...]:
    """Keys such that any two near-matching identities share at least one of them.

    They let callers compare only plausible pairs instead of every pair of situations.
    """
    keys = []
    if identity.naissance:
        keys.append(f"d:{identity.naissance.isoformat()}")
    if identity.nom and identity.prenom:
        keys.append("n:" + "|".join(sorted((identity.nom, identity.prenom))))
    if identity.ine:
        keys.append(f"i:{identity.ine}")
    return tuple(keys)


def _one_edit_apart(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or transposition of adjacent letters."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if len(diffs) == 1:
            return True
        return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and (a[diffs[0]], a[diffs[1]]) == (b[diffs[1]], b[diffs[0]])
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


def _swapped_day_month(day: dt.date | None) -> dt.date | None:
    if day is None or day.day > 12 or day.day == day.month:
        return None
    return day.replace(month=day.day, day=day.month)


def _folded(value: Any) -> str:
    return fold_name(value) if isinstance(value, str) else ""


def _ine(value: Any) -> str:
    return "".join(value.split()).upper() if isinstance(value, str) else ""


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None
