from __future__ import annotations

import unicodedata

import pytest

from resana_sync.intake import is_artefact


@pytest.mark.parametrize(
    "name",
    [
        "~$Fiches novembre.xlsx", ".~lock.Fiches novembre.xlsx#", "._Fiches.xlsx", ".DS_Store", "Thumbs.db",
        "desktop.ini", "Desktop.ini", "fiche.xlsx.part", "fiche.xlsx.filepart", "fiche.tmp", "fiche.xlsx~",
        "A1B2C3D4", "Fiches (conflicted copy 2025-11-04).xlsx", "Fiches_conflict-20251104-101010.xlsx",
        "Dépôts/PJJ/~$Situation.xlsx", unicodedata.normalize("NFD", "~$Élève.xlsx"),
        unicodedata.normalize("NFD", "Fiche Léa (conflicted copy).xlsx"),
    ],
)
def test_artefacts_are_recognised(name: str) -> None:
    assert is_artefact(name) is True


@pytest.mark.parametrize(
    "name",
    [
        "Fiches novembre.xlsx", "Situation MARTIN Léa.ods", "export_situations.csv", "fiche AEMO.xls",
        unicodedata.normalize("NFD", "Fiche Léa.xlsx"),
        # Not forms, but the partner may think they are: reported as unsupported, never hidden.
        "fiche.pdf", "fiche.docx", "photo.jpg", "Fiche 2025",
    ],
)
def test_forms_and_other_documents_are_not_artefacts(name: str) -> None:
    assert is_artefact(name) is False
