"""The engine interface every backend implements, and the values it exchanges.

An engine turns a list of chat messages into a stream of :class:`Token` values, each carrying its
log-probability and the top alternatives the model considered. Capabilities are attributes
(``supports_grammar``), not subclasses. Backends: :mod:`assistant.engine.llama` (llama.cpp, the
only module that imports ``llama_cpp``) and :mod:`assistant.engine.fake` (scripted, for tests).

Nothing here imports a heavy library.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Alternative:
    """A token the model could have chosen, with its log-probability."""

    text: str
    logprob: float

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class Token:
    """One generated token.

    Attributes:
        text: the token's text (may be part of a multi-byte character; see ``Engine.stream``).
        id: the vocabulary id.
        logprob: the natural-log probability the model gave this token, before sampling
            settings (temperature, top-p) reshaped the distribution.
        top: the most likely tokens at this position, best first (may include this one).
    """

    text: str
    id: int
    logprob: float
    top: tuple[Alternative, ...] = ()

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class GrammarConstraint:
    """A constraint on the shape of the output, as GBNF text or an llguidance grammar.

    Structured output (JSON Schema, pydantic) compiles to this (:mod:`assistant.grammar`).
    ``cache_key`` lets the engine reuse a compiled grammar. When ``llguidance`` is set (a grammar
    serialised by llguidance's own compilers) or ``lark`` (llguidance's Lark dialect, as the
    grounded-answer grammar of :mod:`assistant.knowledge.grounded` is written), an engine that
    supports it enforces that one with a token mask and ignores ``gbnf``;
    ``supports_llguidance`` on the engine says whether it can.
    """

    gbnf: str
    cache_key: str = ""
    llguidance: str = ""
    lark: str = ""


class FinishReason(enum.StrEnum):
    STOP = "stop"  # end-of-generation token or a stop string
    LENGTH = "length"  # max_tokens or the context window reached
    CANCELLED = "cancelled"  # the user stopped it


@dataclass(frozen=True)
class GenerationOptions:
    """How to decode one answer."""

    max_tokens: int = 512
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int = -1
    stop: tuple[str, ...] = ()
    top_logprobs: int = 5
    grammar: GrammarConstraint | None = None
    #: Text the answer starts with, as if the model had written it (the grammar, if any, applies
    #: to what follows). Engines with ``supports_prefix`` honour it; it continues an answer in
    #: the same context, so the prompt's cache is reused.
    prefix: str = ""


class CancelToken:
    """Set from any thread to stop a generation at the next token."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class GenerationStats:
    """Filled in as a stream runs; final once the iterator is exhausted."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float | None = None
    elapsed: float = 0.0
    finish_reason: FinishReason | None = None
    cached_prompt_tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        """Decode speed after the first token (prompt processing excluded)."""
        if self.completion_tokens < 2 or self.time_to_first_token is None:
            return 0.0
        decode_time = self.elapsed - self.time_to_first_token
        return (self.completion_tokens - 1) / decode_time if decode_time > 0 else 0.0


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model is, for the status bar and ``doctor``."""

    path: str
    name: str
    architecture: str
    context_size: int
    trained_context: int
    gpu_layers: int
    gpu_available: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    threads: int = 0  # CPU threads it runs on (0: not known, or not on this machine)


@dataclass(frozen=True)
class ContinuationScore:
    """How likely the model found a given continuation, token by token (teacher forcing).

    Attributes:
        tokens: each continuation token's text and natural-log probability under the model,
            conditioned on the prompt and the tokens before it.
    """

    tokens: tuple[tuple[str, float], ...]

    @property
    def total_logprob(self) -> float:
        return sum(logprob for _, logprob in self.tokens)

    @property
    def cross_entropy(self) -> float:
        """Mean negative log-likelihood per token, in nats."""
        return -self.total_logprob / len(self.tokens) if self.tokens else 0.0

    @property
    def perplexity(self) -> float:
        return math.exp(self.cross_entropy)


@runtime_checkable
class Engine(Protocol):
    """A loaded model that can stream tokens."""

    supports_grammar: bool
    supports_logprobs: bool

    @property
    def info(self) -> ModelInfo: ...

    @property
    def context_size(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` takes in this model's vocabulary."""
        ...

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text for ``messages``, ending where the assistant's answer begins."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        *,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[Token]:
        """Generate an answer to ``messages`` token by token.

        The concatenated ``text`` of the tokens is the answer. Stop strings are cut from it.
        The stream ends at end-of-generation, a stop string, ``max_tokens``, the context window
        or cancellation; ``stats.finish_reason`` says which.

        Raises:
            ContextOverflowError: the prompt does not fit the context window.
            GrammarError: the grammar cannot be compiled.
            GenerationError: the backend failed.
        """
        ...

    def close(self) -> None:
        """Free the model's memory. The engine cannot be used afterwards."""
        ...
