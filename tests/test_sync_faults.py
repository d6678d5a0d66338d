"""A whole sync against a WebDAV server that misbehaves: the coordinator's work and the
partners' new forms are never lost, and the run says what it could not do."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
import requests

from resana_sync.config import RemoteSettings, Secret, Settings
from resana_sync.devserver import serve_webdav
from resana_sync.errors import RemoteLocked, StorageError, SyncIncomplete
from resana_sync.records import Outcome
from resana_sync.runner import run_once
from resana_sync.schema import load_schema
from resana_sync.storage.publish import is_whole_xlsx
from tests.storage.faults import FaultInjector, concurrent_dav_put, ignore_conditions, in_place_put_cut, reply

WORKBOOK = "Tableau de suivi partagé.xlsx"
USER, PASSWORD = "coord", "pw-faults"
NOW = dt.datetime(2025, 11, 20, 21, 0)


@contextmanager
def served(space: Path, injector: FaultInjector) -> Iterator[Settings]:
    with serve_webdav(space, users={USER: PASSWORD}, middleware=injector.wrap) as url:
        remote = RemoteSettings(kind="webdav", url=url, username=USER, password=Secret(PASSWORD),
                                read_timeout=10, retries=1)
        yield Settings(remote=remote, state_dir=space.parent / "state")


def sync(settings: Settings, days: int = 0):
    return run_once(settings, now=NOW + dt.timedelta(days=days))


def drop_new_form(space: Path, nom: str = "PETIT", prenom: str = "Jules") -> None:
    """A partner (the MDA) drops a form about a young person the cell does not know yet."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([f.label for f in load_schema().fields])
    sheet.append(["18/11/2025", nom, prenom, "05/05/2012", "M", "", "Collège du Transbordeur", "5e",
                  "Scolarisé(e)", "Santé", 4, "Oui", "Mme Aline Roux (MDA)", "mda@example.org", "", "", ""])
    book.save(space / "Dépôts" / "MDA" / f"fiche {nom}.xlsx")


def coordinator_edit(workbook: bytes, decision: str) -> bytes:
    """The coordinator writes a decision on DUBOIS's row and corrects his class by hand."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    sheet = book["Suivi"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("Nom")].value == "DUBOIS":
            row[header.index("Préconisations / décisions")].value = decision
            row[header.index("Classe")].value = "4e"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def suivi(space: Path) -> dict[str, dict[str, object]]:
    sheet = openpyxl.load_workbook(space / WORKBOOK)["Suivi"]
    rows = list(sheet.iter_rows(values_only=True))
    return {str(r[rows[0].index("Nom")]).upper(): dict(zip(rows[0], r)) for r in rows[1:] if r[0]}


def after_reply(action: Callable[[], None]) -> Callable:
    """A fault that lets the request through, then runs ``action`` once the reply is built:
    'the coordinator saves right after the connector read the workbook'."""

    def fault(environ, start_response, app) -> Iterable[bytes]:  # noqa: ANN001
        body = b"".join(app(environ, start_response))
        action()
        return [body]

    return fault


def test_coordinator_saving_during_a_run_on_a_server_ignoring_if_match_loses_nothing(samples_space: Path) -> None:
    injector = FaultInjector()
    with served(samples_space, injector) as settings:
        sync(settings)
        drop_new_form(samples_space)
        path = samples_space / WORKBOOK
        edited = coordinator_edit(path.read_bytes(), "Entretien famille le 2 décembre")
        injector.add(after_reply(lambda: path.write_bytes(edited)), method="GET", path=WORKBOOK, times=1)
        injector.add(ignore_conditions(), times=None)

        report = sync(settings, days=1)

    assert report.pushed
    rows = suivi(samples_space)
    assert rows["DUBOIS"]["Préconisations / décisions"] == "Entretien famille le 2 décembre"
    assert rows["DUBOIS"]["Classe"] == "4e"          # the hand correction is kept
    assert "PETIT" in rows and len(rows) == 8         # and the partner's new form is merged
    assert injector.count("GET", WORKBOOK) >= 2       # it re-read and re-merged


def test_a_coordinator_save_while_the_connector_writes_is_refused_not_lost(samples_space: Path) -> None:
    injector = FaultInjector()
    with served(samples_space, injector) as settings:
        sync(settings)
        drop_new_form(samples_space)
        edited = coordinator_edit((samples_space / WORKBOOK).read_bytes(), "décision")
        statuses: list[int] = []
        url = f"{settings.remote.url}/{requests.utils.quote(WORKBOOK)}"
        injector.add(concurrent_dav_put(url, (USER, PASSWORD), edited, statuses), method="PUT", path=WORKBOOK)
        injector.add(ignore_conditions(), times=None)

        report = sync(settings, days=1)

    assert report.pushed
    assert statuses == [423]  # the coordinator's editor is told the file is locked: nothing silently lost
    assert "PETIT" in suivi(samples_space)


def test_a_workbook_open_in_an_editor_defers_the_push_to_the_next_run(samples_space: Path) -> None:
    injector = FaultInjector()
    with served(samples_space, injector) as settings:
        sync(settings)
        drop_new_form(samples_space)
        before = (samples_space / WORKBOOK).read_bytes()
        injector.add(reply(423), method="LOCK", path=WORKBOOK, times=None)
        with pytest.raises(RemoteLocked, match="ouvert dans un éditeur") as err:
            sync(settings, days=1)
        assert err.value.exit_code == 75
        assert (samples_space / WORKBOOK).read_bytes() == before
        assert not (samples_space / "Archives").exists()  # nothing archived for a push that did not happen
        assert not (samples_space / "Dépôts" / "MDA" / "Retours").exists()

        injector.clear()
        report = sync(settings, days=2)

    [new] = [f for f in report.files if f.path.endswith("fiche PETIT.xlsx")]
    assert new.outcome is Outcome.IMPORTED
    assert "PETIT" in suivi(samples_space)


def test_an_upload_cut_halfway_is_repaired_by_the_next_run(samples_space: Path) -> None:
    injector = FaultInjector()
    with served(samples_space, injector) as settings:
        sync(settings)
        drop_new_form(samples_space)
        injector.add(in_place_put_cut(samples_space), method="PUT", path=WORKBOOK, times=None)
        with pytest.raises(StorageError):
            sync(settings, days=1)
        assert not is_whole_xlsx((samples_space / WORKBOOK).read_bytes())  # the server kept half a file

        injector.clear()
        report = sync(settings, days=2)

    assert report.restored_from and report.restored_from.startswith("Archives/")
    rows = suivi(samples_space)
    assert len(rows) == 8 and "PETIT" in rows


def test_a_workbook_that_keeps_changing_ends_in_a_conflict_copy(samples_space: Path) -> None:
    injector = FaultInjector()
    with served(samples_space, injector) as settings:
        sync(settings)
        drop_new_form(samples_space)
        path = samples_space / WORKBOOK
        original = path.read_bytes()
        edits = iter(coordinator_edit(original, f"décision {i}") for i in range(10))
        injector.add(after_reply(lambda: path.write_bytes(next(edits))), method="GET", path=WORKBOOK, times=None)

        with pytest.raises(SyncIncomplete, match="conflit") as err:
            sync(settings, days=1)

    assert err.value.exit_code == 5
    [copy] = [p for p in samples_space.iterdir() if "(conflit " in p.name]
    merged = openpyxl.load_workbook(copy)["Suivi"]
    assert any(row[1].value == "PETIT" for row in merged.iter_rows(min_row=2))
    assert "décision" in str(suivi(samples_space)["DUBOIS"]["Préconisations / décisions"])
