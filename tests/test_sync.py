"""One run over an in-memory space: what becomes of each file a partner drops."""

from __future__ import annotations

import dataclasses
import io
import datetime as dt
from pathlib import Path

import pytest

from resana_sync.config import RemoteSettings, Settings
from resana_sync.records import Outcome, Severity
from resana_sync.schema import load_schema
from resana_sync.state import State
from resana_sync.storage.base import Entry
from resana_sync.storage.memory import MemoryStorage
from resana_sync.sync import run_sync

SCHEMA = load_schema()
NOW = dt.datetime(2025, 11, 20, 21, 0)
HEADER = ";".join(f.label for f in SCHEMA.fields)
ROW = ";".join(["04/11/2025", "ROBIN", "Zoé", "14/03/2011", "F", "", "Collège des Remparts", "4e", "Scolarisé(e)",
                "Absentéisme", "3", "Oui", "Mme Référente", "", "", "", ""])
FORM = f"{HEADER}\r\n{ROW}\r\n".encode("cp1252")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(remote=RemoteSettings(kind="local", path=tmp_path), state_dir=tmp_path)


def sync(storage, settings: Settings, state: State, **changes):
    return run_sync(storage, dataclasses.replace(settings, **changes), SCHEMA, state, now=NOW)


def outcome_of(report, name: str):
    [result] = [f for f in report.files if f.name == name]
    return result


class SizelessListing(MemoryStorage):
    """A server that gives no getcontentlength in its listings."""

    def list(self, folder: str) -> list[Entry]:
        return [dataclasses.replace(e, size=None) for e in super().list(folder)]


class ChangesWhileRead(MemoryStorage):
    """A partner still saving a file: it changes between the listing and the download."""

    def __init__(self, files, moving: str) -> None:
        super().__init__(files)
        self.moving = moving

    def download(self, path, dest, *, max_bytes=None):
        fetched = super().download(path, dest, max_bytes=max_bytes)
        if path == self.moving:
            self.moving = ""
            self.upload(path, FORM + FORM[-40:])
        return fetched


@pytest.mark.parametrize("storage_class", [MemoryStorage, SizelessListing])
def test_a_file_over_the_size_limit_is_rejected_with_its_reason(storage_class, settings: Settings, tmp_path) -> None:
    storage = storage_class({"Dépôts/PJJ/énorme.csv": FORM * 2000, "Dépôts/PJJ/fiche.csv": FORM})
    report = sync(storage, settings, State(tmp_path / "s.sqlite"), max_file_bytes=100_000)
    big = outcome_of(report, "énorme.csv")
    assert big.outcome is Outcome.REJECTED
    assert "trop volumineux" in big.message
    assert outcome_of(report, "fiche.csv").outcome is Outcome.IMPORTED


def test_a_file_changing_while_read_is_left_for_the_next_run(settings: Settings, tmp_path) -> None:
    storage = ChangesWhileRead({"Dépôts/PJJ/fiche.csv": FORM}, moving="Dépôts/PJJ/fiche.csv")
    state = State(tmp_path / "s.sqlite")
    first = sync(storage, settings, state)
    assert outcome_of(first, "fiche.csv").outcome is Outcome.DEFERRED
    assert "prochaine synchronisation" in outcome_of(first, "fiche.csv").message
    assert first.situations == 0

    second = sync(storage, settings, state)
    assert outcome_of(second, "fiche.csv").outcome is Outcome.IMPORTED
    assert second.situations == 1


def test_twin_names_in_nfc_and_nfd_are_read_once_and_reported(settings: Settings, tmp_path) -> None:
    storage = MemoryStorage()
    storage.seed("Dépôts/PJJ/Fiche Zoé.csv", FORM)
    storage.seed("Dépôts/PJJ/Fiche Zoe\u0301.csv", FORM)
    report = sync(storage, settings, State(tmp_path / "s.sqlite"))
    [result] = [f for f in report.files if f.outcome is not Outcome.IGNORED]
    assert result.outcome is Outcome.IMPORTED
    assert [p.code for p in result.problems if p.severity is Severity.WARNING] == ["nfc-duplicate"]
    assert report.contributions == 1


def test_only_configured_partner_folders_are_read(settings: Settings, tmp_path) -> None:
    storage = MemoryStorage({"Dépôts/PJJ/fiche.csv": FORM, "Dépôts/Inconnu/fiche.csv": FORM})
    report = sync(storage, settings, State(tmp_path / "s.sqlite"), partners=("PJJ", "Absent"))
    assert {f.structure for f in report.files} == {"PJJ"}


