"""Parsing in a child process with a time limit and a memory limit.

Crafted PDFs and DOCX files can drive pypdf and python-docx into huge allocations or endless
loops. :class:`ParserWorker` keeps one long-lived child process (started with ``spawn``, so it
shares no state with this one) that parses files one at a time. Each file gets
``parse_timeout_s``; a file that runs past it is reported as a timeout and the child is killed
and replaced for the next file. The child's address space is capped with ``RLIMIT_AS`` where the
platform has it, so a decompression bomb ends in a ``MemoryError`` inside the child, not in the
user's session. A child that dies outright (a crash in native code) costs only that file.

A scanned document is read by OCR page by page: the child reports each page done, the time limit
then applies to each page rather than to the whole file (a 300-page scan is not a hang), and a
cancel kills the child between two reports instead of waiting for the file to finish.

This module imports no heavy library; the child imports the parsers it needs.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.knowledge.loaders import load_file
from assistant.knowledge.records import FailureKind, KnowledgeSettings, LoadFailure, ParsedDocument

if TYPE_CHECKING:
    from assistant.engine.base import CancelToken
    from assistant.knowledge.loaders.image import PageProgress

_STARTUP_TIMEOUT_S = 60.0
_READY = "ready"
#: How often a waiting parse looks at its cancel token.
_POLL_S = 0.2


class ParseCancelled(Exception):
    """The parse was cancelled; the child was stopped and nothing was decided about the file."""


@dataclass(frozen=True)
class _PageDone:
    """The child's report that OCR finished a page: ``done`` of ``total``."""

    done: int
    total: int


def _serve(conn: multiprocessing.connection.Connection, settings: KnowledgeSettings) -> None:
    """The child's loop: receive a path, send back what the loader made of it."""
    import assistant.offline  # noqa: F401  (the child is a fresh interpreter: guard it too)

    if settings.parse_memory_bytes > 0:
        try:
            import resource

            limit = settings.parse_memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):  # not on this platform: the timeout remains
            pass
    conn.send(_READY)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return

        def report(done: int, total: int) -> None:
            conn.send(_PageDone(done, total))

        conn.send(load_file(Path(request), settings, report))


class ChildServer:
    """The life of one long-lived, spawned child process that answers requests on a pipe.

    Subclasses start it with :meth:`_spawn` (then wait for its ready message their own way),
    stop it hard with :meth:`_kill` (a hung or crashed child) and politely with :meth:`close`
    (a ``None`` request asks it to exit). The parser child and the page renderer
    (:mod:`.pages`) share it.
    """

    def __init__(self) -> None:
        self._process: BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None

    def _running(self) -> multiprocessing.connection.Connection | None:
        """The pipe to the child when it is alive, else ``None``."""
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        return None

    def _spawn(
        self, target: Any, args: tuple[Any, ...], name: str
    ) -> multiprocessing.connection.Connection:
        """Start a fresh child running ``target(pipe, *args)``; the parent's end of the pipe."""
        self._kill()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def _kill(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
            process.close()

    def close(self) -> None:
        """Stop the child process (politely first)."""
        if self._conn is not None and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(timeout=2)
            except (OSError, ValueError):
                pass
        self._kill()


class ParserWorker(ChildServer):
    """Parses files in a child process, one at a time, with a per-file time limit.

    With ``settings.isolate_parsing`` false it parses in this process instead (fast unit tests);
    the size and page limits still apply, the time limit does not.
    """

    def __init__(self, settings: KnowledgeSettings) -> None:
        super().__init__()
        self._settings = settings

    def parse(
        self,
        path: Path,
        *,
        on_page: PageProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> ParsedDocument | LoadFailure:
        """Parse one file.

        Args:
            path: the file.
            on_page: called after each page OCR read, with (done, to read).
            cancel: checked while waiting; when set the child is stopped.

        Returns:
            The parsed document, or why it could not be imported (including a timeout).

        Raises:
            ParseCancelled: ``cancel`` was set before the file was parsed.
        """
        if not self._settings.isolate_parsing:
            return load_file(path, self._settings, on_page)
        conn = self._ensure_started()
        if conn is None:
            return LoadFailure(
                FailureKind.UNREADABLE,
                "could not be parsed: the parsing process failed to start",
            )
        limit = self._settings.parse_timeout_s
        try:
            conn.send(str(path))
            deadline = time.monotonic() + limit
            while True:
                if cancel is not None and cancel.cancelled:
                    self._kill()
                    raise ParseCancelled(str(path))
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    return LoadFailure(
                        FailureKind.TIMEOUT,
                        f"took longer than {limit:g} s to parse (or to read one page by OCR) "
                        "and was abandoned; it may be malformed, or split it into smaller files",
                    )
                if not conn.poll(min(left, _POLL_S) if cancel is not None else left):
                    continue
                message: ParsedDocument | LoadFailure | _PageDone = conn.recv()
                if isinstance(message, _PageDone):
                    deadline = time.monotonic() + limit  # the limit is per page
                    if on_page is not None:
                        on_page(message.done, message.total)
                    continue
                return message
        except (EOFError, OSError):
            self._kill()
            return LoadFailure(
                FailureKind.CORRUPT,
                "crashed the parser (the file is probably malformed or hostile)",
            )

    def _ensure_started(self) -> multiprocessing.connection.Connection | None:
        running = self._running()
        if running is not None:
            return running
        parent = self._spawn(_serve, (self._settings,), "enclave-parser")
        try:
            if parent.poll(_STARTUP_TIMEOUT_S) and parent.recv() == _READY:
                return parent
        except (EOFError, OSError):
            pass
        self._kill()
        return None

    def __enter__(self) -> ParserWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
