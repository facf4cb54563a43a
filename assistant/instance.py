"""One Enclave process per data directory: an advisory lock that holds the process id.

Chroma's embedded store is single-process, and two importers writing one index would interleave
their ledger and vector writes. :class:`InstanceLock` takes an exclusive, non-blocking ``flock``
on ``ASSISTANT_HOME/enclave.lock`` and writes the holder's pid and command into it. A second
process fails at once with :class:`~assistant.errors.InstanceLockedError` naming that pid, never
waits. The kernel drops the lock when its process exits for any reason (a crash or ``kill -9``
included), so a stale lock file cannot lock users out.

The GUI holds it for its whole life; the commands that write the index (``ingest``,
``docs remove``, ``docs rebuild``) hold it while they run. Read-only commands do not take it.

This module imports only the standard library and :mod:`assistant.errors`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from assistant.errors import InstanceLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: msvcrt's byte-range lock below
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def _try_lock(fd: int) -> bool:
    """Take the lock on ``fd`` without waiting; False when another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder_pid(path: Path) -> int | None:
    """The pid recorded by the process that holds the lock, if it wrote a readable one."""
    try:
        first = path.read_text(encoding="utf-8", errors="replace").split(maxsplit=1)
        pid = int(first[0]) if first else 0
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


class InstanceLock:
    """An exclusive lock on a data directory, held until :meth:`release` or process exit.

    Use :meth:`acquire` (or a ``with`` block). Safe to release twice.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, *, home: Path | None = None, purpose: str = "") -> InstanceLock:
        """Take the lock file at ``path`` (created if needed) or fail at once.

        Args:
            path: the lock file, normally ``Paths.lock_file``.
            home: the data directory, for the message (default: the lock file's folder).
            purpose: what holds it (``"gui"``, ``"ingest"``), written after the pid for people
                who look at the file.

        Raises:
            InstanceLockedError: another live process holds it.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise InstanceLockedError(str(home or path.parent), _holder_pid(path))
        # Written only once the lock is ours, so a reader never sees a half-written pid of a
        # process that lost the race.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases it). Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no pid of a finished process left for the next reader
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # A forgotten lock must not outlive its object in a long-running process (tests, GUI).
        self.release()


__all__ = ["InstanceLock"]
