"""One run: list -> fetch -> validate -> plan -> apply -> push -> report.

This is the only module that strings the stages together. It does no printing and
raises only ``ResanaError`` subclasses; per-file problems never stop the run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from . import intake
from .config import Settings
from .errors import (
    AuthenticationError,
    FeatureLossRefused,
    InFlux,
    PreconditionFailed,
    RemoteLocked,
    RemoteNotFound,
    StorageError,
    SyncIncomplete,
    TooLarge,
    WorkbookError,
)
from .intake.isolation import IsolatedReader
from .validate import Validation
from .merge import Plan, plan_merge
from .records import FileResult, Outcome, Problem, Severity
from .reports import partner_report, report_changed
from .schema import FormSchema
from .space import GuardedStorage, Space
from .state import State
from .storage.base import Entry, Storage
from .storage.publish import latest_valid_archive, publish_workbook, restore_from_archive, save_conflict_copy
from .template import build_template
from .workbook import SharedWorkbook

log = logging.getLogger(__name__)

MAX_NESTING = 3  # sub-folder levels looked into, to tell partners their files there are not read


@dataclass
class RunReport:
    """What a run did, without personal data: counts, situation ids, structure names."""

    started_at: dt.datetime
    dry_run: bool = False
    files: list[FileResult] = field(default_factory=list)
    plan_lines: list[str] = field(default_factory=list)
    situations: int = 0
    contributions: int = 0
    workbook_changed: bool = False
    workbook_created: bool = False
    pushed: bool = False
    conflict_copy: str | None = None
    push_deferred: bool = False          # the workbook was locked (open in an editor): next run
    incomplete: str | None = None        # why the run could not do all it should (French)
    restored_from: str | None = None     # archive put back over a damaged workbook
    reports_written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.files if f.outcome is outcome)

    @property
    def outcomes(self) -> Counter[Outcome]:
        return Counter(f.outcome for f in self.files)

    @property
    def rejected_rows(self) -> int:
        return sum(f.rejected_rows for f in self.files)

    @property
    def complete(self) -> bool:
        return self.conflict_copy is None and not self.push_deferred and self.count(Outcome.DEFERRED) == 0


@dataclass
class _RemoteWorkbook:
    data: bytes | None
    sha256: str | None
    etag: str | None


def run_sync(
    storage: Storage,
    settings: Settings,
    schema: FormSchema,
    state: State,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> RunReport:
    # The cell's own clock (Europe/Paris by default) whatever the server's: dates in the
    # workbook and reports are read by people in that zone.
    now = now or dt.datetime.now(ZoneInfo(settings.timezone)).replace(tzinfo=None, microsecond=0)
    report = RunReport(started_at=now, dry_run=dry_run)
    space = settings.space
    guarded = GuardedStorage(storage, space, read_only=dry_run)
    with tempfile.TemporaryDirectory(prefix="resana-sync-") as tmp:
        workdir = Path(tmp)
        report.files = collect_forms(guarded, settings, schema, state, workdir, now, report.warnings)
        records = [r for f in report.files for r in f.records]
        _merge_and_push(guarded, settings, schema, state, records, report, workdir, now)
        # Partners are told (and files recorded as taken) only once the workbook holds
        # their forms: after a failed push the next run does it all again.
        settled = report.pushed or not report.workbook_changed
        if not dry_run and settled:
            for result in report.files:
                if result.outcome is not Outcome.DEFERRED:
                    state.record_file(result.path, result.sha256, result.outcome.value, now)
            _write_partner_reports(guarded, space, report, workdir, now)
        if not dry_run:
            _refresh_template(guarded, space, schema, workdir, report)
    return report


# --- intake -----------------------------------------------------------------


def discover_partners(storage: Storage, space: Space, configured: tuple[str, ...]) -> list[str]:
    """Partner structures: the configured folder names, else every folder under the inbox root."""
    try:
        entries = storage.list(space.inbox_root)
    except RemoteNotFound as exc:
        raise RemoteNotFound(
            f"Le dossier « {space.inbox_root} » est introuvable dans l'espace : vérifiez l'adresse de "
            "l'espace (--webdav, --local ou [remote]) et le nom du dossier ([space] depots)."
        ) from exc
    folders = sorted(e.name for e in entries if e.is_dir)
    if not configured:
        return folders
    missing = [name for name in configured if name not in folders]
    for name in missing:
        log.warning("dossier de dépôt configuré introuvable : %s", name)
    return [name for name in configured if name in folders]


def collect_forms(
    storage: Storage,
    settings: Settings,
    schema: FormSchema,
    state: State,
    workdir: Path,
    now: dt.datetime,
    warnings: list[str],
) -> list[FileResult]:
    space = settings.space
    partners = discover_partners(storage, space, settings.partners)
    loose = [e for e in storage.list(space.inbox_root) if not e.is_dir and not intake.is_artefact(e.name)]
    if loose:
        warnings.append(f"{len(loose)} fichier(s) posé(s) directement dans « {space.inbox_root} » ne sont pas lus : "
                        "chaque fiche doit être dans le dossier de sa structure.")
    results: list[FileResult] = []
    with IsolatedReader() as reader:
        intake_run = _Intake(storage, reader, settings, schema, state, partners, workdir, now)
        for structure in partners:
            try:
                results.extend(intake_run.take_folder(structure))
            except AuthenticationError:
                raise
            except StorageError as exc:  # one unreadable folder must not stop the others
                warnings.append(f"Le dossier de dépôt « {structure} » n'a pas pu être lu : {exc.message}")
    log.info("%d fichiers vus dans %d dossiers de dépôt", len(results), len({r.structure for r in results}))
    return results


@dataclass
class _Intake:
    """What taking in one partner file needs, shared by every file of a run."""

    storage: Storage
    reader: IsolatedReader
    settings: Settings
    schema: FormSchema
    state: State
    partners: list[str]
    workdir: Path
    now: dt.datetime

    def take_folder(self, structure: str) -> list[FileResult]:
        inbox = self.settings.space.inbox(structure)
        results = []
        for entry in sorted(self.storage.list(inbox), key=lambda e: e.path):
            if not entry.is_dir:
                results.append(self.take(structure, entry))
            elif not self.settings.space.is_returns_folder(entry.path):
                results.extend(self._nested(structure, entry.path, depth=1))
        return results

    def _nested(self, structure: str, folder: str, depth: int) -> list[FileResult]:
        """Files in sub-folders are not read, but their partner is told so."""
        results = []
        for entry in sorted(self.storage.list(folder), key=lambda e: e.path):
            if entry.is_dir and depth < MAX_NESTING:
                results.extend(self._nested(structure, entry.path, depth + 1))
            elif not entry.is_dir:
                result = FileResult(structure=structure, path=entry.path, outcome=Outcome.IGNORED, seen_at=self.now)
                if not intake.is_artefact(entry.name):
                    _rejected(result, "Fichier placé dans un sous-dossier : il n'est pas lu. Déposez-le directement "
                                      "dans le dossier de votre structure.")
                results.append(result)
        return results

    def take(self, structure: str, entry: Entry) -> FileResult:
        result = FileResult(structure=structure, path=entry.path, outcome=Outcome.IGNORED, seen_at=self.now)
        if intake.is_artefact(entry.name):
            return result
        limit = self.settings.max_file_bytes
        too_large = (f"Fichier trop volumineux : une fiche fait au plus {limit // (1024 * 1024)} Mo. "
                     "Vérifiez que c'est bien la fiche que vous vouliez déposer.")
        if entry.size is not None and entry.size > limit:
            return _rejected(result, too_large)
        try:
            local = _download_stable(self.storage, entry, self.workdir, limit)
            result.sha256 = local.sha256
            validation = self.reader.check_file(
                local.local_path, self.schema, display_name=entry.name, structure=structure,
                source_path=entry.path, sha256=local.sha256, today=self.now.date(), known_structures=self.partners,
            )
        except AuthenticationError:
            raise
        except TooLarge:  # the listing gave no size: found out while downloading
            return _rejected(result, too_large)
        except StorageError as exc:
            result.outcome = Outcome.DEFERRED
            result.message = f"Fichier non lu cette fois ({exc.message}) ; il sera repris à la prochaine synchronisation."
            return result
        result.records = list(validation.records)
        result.problems = list(validation.problems)
        result.rejected_rows = validation.rejected_rows
        result.outcome = _outcome(self.state, entry.path, local.sha256, validation)
        result.message = _summary_message(result)
        if entry.nfc_duplicates:
            result.problems.append(_twin_warning(entry.name))
        return result


def _twin_warning(name: str) -> Problem:
    return Problem(
        Severity.WARNING,
        "Un autre fichier de ce dossier porte le même nom, écrit avec d'autres caractères accentués "
        "(copie venue d'un Mac) : seul celui-ci a été lu. Supprimez le doublon.",
        file=name, code="nfc-duplicate")


def _download_stable(storage: Storage, entry: Entry, workdir: Path, max_bytes: int):
    """Download, then check the file did not change meanwhile: a partner still saving it
    (or a sync client still uploading) makes it 'in flux', taken at the next run."""
    local = storage.download(entry.path, workdir / f"form-{abs(hash(entry.path))}", max_bytes=max_bytes)
    after = storage.stat(entry.path)
    moved = after is None or after.size != local.size or (
        entry.etag is not None and after.etag is not None and after.etag != entry.etag
    )
    if moved or (entry.size is not None and entry.size != local.size):
        raise InFlux("le fichier était en cours d'enregistrement")
    return local


def _outcome(state: State, path: str, sha256: str, validation: Validation) -> Outcome:
    if validation.outcome() is Outcome.REJECTED:
        return Outcome.REJECTED
    seen = state.file_seen(path)
    if seen is None or seen[1] in (Outcome.REJECTED.value, Outcome.DEFERRED.value):
        return Outcome.IMPORTED  # never taken in before, whatever its bytes
    return Outcome.UNCHANGED if seen[0] == sha256 else Outcome.UPDATED


def _rejected(result: FileResult, message: str) -> FileResult:
    """A whole file refused before reading it (too large, misplaced)."""
    result.outcome = Outcome.REJECTED
    result.message = message
    result.problems = [Problem(Severity.ERROR, message, file=result.name, reason=message, code="file-refused")]
    return result


def _summary_message(result: FileResult) -> str:
    accepted = len(result.records)
    if result.outcome is Outcome.REJECTED and not accepted:
        # The reason alone: this message goes to the shared Journal, the value found must not.
        errors = [p.reason or p.message for p in result.problems if p.row is None and p.severity is Severity.ERROR]
        return errors[0] if errors else "Aucune ligne n'a pu être importée : voir le compte rendu du partenaire."
    parts = [f"{accepted} ligne(s) acceptée(s)"]
    if result.rejected_rows:
        parts.append(f"{result.rejected_rows} ligne(s) rejetée(s)")
    return ", ".join(parts)


# --- merge and push ---------------------------------------------------------


def _merge_and_push(
    storage: Storage,
    settings: Settings,
    schema: FormSchema,
    state: State,
    records: list,
    report: RunReport,
    workdir: Path,
    now: dt.datetime,
) -> None:
    path = settings.space.workbook
    if not report.dry_run:
        _recover_workbook(storage, settings, state, report)
    for attempt in range(1, settings.push_attempts + 1):
        remote = _read_workbook(storage, path, workdir)
        book = SharedWorkbook.open(remote.data, schema)
        snapshot = book.snapshot()
        pushed = state.pushed() or None
        plan: Plan = plan_merge(snapshot, records, pushed, schema=schema, now=now)
        report.plan_lines = plan.describe()
        if report.dry_run:
            report.workbook_changed = not plan.is_empty
            report.situations = len(snapshot.suivi) + len(plan.new_situations)
            report.contributions = len(snapshot.contributions) + len(plan.new_contributions)
            return
        book.apply(plan)
        # Artefacts (a partner merely opening a form leaves a ~$ file) and deferred files are
        # journaled along with a push, but never cause one.
        minor = (Outcome.IGNORED, Outcome.DEFERRED)
        journal_rows = book.add_journal([f for f in report.files if f.outcome not in minor], now)
        book.add_journal([f for f in report.files if f.outcome in minor], now)
        report.workbook_created = remote.data is None
        report.workbook_changed = report.workbook_created or not plan.is_empty or journal_rows > 0
        _count_workbook(report, book)
        if not report.workbook_changed:
            return
        new_bytes = book.to_bytes()
        _refuse_feature_loss(book.feature_losses(new_bytes), settings)
        try:
            publish_workbook(
                storage, path, new_bytes,
                expected_sha256=remote.sha256, expected_etag=remote.etag,
                archive_folder=settings.space.archives, keep_archives=settings.keep_archives, now=now,
            )
        except PreconditionFailed:
            log.warning("le tableau a été modifié pendant la fusion (essai %d/%d) : nouvelle fusion",
                        attempt, settings.push_attempts)
            continue
        except RemoteLocked:
            report.push_deferred = True
            report.incomplete = (
                "Le tableau partagé est ouvert dans un éditeur (verrouillé) : il n'a pas été modifié. "
                "Les fiches seront fusionnées à la prochaine synchronisation."
            )
            return
        state.save_pushed(plan.pushed_after)
        report.pushed = True
        return
    report.conflict_copy = save_conflict_copy(storage, path, new_bytes, now=now)
    report.incomplete = (
        "Le tableau partagé a été modifié pendant chaque tentative de fusion : la version fusionnée "
        f"a été enregistrée à côté, sous « {report.conflict_copy} ». Fermez le tableau puis relancez."
    )


def _recover_workbook(storage: Storage, settings: Settings, state: State, report: RunReport) -> None:
    """Put back the latest whole archive when the workbook is damaged, or gone although this
    connector pushed it before: rebuilding it from the forms alone would lose every hand
    edit and could give a known young person's id to someone else."""
    path, archives = settings.space.workbook, settings.space.archives
    report.restored_from = restore_from_archive(storage, path, archive_folder=archives)
    if report.restored_from:
        report.warnings.append(
            "Le tableau partagé était illisible (envoi interrompu ou fichier remplacé) : la dernière copie "
            f"complète ({report.restored_from}) a été remise en place avant la fusion."
        )
        return
    if storage.stat(path) is not None or not state.pushed():
        return
    archive = latest_valid_archive(storage, path, archives)
    if archive is None:
        raise WorkbookError(
            f"Le tableau partagé « {path} » a disparu de l'espace et aucune copie n'est dans « {archives} ». "
            "Remettez-le en place (corbeille ou versions de RESANA) puis relancez. Pour repartir d'un tableau "
            f"neuf, déplacez d'abord l'état local ({settings.state_dir})."
        )
    storage.upload(path, archive.data, if_none_match=True)
    report.restored_from = archive.path
    report.warnings.append(
        f"Le tableau partagé avait disparu de l'espace : la dernière copie ({archive.path}) a été remise en "
        "place avant la fusion. Les modifications faites après cette copie sont perdues si le tableau "
        "n'est pas retrouvé dans la corbeille de RESANA."
    )


