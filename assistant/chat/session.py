"""Answering in a conversation: history trimmed to the context window, streamed, saved as it goes.

:class:`ChatService` is what the CLI and the GUI call. It keeps the system prompt, fits as many of
the latest turns as the model's context allows (oldest go first), streams the answer through a
plain ``on_token`` callable, and saves it: first as ``partial``, then complete. A killed process
therefore leaves the partial answer in the store, marked as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from assistant.chat.citations import SavedCitation, SavedQuote, citations_of, quotes_of
from assistant.chat.store import ConversationStore, Message
from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    Role,
    Token,
)
from assistant.errors import AssistantError, ContextOverflowError

if TYPE_CHECKING:
    from assistant.knowledge.answer import AnswerResult
    from assistant.knowledge.base import KnowledgeBase

#: How often a streaming answer is written to the store, so a crash loses at most this much.
SAVE_INTERVAL_S = 1.0
#: Tokens kept for the answer when the requested max_tokens would leave no room for a prompt.
MIN_ANSWER_TOKENS = 64
#: Earlier messages given to the model with a question about documents: enough for a follow-up
#: ("and the year before?"), few enough to leave the context to the sources.
DOCUMENT_HISTORY_MESSAGES = 4


@dataclass(frozen=True)
class Answer:
    """A finished (or stopped) answer."""

    conversation_id: int
    message_id: int
    text: str
    tokens: tuple[Token, ...]
    stats: GenerationStats
    dropped_turns: int = 0
    citations: tuple[SavedCitation, ...] = ()
    quotes: tuple[SavedQuote, ...] = ()
    refused: bool = False
    abstained: bool = False
    supported: bool | None = None
    result: AnswerResult | None = (
        None  # the knowledge base's full result, for answers from documents
    )

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.stats.finish_reason


def fit_to_context(
    engine: Engine,
    system: ChatMessage | None,
    history: Sequence[ChatMessage],
    question: ChatMessage,
    *,
    answer_tokens: int,
) -> tuple[list[ChatMessage], int]:
    """Keep the system prompt and the question, and as many recent turns as fit.

    Args:
        engine: gives the real prompt length (template and tokenizer included).
        system: the system prompt, always kept.
        history: earlier messages, oldest first.
        question: the new user message, always kept.
        answer_tokens: tokens to leave free for the answer.

    Returns:
        The messages to send and how many history messages were dropped.

    Raises:
        ContextOverflowError: even the system prompt and the question alone do not fit.
    """
    head = [system] if system is not None else []
    budget = engine.context_size - answer_tokens
    kept = list(history)
    while True:
        messages = [*head, *kept, question]
        used = engine.count_tokens(engine.render_chat(messages))
        if used <= budget:
            return messages, len(history) - len(kept)
        if not kept:
            raise ContextOverflowError(
                f"The question and system prompt take {used} tokens, but the model's context "
                f"holds {engine.context_size} with {answer_tokens} kept for the answer. "
                "Shorten the question or the system prompt, or use a model with a larger context."
            )
        # Drop the oldest message; never start the kept history with an orphaned answer.
        kept.pop(0)
        while kept and kept[0].role is Role.ASSISTANT:
            kept.pop(0)


def title_from(question: str, limit: int = 60) -> str:
    """A conversation title from its first question."""
    line = " ".join(question.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def tokens_to_meta(tokens: Sequence[Token]) -> list[list[object]]:
    """Tokens in a compact JSON-ready form: ``[text, logprob, [[alt, logprob], ...]]``.

    Fixed text the model did not sample (id -1, the "found nothing" reply) gets a fourth item,
    ``False``, so a confidence view does not present it as a sure guess.
    """
    rows: list[list[object]] = []
    for t in tokens:
        row: list[object] = [
            t.text,
            round(t.logprob, 4),
            [[a.text, round(a.logprob, 4)] for a in t.top],
        ]
        if t.id == -1:
            row.append(False)
        rows.append(row)
    return rows


class ChatService:
    """Conversations with one engine and one store."""

    def __init__(
        self,
        engine: Engine,
        store: ConversationStore,
        *,
        system_prompt: str,
        options: GenerationOptions,
        model_name: str = "",
    ) -> None:
        self.engine = engine
        self.store = store
        self.system_prompt = system_prompt
        self.options = options
        self.model_name = model_name or engine.info.name

    def history(self, conversation_id: int) -> list[ChatMessage]:
        """The conversation as chat messages (failed answers left out)."""
        return [
            ChatMessage(m.role, m.content)
            for m in self.store.messages(conversation_id)
            if m.status != "error" and m.role is not Role.SYSTEM and m.content
        ]

    def ask(
        self,
        question: str,
        *,
        conversation_id: int | None = None,
        on_token: Callable[[Token], None] | None = None,
        cancel: CancelToken | None = None,
        options: GenerationOptions | None = None,
    ) -> Answer:
        """Answer ``question`` in a conversation (a new one when ``conversation_id`` is None).

        The question is saved first; the answer is saved as it streams and marked ``partial``
        if it was cancelled or failed.

        Raises:
            ConversationNotFoundError: no conversation with that id.
            ContextOverflowError: the question cannot fit the context window.
            GenerationError: the engine failed (the partial answer is kept).
        """
        question = _checked(question)
        options = options or self.options
        conversation_id = self._conversation_for(question, conversation_id)
        history = self.history(conversation_id)
        answer_tokens = min(
            options.max_tokens, max(MIN_ANSWER_TOKENS, self.engine.context_size // 2)
        )
        system = ChatMessage(Role.SYSTEM, self.system_prompt) if self.system_prompt else None
        messages, dropped = fit_to_context(
            self.engine,
            system,
            history,
            ChatMessage(Role.USER, question),
            answer_tokens=answer_tokens,
        )
        options = replace(options, max_tokens=answer_tokens)
        self.store.add_message(conversation_id, Role.USER, question)
        placeholder = self.store.add_message(conversation_id, Role.ASSISTANT, "", status="partial")
        stats = GenerationStats()
        stream = self.engine.stream(messages, options, cancel=cancel, stats=stats)
        tokens = self._stream_into(placeholder, stream, on_token, lambda: stats)
        return Answer(
            conversation_id=conversation_id,
            message_id=placeholder.id,
            text=_answer_text(tokens),
            tokens=tuple(tokens),
            stats=stats,
            dropped_turns=dropped,
        )

    def ask_documents(
        self,
        question: str,
        knowledge: KnowledgeBase,
        *,
        collection: str = "default",
        top_k: int = 5,
        conversation_id: int | None = None,
        on_token: Callable[[Token], None] | None = None,
        cancel: CancelToken | None = None,
        options: GenerationOptions | None = None,
    ) -> Answer:
        """Answer from the passages of ``collection`` that match ``question``, citing them.

        The search runs before anything is saved, so a failed search leaves the conversation as
        it was. The answer is saved like :meth:`ask`'s, with its citations in
        ``meta["citations"]``. When nothing relevant is found the model is not called and the
        answer says so (``refused``).

        Raises:
            KnowledgeError: the search failed.
            ContextOverflowError: the question does not fit the context window.
            GenerationError: the engine failed (the partial answer is kept).
        """
        from assistant.knowledge.answer import stream_answer  # loads retrieval only when used

        question = _checked(question)
        conversation_id = self._conversation_for(question, conversation_id)
        history = self.history(conversation_id)[-DOCUMENT_HISTORY_MESSAGES:]
        hits = knowledge.search(question, collection=collection, top_k=top_k)
        self.store.add_message(conversation_id, Role.USER, question)
        placeholder = self.store.add_message(conversation_id, Role.ASSISTANT, "", status="partial")
        stream = stream_answer(
            question,
            hits,
            self.engine,
            options=options or self.options,
            cancel=cancel,
            history=history,
        )
        done: list[AnswerResult] = []

        def stats() -> GenerationStats:
            if not done:
                return GenerationStats()
            return done[0].stats or GenerationStats(finish_reason=FinishReason.STOP)

        def finished(tokens: list[Token]) -> dict[str, Any]:
            try:
                done.append(stream.result)
            except RuntimeError:  # the stream failed before it finished
                return {"collection": collection}
            result = done[0]
            return {
                "collection": collection,
                "citations": [c.to_meta() for c in citations_of(result)],
                "quotes": [q.to_meta() for q in quotes_of(result)],
                "abstained": result.abstained,
                "supported": result.supported,
                "answer_text": result.text,
            }

        tokens = self._stream_into(placeholder, stream, on_token, stats, finished)
        result = done[0]
        return Answer(
            conversation_id=conversation_id,
            message_id=placeholder.id,
            text=result.text.strip(),
            tokens=tuple(tokens),
            stats=stats(),
            citations=tuple(citations_of(result)),
            quotes=tuple(quotes_of(result)),
            refused=result.refused,
            abstained=result.abstained,
            supported=result.supported,
            result=result,
        )

    def _conversation_for(self, question: str, conversation_id: int | None) -> int:
        if conversation_id is None:
            return self.store.create(title_from(question), model=self.model_name).id
        self.store.get(conversation_id)  # raises when it does not exist
        return conversation_id

    def _stream_into(
        self,
        placeholder: Message,
        stream: Iterable[Token],
        on_token: Callable[[Token], None] | None,
        stats: Callable[[], GenerationStats],
        finished: Callable[[list[Token]], dict[str, Any]] | None = None,
    ) -> list[Token]:
        """Stream tokens into ``placeholder``: saved once a second, and at the end whatever
        happened (success, cancellation, an engine error, Ctrl-C), so nothing is lost."""
        tokens: list[Token] = []
        last_save = time.monotonic()
        status = "partial"
        extra: dict[str, Any] = {}
        try:
            for token in stream:
                tokens.append(token)
                if on_token is not None:
                    on_token(token)
                if time.monotonic() - last_save > SAVE_INTERVAL_S:
                    self._save(placeholder.id, tokens, "partial", stats())
                    last_save = time.monotonic()
            if finished is not None:
                extra = finished(tokens)
            if stats().finish_reason is not FinishReason.CANCELLED:
                status = "complete"
        finally:
            if finished is not None and not extra:
                extra = finished(tokens)
            self._save(placeholder.id, tokens, status, stats(), extra)
        return tokens

    def _save(
        self,
        message_id: int,
        tokens: list[Token],
        status: str,
        stats: GenerationStats,
        extra: dict[str, Any] | None = None,
    ) -> None:
        extra = dict(extra or {})
        # A quote-first reply's answer part is what the user reads; the tokens keep it all.
        content = extra.pop("answer_text", None) or _answer_text(tokens)
        meta = {
            "model": self.model_name,
            "finish_reason": stats.finish_reason.value if stats.finish_reason else None,
            "prompt_tokens": stats.prompt_tokens,
            "time_to_first_token": stats.time_to_first_token,
            "tokens_per_second": round(stats.tokens_per_second, 2),
            "tokens": tokens_to_meta(tokens),
            **extra,
        }
        self.store.update_message(
            message_id,
            content=content,
            status=status,
            token_count=stats.completion_tokens or len(tokens),
            meta=meta,
        )


def _checked(question: str) -> str:
    question = question.strip()
    if not question:
        raise AssistantError("The question is empty. Type a question and try again.")
    return question


def _answer_text(tokens: Sequence[Token]) -> str:
    return "".join(t.text for t in tokens).strip()
