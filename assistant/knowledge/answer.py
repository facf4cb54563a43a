"""Answering a question from retrieved passages, streaming, with citations a person can check.

:func:`stream_answer` returns an :class:`AnswerStream`: iterate it for the model's tokens, then
read its :class:`AnswerResult` (text, citations, sources, hits, timings). :func:`answer` does the
same with an ``on_token`` callable. The prompt is built by :mod:`~assistant.knowledge.prompt`;
``[n]`` markers become citations in :mod:`~assistant.knowledge.citations`.

When retrieval found nothing relevant the answer says so ("I found nothing in your documents
about ...") without calling the model: a small model given unrelated passages tends to answer
from them anyway.

Every answer that the model gives from passages comes with a verbatim quote, checked against
its passage before anyone sees it (:class:`~.grounded.Quote`): in the default
:attr:`~.prompt.AnswerFormat.ATTRIBUTED` format the model answers (its citation numbers held to
the sources' by an llguidance grammar, where the engine enforces one) and the source sentence
that says what it answered is quoted (:mod:`~.attribution`); an answer no sentence supports is
marked ``supported=False``. In :attr:`~.prompt.AnswerFormat.QUOTE_FIRST` a grammar makes the
model quote first (:func:`~.grounded.answer_grammar`). An answer that says the documents do not
say is ``abstained``.

This module imports nothing heavy; the engine is passed in.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    GrammarConstraint,
    Role,
    Token,
)
from assistant.knowledge.attribution import attribute, missing_specifics
from assistant.knowledge.citations import Citation, extract_citations
from assistant.knowledge.grounded import (
    Quote,
    answer_grammar,
    citation_grammar,
    parse_reply,
    says_not_in_documents,
    verify_quote,
)
from assistant.knowledge.prompt import (
    AnswerFormat,
    AnswerSettings,
    Source,
    build_messages,
    is_relevant,
    refusal_text,
)
from assistant.knowledge.search import SearchHit
from assistant.knowledge.terms import stem, stems

_CITATION_MARK = re.compile(r"\[\d{1,3}\]")
CONFIRM_SYSTEM = (
    "You check answers against documents. Say yes only if the sentence states the answer to "
    "the question asked, about the same thing; say no if it is about something else."
)
CONFIRM_GRAMMAR = GrammarConstraint(
    gbnf='root ::= "yes" | "no"', cache_key="confirm-yes-no", lark='start: "yes" | "no"\n'
)

__all__ = [
    "AnswerResult",
    "AnswerSettings",
    "AnswerStream",
    "AnswerTimings",
    "Citation",
    "Quote",
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
        text: the answer as shown to the user (for a quote-first reply, its answer part).
        citations: the sources it relies on, in order of first mention (the quoted one first).
        sources: the passages given to the model (empty when it was not called).
        hits: everything retrieval returned.
        refused: True when nothing relevant was found and the model was not called.
        invalid_citations: numbers the model cited that match no source.
        tokens: the model's tokens, with their probabilities.
        stats: the engine's generation statistics (``None`` when it was not called).
        finish_reason: why generation stopped (``None`` when it was not called).
        timings: where the time went.
        quotes: the verbatim quotes that back the answer, each checked against its passage.
        abstained: the answer says the documents do not say.
        supported: ``False`` when no sentence of the sources holds what the answer says
            (``None`` when not checked: refused, abstained, or stopped).
        reply: the model's reply as generated (``text`` may be only a part of it).
        unmatched: specific words of the question (a year, a name, a day) that the quoted
            passage does not mention: the answer found there is about something else.
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
    quotes: tuple[Quote, ...] = ()
    abstained: bool = False
    supported: bool | None = None
    reply: str = ""
    unmatched: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Whether the user gets an answer from the documents (not a refusal, not "the
        documents do not say", not an answer the sources do not support)."""
        return not self.refused and not self.abstained and self.supported is not False

    @property
    def quoted_sources(self) -> tuple[Source, ...]:
        """The sources the quotes come from, in quote order."""
        by_number = {source.number: source for source in self.sources}
        return tuple(by_number[q.source] for q in self.quotes if q.source in by_number)


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
        options = self._constrained(self._options, sources)
        stats = GenerationStats()
        tokens: list[Token] = []
        first: float | None = None
        generation_start = time.perf_counter()
        try:
            for token in self._engine.stream(messages, options, cancel=self._cancel, stats=stats):
                if first is None:
                    first = time.perf_counter() - generation_start
                tokens.append(token)
                yield token
        finally:
            reply = "".join(t.text for t in tokens).strip()
            finished = stats.finish_reason is not FinishReason.CANCELLED
            end = time.perf_counter()
            self._result = replace(
                self._read(reply, sources, checked=finished),
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

    def _constrained(
        self, options: GenerationOptions, sources: Sequence[Source]
    ) -> GenerationOptions:
        """The options with the format's grammar, where the engine enforces llguidance ones."""
        if not sources or not getattr(self._engine, "supports_llguidance", False):
            return options  # free text; the reply is checked all the same
        numbered = [(source.number, source.text) for source in sources]
        if self._settings.answer_format is AnswerFormat.QUOTE_FIRST:
            lark = answer_grammar(numbered, unit=self._settings.quote_unit)
        else:
            lark = citation_grammar([number for number, _ in numbered])
        key = "grounded:" + hashlib.sha256(lark.encode("utf-8")).hexdigest()
        return replace(options, grammar=GrammarConstraint(gbnf="", cache_key=key, lark=lark))

    def _read(self, reply: str, sources: Sequence[Source], *, checked: bool) -> AnswerResult:
        """The finished answer: its text, quotes and citations, from the model's reply.

        ``checked`` is False for a stopped answer: it is kept as it is, without a quote.
        """
        quotes: list[Quote] = []
        supported: bool | None = None
        unmatched: tuple[str, ...] = ()
        if self._settings.answer_format is AnswerFormat.QUOTE_FIRST:
            parsed = parse_reply(reply)
            text = parsed.answer if parsed.shaped else reply
            abstained = parsed.abstained or says_not_in_documents(text)
            quoted = next((s for s in sources if s.number == parsed.quote_source), None)
            if quoted is not None and parsed.quote.strip():
                quotes.append(verify_quote(quoted.number, parsed.quote, quoted.hit.text))
        else:
            text = reply
            abstained = says_not_in_documents(text)
            if checked and not abstained and text:
                quotes, supported, unmatched = self._attribute(text, sources)
        citations, invalid = extract_citations(
            text, sources, fallback=0 if abstained else self._settings.fallback_citations
        )
        if quotes and not abstained:
            citations = _quoted_first(citations, quotes, sources)
        return AnswerResult(
            question=self._question,
            text=text,
            citations=tuple(citations),
            sources=tuple(sources),
            hits=self._hits,
            refused=False,
            invalid_citations=tuple(invalid),
            quotes=tuple(quotes),
            abstained=abstained,
            supported=supported,
            reply=reply,
            unmatched=unmatched,
        )

    def _attribute(
        self, text: str, sources: Sequence[Source]
    ) -> tuple[list[Quote], bool | None, tuple[str, ...]]:
        """The quote for an answer in the model's own words, whether the sources back it, and
        the question's figures or days the quoted passage lacks."""
        cited, _ = extract_citations(text, sources, fallback=0)
        found = attribute(
            text,
            self._question,
            [(source.number, source.text) for source in sources],
            prefer=[c.number for c in cited],
        )
        if found is None:
            return [], None, ()
        hit = next(s for s in sources if s.number == found.source).hit
        quote = verify_quote(found.source, found.text, hit.text)
        # a sentence that holds nothing of the answer is no quote
        quotes = [quote] if quote.verified and found.support > 0 else []
        missing = missing_specifics(
            self._question, f"{hit.document_name}\n{hit.heading}\n{hit.text}"
        )
        missing += unknown_to_collection(text, sources)
        supported = not missing and found.supports(self._settings.min_support)
        if supported and quotes and self._settings.confirm_support:
            supported = self._confirms(text, quotes[0].text)
        return quotes, supported, tuple(missing)

    def _confirms(self, answer: str, sentence: str) -> bool:
        """Whether the model, asked under a yes/no grammar, says ``sentence`` answers the
        question: a sentence about the refrigerator does not give the freezer's temperature."""
        if not self._engine.supports_grammar:
            return True
        proposed = " ".join(_CITATION_MARK.sub(" ", answer).split())
        messages = [
            ChatMessage(Role.SYSTEM, CONFIRM_SYSTEM),
            ChatMessage(
                Role.USER,
                f"Question: {self._question}\nSentence: {sentence}\nProposed answer: "
                f"{proposed}\nDoes the sentence itself answer exactly this question? Answer yes "
                "or no.",
            ),
        ]
        options = GenerationOptions(
            max_tokens=2, temperature=0.0, seed=0, top_logprobs=0, grammar=CONFIRM_GRAMMAR
        )
        reply = "".join(t.text for t in self._engine.stream(messages, options, cancel=self._cancel))
        return not reply.strip().lower().startswith("no")


def unknown_to_collection(answer: str, sources: Sequence[Source]) -> list[str]:
    """The question's words that no passage of the collection holds and the answer repeats.

    Asked for the vaccine *freezer*'s temperature, a small model answers with the
    refrigerator's and calls it the freezer's; asked for the recovery *point* objective, it
    gives the recovery time objective. When not one passage of the collection says "freezer"
    (the full-text index counted it: :attr:`~.terms.TermWeights.absent`), an answer about the
    freezer cannot come from the documents, whatever sentence it resembles.
    """
    absent: set[str] = set()
    for source in sources:
        weights = source.hit.term_weights
        if weights is not None:
            absent |= {term for term in weights.absent if term.isalpha()}
    said = stems(answer)
    return sorted(term for term in absent if stem(term) in said)


def _quoted_first(
    citations: Sequence[Citation], quotes: Sequence[Quote], sources: Sequence[Source]
) -> list[Citation]:
    """The citations with the quoted sources first, cited; the fallback list (nothing cited by
    number) gives way to the quoted source alone."""
    quoted = [q.source for q in quotes]
    by_number = {source.number: source for source in sources}
    kept = [c for c in citations if c.cited and c.number not in quoted]
    head, _ = extract_citations(" ".join(f"[{n}]" for n in quoted), [by_number[n] for n in quoted])
    return [*head, *kept]


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
