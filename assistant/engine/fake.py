"""A scripted engine: replays queued answers and records what it was asked.

Used by unit tests and by anything that needs an engine without a model file. It implements the
same :class:`~assistant.engine.base.Engine` protocol as the llama.cpp adapter, including stop
strings, ``max_tokens``, cancellation and per-token log-probabilities, so code tested against it
behaves the same against the real thing.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from assistant.engine.base import (
    Alternative,
    CancelToken,
    ChatMessage,
    ContinuationScore,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    ModelInfo,
    Token,
)
from assistant.errors import ContextOverflowError

_WORDS = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True)
class ScriptedCall:
    """One request the fake engine received."""

    messages: tuple[ChatMessage, ...]
    options: GenerationOptions
    prompt: str


@dataclass
class ScriptedEngine:
    """An engine whose answers are queued by the test.

    Each queued answer is split into word-sized tokens. When the queue is empty the engine
    answers ``default_answer``. Token counts are words, so context trimming can be tested with
    small numbers.
    """

    context_size: int = 2048
    default_answer: str = "I have no scripted answer."
    token_delay: float = 0.0
    supports_grammar: bool = True
    supports_logprobs: bool = True
    supports_llguidance: bool = False  # a test sets it to see the grammar an answer would use
    calls: list[ScriptedCall] = field(default_factory=list)
    _queue: deque[str] = field(default_factory=deque)
    closed: bool = False

    def enqueue(self, *answers: str) -> ScriptedEngine:
        """Queue answers, returned in order by the following requests."""
        self._queue.extend(answers)
        return self

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            path="<scripted>",
            name="scripted",
            architecture="scripted",
            context_size=self.context_size,
            trained_context=self.context_size,
            gpu_layers=0,
            gpu_available=False,
        )

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        lines = [f"<{m.role.value}> {m.content}" for m in messages]
        return "\n".join([*lines, "<assistant>"])

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        *,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[Token]:
        prompt = self.render_chat(messages)
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens >= self.context_size:
            raise ContextOverflowError(
                f"The prompt takes {prompt_tokens} tokens; the context holds {self.context_size}."
            )
        self.calls.append(ScriptedCall(tuple(messages), options, prompt))
        answer = self._queue.popleft() if self._queue else self.default_answer
        for stop in options.stop:
            if stop in answer:
                answer = answer[: answer.index(stop)]
        return self._replay(answer, options, prompt_tokens, cancel, stats or GenerationStats())

    def _replay(
        self,
        answer: str,
        options: GenerationOptions,
        prompt_tokens: int,
        cancel: CancelToken | None,
        stats: GenerationStats,
    ) -> Iterator[Token]:
        stats.prompt_tokens = prompt_tokens
        start = time.perf_counter()
        stats.finish_reason = FinishReason.STOP
        pieces = _WORDS.findall(answer)
        for index, piece in enumerate(pieces):
            if cancel is not None and cancel.cancelled:
                stats.finish_reason = FinishReason.CANCELLED
                break
            if index >= options.max_tokens:
                stats.finish_reason = FinishReason.LENGTH
                break
            if self.token_delay:
                time.sleep(self.token_delay)
            # A deterministic, plausible distribution: the chosen token is likely, two others less.
            logprob = -0.1 * (1 + index % 3)
            top = (
                Alternative(piece, logprob),
                Alternative(" maybe", -2.5),
                Alternative(" not", -3.0),
            )[: options.top_logprobs]
            stats.completion_tokens += 1
            if stats.time_to_first_token is None:
                stats.time_to_first_token = time.perf_counter() - start
            stats.elapsed = time.perf_counter() - start
            yield Token(text=piece, id=index, logprob=logprob, top=top)
        stats.elapsed = time.perf_counter() - start

    def score(self, messages: Sequence[ChatMessage], continuation: str) -> ContinuationScore:
        """Words found in the prompt are likely (-0.1), others unlikely (-2.0): enough for a test
        to tell a grounded answer from an invented one."""
        prompt_words = set(self.render_chat(messages).lower().split())
        return ContinuationScore(
            tuple(
                (piece, -0.1 if piece.strip().lower() in prompt_words else -2.0)
                for piece in _WORDS.findall(continuation)
                if piece.strip()
            )
        )

    def close(self) -> None:
        self.closed = True
