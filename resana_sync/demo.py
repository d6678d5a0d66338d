"""`resana-sync demo`: a loopback WebDAV server seeded with fictional partner folders,
one full sync over WebDAV, and the workbook and reports left where a person can open them.

All people in the seed data are fictional.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .config import RemoteSettings, Secret, Settings
from .devserver import serve_webdav
from .errors import ConfigError
from .runner import open_storage, run_once
from .space import Space
from .sync import RunReport

MARKER = ".resana-sync-demo"
DEMO_USER = "coordination"


@dataclass
class DemoResult:
    output: Path
    workbook: Path
    reports_dir: Path
    report: RunReport
    reports: list[Path] = field(default_factory=list)


def seed_dir() -> Path:
    return Path(str(resources.files("resana_sync") / "data" / "demo"))


def seed_space(target: Path) -> None:
    """The sample partner folders, plus faulty drops the samples do not cover."""
    shutil.copytree(seed_dir(), target, dirs_exist_ok=True)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    sij = target / "Dépôts" / "Service Information Jeunesse"
    sij.mkdir(parents=True, exist_ok=True)
    # A login page saved under a spreadsheet name: what an expired session leaves behind.
    (sij / "fiche situation.xlsx").write_text(
        "<!DOCTYPE html><html><head><title>Connexion</title></head><body>Session expirée</body></html>",
        encoding="utf-8",
    )
    pre = target / "Dépôts" / "Programme de Réussite Éducative"
    pre.mkdir(parents=True, exist_ok=True)
    (pre / "compte rendu.pdf").write_bytes(b"%PDF-1.4\n% fictional\n")


def prepare_output(output: Path) -> Path:
    output = output.resolve()
    if output.exists() and any(output.iterdir()) and not (output / MARKER).exists():
        raise ConfigError(
            f"Le dossier {output} existe déjà et n'est pas un dossier de démonstration : "
            "choisissez-en un autre avec --output."
        )
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    (output / MARKER).write_text("Dossier créé par « resana-sync demo » ; il est recréé à chaque démonstration.\n")
    return output


def run_demo(output: Path) -> DemoResult:
    output = prepare_output(output)
    password = secrets.token_urlsafe(16)
    space = Space()
    with tempfile.TemporaryDirectory(prefix="resana-sync-demo-") as tmp:
        remote_root = Path(tmp) / "espace"
        seed_space(remote_root)
        with serve_webdav(remote_root, users={DEMO_USER: password}) as url:
            settings = Settings(
                remote=RemoteSettings(kind="webdav", url=url, username=DEMO_USER, password=Secret(password)),
                space=space,
                state_dir=output / ".etat",
            )
            report = run_once(settings, trigger="démo")
            return _fetch_results(settings, space, output, report)


def _fetch_results(settings: Settings, space: Space, output: Path, report: RunReport) -> DemoResult:
    storage = open_storage(settings.remote)
    try:
        workbook = output / space.workbook
        storage.download(space.workbook, workbook)
        storage.download(space.template_path, output / space.template_name)
        reports_dir = output / space.returns_folder
        reports = []
        for structure in report.reports_written:
            for entry in storage.list(space.returns(structure)):
                if not entry.is_dir:
                    target = reports_dir / structure / entry.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    storage.download(entry.path, target)
                    reports.append(target)
    finally:
        storage.close()
    return DemoResult(output=output, workbook=workbook, reports_dir=reports_dir, report=report, reports=reports)
