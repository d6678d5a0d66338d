"""Whole-or-nothing local writes shared by every backend."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import InFlux, StorageError, TooLarge

# Our own temp files end in ".part" and start with ".~": both patterns are on the
# RESANA/Nextcloud sync client's ignore list, so it never uploads a half-written file.
TEMP_PREFIX = ".~resana-sync-"
TEMP_SUFFIX = ".part"


def too_large(max_bytes: int, path: str) -> TooLarge:
    return TooLarge(
        f"Fichier trop volumineux (plus de {max_bytes / 1_000_000:.1f} Mo) : il n'est pas importé. "
        "Demandez au partenaire de vérifier qu'il a déposé le bon fichier, ou augmentez la taille maximale "
        "dans la configuration.",
        path=path,
        max_bytes=max_bytes,
    )


@contextlib.contextmanager
def _temp_beside(target: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """A temp file in ``target``'s folder (so the final rename is atomic), removed on failure."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield temp, handle
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_whole(
    dest: Path,
    chunks: Iterable[bytes],
    *,
    expected_size: int | None,
    max_bytes: int | None,
    path: str,
    short_error: type[StorageError] = InFlux,
) -> tuple[int, str]:
    """Stream ``chunks`` into ``dest`` via a temp file; rename only when whole.

    Returns (size, sha256). ``short_error`` is raised when the byte count differs from
    ``expected_size``: a remote body cut short is transient, a local file that changed
    while we copied it is in flux.
    """
    digest = hashlib.sha256()
    size = 0
    with _temp_beside(dest) as (temp, handle):
        for chunk in chunks:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise too_large(max_bytes, path)
            digest.update(chunk)
            handle.write(chunk)
        if expected_size is not None and size != expected_size:
            raise short_error(
                f"Fichier reçu incomplet ({size} octets sur {expected_size} annoncés) : il sera relu au prochain passage.",
                path=path,
            )
        os.replace(temp, dest)
    return size, digest.hexdigest()


def _mode_for(target: Path) -> int:
    """The replaced file's permissions, or the usual ones for a new file: a temp file is
    private (0600), and a folder shared with a group must stay readable by it."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def replace_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` at ``target`` so that readers see the old file or the new one, never half.

    fsync before the rename (the data is on disk when the name points to it) and on the
    folder after it (the rename itself survives a power cut).
    """
    mode = _mode_for(target)
    with _temp_beside(target) as (temp, handle):
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    folder_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