def _read_workbook(storage: Storage, path: str, workdir: Path) -> _RemoteWorkbook:
    entry = storage.stat(path)
    if entry is None:
        return _RemoteWorkbook(None, None, None)
    try:
        local = storage.download(path, workdir / "workbook.xlsx")
    except RemoteNotFound:
        return _RemoteWorkbook(None, None, None)
    return _RemoteWorkbook(local.local_path.read_bytes(), local.sha256, local.etag)


def _count_workbook(report: RunReport, book: SharedWorkbook) -> None:
    snapshot = book.snapshot()
    report.situations = len(snapshot.suivi)
    report.contributions = len(snapshot.contributions)


def _refuse_feature_loss(losses: list[str], settings: Settings) -> None:
    if losses and not settings.accept_feature_loss:
        listed = "; ".join(losses)
        raise FeatureLossRefused(
            f"Le tableau partagé contient des éléments que l'enregistrement ferait disparaître ({listed}). "
            "Rien n'a été envoyé. Retirez-les du tableau (par exemple, remplacez les commentaires "
            "modernes par des notes), ou acceptez cette perte avec accept_feature_loss = true "
            "dans la section [workbook] de la configuration."
        )


# --- partner reports and template --------------------------------------------


def _write_partner_reports(storage: Storage, space: Space, report: RunReport, workdir: Path, now: dt.datetime) -> None:
    by_partner: dict[str, list[FileResult]] = {}
    for result in report.files:
        if result.outcome is not Outcome.IGNORED:
            by_partner.setdefault(result.structure, []).append(_as_partner_sees_it(result))
    for structure, results in sorted(by_partner.items()):
        try:
            if _write_partner_report(storage, space, structure, results, workdir, now):
                report.reports_written.append(structure)
        except AuthenticationError:
            raise
        except StorageError as exc:  # one partner's folder must not keep the others uninformed
            report.warnings.append(f"Le compte rendu de « {structure} » n'a pas pu être écrit : {exc.message}")


