"""Answer scoring: how likely the model finds each expected answer, in the app's own prompt.

For each gold item the question goes through the same path an answer takes in the app
(:meth:`KnowledgeBase.search` in hybrid mode with the ``knowledge.top_k`` setting, the relevance
filter, then :func:`~assistant.knowledge.prompt.build_messages` with the answer budget), and the
expected answer is scored token by token with ``Engine.score`` (teacher forcing). The
cross-entropy is the mean negative log-likelihood per token in nats; perplexity is its
exponential. Lower is better; comparing two models is fair only on the same tokenizer, or on
the per-character figure (:attr:`AnswerScore.nats_per_char`) when tokenizers differ.

``context="none"`` scores the answer with the model alone (the app's plain chat prompt), which
shows how much the retrieved passages help.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.engine.base import ChatMessage, ContinuationScore, Engine, Role
from assistant.evaluation.gold import GoldItem
from assistant.knowledge.prompt import AnswerSettings, build_messages, is_relevant
from assistant.knowledge.search import SearchHit, SearchMode

WORST_TOKENS = 3  # the least likely tokens kept per item, to show where the model balks


class Context(enum.StrEnum):
    """What the expected answer is conditioned on."""

    RETRIEVED = "retrieved"  # the app's prompt: numbered sources from hybrid retrieval
    NONE = "none"  # the model alone, with the chat system prompt


class Scorer(Engine, Protocol):
    """An engine that can score a continuation (the llama.cpp and scripted engines can)."""

    def score(self, messages: Sequence[ChatMessage], continuation: str) -> ContinuationScore: ...


class Retriever(Protocol):
    def search(
        self, query: str, *, collection: str, top_k: int, mode: SearchMode
    ) -> list[SearchHit]: ...


@dataclass(frozen=True)
class AnswerScore:
    """One item's expected answer under the model.

    Attributes:
        id: the gold item's id.
        tokens: how many tokens the expected answer took.
        cross_entropy: mean negative log-likelihood per token (nats).
        total_nll: the sum over tokens (nats).
        chars: the answer's length in characters.
        sources: the documents of the numbered sources in the prompt, in order.
        source_in_context: whether the expected source was among them (``None``: no source
            given, or context ``none``).
        refused: the app would have refused (nothing relevant retrieved) instead of answering.
        worst: the least likely tokens, ``(text, logprob)``, least likely first.
    """

    id: str
    tokens: int
    cross_entropy: float
    total_nll: float
    chars: int
    sources: tuple[str, ...] = ()
    source_in_context: bool | None = None
    refused: bool = False
    worst: tuple[tuple[str, float], ...] = ()

    @property
    def perplexity(self) -> float:
        return math.exp(self.cross_entropy)

    @property
    def nats_per_char(self) -> float:
        return self.total_nll / self.chars if self.chars else 0.0


def answer_messages(
    item: GoldItem,
    engine: Engine,
    knowledge: Retriever | None,
    *,
    context: Context,
    collection: str,
    top_k: int,
    max_tokens: int,
    settings: AnswerSettings,
    system_prompt: str,
) -> tuple[list[ChatMessage], list[SearchHit], bool]:
    """The messages the app would send for ``item.question``, the passages numbered in them,
    and whether the app would have refused instead (nothing relevant)."""
    if context is Context.NONE or knowledge is None:
        return (
            [ChatMessage(Role.SYSTEM, system_prompt), ChatMessage(Role.USER, item.question)],
            [],
            False,
        )
    hits = knowledge.search(
        item.question, collection=collection, top_k=top_k, mode=SearchMode.HYBRID
    )
    relevant = [hit for hit in hits if is_relevant(hit, settings)]
    messages, sources = build_messages(
        item.question, relevant, engine, max_tokens=max_tokens, settings=settings
    )
    return messages, [source.hit for source in sources], not relevant


def score_answers(
    items: Sequence[GoldItem],
    engine: Scorer,
    knowledge: Retriever | None,
    *,
    context: Context = Context.RETRIEVED,
    collection: str,
    top_k: int,
    max_tokens: int,
    settings: AnswerSettings | None = None,
    system_prompt: str = "",
    on_item: Callable[[int, int], None] | None = None,
) -> list[AnswerScore]:
    """Score every item's expected answer.

    Args:
        items: the gold items.
        engine: the loaded model.
        knowledge: the knowledge base (unused with ``context=none``).
        context: the app's retrieved-sources prompt, or the model alone.
        collection: the collection answers come from.
        top_k: passages retrieved, as the ``knowledge.top_k`` setting.
        max_tokens: the answer budget the prompt is fitted around (``generation.max_tokens``).
        settings: relevance and prompt settings (the app's defaults when ``None``).
        system_prompt: the plain-chat system prompt, for ``context=none``.
        on_item: called with (done, total) after each item.

    Raises:
        ContextOverflowError: a prompt plus its expected answer does not fit the context.
        GenerationError: the engine failed.
        KnowledgeError: retrieval failed.
    """
    settings = settings or AnswerSettings()
    scores: list[AnswerScore] = []
    for done, item in enumerate(items, start=1):
        messages, hits, refused = answer_messages(
            item, engine, knowledge, context=context, collection=collection, top_k=top_k,
            max_tokens=max_tokens, settings=settings, system_prompt=system_prompt,
        )  # fmt: skip
        scored = engine.score(messages, item.answer)
        in_context = (
            any(item.matches(h.document_name, f"{h.heading}\n{h.text}") for h in hits)
            if item.source and context is Context.RETRIEVED
            else None
        )
        worst = sorted(scored.tokens, key=lambda token: token[1])[:WORST_TOKENS]
        scores.append(
            AnswerScore(
                id=item.id,
                tokens=len(scored.tokens),
                cross_entropy=scored.cross_entropy,
                total_nll=-scored.total_logprob,
                chars=len(item.answer),
                sources=tuple(hit.document_name for hit in hits),
                source_in_context=in_context,
                refused=refused,
                worst=tuple(worst),
            )
        )
        if on_item is not None:
            on_item(done, len(items))
    return scores
