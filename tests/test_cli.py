"""The CLI is the one boundary: clear French sentences, exit codes, no traceback unless --debug."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from resana_sync import cli
from resana_sync.config import RemoteSettings, Settings
from resana_sync.errors import SyncAlreadyRunning
from resana_sync.runner import run_lock, run_once

SAMPLES = Path(__file__).parent / "data" / "samples" / "Dépôts"


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_on_a_local_copy_prints_a_summary_and_exits_0(samples_space: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run_cli("run", "--local", str(samples_space), "--state-dir", str(tmp_path / "s"), capsys=capsys)
    assert code == 0, err
    assert "Situations : 7 ; contributions : 9" in out
    assert "Lignes rejetées : 2" in out
    assert (samples_space / "Tableau de suivi partagé.xlsx").exists()


def test_missing_remote_is_one_clear_sentence_and_exit_2(capsys) -> None:
    code, out, err = run_cli("run", capsys=capsys)
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("Erreur : La configuration n'est pas valide")
    assert "--local DOSSIER" in err


def test_unreachable_server_fails_without_traceback_and_without_credentials(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RESANA_SYNC_USER", "coord")
    monkeypatch.setenv("RESANA_SYNC_PASSWORD", "hunter2-secret")
    code, out, err = run_cli("run", "--webdav", "http://127.0.0.1:9/", "--state-dir", str(tmp_path), capsys=capsys)
    assert code != 0
    assert "Traceback" not in err
    assert "hunter2-secret" not in out + err
    assert err.startswith("Erreur : ")


def test_debug_shows_the_traceback_but_never_the_password(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RESANA_SYNC_PASSWORD", "hunter2-secret")
    code, out, err = run_cli("run", "--debug", "--webdav", "http://127.0.0.1:9/", "--state-dir", str(tmp_path),
                             capsys=capsys)
    assert code != 0
    assert "Traceback" in err
    assert "hunter2-secret" not in out + err


def test_dry_run_writes_nothing_anywhere(samples_space: Path, tmp_path: Path, capsys) -> None:
    before = sorted(p.relative_to(samples_space) for p in samples_space.rglob("*"))
    state = tmp_path / "state"
    code, out, err = run_cli("run", "--dry-run", "--local", str(samples_space), "--state-dir", str(state),
                             capsys=capsys)
    assert code == 0, err
    assert "Simulation" in out and "Changements prévus" in out
    assert sorted(p.relative_to(samples_space) for p in samples_space.rglob("*")) == before
    assert not state.exists()


def test_a_second_run_while_one_holds_the_lock_is_refused(samples_space: Path, tmp_path: Path) -> None:
    settings = Settings(remote=RemoteSettings(kind="local", path=samples_space), state_dir=tmp_path)
    with run_lock(tmp_path, "nuit"):
        with pytest.raises(SyncAlreadyRunning, match="déjà en cours"):
            run_once(settings)
    run_once(settings)  # released afterwards


def test_validate_reports_rejected_rows_and_exits_1(capsys) -> None:
    code, out, err = run_cli("validate", str(SAMPLES / "Collège de l'Arsenal" / "fiches arsenal.xlsx"), capsys=capsys)
    assert code == 1
    assert "fiches arsenal.xlsx" in out
    assert "ligne 3" in out.lower() and "ligne 4" in out.lower()


def test_validate_a_clean_form_exits_0(capsys) -> None:
    code, out, err = run_cli("validate", str(SAMPLES / "AEMO" / "fiche AEMO.xls"), capsys=capsys)
    assert code == 0, out


def test_template_writes_the_blank_form(tmp_path: Path, capsys) -> None:
    target = tmp_path / "fiche.xlsx"
    code, out, err = run_cli("template", str(target), capsys=capsys)
    assert code == 0
    headers = [c.value for c in next(openpyxl.load_workbook(target).worksheets[0].iter_rows(max_row=1))]
    assert "Date de naissance" in headers and "Famille informée" in headers


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "resana-sync"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 0
    assert result.stdout.startswith("resana-sync ")


def test_validate_a_missing_file_says_so(capsys) -> None:
    code, out, err = run_cli("validate", "absent.xlsx", capsys=capsys)
    assert code == 2
    assert err == "Erreur : Fichier introuvable : absent.xlsx. Vérifiez le chemin.\n"


def test_status_lists_the_last_runs_without_needing_the_remote(samples_space: Path, tmp_path: Path, capsys) -> None:
    run_cli("run", "--local", str(samples_space), "--state-dir", str(tmp_path / "s"), capsys=capsys)
    code, out, err = run_cli("status", "--state-dir", str(tmp_path / "s"), capsys=capsys)
    assert code == 0, err
    assert "Dernière synchronisation réussie" in out
    assert "(manuel) : réussie — 10 fichier(s), 7 situation(s)" in out


def test_a_run_does_not_load_pandas(samples_space: Path, tmp_path: Path) -> None:
    """pandas is for indicators and reports; a nightly run with nothing new must stay light."""
    code = (
        "import sys; from resana_sync.cli import main; "
        f"main(['run', '--local', {str(samples_space)!r}, '--state-dir', {str(tmp_path)!r}]); "
        "print('pandas' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_validate_says_what_a_sync_would_do_not_that_it_imported(capsys) -> None:
    code, out, err = run_cli("validate", str(SAMPLES / "Collège de l'Arsenal" / "fiches arsenal.xlsx"), capsys=capsys)
    assert "Valide : 1 ligne serait importée, 2 lignes seraient refusées." in out
    assert "Importé" not in out


def test_validate_a_folder_checks_each_file_in_it(capsys) -> None:
    code, out, err = run_cli("validate", str(SAMPLES / "Collège des Remparts"), capsys=capsys)
    assert code == 0, out + err
    assert "Fiches novembre.xlsx — Valide : 3 lignes seraient importées." in out