def test_the_blank_form_is_kept_current_in_the_templates_folder(settings: Settings, tmp_path) -> None:
    storage = MemoryStorage({"Dépôts/PJJ/fiche.csv": FORM})
    state = State(tmp_path / "s.sqlite")
    sync(storage, settings, state)
    first = storage.stat("Modèles/Fiche de situation.xlsx")
    assert first is not None
    sync(storage, settings, state)
    assert storage.stat("Modèles/Fiche de situation.xlsx") == first  # unchanged: not rewritten


def test_a_push_that_would_drop_coordinator_features_is_refused_unless_accepted(settings: Settings, tmp_path) -> None:
    from resana_sync.errors import FeatureLossRefused
    from tests.merge.test_preservation import X14_VALIDATION, with_parts

    storage = MemoryStorage({"Dépôts/PJJ/fiche.csv": FORM})
    state = State(tmp_path / "s.sqlite")
    sync(storage, settings, state)
    workbook = "Tableau de suivi partagé.xlsx"
    # The coordinator adds a newer-style drop-down list (an x14 extension openpyxl drops).
    edited = with_parts(storage.read_bytes(workbook).data, {},
                        sheet_xml=lambda body: body.replace(b"</worksheet>", X14_VALIDATION))
    storage.upload(workbook, edited)
    storage.upload("Dépôts/PJJ/autre.csv", FORM.replace(b"ROBIN", b"MARCHAND"))

    with pytest.raises(FeatureLossRefused, match="listes déroulantes") as err:
        sync(storage, settings, state)
    assert err.value.exit_code == 4
    assert "accept_feature_loss" in err.value.message
    assert storage.read_bytes(workbook).data == edited

    report = sync(storage, settings, state, accept_feature_loss=True)
    assert report.pushed and report.situations == 2


def test_an_editor_artefact_alone_does_not_touch_the_workbook(settings: Settings, tmp_path) -> None:
    storage = MemoryStorage({"Dépôts/PJJ/fiche.csv": FORM})
    state = State(tmp_path / "s.sqlite")
    sync(storage, settings, state)
    before = storage.stat("Tableau de suivi partagé.xlsx")
    storage.upload("Dépôts/PJJ/~$fiche.xlsx", b"\x0bowner")  # the partner merely opened a form
    report = sync(storage, settings, state)
    assert not report.pushed and not report.workbook_changed
    assert storage.stat("Tableau de suivi partagé.xlsx") == before
    assert "Archives" not in {e.name for e in storage.list("")}  # no copy archived for nothing


def test_a_file_rejected_once_then_read_with_the_same_bytes_is_imported(settings: Settings, tmp_path,
                                                                        monkeypatch) -> None:
    import openpyxl

    from resana_sync.intake import unreadable_file
    from resana_sync.intake.isolation import TOO_SLOW, IsolatedReader

    storage = MemoryStorage({"Dépôts/PJJ/fiche.csv": FORM})
    state = State(tmp_path / "s.sqlite")
    real = IsolatedReader.check_file
    monkeypatch.setattr(IsolatedReader, "check_file",
                        lambda self, path, schema, *, display_name, **kw: unreadable_file(display_name, TOO_SLOW))
    assert outcome_of(sync(storage, settings, state), "fiche.csv").outcome is Outcome.REJECTED
    monkeypatch.setattr(IsolatedReader, "check_file", real)

    report = sync(storage, settings, state)

    assert outcome_of(report, "fiche.csv").outcome is Outcome.IMPORTED and report.situations == 1
    journal = openpyxl.load_workbook(io.BytesIO(storage.read_bytes("Tableau de suivi partagé.xlsx").data))["Journal"]
    assert [row[5] for row in journal.iter_rows(min_row=2, values_only=True)] == ["rejeté", "importé"]


def test_a_partner_folder_refusing_its_report_does_not_block_the_others(settings: Settings, tmp_path) -> None:
    from resana_sync.errors import RemoteFull

    class FullForPJJ(MemoryStorage):
        def upload(self, path, data, **kw):  # noqa: ANN001, ANN201
            if path.startswith("Dépôts/PJJ/Retours/"):
                raise RemoteFull("Plus de place sur le serveur.")
            return super().upload(path, data, **kw)

    storage = FullForPJJ({"Dépôts/PJJ/fiche.csv": FORM, "Dépôts/SIJ/fiche.csv": FORM.replace(b"ROBIN", b"MARCHAND")})
    state = State(tmp_path / "s.sqlite")
    report = sync(storage, settings, state)
    assert report.pushed and report.reports_written == ["SIJ"]
    assert any("PJJ" in w and "Plus de place" in w for w in report.warnings)
    assert state.file_seen("Dépôts/PJJ/fiche.csv") is not None  # taken in: not re-imported next time


