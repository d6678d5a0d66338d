"""publish_workbook and its helpers on the memory and local backends (faulty servers: test_faults)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resana_sync.errors import PreconditionFailed
from resana_sync.storage.base import Storage, sha256_bytes
from resana_sync.storage.local import LocalFolderStorage
from resana_sync.storage.memory import MemoryStorage
from resana_sync.storage.publish import (
    archive_name,
    conflict_copy_name,
    latest_valid_archive,
    list_archives,
    publish_workbook,
    restore_from_archive,
    save_conflict_copy,
)

from .conftest import xlsx

WORKBOOK = "Tableau de suivi partagé.xlsx"
NOW = dt.datetime(2026, 12, 3, 3, 30)


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return MemoryStorage() if request.param == "memory" else LocalFolderStorage(tmp_path)


def publish(storage: Storage, data: bytes, based_on: bytes | None, *, now: dt.datetime = NOW, keep: int = 3):
    return publish_workbook(
        storage,
        WORKBOOK,
        data,
        expected_sha256=sha256_bytes(based_on) if based_on is not None else None,
        archive_folder="Archives",
        keep_archives=keep,
        now=now,
    )


def test_names() -> None:
    assert conflict_copy_name(WORKBOOK, NOW) == "Tableau de suivi partagé (conflit 2026-12-03 0330).xlsx"
    assert conflict_copy_name("Cellule/" + WORKBOOK, NOW) == "Cellule/Tableau de suivi partagé (conflit 2026-12-03 0330).xlsx"
    assert archive_name(WORKBOOK, "Archives", NOW) == "Archives/Tableau de suivi partagé 2026-12-03 0330.xlsx"


def test_first_publish_creates_the_workbook_without_archive(storage: Storage) -> None:
    result = publish(storage, xlsx("v1"), None)
    assert storage.read_bytes(WORKBOOK).data == xlsx("v1")
    assert (result.archive_path, result.resent, result.size) == (None, False, len(xlsx("v1")))
    assert result.sha256 == sha256_bytes(xlsx("v1"))


def test_first_publish_refuses_to_overwrite_a_workbook_created_meanwhile(storage: Storage) -> None:
    storage.upload(WORKBOOK, xlsx("created by hand"))
    with pytest.raises(PreconditionFailed):
        publish(storage, xlsx("v1"), None)
    assert storage.read_bytes(WORKBOOK).data == xlsx("created by hand")


def test_overwrite_archives_the_previous_version_first(storage: Storage) -> None:
    storage.upload(WORKBOOK, xlsx("v1"))
    result = publish(storage, xlsx("v2"), xlsx("v1"))
    assert storage.read_bytes(WORKBOOK).data == xlsx("v2")
    assert result.archive_path == "Archives/Tableau de suivi partagé 2026-12-03 0330.xlsx"
    assert storage.read_bytes(result.archive_path).data == xlsx("v1")


def test_moved_workbook_is_neither_archived_nor_overwritten(storage: Storage) -> None:
    storage.upload(WORKBOOK, xlsx("coordinator"))
    with pytest.raises(PreconditionFailed, match="relire"):
        publish(storage, xlsx("merged"), xlsx("what the merge read"))
    assert storage.read_bytes(WORKBOOK).data == xlsx("coordinator")
    assert storage.stat("Archives") is None


def test_several_publishes_in_one_minute_keep_every_archive(storage: Storage) -> None:
    storage.upload(WORKBOOK, xlsx("v1"))
    for old, new in (("v1", "v2"), ("v2", "v3"), ("v3", "v4")):
        publish(storage, xlsx(new), xlsx(old), keep=10)
    archives = list_archives(storage, WORKBOOK, "Archives")
    assert [storage.read_bytes(p).data for p in archives] == [xlsx("v1"), xlsx("v2"), xlsx("v3")]
    assert archives[1].endswith("0330 (2).xlsx")


def test_pruning_keeps_the_newest_and_leaves_other_files_alone(storage: Storage) -> None:
    storage.make_folder("Archives")
    storage.upload("Archives/notes de la coordinatrice.docx", b"x")
    storage.upload(WORKBOOK, xlsx("v0"))
    for day in range(1, 6):
        publish(storage, xlsx(f"v{day}"), xlsx(f"v{day - 1}"), now=NOW.replace(day=day), keep=2)
    archives = list_archives(storage, WORKBOOK, "Archives")
    assert [storage.read_bytes(p).data for p in archives] == [xlsx("v3"), xlsx("v4")]
    assert storage.stat("Archives/notes de la coordinatrice.docx") is not None


def test_conflict_copy_never_overwrites(storage: Storage) -> None:
    first = save_conflict_copy(storage, WORKBOOK, xlsx("a"), now=NOW)
    second = save_conflict_copy(storage, WORKBOOK, xlsx("b"), now=NOW)
    assert first == conflict_copy_name(WORKBOOK, NOW)
    assert second == "Tableau de suivi partagé (conflit 2026-12-03 0330) (2).xlsx"
    assert storage.read_bytes(first).data == xlsx("a")


def test_damaged_workbook_is_restored_from_the_latest_whole_archive(storage: Storage) -> None:
    storage.make_folder("Archives")
    storage.upload(archive_name(WORKBOOK, "Archives", NOW.replace(day=1)), xlsx("old but whole"))
    storage.upload(archive_name(WORKBOOK, "Archives", NOW.replace(day=2)), xlsx("newer")[:40])  # damaged too
    storage.upload(WORKBOOK, xlsx("current")[:30])

    assert latest_valid_archive(storage, WORKBOOK, "Archives").data == xlsx("old but whole")
    restored = restore_from_archive(storage, WORKBOOK, archive_folder="Archives")

    assert restored == archive_name(WORKBOOK, "Archives", NOW.replace(day=1))
    assert storage.read_bytes(WORKBOOK).data == xlsx("old but whole")


def test_nothing_to_restore(storage: Storage) -> None:
    assert restore_from_archive(storage, WORKBOOK, archive_folder="Archives") is None
    storage.upload(WORKBOOK, xlsx("whole"))
    assert restore_from_archive(storage, WORKBOOK, archive_folder="Archives") is None
    storage.upload(WORKBOOK, b"not a zip")
    assert restore_from_archive(storage, WORKBOOK, archive_folder="Archives") is None  # no archive to use
    assert storage.read_bytes(WORKBOOK).data == b"not a zip"
