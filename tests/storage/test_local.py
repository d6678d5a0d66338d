"""What only the local-folder backend has to do: the sync client's own files, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resana_sync.errors import RemoteLocked, UnsafePath
from resana_sync.storage.local import SYNC_CLIENT_TEMP_PATTERNS, LocalFolderStorage, is_sync_client_temp


@pytest.mark.parametrize(
    "name",
    ["fiche.xlsx.part", ".~resana-sync-1234.part", ".sync_1a2b3c.db", "~WRL0001.tmp", ".fiche.xlsx.~1f2e", "x.filepart"],
)
def test_sync_client_temp_files_are_not_listed(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "fiche.xlsx").write_bytes(b"whole")
    assert [e.name for e in LocalFolderStorage(tmp_path).list("")] == ["fiche.xlsx"]


def test_editor_artefacts_are_left_to_intake(tmp_path: Path) -> None:
    """~$x.xlsx or .DS_Store are real files on the remote too: intake.is_artefact decides, alike on every backend."""
    assert not is_sync_client_temp("~$fiche.xlsx")
    assert not is_sync_client_temp(".~lock.fiche.xlsx#")
    assert not is_sync_client_temp(".DS_Store")
    assert len(SYNC_CLIENT_TEMP_PATTERNS) == len(set(SYNC_CLIENT_TEMP_PATTERNS))


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalFolderStorage(tmp_path)
    storage.upload("Tableau.xlsx", b"old")

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Exception, match="dossier synchronisé"):
        storage.upload("Tableau.xlsx", b"new content")

    assert (tmp_path / "Tableau.xlsx").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["Tableau.xlsx"]


def test_a_file_open_in_a_spreadsheet_on_windows_is_locked_not_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalFolderStorage(tmp_path)
    storage.upload("Tableau.xlsx", b"old")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "The process cannot access the file because it is being used")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(RemoteLocked):
        storage.upload("Tableau.xlsx", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["Tableau.xlsx"]


def test_etag_is_the_content_hash_so_a_same_second_rewrite_is_seen(tmp_path: Path) -> None:
    storage = LocalFolderStorage(tmp_path)
    first = storage.upload("t.csv", b"aaaa")
    (tmp_path / "t.csv").write_bytes(b"bbbb")
    os.utime(tmp_path / "t.csv", (0, 0))
    assert storage.stat("t.csv").etag != first


def test_symlink_leading_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "espace"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (root / "Dépôts").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafePath):
        LocalFolderStorage(root).list("Dépôts")


def test_names_that_could_not_be_addressed_safely_are_not_listed(tmp_path: Path) -> None:
    for name in ("a\\b.xlsx", "%2F..%2Fpasswd", "ok.csv"):
        (tmp_path / name).write_bytes(b"x")
    assert [e.name for e in LocalFolderStorage(tmp_path).list("")] == ["ok.csv"]


def test_os_errors_become_storage_errors_never_raw_exceptions(tmp_path, monkeypatch) -> None:
    """A file the sync client holds, or a folder without rights, must end the file's or the
    run's story with a clear message, not an unexpected error."""
    import pathlib

    import pytest

    from resana_sync.errors import InFlux, StorageError
    from resana_sync.storage.local import LocalFolderStorage

    (tmp_path / "Archives").mkdir()
    (tmp_path / "Archives" / "a.xlsx").write_bytes(b"x")
    (tmp_path / "f.csv").write_bytes(b"x")
    storage = LocalFolderStorage(tmp_path)

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pathlib.Path, "open", refuse)
    with pytest.raises(InFlux):
        storage.download("f.csv", tmp_path / "copy")
    monkeypatch.setattr(pathlib.Path, "unlink", refuse)
    with pytest.raises(StorageError):
        storage.delete("Archives/a.xlsx")
    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    with pytest.raises(StorageError):
        storage.make_folder("Modèles")


def test_writes_keep_the_permissions_of_a_group_shared_folder(tmp_path) -> None:
    import os

    from resana_sync.storage.local import LocalFolderStorage

    storage = LocalFolderStorage(tmp_path)
    (tmp_path / "shared.xlsx").write_bytes(b"old")
    (tmp_path / "shared.xlsx").chmod(0o664)
    storage.upload("shared.xlsx", b"new")
    assert (tmp_path / "shared.xlsx").stat().st_mode & 0o777 == 0o664
    previous = os.umask(0o002)
    try:
        storage.upload("fresh.xlsx", b"new")
    finally:
        os.umask(previous)
    assert (tmp_path / "fresh.xlsx").stat().st_mode & 0o777 == 0o664
