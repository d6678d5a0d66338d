"""The connector writes only to the workbook, Archives/, Modèles/ and each partner's own Retours/."""

from __future__ import annotations

import pytest

from resana_sync.errors import UnsafePath
from resana_sync.space import GuardedStorage, Space
from resana_sync.storage.memory import MemoryStorage

SPACE = Space()


@pytest.mark.parametrize("path", [
    "Tableau de suivi partagé.xlsx",
    "Tableau de suivi partagé (conflit 2026-12-03 0330).xlsx",
    "Archives/Tableau de suivi partagé 2026-12-03 0330.xlsx",
    "Modèles/Fiche de situation.xlsx",
    "Dépôts/PJJ/Retours/Retour.html",
    "De\u0301po\u0302ts/PJJ/Retours/Retour.html",  # NFD spelling of the same folder
])
def test_allowed_places(path: str) -> None:
    assert SPACE.may_write(path)


@pytest.mark.parametrize("path", [
    "Dépôts/PJJ/fiche.xlsx",                 # a partner's form: never touched
    "Dépôts/PJJ/Retours/sub/x.html",         # deeper than Retours/
    "Dépôts/Retours/x.html",                 # not a partner folder
    "autre.xlsx",
    "Tableau de suivi partagé.xlsx.bak",
])
def test_forbidden_places(path: str) -> None:
    assert not SPACE.may_write(path)


@pytest.mark.parametrize("path", ["../x.xlsx", "/etc/passwd", "Dépôts/PJJ/Retours/..%2f..%2fx", "a\\b"])
def test_escaping_names_are_refused(path: str) -> None:
    storage = GuardedStorage(MemoryStorage(), SPACE)
    with pytest.raises(UnsafePath):
        storage.upload(path, b"x")


def test_guard_refuses_writing_into_a_partner_inbox() -> None:
    inner = MemoryStorage()
    storage = GuardedStorage(inner, SPACE)
    with pytest.raises(UnsafePath):
        storage.upload("Dépôts/PJJ/fiche.xlsx", b"x")
    assert inner.stat("Dépôts/PJJ/fiche.xlsx") is None


def test_guard_deletes_only_archives() -> None:
    inner = MemoryStorage()
    storage = GuardedStorage(inner, SPACE)
    storage.make_folder("Archives")
    storage.upload("Archives/old.xlsx", b"x")
    storage.delete("Archives/old.xlsx")
    assert inner.stat("Archives/old.xlsx") is None
    with pytest.raises(UnsafePath):
        storage.delete("Tableau de suivi partagé.xlsx")


def test_guard_passes_the_backend_lock_through() -> None:
    taken = []

    class Locking(MemoryStorage):
        def exclusive(self, path):  # noqa: ANN001, ANN202
            taken.append(path)
            return super().exclusive(path)

    storage = GuardedStorage(Locking(), SPACE)
    with storage.exclusive("Tableau de suivi partagé.xlsx"):
        pass
    assert taken == ["Tableau de suivi partagé.xlsx"]
    with pytest.raises(UnsafePath):
        with storage.exclusive("Dépôts/PJJ/fiche.xlsx"):
            pass


def test_a_read_only_guard_refuses_every_write() -> None:
    inner = MemoryStorage()
    storage = GuardedStorage(inner, SPACE, read_only=True)
    with pytest.raises(UnsafePath, match="simulation"):
        storage.upload("Tableau de suivi partagé.xlsx", b"x")
    with pytest.raises(UnsafePath, match="simulation"):
        storage.make_folder("Archives")
    assert inner.stat("Tableau de suivi partagé.xlsx") is None
