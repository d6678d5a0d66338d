"""Pushing the shared workbook without ever losing what is on the server.

Some WebDAV servers ignore ``If-Match``, keep the same ETag after a same-size
rewrite, or write a PUT in place (an interrupted upload truncates the file). So:

1. the server copy is re-read and hashed just before writing: if it is not the
   version the merge started from, ``PreconditionFailed`` (the caller re-reads,
   re-merges and tries again; after its last try it saves a conflict copy with
   ``save_conflict_copy``);
2. that previous version is uploaded to the archive folder under a new, unique,
   timestamped name and verified, before anything is overwritten;
3. the new version is written conditionally, then read back and hashed; a write
   cut short is re-sent once; if it is still wrong, ``WriteNotVerified`` says so and
   the archive holds the previous version;
4. on the next run, ``restore_from_archive`` puts back the latest whole archive
   if the workbook on the server is not a whole xlsx (see its docstring).

Archives beyond ``keep_archives`` are pruned only after a verified publish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import PreconditionFailed, RemoteNotFound, StorageError, TransientRemoteError, WriteNotVerified
from .base import Blob, Storage, clean_path, sha256_bytes

log = logging.getLogger(__name__)

_STAMP = "%Y-%m-%d %H%M"
_MAX_SAME_MINUTE = 50


@dataclass(frozen=True)
class PublishResult:
    path: str
    sha256: str
    size: int
    etag: str | None                # as the server reported it after the write; may be None
    archive_path: str | None        # None when there was no previous version to keep
    pruned: list[str] = field(default_factory=list)
    resent: bool = False            # the first write came back incomplete and was sent again


def _split(path: str) -> tuple[str, str, str]:
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    return folder, stem, ext


def conflict_copy_name(path: str, now: dt.datetime) -> str:
    """'Tableau de suivi partagé.xlsx' -> 'Tableau de suivi partagé (conflit 2026-12-03 0330).xlsx', same folder."""
    folder, stem, ext = _split(clean_path(path))
    return posixpath.join(folder, f"{stem} (conflit {now:{_STAMP}}){ext}")


def archive_name(path: str, archive_folder: str, now: dt.datetime) -> str:
    """'Tableau de suivi partagé.xlsx' -> 'Archives/Tableau de suivi partagé 2026-12-03 0330.xlsx'."""
    _, stem, ext = _split(clean_path(path))
    return posixpath.join(clean_path(archive_folder), f"{stem} {now:{_STAMP}}{ext}")


def _numbered(path: str) -> Iterator[str]:
    """path, then 'stem (2).ext', 'stem (3).ext'... for several writes in the same minute."""
    yield path
    stem, ext = posixpath.splitext(path)
    for number in range(2, _MAX_SAME_MINUTE + 1):
        yield f"{stem} ({number}){ext}"


def _upload_new(storage: Storage, path: str, data: bytes) -> str:
    """Upload ``data`` under ``path`` or a numbered variant, never over an existing file."""
    for candidate in _numbered(path):
        # stat first: some servers ignore If-None-Match and would overwrite an older archive
        if storage.stat(candidate) is not None:
            continue
        try:
            storage.upload(candidate, data, if_none_match=True)
        except PreconditionFailed:
            continue
        _verify(storage, candidate, data)
        return candidate
    raise StorageError("Trop de copies du tableau dans la même minute : réessayez dans une minute.", path=path)


def _verify(storage: Storage, path: str, data: bytes) -> None:
    if storage.read_bytes(path).sha256 != sha256_bytes(data):
        raise WriteNotVerified(
            "Une copie du tableau (sauvegarde ou copie de conflit) n'a pas été enregistrée correctement sur "
            "le serveur ; le tableau partagé n'a pas été modifié. Relancez la synchronisation.",
            path=path,
        )


def save_conflict_copy(storage: Storage, path: str, data: bytes, *, now: dt.datetime) -> str:
    """Save the merged workbook beside the original when it could not be published; returns its path."""
    return _upload_new(storage, conflict_copy_name(path, now), data)


def _archive_pattern(path: str) -> re.Pattern[str]:
    _, stem, ext = _split(clean_path(path))
    return re.compile(rf"{re.escape(stem)} (\d{{4}}-\d{{2}}-\d{{2}} \d{{4}})(?: \((\d+)\))?{re.escape(ext)}")


def list_archives(storage: Storage, path: str, archive_folder: str) -> list[str]:
    """Archive paths of the workbook at ``path``, oldest first (other files are left alone)."""
    pattern = _archive_pattern(path)
    found = []
    for entry in storage.list(clean_path(archive_folder)):
        match = pattern.fullmatch(entry.name)
        if match and not entry.is_dir:
            found.append(((match[1], int(match[2] or 1)), entry.path))
    return [p for _, p in sorted(found)]


def _prune(storage: Storage, path: str, archive_folder: str, keep: int) -> list[str]:
    """Delete the oldest archives beyond ``keep``; a failure here never fails the publish."""
    try:
        archives = list_archives(storage, path, archive_folder)
        doomed = archives[: max(0, len(archives) - keep)]
        for old in doomed:
            storage.delete(old)
    except StorageError as exc:
        log.warning("old archives could not be pruned (%s); the next run tries again", type(exc).__name__)
        return []
    return doomed


def _read_or_none(storage: Storage, path: str) -> Blob | None:
    try:
        return storage.read_bytes(path)
    except RemoteNotFound:
        return None


def _read_current(storage: Storage, path: str, expected_sha256: str | None) -> Blob | None:
    """The server version, if it is the one the merge started from; PreconditionFailed otherwise."""
    current = _read_or_none(storage, path)
    current_sha = current.sha256 if current else None
    if current_sha != expected_sha256:
        raise PreconditionFailed(
            "Le tableau de suivi a été modifié sur le serveur pendant la synchronisation (sans doute enregistré "
            "par la coordination) : il faut le relire et refaire la fusion.",
            path=path,
        )
    return current


def _send_and_read_back(
    storage: Storage, path: str, data: bytes, condition: dict[str, object]
) -> tuple[str | None, Blob | None, TransientRemoteError | None]:
    """Upload, then read back what the server kept, whether or not the upload said it worked."""
    try:
        etag, failure = storage.upload(path, data, **condition), None
    except TransientRemoteError as exc:  # the connection broke: the server may hold part of our bytes
        etag, failure = None, exc
    return etag, _read_or_none(storage, path), failure


def _send_conditionally(
    storage: Storage, path: str, data: bytes, previous: Blob | None
) -> tuple[str | None, Blob | None, TransientRemoteError | None]:
    if previous is None or previous.etag is None:
        return _send_and_read_back(storage, path, data, {"if_none_match": previous is None})
    try:
        return _send_and_read_back(storage, path, data, {"if_match": previous.etag})
    except PreconditionFailed:
        again = _read_or_none(storage, path)
        if again is None or again.sha256 != previous.sha256:
            raise
    # Same content, yet the server refused its own ETag: a weak ETag in the second
    # after a write (Apache) or one rewritten on the way (mod_deflate "-gzip"). The
    # content check just made is the guard; send without the condition.
    log.info("the server refused an If-Match on unchanged content; writing without it")
    return _send_and_read_back(storage, path, data, {})


def _write_verified(storage: Storage, path: str, data: bytes, previous: Blob | None) -> tuple[str | None, bool]:
    """Conditional write, read back; one more send if the server kept only part of it. -> (etag, resent)."""
    wanted = sha256_bytes(data)
    etag, after, failure = _send_conditionally(storage, path, data, previous)
    if after is not None and after.sha256 == wanted:
        return etag or after.etag, False
    if after is not None and previous is not None and after.sha256 == previous.sha256:
        if failure is not None:
            raise failure  # nothing was written: an ordinary failed request
        raise WriteNotVerified(_NOT_WRITTEN, path=path)
    if after is None or not data.startswith(after.data):
        raise PreconditionFailed(
            "Le tableau de suivi a été modifié sur le serveur au moment de l'écriture : il faut le relire et "
            "refaire la fusion.",
            path=path,
        )
    log.warning("the workbook came back incomplete after writing; sending it once more")
    etag, after, failure = _send_and_read_back(storage, path, data, {"if_match": after.etag} if after.etag else {})
    if after is None or after.sha256 != wanted:
        raise WriteNotVerified(_NOT_WRITTEN, path=path) from failure
    return etag or after.etag, True


_NOT_WRITTEN = (
    "Le tableau de suivi n'a pas pu être écrit en entier sur le serveur. La version précédente est conservée "
    "dans le dossier des archives ; le prochain passage réparera le tableau automatiquement. Si cela se "
    "reproduit, vérifiez l'espace disponible et la connexion au serveur."
)


def publish_workbook(
    storage: Storage,
    path: str,
    data: bytes,
    *,
    expected_sha256: str | None,
    expected_etag: str | None = None,
    archive_folder: str,
    keep_archives: int,
    now: dt.datetime,
) -> PublishResult:
    """Replace the workbook at ``path`` with ``data``, safely (see the module docstring).

    ``expected_sha256`` is the hash of the server version the merge read, None when
    there was no workbook; ``expected_etag`` the ETag read with it, a hint only: the
    hash decides (an ETag that moved over unchanged content is just logged).
    Raises PreconditionFailed when the server version moved (re-read, re-merge,
    retry), RemoteLocked when someone holds a lock on it (next run), WriteNotVerified
    when the server kept a damaged copy (the next run's restore_from_archive repairs).
    """
    path = clean_path(path)
    archive = None
    with storage.exclusive(path) if storage.stat(path) is not None else contextlib.nullcontext():
        # Under the lock (where the server has one) nobody saves between this check and our
        # write, which If-Match alone cannot promise on every server. Taking it before the
        # archive also means a workbook open in an editor leaves no needless archive behind.
        previous = _read_current(storage, path, expected_sha256)
        if previous is not None and expected_etag is not None and previous.etag not in (None, expected_etag):
            log.info("the workbook's ETag changed but its content did not; going on (the hash decides)")
        if previous is not None:
            storage.make_folder(archive_folder)
            archive = _upload_new(storage, archive_name(path, archive_folder, now), previous.data)
            # Checked again: an editor saving straight to the server's disk (not through
            # WebDAV) ignores our lock, and archiving took a while.
            previous = _read_current(storage, path, expected_sha256)
        etag, resent = _write_verified(storage, path, data, previous)
    # at least the archive just made is kept: it is the only copy of the previous version
    pruned = _prune(storage, path, archive_folder, max(1, keep_archives)) if archive else []
    log.info("workbook published (%d bytes, %d old archive(s) pruned)", len(data), len(pruned))
    return PublishResult(path, sha256_bytes(data), len(data), etag, archive, pruned, resent)


def is_whole_xlsx(data: bytes) -> bool:
    """A zip whose every member checks out: what a complete xlsx at least is."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, EOFError, ValueError):
        return False


def latest_valid_archive(storage: Storage, path: str, archive_folder: str) -> Blob | None:
    """The newest archive of the workbook at ``path`` that is a whole xlsx, or None."""
    try:
        archives = list_archives(storage, path, archive_folder)
    except RemoteNotFound:  # no archive folder yet
        return None
    for candidate in reversed(archives):
        blob = storage.read_bytes(candidate)
        if is_whole_xlsx(blob.data):
            return blob
    return None


def restore_from_archive(storage: Storage, path: str, *, archive_folder: str) -> str | None:
    """If the workbook on the server is damaged (not a whole xlsx), put back the latest whole archive.

    Call it at the start of a run, before reading the workbook. Returns the archive
    path used, or None when there was nothing to repair (workbook whole or absent)
    or no whole archive to repair it with (the caller then reports a WorkbookError).
    The damaged copy is written over conditionally: a coordinator saving at that
    moment wins, and the next run looks again.
    """
    current = _read_or_none(storage, clean_path(path))
    if current is None or is_whole_xlsx(current.data):
        return None
    good = latest_valid_archive(storage, path, archive_folder)
    if good is None:
        return None
    log.warning("the workbook on the server is damaged; restoring it from the latest whole archive")
    with storage.exclusive(current.path):
        again = _read_or_none(storage, current.path)
        if again is None or again.sha256 != current.sha256:
            return None  # someone wrote it meanwhile: the next run looks again
        _write_verified(storage, current.path, good.data, again)
    return good.path
