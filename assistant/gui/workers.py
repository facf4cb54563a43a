"""Worker threads: where the model loads, answers stream and documents import.

The core calls plain callables (``on_token``, ``on_progress``) from whatever thread runs it. A
:class:`Task` runs one core call in its own :class:`QThread` and re-emits those callbacks as Qt
signals; Qt queues a signal emitted in the worker to the receiver's thread, so every widget is
touched only by the GUI thread and the event loop never waits on the core.

Errors are sorted at the boundary: an :class:`~assistant.errors.AssistantError` is a message for
the user (``failed``); anything else is a bug and goes to the crash handler (``crashed``) with
its traceback.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from assistant.engine.base import CancelToken
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

#: A job receives ``report`` (call it with any value to emit ``progress``) and a cancel token.
Job = Callable[[Callable[[Any], None], CancelToken], Any]


class Task(QThread):
    """One core call running in its own thread.

    Signals:
        progress(object): whatever the job passed to ``report`` (a token, a progress event).
        succeeded(object): the job's return value.
        failed(object): the :class:`AssistantError` it raised.
        crashed(str): the traceback of any other exception.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    crashed = Signal(str)

    def __init__(self, name: str, job: Job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.cancel_token = CancelToken()
        self._job = job

    def cancel(self) -> None:
        """Ask the job to stop at its next check (the next token, the next file)."""
        self.cancel_token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.cancelled

    def run(self) -> None:  # runs in the worker thread
        try:
            result = self._job(self.progress.emit, self.cancel_token)
        except AssistantError as exc:
            log.info("%s failed: %s", self.objectName(), exc)
            self.failed.emit(exc)
        except Exception:  # noqa: BLE001 - a bug: reported to the crash handler, never lost
            text = traceback.format_exc()
            log.error("%s crashed:\n%s", self.objectName(), text)
            self.crashed.emit(text)
        else:
            self.succeeded.emit(result)


class TaskRunner(QObject):
    """Starts tasks, keeps them alive while they run, and stops them all at shutdown."""

    def __init__(self, on_crash: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_crash = on_crash
        self._running: set[Task] = set()

    def start(
        self,
        name: str,
        job: Job,
        *,
        on_progress: Callable[[Any], None] | None = None,
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[AssistantError], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> Task:
        """Run ``job`` in a new thread; the callbacks run in the GUI thread.

        ``on_finished`` runs last, after success, failure or a crash alike.
        """
        task = Task(name, job)
        if on_progress is not None:
            task.progress.connect(on_progress)
        if on_success is not None:
            task.succeeded.connect(on_success)
        if on_failure is not None:
            task.failed.connect(on_failure)
        task.crashed.connect(self._on_crash)
        task.finished.connect(lambda: self._finished(task, on_finished))
        self._running.add(task)
        task.start()
        return task

    def _finished(self, task: Task, on_finished: Callable[[], None] | None) -> None:
        self._running.discard(task)
        task.deleteLater()
        if on_finished is not None:
            on_finished()

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel every task and wait for the threads to end (called when the window closes)."""
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            if not task.wait(timeout_ms):
                log.warning("task %s did not stop within %d ms", task.objectName(), timeout_ms)
