"""The window's two ways to answer, both through :class:`~assistant.chat.session.ChatService`.

Plain chat (:meth:`ChatService.ask`) or an answer from a document collection
(:meth:`ChatService.ask_documents`, which saves the citations with the answer). This module only
turns their results into the :class:`Outcome` the window needs. Imports no Qt:
:mod:`assistant.gui.workers` runs these functions in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.chat.session import Answer, ChatService
from assistant.engine.base import CancelToken, FinishReason, Token

if TYPE_CHECKING:
    from assistant.knowledge.base import KnowledgeBase


@dataclass(frozen=True)
class Outcome:
    """How an answer ended; the window reloads the conversation from the store to show it."""

    conversation_id: int
    message_id: int
    tokens_per_second: float
    cancelled: bool
    citations: int = 0


def _outcome(answer: Answer) -> Outcome:
    return Outcome(
        conversation_id=answer.conversation_id,
        message_id=answer.message_id,
        tokens_per_second=answer.stats.tokens_per_second,
        cancelled=answer.finish_reason is FinishReason.CANCELLED,
        citations=len(answer.citations),
    )


def ask_chat(
    chat: ChatService,
    question: str,
    *,
    conversation_id: int | None,
    on_token: Callable[[Token], None],
    cancel: CancelToken,
) -> Outcome:
    """Plain chat (history trimmed to the context, saved as it goes).

    Raises:
        AssistantError: the question is empty or does not fit, or the engine failed.
    """
    return _outcome(
        chat.ask(question, conversation_id=conversation_id, on_token=on_token, cancel=cancel)
    )


def ask_documents(
    chat: ChatService,
    knowledge: KnowledgeBase,
    question: str,
    *,
    conversation_id: int | None,
    collection: str,
    top_k: int,
    on_token: Callable[[Token], None],
    cancel: CancelToken,
) -> Outcome:
    """Answer from the passages of ``collection`` that match ``question``, citing them.

    Raises:
        AssistantError: the search or the engine failed (a started answer is kept as partial).
    """
    return _outcome(
        chat.ask_documents(
            question,
            knowledge,
            collection=collection,
            top_k=top_k,
            conversation_id=conversation_id,
            on_token=on_token,
            cancel=cancel,
        )
    )
