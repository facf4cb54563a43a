"""The prompt for answering from passages: numbered sources, relevance, and the context budget.

Passages go into the system prompt as numbered sources (``[1]``, ``[2]``, ...) with their
location, and the model is told to cite them. They are added best first while the rendered
prompt plus the answer's ``max_tokens`` fits the engine's context window; the best passage is cut
to fit rather than dropped. Token counts come from the engine itself (``render_chat`` and
``count_tokens``), so the chat template's overhead is counted too.

A passage is relevant when its cosine similarity to the question reaches
:attr:`AnswerSettings.min_similarity`, or when the full-text search found it and it contains at
least :attr:`AnswerSettings.min_term_coverage` of the question's content words (an exact code or
name that embeddings blur).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.engine.base import ChatMessage, Engine, Role
from assistant.errors import ContextOverflowError
from assistant.knowledge.search import SearchHit

DEFAULT_INSTRUCTIONS = (
    "You are Enclave, a careful assistant. Answer the user's question using only the numbered "
    "sources below, which are passages from the user's documents. After every sentence that "
    "uses a source, cite it with its number in square brackets, like [1] or [2][3]. If the "
    "sources do not contain the answer, say that the documents do not say. Be concise."
)

REFUSAL_TEMPLATE = "I found nothing in your documents about \u201c{topic}\u201d."


@dataclass(frozen=True)
class AnswerSettings:
    """How passages are chosen and presented.

    Attributes:
        min_similarity: cosine similarity at or above which a passage counts as relevant.
            0.30 for all-MiniLM-L6-v2, measured on the test corpus: paraphrased questions
            score 0.35 to 0.60 against the passage that answers them, while questions about
            subjects it does not mention (a cake recipe, a football result, a password reset,
            tomorrow's weather) score 0.06 to 0.27 against their nearest passage.
        min_term_coverage: share of the question's content words a full-text match must
            contain to count as relevant on its own.
        max_sources: at most this many passages go into the prompt.
        fallback_citations: sources cited when the model cites none.
        instructions: the system prompt's instructions, before the sources.
    """

    min_similarity: float = 0.30
    min_term_coverage: float = 0.5
    max_sources: int = 6
    fallback_citations: int = 3
    instructions: str = DEFAULT_INSTRUCTIONS


@dataclass(frozen=True)
class Source:
    """A passage as numbered in the prompt (``text`` may be cut to fit the context)."""

    number: int
    hit: SearchHit
    text: str


def is_relevant(hit: SearchHit, settings: AnswerSettings) -> bool:
    """Whether a passage is related enough to the question to answer from."""
    if hit.dense_similarity is not None and hit.dense_similarity >= settings.min_similarity:
        return True
    return hit.lexical_rank is not None and hit.term_coverage >= settings.min_term_coverage


def refusal_text(question: str) -> str:
    """The answer given when the documents hold nothing about ``question``."""
    topic = " ".join(question.split()).rstrip("?.! ") or "that"
    if len(topic) > 120:
        topic = topic[:117].rstrip() + "..."
    return REFUSAL_TEMPLATE.format(topic=topic)


def _source_block(number: int, hit: SearchHit, text: str) -> str:
    return f"[{number}] {hit.location}\n{text}"


def _system_prompt(settings: AnswerSettings, blocks: Sequence[str]) -> str:
    return settings.instructions + "\n\nSources:\n\n" + "\n\n".join(blocks)


def build_messages(
    question: str,
    hits: Sequence[SearchHit],
    engine: Engine,
    *,
    max_tokens: int,
    settings: AnswerSettings | None = None,
    history: Sequence[ChatMessage] = (),
) -> tuple[list[ChatMessage], list[Source]]:
    """The chat messages for a question and the sources they number, fitted to the context.

    Args:
        question: the user's question.
        hits: relevant passages, best first.
        engine: supplies ``render_chat``, ``count_tokens`` and ``context_size``.
        max_tokens: tokens reserved for the answer.
        settings: passage limits and instructions.
        history: earlier turns of the conversation, placed before the question.

    Returns:
        ``(messages, sources)``.

    Raises:
        ContextOverflowError: not even the question and one line of source fit.
    """
    settings = settings or AnswerSettings()
    budget = engine.context_size - max_tokens

    def fits(blocks: Sequence[str]) -> bool:
        messages = _messages(_system_prompt(settings, blocks), question, history)
        return engine.count_tokens(engine.render_chat(messages)) <= budget

    if not fits([]):
        bare = engine.count_tokens(engine.render_chat(_messages("", question, history)))
        raise ContextOverflowError(
            f"The question needs {bare} tokens but the model's context holds "
            f"{engine.context_size}, with {max_tokens} kept for the answer. Shorten the "
            "question or the conversation, or lower generation.max_tokens."
        )
    sources: list[Source] = []
    blocks: list[str] = []
    for hit in hits[: settings.max_sources]:
        number = len(sources) + 1
        block = _source_block(number, hit, hit.text)
        if fits([*blocks, block]):
            sources.append(Source(number, hit, hit.text))
            blocks.append(block)
            continue
        if not sources:  # cut the best passage to fit rather than answer from nothing

            def first_fits(text: str, best: SearchHit = hit) -> bool:
                return fits([_source_block(1, best, text)])

            text = _truncate_to_fit(hit.text, first_fits)
            if text:
                sources.append(Source(1, hit, text))
                blocks.append(_source_block(1, hit, text))
        break
    return _messages(_system_prompt(settings, blocks), question, history), sources


def _messages(system: str, question: str, history: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [
        ChatMessage(Role.SYSTEM, system),
        *history,
        ChatMessage(Role.USER, question),
    ]


def _truncate_to_fit(text: str, fits: Callable[[str], bool]) -> str:
    """The longest word-prefix of ``text`` (with an ellipsis) that ``fits``; ``""`` if none."""
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(" ".join(words[:middle]) + " ..."):
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]) + " ..." if low else ""
