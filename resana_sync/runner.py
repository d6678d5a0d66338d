"""Wiring for the commands: settings -> storage, state and lock -> one sync.

Kept apart from ``cli`` (which only talks to the user) and from ``sync`` (which only
knows the stages), so that the scheduled service and the demo start runs the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from filelock import FileLock, Timeout

from .config import RemoteSettings, Settings
from .errors import ResanaError, StateError, SyncAlreadyRunning, UsageError
from .records import FileResult, Outcome
from .schema import load_schema
from .state import State
from .storage.base import Storage, sha256_bytes
from .sync import RunReport, ensure_complete, run_sync

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
LOCK_FILE = "run.lock"
HOLDER_FILE = "run.holder.json"


def open_storage(remote: RemoteSettings) -> Storage:
    if remote.kind == "local":
        from .storage.local import LocalFolderStorage

        assert remote.path is not None
        return LocalFolderStorage(remote.path)
    from .storage.webdav import WebDAVStorage

    assert remote.url is not None
    return WebDAVStorage(
        remote.url,
        username=remote.username,
        password=remote.password.reveal() if remote.password else None,
        token=remote.token.reveal() if remote.token else None,
        ca_bundle=str(remote.ca_bundle) if remote.ca_bundle else None,
        connect_timeout=remote.connect_timeout,
        read_timeout=remote.read_timeout,
        retries=remote.retries,
    )


@contextmanager
def run_lock(state_dir: Path, trigger: str) -> Iterator[None]:
    """One run at a time on this machine, across processes (nightly service and manual runs).
    The lock is a kernel lock: a crashed holder releases it."""
    lock = FileLock(str(state_dir / LOCK_FILE), blocking=False)
    holder = state_dir / HOLDER_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock.acquire()
    except Timeout:
        raise SyncAlreadyRunning(
            f"Une synchronisation est déjà en cours ({_describe_holder(holder)}). "
            "Attendez qu'elle se termine, puis relancez."
        ) from None
    except OSError as exc:
        raise StateError(
            f"Le dossier de l'état local ({state_dir}) ne peut pas être utilisé ({exc.strerror}). "
            "Vérifiez ses droits, ou choisissez-en un autre avec --state-dir."
        ) from exc
    try:
        holder.write_text(json.dumps({"pid": os.getpid(), "trigger": trigger,
                                      "started": dt.datetime.now().astimezone().isoformat(timespec="seconds")}))
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def _describe_holder(holder: Path) -> str:
    try:
        info = json.loads(holder.read_text())
        started = dt.datetime.fromisoformat(info["started"]).astimezone()
        return f"lancée à {started:%H:%M} ({info['trigger']}, processus {info['pid']})"
    except (OSError, ValueError, KeyError):
        return "par un autre processus"


def run_once(settings: Settings, *, dry_run: bool = False, trigger: str = "manuel",
             now: dt.datetime | None = None) -> RunReport:
    schema = load_schema(settings.schema_path)
    if dry_run:
        return _dry_run(settings, schema, now)
    with run_lock(settings.state_dir, trigger):
        state = State(settings.state_dir / STATE_FILE)
        storage = open_storage(settings.remote)
        run_id = state.start_run(trigger)
        try:
            report = run_sync(storage, settings, schema, state, now=now)
        except ResanaError as exc:
            state.finish_run(run_id, False, {"erreur": type(exc).__name__})
            raise
        finally:
            storage.close()
        state.finish_run(run_id, report.complete, run_summary(report))
    ensure_complete(report)
    return report


def _dry_run(settings: Settings, schema, now: dt.datetime | None) -> RunReport:
    """A dry run writes nothing anywhere, not even the local state: it works on a copy."""
    with tempfile.TemporaryDirectory(prefix="resana-sync-dry-") as tmp:
        copy = Path(tmp) / STATE_FILE
        original = settings.state_dir / STATE_FILE
        if original.exists():
            shutil.copy2(original, copy)
        storage = open_storage(settings.remote)
        try:
            return run_sync(storage, settings, schema, State(copy), dry_run=True, now=now)
        finally:
            storage.close()


def run_summary(report: RunReport) -> dict[str, object]:
    return {
        "fichiers": len(report.files),
        **{outcome.value: count for outcome, count in report.outcomes.items()},
        "lignes_rejetees": report.rejected_rows,
        "situations": report.situations,
        "contributions": report.contributions,
        "tableau_envoye": report.pushed,
    }


def validate_files(paths: list[Path], *, structure: str, today: dt.date) -> list[FileResult]:
    """What a sync would say of these files, without any remote: for partners and the coordinator."""
    from .intake.isolation import IsolatedReader

    # A folder stands for the files in it (a partner checking its whole inbox copy).
    paths = [child for p in paths for child in (sorted(c for c in p.iterdir() if c.is_file()) if p.is_dir() else [p])]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"Fichier introuvable : {', '.join(missing)}. Vérifiez le chemin.")
    schema = load_schema()
    results = []
    with IsolatedReader() as reader:
        for path in paths:
            results.append(_validate_one(reader, schema, path, structure, today))
    return results


def _validate_one(reader, schema, path: Path, structure: str, today: dt.date) -> FileResult:
    from . import intake

    result = FileResult(structure=structure, path=path.name, outcome=Outcome.IGNORED)
    if intake.is_artefact(path.name):
        return result
    data = path.read_bytes()
    validation = reader.check_file(path, schema, display_name=path.name, structure=structure,
                                   source_path=path.name, sha256=sha256_bytes(data), today=today)
    result.records = list(validation.records)
    result.problems = list(validation.problems)
    result.rejected_rows = validation.rejected_rows
    result.outcome = validation.outcome()
    return result


def check_access(settings: Settings) -> list[str]:
    from .sync import discover_partners

    load_schema(settings.schema_path)
    storage = open_storage(settings.remote)
    try:
        partners = discover_partners(storage, settings.space, settings.partners)
        workbook = storage.stat(settings.space.workbook)
    finally:
        storage.close()
    where = settings.remote.url or str(settings.remote.path)
    lines = [
        "Configuration valide.",
        f"Espace joint : {where}",
        f"Dossiers de dépôt : {len(partners)} ({', '.join(partners)})" if partners
        else f"Aucun dossier de partenaire sous « {settings.space.inbox_root} ».",
        "Tableau partagé : présent." if workbook else "Tableau partagé : absent (il sera créé au premier envoi).",
    ]
    return lines


def last_success(settings: Settings) -> dt.datetime | None:
    path = settings.state_dir / STATE_FILE
    return State(path).last_success() if path.exists() else None


def status_lines(state_dir: Path, timezone: str) -> list[str]:
    """The last runs recorded in the local state, in the cell's time zone."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return [f"Aucune synchronisation enregistrée (état local : {state_dir})."]
    zone = ZoneInfo(timezone)
    with State(path) as state:
        last, runs = state.last_success(), state.recent_runs()
    lines = [f"État local : {path}",
             f"Dernière synchronisation réussie : {last.astimezone(zone):%d/%m/%Y %H:%M}" if last
             else "Aucune synchronisation réussie."]
    lines.append("Dernières synchronisations :")
    for run in runs:
        when = f"{run['started'].astimezone(zone):%d/%m/%Y %H:%M}"
        if run["finished"] is None:
            outcome = "en cours ou interrompue"
        elif run["ok"]:
            outcome = "réussie"
        else:
            outcome = "incomplète ou en échec" + (f" ({run['summary']['erreur']})" if "erreur" in run["summary"] else "")
        counts = run["summary"]
        detail = (f" — {counts.get('fichiers', 0)} fichier(s), {counts.get('situations', 0)} situation(s)"
                  if "fichiers" in counts else "")
        lines.append(f"  {when} ({run['trigger']}) : {outcome}{detail}")
    return lines
