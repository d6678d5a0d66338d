"""The one error hierarchy of resana-sync.

Every error a user can meet derives from ``ResanaError``. Its message is a French
sentence that says what happened and what to do next; ``cli`` prints it and exits
with ``exit_code``. Third-party exceptions are translated at the boundary where
they occur (storage, intake, workbook) with ``raise ... from exc``.

    ResanaError
    ├── ConfigError                  bad or missing settings (lists every problem)
    ├── UsageError                   a command given something it cannot use (a missing file)
    ├── StorageError                 the remote or the local folder misbehaved
    │   ├── AuthenticationError      401/403, or a redirect to a login page: stop at once
    │   ├── RemoteNotFound           404
    │   ├── RemoteLocked             423: the file is open in an editor, retry later
    │   ├── RemoteFull               507: no space left
    │   ├── PreconditionFailed       412 or a hash that moved: someone else wrote first
    │   ├── InvalidListing           a listing that is not a WebDAV multistatus
    │   ├── UnsafePath               a name that would escape its folder, or a forbidden write
    │   ├── InFlux                   a file changed while we read it: next run
    │   ├── TooLarge                 a file bigger than the allowed maximum (not downloaded)
    │   ├── WriteNotVerified         the workbook read back after a write is not what we sent
    │   └── TransientRemoteError     5xx, 429, connection errors, timeouts (retryable)
    ├── IntakeError                  a partner file that cannot be read (the file is rejected)
    ├── WorkbookError                the shared workbook cannot be read or safely written
    │   └── FeatureLossRefused       saving would silently drop coordinator features
    ├── StateError                   the local state (SQLite) cannot be opened or written
    ├── SyncAlreadyRunning           another run holds the lock
    └── SyncIncomplete               the run finished some steps but could not push
"""

from __future__ import annotations

from collections.abc import Iterable


class ResanaError(Exception):
    """Base of all resana-sync errors. ``str(err)`` is the user-facing French message."""

    exit_code = 1

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        for key, value in details.items():
            setattr(self, key, value)


class ConfigError(ResanaError):
    exit_code = 2

    def __init__(self, problems: Iterable[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"La configuration n'est pas valide :\n{lines}")


class UsageError(ResanaError):
    exit_code = 2


class StorageError(ResanaError):
    exit_code = 3


class AuthenticationError(StorageError):
    pass


class RemoteNotFound(StorageError):
    pass


class RemoteLocked(StorageError):
    exit_code = 75  # EX_TEMPFAIL: try again later


class RemoteFull(StorageError):
    pass


class PreconditionFailed(StorageError):
    pass


class InvalidListing(StorageError):
    pass


class UnsafePath(StorageError):
    pass


class InFlux(StorageError):
    exit_code = 75


class TooLarge(StorageError):
    pass


class WriteNotVerified(StorageError):
    """The server kept something other than what we sent (e.g. an in-place write cut short)."""


class TransientRemoteError(StorageError):
    exit_code = 75

    def __init__(self, message: str, *, retry_after: float | None = None, **details: object) -> None:
        super().__init__(message, retry_after=retry_after, **details)


class IntakeError(ResanaError):
    """A partner file cannot be read at all. ``message`` is shown to that partner."""


class WorkbookError(ResanaError):
    exit_code = 4


class FeatureLossRefused(WorkbookError):
    pass


class StateError(ResanaError):
    exit_code = 6


class SyncAlreadyRunning(ResanaError):
    exit_code = 75


class SyncIncomplete(ResanaError):
    exit_code = 5
