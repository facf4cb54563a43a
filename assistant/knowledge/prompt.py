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

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.engine.base import ChatMessage, Engine, Role
from assistant.errors import ContextOverflowError
from assistant.knowledge.grounded import QuoteUnit, flatten, sentence_spans
from assistant.knowledge.lexical import query_terms
from assistant.knowledge.search import SearchHit
from assistant.knowledge.terms import coverage

DEFAULT_INSTRUCTIONS = (
    "You are Enclave, a careful assistant. Answer the user's question using only the numbered "
    "sources below, which are passages from the user's documents. After every sentence that "
    "uses a source, cite it with its number in square brackets, like [1] or [2][3]. If the "
    "sources do not contain the answer, say that the documents do not say. Be concise."
)

REFUSAL_TEMPLATE = "I found nothing in your documents about \u201c{topic}\u201d."

#: For :attr:`AnswerFormat.QUOTE_FIRST`: the reply shape :func:`~.grounded.answer_grammar`
#: enforces, in words the model can follow.
QUOTE_FIRST_INSTRUCTIONS = (
    "You are Enclave, a careful assistant. Answer the user's question using only the numbered "
    "sources below, which are passages from the user's documents. First copy, word for word, "
    "the sentence of a source that answers the question, then give its number. Then answer in "
    "one short sentence citing that source.\n"
    "Reply in exactly this form:\n"
    'Quote: "the sentence, copied word for word" [n]\n'
    "Answer: a short answer [n].\n"
    "If no source answers the question, reply only: Answer: The documents do not say."
)


#: Window sizes (words) tried, widest first, for the passages after the best one when the
#: prompt passes :attr:`AnswerSettings.prompt_budget`.
BUDGET_WINDOWS = (80, 50, 30)


class AnswerFormat(enum.StrEnum):
    """How an answer from documents is written and checked (measured in docs/benchmarks.md).

    ``ATTRIBUTED``: the model answers in its own words, citing sources by number (the numbers
    it may write are held to those of the sources by a grammar); the sentence of the sources
    that says what the answer says is then found (:mod:`~.attribution`) and shown as the quote.
    ``QUOTE_FIRST``: a grammar makes the model copy a sentence of one source first, then answer
    citing it (:func:`~.grounded.answer_grammar`).
    """

    ATTRIBUTED = "attributed"
    QUOTE_FIRST = "quote-first"


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
        instructions: the system prompt's instructions, before the sources; ``""`` for the
            format's own.
        answer_format: how the answer is written and its quote found.
        window_words: each passage is shown to the model as a window of about this many words
            around its best-matching sentences (:func:`passage_window`); 0 shows it whole.
        min_support: an answer whose best source sentence holds less than this share of what
            the answer says (:attr:`~.attribution.Attribution.support`) is marked unsupported.
        quote_unit: what a quote-first reply's quote is made of: whole clauses (the default)
            or any run of words (measured in docs/benchmarks.md).
        confirm_support: ask the model, under a yes/no grammar, whether the quoted sentence
            answers the question, and mark the answer unsupported when it says no (measured in
            docs/benchmarks.md).
    """

    min_similarity: float = 0.30
    min_term_coverage: float = 0.5
    max_sources: int = 6
    fallback_citations: int = 3
    instructions: str = ""
    answer_format: AnswerFormat = AnswerFormat.ATTRIBUTED
    window_words: int = 0
    prompt_budget: int = 600
    min_support: float = 0.35
    quote_unit: QuoteUnit = QuoteUnit.CLAUSE
    confirm_support: bool = False

    @property
    def system_instructions(self) -> str:
        """The instructions the prompt uses."""
        if self.instructions:
            return self.instructions
        if self.answer_format is AnswerFormat.QUOTE_FIRST:
            return QUOTE_FIRST_INSTRUCTIONS
        return DEFAULT_INSTRUCTIONS


@dataclass(frozen=True)
class Source:
    """A passage as numbered in the prompt: ``text`` is the part of the passage the model was
    shown (a window of it, maybe cut to fit the context; the prompt flattens its spaces), and
    ``hit.text`` the whole passage."""

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


def passage_window(hit: SearchHit, max_words: int, question: str = "") -> str:
    """The part of a passage a question needs: its best-matching sentence and its neighbours.

    Sentences are scored by the rarity-weighted share of the question's words they hold
    (:func:`~assistant.knowledge.terms.coverage`); the window grows from the best one towards
    the better-scoring neighbour until ``max_words`` would be passed (a best sentence longer
    than that is kept whole: a quote is made of whole clauses). The window is a piece of the
    passage as stored, line breaks and all; the prompt flattens its spaces. ``max_words <= 0``
    keeps the whole passage. The question's words are the hit's own (``query_terms``, as
    searched), else those of ``question``.
    """
    text = hit.text
    if max_words <= 0 or len(text.split()) <= max_words:
        return text
    spans = sentence_spans(text)
    if not spans:
        return text
    parts = [text[a:b] for a, b in spans]
    terms = list(hit.query_terms) or query_terms(question)
    scores = [coverage(terms, part, hit.term_weights) if terms else 0.0 for part in parts]
    best = max(range(len(parts)), key=lambda i: (scores[i], -i))
    low = high = best
    used = len(parts[best].split())
    while True:
        options = [i for i in (low - 1, high + 1) if 0 <= i < len(parts)]
        options = [i for i in options if used + len(parts[i].split()) <= max_words]
        if not options:
            break
        pick = max(options, key=lambda i: (scores[i], i > best))  # ties: read on, not back
        used += len(parts[pick].split())
        low, high = min(low, pick), max(high, pick)
    return text[spans[low][0] : spans[high][1]]


def _source_block(number: int, hit: SearchHit, text: str) -> str:
    return f"[{number}] {hit.location}\n{flatten(text)}"


def _system_prompt(settings: AnswerSettings, blocks: Sequence[str]) -> str:
    return settings.system_instructions + "\n\nSources:\n\n" + "\n\n".join(blocks)


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

    def fill(width: Callable[[int], int]) -> tuple[list[ChatMessage], list[Source]]:
        sources: list[Source] = []
        blocks: list[str] = []
        for rank, hit in enumerate(hits[: settings.max_sources]):
            number = len(sources) + 1
            shown = passage_window(hit, width(rank), question)
            block = _source_block(number, hit, shown)
            if fits([*blocks, block]):
                sources.append(Source(number, hit, shown))
                blocks.append(block)
                continue
            if not sources:  # cut the best passage to fit rather than answer from nothing

                def first_fits(text: str, best: SearchHit = hit) -> bool:
                    return fits([_source_block(1, best, text)])

                text = _truncate_to_fit(shown, first_fits)
                if text:
                    sources.append(Source(1, hit, text))
                    blocks.append(_source_block(1, hit, text))
            break
        return _messages(_system_prompt(settings, blocks), question, history), sources

    def size(messages: Sequence[ChatMessage]) -> int:
        return engine.count_tokens(engine.render_chat(messages))

    chosen = fill(lambda rank: settings.window_words)
    if settings.prompt_budget <= 0 or size(chosen[0]) <= settings.prompt_budget:
        return chosen
    # Over the budget (the time to first token grows with every prompt token): the best
    # passage stays as it is, the others shrink to windows around their best sentences.
    for width in BUDGET_WINDOWS:

        def shrunk(rank: int, width: int = width) -> int:
            return settings.window_words if rank == 0 else width

        chosen = fill(shrunk)
        if size(chosen[0]) <= settings.prompt_budget:
            break
    return chosen


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
