"""Answer accuracy: ask each gold question as the app does and check what the analyst would read.

For every gold item with a ``fact`` (or marked ``unanswerable``) the question goes through the
app's own path: hybrid search with the ``knowledge.top_k`` setting, then
:func:`~assistant.knowledge.answer.stream_answer` with the app's answer settings, greedy
decoding. The check is on the result a person sees:

- **holds the fact**: the answer text contains the item's fact (:func:`~.gold.holds_fact`);
- **cited source holds it**: the quote shown under the answer (else the first cited source) is
  from the expected document and holds the fact;
- **abstained**: for an unanswerable item, the user is told the documents do not say (the
  relevance gate refused, the model said so, or the support check found the answer unbacked);
- **quote verified**: every quote shown is an exact substring of its passage.

Timings (time to first token, tokens per second, prompt tokens) come from the engine, per item.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from assistant.engine.base import Engine, GenerationOptions
from assistant.evaluation.gold import GoldItem, holds_fact
from assistant.knowledge.answer import AnswerResult, stream_answer
from assistant.knowledge.prompt import AnswerSettings
from assistant.knowledge.search import SearchHit, SearchMode


class Retriever(Protocol):
    def search(
        self, query: str, *, collection: str, top_k: int, mode: SearchMode
    ) -> list[SearchHit]: ...


@dataclass(frozen=True)
class AnswerCheck:
    """One generated answer, checked.

    Attributes:
        id: the gold item's id.
        unanswerable: the item asks what the documents do not hold.
        answer: the answer text as shown.
        quote: the first quote shown under it, ``""`` when none.
        quote_document: the quote's document.
        holds_fact: the answer contains the fact (``None`` for unanswerable items).
        source_holds_fact: the quoted (or first cited) source is the expected document and holds
            the fact (``None`` for unanswerable items).
        abstained: the user is told the documents do not say (or found nothing).
        refused: the relevance gate refused before the model was called.
        quotes_verified: every quote shown is an exact substring of its passage.
        quote_words: words in the first quote.
        first_token_s: time to the first token (``None`` when the model was not called).
        tokens_per_second: decode speed.
        prompt_tokens: tokens in the prompt.
        seconds: the whole answer, retrieval included.
    """

    id: str
    unanswerable: bool
    answer: str
    quote: str
    quote_document: str
    holds_fact: bool | None
    source_holds_fact: bool | None
    abstained: bool
    refused: bool
    quotes_verified: bool
    quote_words: int
    first_token_s: float | None
    tokens_per_second: float
    prompt_tokens: int
    seconds: float

    @property
    def correct(self) -> bool:
        """Right for the analyst: the fact when there is one, "not in the documents" when not."""
        return self.abstained if self.unanswerable else bool(self.holds_fact and not self.abstained)


def check_answer(item: GoldItem, result: AnswerResult, seconds: float) -> AnswerCheck:
    """Check one finished answer against its gold item."""
    abstained = not result.answered
    quote_text = result.quotes[0].text if result.quotes else ""
    quoted = result.quoted_sources
    if quoted:
        document, evidence = quoted[0].hit.document_name, quote_text
    elif result.citations:
        document, evidence = result.citations[0].document_name, result.citations[0].quote
    else:
        document, evidence = "", ""
    source_ok = None
    if not item.unanswerable:
        source_ok = not abstained and document == item.source and holds_fact(evidence, item.facts)
    stats = result.stats
    return AnswerCheck(
        id=item.id,
        unanswerable=item.unanswerable,
        answer=result.text,
        quote=quote_text,
        quote_document=document,
        holds_fact=None if item.unanswerable else holds_fact(result.text, item.facts),
        source_holds_fact=source_ok,
        abstained=abstained,
        refused=result.refused,
        quotes_verified=all(q.verified for q in result.quotes),
        quote_words=len(quote_text.split()),
        first_token_s=stats.time_to_first_token if stats else None,
        tokens_per_second=stats.tokens_per_second if stats else 0.0,
        prompt_tokens=stats.prompt_tokens if stats else 0,
        seconds=seconds,
    )


def check_answers(
    items: Sequence[GoldItem],
    engine: Engine,
    knowledge: Retriever,
    *,
    collection: str,
    top_k: int,
    options: GenerationOptions,
    settings: AnswerSettings | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> list[AnswerCheck]:
    """Generate and check an answer for every item that has a fact or is unanswerable.

    Decoding is greedy (temperature 0) whatever ``options`` says, so a run is repeatable.

    Raises:
        AssistantError: retrieval or generation failed.
    """
    settings = settings or AnswerSettings()
    greedy = replace(options, temperature=0.0, seed=0)
    wanted = [item for item in items if item.facts or item.unanswerable]
    checks: list[AnswerCheck] = []
    for done, item in enumerate(wanted, start=1):
        started = time.perf_counter()
        hits = knowledge.search(
            item.question, collection=collection, top_k=top_k, mode=SearchMode.HYBRID
        )
        stream = stream_answer(item.question, hits, engine, options=greedy, settings=settings)
        for _ in stream:
            pass
        checks.append(check_answer(item, stream.result, time.perf_counter() - started))
        if on_item is not None:
            on_item(done, len(wanted))
    return checks


def summarize(checks: Sequence[AnswerCheck]) -> dict[str, Any]:
    """The figures a table shows: accuracy, source accuracy, abstention, speed."""
    answerable = [c for c in checks if not c.unanswerable]
    unanswerable = [c for c in checks if c.unanswerable]
    with_quote = [c for c in checks if c.quote]
    timed = [c.first_token_s for c in checks if c.first_token_s is not None]
    speeds = [c.tokens_per_second for c in checks if c.tokens_per_second > 0]
    prompts = [c.prompt_tokens for c in checks if c.prompt_tokens]

    def share(values: Sequence[bool]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "items": len(checks),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "holds_fact": share([c.correct for c in answerable]),
        "source_holds_fact": share([bool(c.source_holds_fact) for c in answerable]),
        "abstention": share([c.abstained for c in unanswerable]),
        "false_abstention": share([c.abstained for c in answerable]),
        "quotes_verified": share([c.quotes_verified for c in checks]),
        "quote_words_median": statistics.median([c.quote_words for c in with_quote])
        if with_quote
        else None,
        "first_token_s_median": round(statistics.median(timed), 3) if timed else None,
        "tokens_per_second_median": round(statistics.median(speeds), 2) if speeds else None,
        "prompt_tokens_median": statistics.median(prompts) if prompts else None,
    }
