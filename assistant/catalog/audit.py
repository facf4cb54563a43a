"""The append-only audit log of model administration: every import, refusal, switch and key change.

One JSON object per line in ``audit.log`` under the data directory, opened with ``O_APPEND`` and
``fsync``-ed before the action is reported done. Each record carries the time (UTC), the OS user,
the action, the result and, for imports, the file digests. Each record also carries the SHA-256
of the line before it (``prev``), so deleting or editing a line in the middle breaks the chain and
``assistant-admin audit`` says where: the log is evidence, not just a diary.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.catalog.storage import locked, os_user, utc_now
from assistant.errors import CatalogError

GENESIS = "0" * 64
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ChainCheck:
    """Whether the log's hash chain is intact, and the first line where it is not."""

    ok: bool
    records: int
    broken_at: int | None = None  # 1-based line number


class AuditLog:
    """The audit log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(path.name + ".lock")

    def append(self, action: str, result: str, **details: Any) -> dict[str, Any]:
        """Write one record and make it durable.

        Args:
            action: what was attempted (``import``, ``remove``, ``set-default``, ``keys-add``...).
            result: ``ok``, ``refused``, ``cancelled`` or ``failed``.
            details: anything else worth keeping (model, version, files, reason, message...).

        Returns:
            The record as written.

        Raises:
            CatalogError: the log cannot be written (the action must then not be reported done).
        """
        record: dict[str, Any] = {
            "time": utc_now(),
            "user": os_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "action": action,
            "result": result,
            **details,
        }
        try:
            with locked(self._lock):
                record["prev"] = self._last_line_digest()
                line = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n"
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise CatalogError(
                f"Cannot write the audit log {self.path}: {exc}. Nothing was changed; free some "
                "disk space or fix the folder's permissions and try again."
            ) from exc
        return record

    def _last_line_digest(self) -> str:
        try:
            with self.path.open("rb") as handle:
                end = handle.seek(0, os.SEEK_END)
                position, tail = end, b""
                while position > 0:
                    step = min(_TAIL_CHUNK, position)
                    position -= step
                    handle.seek(position)
                    tail = handle.read(step) + tail
                    if tail.rstrip(b"\n").rfind(b"\n") >= 0:
                        break
        except FileNotFoundError:
            return GENESIS
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return hashlib.sha256(last).hexdigest() if last else GENESIS

    def lines(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as handle:
                for line in handle:
                    yield line.rstrip(b"\n")
        except FileNotFoundError:
            return

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a line that is not JSON shows as ``{"corrupt": ...}``)."""
        result: list[dict[str, Any]] = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            if not isinstance(record, dict):
                record = {"corrupt": line.decode("utf-8", errors="replace")}
            result.append(record)
        return result

    def check_chain(self) -> ChainCheck:
        """Walk the hash chain from the first record."""
        previous, count = GENESIS, 0
        for count, line in enumerate(self.lines(), start=1):  # noqa: B007 - count used after
            try:
                record = json.loads(line)
                linked = isinstance(record, dict) and record.get("prev") == previous
            except (json.JSONDecodeError, UnicodeDecodeError):
                linked = False
            if not linked:
                return ChainCheck(ok=False, records=count, broken_at=count)
            previous = hashlib.sha256(line).hexdigest()
        return ChainCheck(ok=True, records=count)
