"""Answering a question from retrieved passages, streaming, with citations a person can check.

:func:`stream_answer` returns an :class:`AnswerStream`: iterate it for the model's tokens, then
read its :class:`AnswerResult` (text, citations, sources, hits, timings). :func:`answer` does the
same with an ``on_token`` callable. The prompt is built by :mod:`~assistant.knowledge.prompt`;
``[n]`` markers become citations in :mod:`~assistant.knowledge.citations`.

When retrieval found nothing relevant the answer says so ("I found nothing in your documents
about ...") without calling the model: a small model given unrelated passages tends to answer
from them anyway.

This module imports nothing heavy; the engine is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    Token,
)
from assistant.knowledge.citations import Citation, extract_citations
from assistant.knowledge.prompt import (
    AnswerSettings,
    Source,
    build_messages,
    is_relevant,
    refusal_text,
)
from assistant.knowledge.search import SearchHit

__all__ = [
    "AnswerResult",
    "AnswerSettings",
    "AnswerStream",
    "AnswerTimings",
    "Citation",
    "Source",
    "answer",
    "build_messages",
    "extract_citations",
    "is_relevant",
    "refusal_text",
    "stream_answer",
]


@dataclass(frozen=True)
class AnswerTimings:
    """Seconds spent: building the prompt, until the first token, generating, in all."""

    prompt_s: float = 0.0
    first_token_s: float | None = None
    generation_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True)
class AnswerResult:
    """A finished answer.

    Attributes:
        question: what was asked.
        text: the answer as shown to the user.
        citations: the sources it relies on, in order of first mention.
        sources: the passages given to the model (empty when it was not called).
        hits: everything retrieval returned.
        refused: True when nothing relevant was found and the model was not called.
        invalid_citations: numbers the model cited that match no source.
        tokens: the model's tokens, with their probabilities.
        stats: the engine's generation statistics (``None`` when it was not called).
        finish_reason: why generation stopped (``None`` when it was not called).
        timings: where the time went.
    """

    question: str
    text: str
    citations: tuple[Citation, ...]
    sources: tuple[Source, ...]
    hits: tuple[SearchHit, ...]
    refused: bool
    invalid_citations: tuple[int, ...] = ()
    tokens: tuple[Token, ...] = ()
    stats: GenerationStats | None = None
    finish_reason: FinishReason | None = None
    timings: AnswerTimings = field(default_factory=AnswerTimings)


class AnswerStream:
    """An answer being generated: iterate for tokens, then read :attr:`result`.

    Iterating yields the model's :class:`Token` values as they come. When nothing relevant was
    retrieved it yields one token holding the refusal (``id == -1``, ``logprob == 0.0``: fixed
    text, not sampled). Stopping early (``break``, or cancelling) still leaves a result with the
    text so far.
    """

    def __init__(
        self,
        question: str,
        hits: Sequence[SearchHit],
        engine: Engine,
        *,
        options: GenerationOptions,
        settings: AnswerSettings,
        cancel: CancelToken | None,
        history: Sequence[ChatMessage],
    ) -> None:
        self._question = question
        self._hits = tuple(hits)
        self._engine = engine
        self._options = options
        self._settings = settings
        self._cancel = cancel
        self._history = tuple(history)
        self._result: AnswerResult | None = None
        self._started = False

    @property
    def result(self) -> AnswerResult:
        """The finished answer.

        Raises:
            RuntimeError: the stream has not been iterated to the end (or stopped) yet.
        """
        if self._result is None:
            raise RuntimeError("iterate the answer stream before reading its result")
        return self._result

    def __iter__(self) -> Iterator[Token]:
        if self._started:
            raise RuntimeError("an answer stream can be iterated only once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[Token]:
        start = time.perf_counter()
        relevant = [hit for hit in self._hits if is_relevant(hit, self._settings)]
        if not relevant:
            text = refusal_text(self._question)
            token = Token(text=text, id=-1, logprob=0.0)
            self._result = AnswerResult(
                question=self._question,
                text=text,
                citations=(),
                sources=(),
                hits=self._hits,
                refused=True,
                tokens=(token,),
                timings=AnswerTimings(total_s=time.perf_counter() - start),
            )
            yield token
            return
        messages, sources = build_messages(
            self._question,
            relevant,
            self._engine,
            max_tokens=self._options.max_tokens,
            settings=self._settings,
            history=self._history,
        )
        prompt_s = time.perf_counter() - start
        stats = GenerationStats()
        tokens: list[Token] = []
        first: float | None = None
        generation_start = time.perf_counter()
        try:
            for token in self._engine.stream(
                messages, self._options, cancel=self._cancel, stats=stats
            ):
                if first is None:
                    first = time.perf_counter() - generation_start
                tokens.append(token)
                yield token
        finally:
            text = "".join(t.text for t in tokens).strip()
            citations, invalid = extract_citations(
                text, sources, fallback=self._settings.fallback_citations
            )
            end = time.perf_counter()
            self._result = AnswerResult(
                question=self._question,
                text=text,
                citations=tuple(citations),
                sources=tuple(sources),
                hits=self._hits,
                refused=False,
                invalid_citations=tuple(invalid),
                tokens=tuple(tokens),
                stats=stats,
                finish_reason=stats.finish_reason,
                timings=AnswerTimings(
                    prompt_s=prompt_s,
                    first_token_s=first,
                    generation_s=end - generation_start,
                    total_s=end - start,
                ),
            )


def stream_answer(
    question: str,
    hits: Sequence[SearchHit],
    engine: Engine,
    *,
    options: GenerationOptions | None = None,
    settings: AnswerSettings | None = None,
    cancel: CancelToken | None = None,
    history: Sequence[ChatMessage] = (),
) -> AnswerStream:
    """Start answering ``question`` from ``hits``; iterate the result for tokens.

    Nothing runs until the stream is iterated.
    """
    return AnswerStream(
        question,
        hits,
        engine,
        options=options or GenerationOptions(),
        settings=settings or AnswerSettings(),
        cancel=cancel,
        history=history,
    )


def answer(
    question: str,
    hits: Sequence[SearchHit],
    engine: Engine,
    *,
    options: GenerationOptions | None = None,
    settings: AnswerSettings | None = None,
    on_token: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
    history: Sequence[ChatMessage] = (),
) -> AnswerResult:
    """Answer ``question`` from ``hits``, calling ``on_token`` with each piece of text.

    Raises:
        ContextOverflowError: the question alone does not fit the context window.
        GenerationError: the engine failed.
    """
    stream = stream_answer(
        question, hits, engine, options=options, settings=settings, cancel=cancel, history=history
    )
    for token in stream:
        if on_token is not None:
            on_token(token.text)
    return stream.result
