"""The storage contract: every backend passes the same tests (see conftest.backend)."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pytest

from resana_sync.errors import PreconditionFailed, RemoteNotFound, TooLarge, UnsafePath

from .conftest import Backend

AWKWARD_FOLDERS = ["Dépôts/Collège de l'Arsenal", "Dépôts/Partenaire #2", "Dépôts/100% réussite + PRE", 'Dépôts/Le "Phare"']
AWKWARD_FILES = ["fiche élève #3.xlsx", "100% sûr.csv", "a+b c.ods", "l'été \"x\".xlsx", "Situation MARTIN Léa.ods"]


def names(entries: list) -> list[str]:
    return sorted(e.name for e in entries)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty local folder for downloads (tmp_path itself also holds the backend's files)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("folder", AWKWARD_FOLDERS)
def test_listing_awkward_names_never_returns_the_folder_itself(backend: Backend, folder: str) -> None:
    storage = backend.storage
    storage.make_folder(f"{folder}/Retours")
    for name in AWKWARD_FILES:
        storage.upload(f"{folder}/{name}", name.encode())

    entries = storage.list(folder)

    assert names(entries) == sorted([*AWKWARD_FILES, "Retours"])
    assert all(e.path == f"{folder}/{e.name}" for e in entries)
    assert [e.is_dir for e in entries if e.name == "Retours"] == [True]
    files = {e.name: e for e in entries if not e.is_dir}
    assert all(files[n].size == len(n.encode()) for n in AWKWARD_FILES)


def test_root_listing_and_empty_folder_is_a_positive_fact(backend: Backend) -> None:
    backend.storage.make_folder("Dépôts/Vide")
    assert names(backend.storage.list("")) == ["Dépôts"]
    assert backend.storage.list("Dépôts/Vide") == []


def test_missing_folder_raises_instead_of_listing_empty(backend: Backend) -> None:
    with pytest.raises(RemoteNotFound):
        backend.storage.list("Dépôts/Inconnu")
    backend.storage.upload("fichier.xlsx", b"x")
    with pytest.raises(RemoteNotFound):
        backend.storage.list("fichier.xlsx")


def test_stat(backend: Backend) -> None:
    storage = backend.storage
    storage.make_folder("Archives")
    etag = storage.upload("Archives/a #1.xlsx", b"12345")
    entry = storage.stat("Archives/a #1.xlsx")
    assert entry is not None and not entry.is_dir and entry.size == 5
    if etag is not None:
        assert entry.etag == etag
    folder = storage.stat("Archives")
    assert folder is not None and folder.is_dir
    assert storage.stat("Archives/absent.xlsx") is None


def test_download_is_whole_and_hashed(backend: Backend, out: Path) -> None:
    data = bytes(range(256)) * 1000
    backend.storage.make_folder("Dépôts/PJJ")
    backend.storage.upload("Dépôts/PJJ/liste 100% #1.xlsx", data)
    dest = out / "copie.xlsx"

    got = backend.storage.download("Dépôts/PJJ/liste 100% #1.xlsx", dest)

    assert dest.read_bytes() == data
    assert (got.size, got.sha256, got.local_path) == (len(data), hashlib.sha256(data).hexdigest(), dest)
    assert [p.name for p in dest.parent.iterdir()] == ["copie.xlsx"]


def test_download_missing_leaves_nothing(backend: Backend, out: Path) -> None:
    with pytest.raises(RemoteNotFound):
        backend.storage.download("absent.xlsx", out / "x")
    assert list(out.iterdir()) == []


def test_download_refuses_more_than_max_bytes(backend: Backend, out: Path) -> None:
    backend.storage.upload("gros.csv", b"x" * 5000)
    with pytest.raises(TooLarge) as caught:
        backend.storage.download("gros.csv", out / "x", max_bytes=1000)
    assert "volumineux" in str(caught.value)
    assert list(out.iterdir()) == []


def test_read_bytes(backend: Backend) -> None:
    backend.storage.upload("t.xlsx", b"abc")
    blob = backend.storage.read_bytes("t.xlsx")
    assert (blob.data, blob.sha256) == (b"abc", hashlib.sha256(b"abc").hexdigest())


def test_create_only_if_absent(backend: Backend) -> None:
    storage = backend.storage
    storage.upload("Tableau.xlsx", b"v1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        storage.upload("Tableau.xlsx", b"v2", if_none_match=True)
    assert storage.read_bytes("Tableau.xlsx").data == b"v1"


def test_overwrite_only_if_etag_matches(backend: Backend) -> None:
    storage = backend.storage
    storage.upload("Tableau.xlsx", b"version 1")
    etag = storage.stat("Tableau.xlsx").etag
    assert etag is not None

    storage.upload("Tableau.xlsx", b"version 2 longer", if_match=etag)
    with pytest.raises(PreconditionFailed):
        storage.upload("Tableau.xlsx", b"version 3", if_match=etag)

    assert storage.read_bytes("Tableau.xlsx").data == b"version 2 longer"


def test_same_size_rewrite_is_seen_by_hash(backend: Backend) -> None:
    storage = backend.storage
    storage.upload("f.csv", b"aaaa")
    first = storage.read_bytes("f.csv").sha256
    storage.upload("f.csv", b"bbbb")
    assert storage.read_bytes("f.csv").sha256 != first


def test_upload_into_missing_folder_fails(backend: Backend) -> None:
    with pytest.raises(RemoteNotFound):
        backend.storage.upload("Nulle part/f.csv", b"x")


def test_make_folder_is_idempotent_and_nested(backend: Backend) -> None:
    backend.storage.make_folder("Dépôts/MDA/Retours")
    backend.storage.make_folder("Dépôts/MDA/Retours")
    assert names(backend.storage.list("Dépôts/MDA")) == ["Retours"]


def test_delete(backend: Backend) -> None:
    backend.storage.upload("old.xlsx", b"x")
    backend.storage.delete("old.xlsx")
    assert backend.storage.stat("old.xlsx") is None
    with pytest.raises(RemoteNotFound):
        backend.storage.delete("old.xlsx")


def test_nfc_and_nfd_twins_are_listed_once_and_readable(backend: Backend) -> None:
    nfd = unicodedata.normalize("NFD", "Dépôts/AEMO/Été.xlsx")
    backend.seed(nfd.replace("Été", unicodedata.normalize("NFD", "Été")), b"first")
    backend.seed(unicodedata.normalize("NFD", "Dépôts/AEMO/") + "Été.xlsx", b"second")

    dossiers = backend.storage.list("")
    assert names(dossiers) == ["Dépôts"]
    [partner] = backend.storage.list("Dépôts")
    assert partner.path == "Dépôts/AEMO"
    [entry] = backend.storage.list("Dépôts/AEMO")

    assert entry.path == "Dépôts/AEMO/Été.xlsx"
    assert entry.nfc_duplicates == 1
    assert backend.storage.read_bytes(entry.path).data in (b"first", b"second")


def test_a_file_stored_in_nfd_is_found_and_overwritten_without_listing_first(backend: Backend) -> None:
    """The coordinator's Mac saved the workbook decomposed; we address it in NFC."""
    backend.seed(unicodedata.normalize("NFD", "Tableau de suivi partagé.xlsx"), b"from the Mac")
    entry = backend.storage.stat("Tableau de suivi partagé.xlsx")
    assert entry is not None and entry.size == len(b"from the Mac")

    backend.storage.upload("Tableau de suivi partagé.xlsx", b"merged", if_match=entry.etag)

    [listed] = backend.storage.list("")
    assert (listed.name, listed.nfc_duplicates) == ("Tableau de suivi partagé.xlsx", 0)
    assert backend.storage.read_bytes(listed.path).data == b"merged"


@pytest.mark.parametrize("bad", ["../x.xlsx", "Dépôts/../../etc/passwd", "/etc/passwd", "Dépôts/a%2F..%2Fb", "a%2fb.xlsx"])
def test_unsafe_paths_are_refused(backend: Backend, bad: str, tmp_path: Path) -> None:
    storage = backend.storage
    for call in (
        lambda: storage.list(bad),
        lambda: storage.stat(bad),
        lambda: storage.download(bad, tmp_path / "x"),
        lambda: storage.upload(bad, b"x"),
        lambda: storage.delete(bad),
    ):
        with pytest.raises(UnsafePath):
            call()
