"""Asking within a conversation: plain chat, or an answer from a document collection.

:class:`ChatService` already answers and saves plain chat. Answers from documents go through
:func:`assistant.knowledge.answer.stream_answer` and are saved here the same way (question
first, the answer as ``partial`` while it streams, then complete), with the citations added to
the message's ``meta["citations"]`` so a reopened conversation still shows its sources.

Imports no Qt: :mod:`assistant.gui.workers` runs these functions in a worker thread. It lives in
the GUI package only because the GUI is its one caller so far; it belongs in ``assistant/chat``
once the CLI wants it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.chat.session import ChatService, title_from, tokens_to_meta
from assistant.engine.base import CancelToken, FinishReason, GenerationStats, Role, Token
from assistant.errors import AssistantError
from assistant.gui.transcript import CitationView

if TYPE_CHECKING:
    from assistant.knowledge.answer import AnswerResult
    from assistant.knowledge.base import KnowledgeBase

#: Earlier messages given to the model with a document question: enough for a follow-up
#: ("and the year before?"), few enough to leave the context to the sources.
DOCUMENT_HISTORY_MESSAGES = 4
SAVE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Outcome:
    """How an answer ended; the window reloads the conversation from the store to show it."""

    conversation_id: int
    message_id: int
    tokens_per_second: float
    cancelled: bool
    citations: int = 0


def ask_chat(
    chat: ChatService,
    question: str,
    *,
    conversation_id: int | None,
    on_token: Callable[[Token], None],
    cancel: CancelToken,
) -> Outcome:
    """Plain chat through :class:`ChatService` (history trimmed to the context, saved as it goes).

    Raises:
        AssistantError: the question is empty or does not fit, or the engine failed.
    """
    answer = chat.ask(question, conversation_id=conversation_id, on_token=on_token, cancel=cancel)
    return Outcome(
        conversation_id=answer.conversation_id,
        message_id=answer.message_id,
        tokens_per_second=answer.stats.tokens_per_second,
        cancelled=answer.finish_reason is FinishReason.CANCELLED,
    )


def citations_of(result: AnswerResult) -> list[CitationView]:
    """The answer's citations with the retrieval score of the passage each one points to."""
    by_number = {source.number: source.hit for source in result.sources}
    views = []
    for citation in result.citations:
        hit = by_number.get(citation.number)
        score: float | None = None
        if hit is not None:
            score = hit.dense_similarity if hit.dense_similarity is not None else hit.score
        views.append(
            CitationView(
                number=citation.number,
                document_id=citation.document_id,
                document_name=citation.document_name,
                path=str(citation.path),
                page=citation.page,
                heading=citation.heading,
                quote=citation.quote,
                score=score,
                cited=citation.cited,
            )
        )
    return views


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

    Args:
        chat: supplies the engine, the store, the decoding options and the model name.
        knowledge: the knowledge base to search.
        question: the user's question.
        conversation_id: the conversation to continue, or None for a new one.
        collection: the collection to search.
        top_k: passages to retrieve.
        on_token: called with each token as it streams.
        cancel: stops the answer at the next token.

    Raises:
        AssistantError: the search or the engine failed (a started answer is kept as partial).
    """
    from assistant.knowledge.answer import stream_answer  # the knowledge package loads on use

    question = question.strip()
    if not question:
        raise AssistantError("The question is empty. Type a question and try again.")
    store = chat.store
    if conversation_id is None:
        conversation_id = store.create(title_from(question), model=chat.model_name).id
    history = chat.history(conversation_id)[-DOCUMENT_HISTORY_MESSAGES:]
    # Search before anything is saved: a failed search leaves the conversation as it was.
    hits = knowledge.search(question, collection=collection, top_k=top_k)
    store.add_message(conversation_id, Role.USER, question)
    placeholder = store.add_message(conversation_id, Role.ASSISTANT, "", status="partial")
    stream = stream_answer(
        question, hits, chat.engine, options=chat.options, cancel=cancel, history=history
    )
    tokens: list[Token] = []
    status = "partial"
    last_save = time.monotonic()
    try:
        for token in stream:
            tokens.append(token)
            on_token(token)
            if time.monotonic() - last_save > SAVE_INTERVAL_S:
                _save(chat, placeholder.id, tokens, "partial", None, [], collection)
                last_save = time.monotonic()
        result = stream.result
        if result.finish_reason is not FinishReason.CANCELLED:
            status = "complete"
    except BaseException:
        # The engine failed or the thread was interrupted: keep what streamed, marked partial.
        _save(chat, placeholder.id, tokens, "partial", None, [], collection)
        raise
    citations = citations_of(result)
    _save(chat, placeholder.id, list(result.tokens), status, result.stats, citations, collection)
    stats = result.stats
    return Outcome(
        conversation_id=conversation_id,
        message_id=placeholder.id,
        tokens_per_second=stats.tokens_per_second if stats is not None else 0.0,
        cancelled=status != "complete",
        citations=len(citations),
    )


def _save(
    chat: ChatService,
    message_id: int,
    tokens: list[Token],
    status: str,
    stats: GenerationStats | None,
    citations: list[CitationView],
    collection: str,
) -> None:
    meta_tokens = tokens_to_meta(tokens)
    # Fixed text the model did not sample (the "found nothing" reply) is marked so the
    # confidence view does not present it as a 100 % sure guess.
    for item, token in zip(meta_tokens, tokens, strict=True):
        if token.id == -1:
            item.append(False)
    meta: dict[str, Any] = {
        "model": chat.model_name,
        "finish_reason": stats.finish_reason.value if stats and stats.finish_reason else None,
        "prompt_tokens": stats.prompt_tokens if stats else 0,
        "time_to_first_token": stats.time_to_first_token if stats else None,
        "tokens_per_second": round(stats.tokens_per_second, 2) if stats else 0.0,
        "tokens": meta_tokens,
        "collection": collection,
        "citations": [c.to_meta() for c in citations],
    }
    chat.store.update_message(
        message_id,
        content="".join(t.text for t in tokens).strip(),
        status=status,
        token_count=stats.completion_tokens if stats else len(tokens),
        meta=meta,
    )
