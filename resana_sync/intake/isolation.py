"""Partner files are read in a child process with a memory ceiling and a hard deadline.

The guards (``guards``) refuse every hostile shape we know of before calamine parses a
file, but calamine is native code: an allocation failure there aborts the process
instead of raising. So the run keeps one worker process (started from a clean
fork server, reused file after file) whose address space is capped with
``RLIMIT_AS``. If the worker dies or overruns its deadline, the file is rejected with
a clear message, the worker is replaced, and the run goes on. The run's own memory
never holds more than the worker's answer: the records of one file.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..errors import StorageError
from ..validate import Validation
from . import check_file, unreadable_file
from .guards import DEFAULT_LIMITS

logger = logging.getLogger(__name__)

MEMORY_LIMIT = 2 * 1024 * 1024 * 1024   # address space of the worker (calamine's grid + Python)
DEADLINE_MARGIN = 10.0                  # beyond the parse time limit: validation, pickling

CRASHED = (
    "Le fichier n'a pas pu être lu : sa lecture a dépassé la mémoire autorisée ou s'est interrompue. "
    "Ouvrez-le, enregistrez-le à nouveau au format Excel (.xlsx) puis déposez-le ; "
    "si le problème continue, prévenez la coordination."
)
TOO_SLOW = (
    "La lecture du fichier a pris trop de temps : il est sans doute bien plus grand qu'une fiche. "
    "Déposez une fiche par jeune ou une liste courte, au format Excel (.xlsx)."
)


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn: Connection, memory_limit: int) -> None:
    """The worker's loop: one job in, one answer out, until the parent hangs up.

    The answer says whether the worker should be retired: a parse thread abandoned at its
    deadline would otherwise keep eating this worker's memory and CPU under later files."""
    _limit_memory(memory_limit)
    while True:
        try:
            work, args, kwargs = conn.recv()
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", work(*args, **kwargs))
        except MemoryError:
            answer = ("crashed", None)
        except Exception as exc:  # noqa: BLE001 - the machine (disk, permissions), not the file
            answer = ("failed", type(exc).__name__)
        conn.send((*answer, threading.active_count() > 1))


class IsolatedReader:
    """``check_file`` run in a capped child process. Use as a context manager, one per run."""

    def __init__(
        self,
        *,
        memory_limit: int = MEMORY_LIMIT,
        deadline: float = DEFAULT_LIMITS.parse_seconds + DEADLINE_MARGIN,
        work: Callable[..., Validation] = check_file,
    ) -> None:
        self.memory_limit = memory_limit
        self.deadline = deadline
        self.work = work
        self._context = multiprocessing.get_context("forkserver")
        self._process: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_file(self, path: Any, schema: Any, *, display_name: str, **kwargs: Any) -> Validation:
        conn = self._connection()
        conn.send((self.work, (path, schema), {"display_name": display_name, **kwargs}))
        try:
            if not conn.poll(self.deadline):
                logger.warning("intake: a partner file took too long to read; its reader was stopped")
                self.close()
                return unreadable_file(display_name, TOO_SLOW)
            status, validation, retire = conn.recv()
        except (EOFError, ConnectionError):
            status, retire = "crashed", True
        if retire:
            self.close()
        if status == "failed":
            raise StorageError(
                f"Le fichier n'a pas pu être lu sur cette machine ({validation}) ; il sera repris à la "
                "prochaine synchronisation."
            )
        if status == "crashed":
            logger.warning("intake: the reader stopped on a partner file (memory ceiling or crash); restarted")
            return unreadable_file(display_name, CRASHED)
        return validation

    def _connection(self) -> Connection:
        if self._conn is None:
            parent, child = self._context.Pipe()
            process = self._context.Process(
                target=_serve, args=(child, self.memory_limit), name="resana-sync-intake", daemon=True
            )
            process.start()
            child.close()
            self._process, self._conn = process, parent
        return self._conn

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