def test_files_out_of_place_are_told_and_odd_folders_do_not_stop_the_run(settings: Settings, tmp_path) -> None:
    class OneFolderUnreadable(MemoryStorage):
        def list(self, folder):  # noqa: ANN001, ANN201
            if folder == "Dépôts/Cassé":
                from resana_sync.errors import StorageError
                raise StorageError("Dossier illisible.")
            return super().list(folder)

    storage = OneFolderUnreadable({
        "Dépôts/Maison 100%25/fiche%20encodée.csv": FORM,
        "Dépôts/CMPA/Ancien 2024/vieille fiche.csv": FORM,
        "Dépôts/CMPA/Ancien 2024/~$vieille fiche.xlsx": b"x",
        "Dépôts/fiche à la racine.csv": FORM,
        "Dépôts/Cassé/fiche.csv": FORM,
    })
    report = sync(storage, settings, State(tmp_path / "s.sqlite"))
    assert outcome_of(report, "fiche%20encodée.csv").outcome is Outcome.IMPORTED
    old = outcome_of(report, "vieille fiche.csv")
    assert old.outcome is Outcome.REJECTED and "sous-dossier" in old.message
    assert outcome_of(report, "~$vieille fiche.xlsx").outcome is Outcome.IGNORED
    assert any("directement dans « Dépôts »" in w for w in report.warnings)
    assert any("« Cassé » n'a pas pu être lu" in w for w in report.warnings)
    assert report.situations == 1


def test_a_deleted_workbook_comes_back_from_its_archive_with_its_ids_and_hand_work(settings: Settings,
                                                                                  tmp_path) -> None:
    from resana_sync.errors import WorkbookError
    from resana_sync.storage.memory import MemoryStorage as Memory
    from tests.merge.helpers import edit, set_cell, suivi_by_id

    workbook = "Tableau de suivi partagé.xlsx"
    storage = Memory({"Dépôts/PJJ/x.csv": FORM})
    state = State(tmp_path / "s.sqlite")
    sync(storage, settings, state)
    storage.upload(workbook, edit(storage.read_bytes(workbook).data,
                                  set_cell("Suivi", "2025-001", "Préconisations / décisions", "Placement décidé")))
    storage.make_folder("Dépôts/AEMO")
    storage.upload("Dépôts/AEMO/y.csv", FORM.replace(b"ROBIN", b"MARCHAND"))
    sync(storage, settings, state)  # archives the version holding the decision
    storage.delete(workbook)

    report = sync(storage, settings, state)

    assert report.restored_from and "disparu" in report.warnings[0]
    rows = suivi_by_id(storage.read_bytes(workbook).data)
    assert rows["2025-001"]["Préconisations / décisions"] == "Placement décidé"
    assert {r["Nom"] for r in rows.values()} == {"ROBIN", "MARCHAND"}

    bare = Memory({"Dépôts/PJJ/x.csv": FORM})
    bare_state = State(tmp_path / "bare.sqlite")
    sync(bare, settings, bare_state)
    bare.delete(workbook)  # gone, and never archived
    with pytest.raises(WorkbookError, match="a disparu"):
        sync(bare, settings, bare_state)


@pytest.mark.parametrize("lock_name", [".~lock.Tableau de suivi partagé.xlsx#", "~$Tableau de suivi partagé.xlsx"])
def test_a_workbook_open_in_an_office_suite_on_a_synced_folder_is_not_overwritten(lock_name, tmp_path) -> None:
    from resana_sync.errors import RemoteLocked
    from resana_sync.runner import run_once

    space = tmp_path / "espace"
    (space / "Dépôts" / "PJJ").mkdir(parents=True)
    (space / "Dépôts" / "PJJ" / "x.csv").write_bytes(FORM)
    local = Settings(remote=RemoteSettings(kind="local", path=space), state_dir=tmp_path / "state")
    run_once(local, now=NOW)
    before = (space / "Tableau de suivi partagé.xlsx").read_bytes()
    (space / lock_name).write_bytes(b"coordination")
    (space / "Dépôts" / "PJJ" / "y.csv").write_bytes(FORM.replace(b"ROBIN", b"MARCHAND"))

    with pytest.raises(RemoteLocked, match="ouvert dans un éditeur|ouvert dans un tableur"):
        run_once(local, now=NOW)
    assert (space / "Tableau de suivi partagé.xlsx").read_bytes() == before

    (space / lock_name).unlink()
    assert run_once(local, now=NOW).situations == 2