def _write_partner_report(storage: Storage, space: Space, structure: str, results: list[FileResult],
                          workdir: Path, now: dt.datetime) -> bool:
    name, content = partner_report(structure, results, now)
    folder = space.returns(structure)
    target = f"{folder}/{name}"
    # The report carries its date: rewrite it only when what it says changed.
    if not report_changed(_remote_bytes(storage, target, workdir), content):
        return False
    storage.make_folder(folder)
    storage.upload(target, content)
    return True


def _as_partner_sees_it(result: FileResult) -> FileResult:
    """A partner's report says where each file stands, not what this run did: a form
    taken in earlier is still 'importé', so an unchanged folder gives an unchanged report."""
    if result.outcome is Outcome.UNCHANGED:
        return dataclasses.replace(result, outcome=Outcome.IMPORTED)
    return result


def _remote_bytes(storage: Storage, path: str, workdir: Path) -> bytes | None:
    if storage.stat(path) is None:
        return None
    return storage.download(path, workdir / "existing").local_path.read_bytes()


def _refresh_template(storage: Storage, space: Space, schema: FormSchema, workdir: Path, report: RunReport) -> None:
    content = build_template(schema)  # same bytes for the same schema
    if _remote_bytes(storage, space.template_path, workdir) == content:
        return
    storage.make_folder(space.templates)
    storage.upload(space.template_path, content)


def ensure_complete(report: RunReport) -> None:
    """Raise when the run could not do all it should (the CLI exits non-zero)."""
    if report.conflict_copy:
        raise SyncIncomplete(report.incomplete or "")
    if report.push_deferred:
        raise RemoteLocked(report.incomplete or "")
