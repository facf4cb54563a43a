"""Running one answer at a time in a worker: tokens in, Stop, and how it ended.

:class:`Answerer` builds the job (plain chat through :class:`ChatService`, or an answer from a
collection through :mod:`assistant.gui.document_chat`), starts it on the
:class:`~assistant.gui.workers.TaskRunner` and re-emits what happens as signals. After Stop, the
tokens already queued are dropped, so the answer visibly stops with the click.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from assistant.chat.session import ChatService
from assistant.engine.base import CancelToken, Token
from assistant.errors import AssistantError
from assistant.gui import document_chat
from assistant.gui.transcript import TokenView
from assistant.gui.workers import Task, TaskRunner
from assistant.knowledge.base import KnowledgeBase


class Answerer(QObject):
    """Starts answers and reports their progress.

    Signals:
        token(object): a :class:`TokenView` to show.
        succeeded(object): the :class:`document_chat.Outcome`.
        failed(object): the :class:`AssistantError` that ended it.
        finished(): the answer ended, however it ended (emitted last).
    """

    token = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self.task: Task | None = None
        self.question = ""

    @property
    def busy(self) -> bool:
        return self.task is not None

    @property
    def stopping(self) -> bool:
        return self.task is not None and self.task.cancelled

    def start(
        self,
        service: ChatService,
        question: str,
        *,
        conversation_id: int,
        knowledge: KnowledgeBase | None,
        collection: str,
        top_k: int,
    ) -> Task:
        """Answer ``question`` in the conversation, from ``collection`` when one is given."""

        def job(report: Callable[[Any], None], cancel: CancelToken) -> document_chat.Outcome:
            if collection and knowledge is not None:
                return document_chat.ask_documents(
                    service,
                    knowledge,
                    question,
                    conversation_id=conversation_id,
                    collection=collection,
                    top_k=top_k,
                    on_token=report,
                    cancel=cancel,
                )
            return document_chat.ask_chat(
                service, question, conversation_id=conversation_id, on_token=report, cancel=cancel
            )

        self.question = question
        self.task = self._runner.start(
            "answer",
            job,
            on_progress=self._on_token,
            on_success=self.succeeded.emit,
            on_failure=self._on_failure,
            on_finished=self._on_finished,
        )
        return self.task

    def stop(self) -> bool:
        """Cancel the running answer; True if there was one to stop."""
        if self.task is None or self.task.cancelled:
            return False
        self.task.cancel()
        return True

    def _on_token(self, token: object) -> None:
        if isinstance(token, Token) and self.task is not None and not self.task.cancelled:
            self.token.emit(TokenView.from_token(token))

    def _on_failure(self, exc: AssistantError) -> None:
        self.failed.emit(exc)

    def _on_finished(self) -> None:
        self.task = None
        self.finished.emit()
