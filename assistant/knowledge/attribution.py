"""Which sentence of the sources says what the answer says: the quote shown under an answer.

A model's answer to a question about documents mostly reuses the words of the sentence it read
the answer from: the figure, the name, the code. :func:`attribute` scores every sentence of the
numbered sources by the share of the answer's content words it holds, each word weighted by how
rare it is among those sentences (a figure that occurs once outweighs "plant", which occurs in
every sentence of a plant's report), and returns the best one. Its score is also a guard: an
answer whose rare words are in no source sentence (an invented "15 knots") has low support, and
the answer is not presented as coming from the documents.

Measured against a constrained model quote on the answer gold set (docs/benchmarks.md): the
1.5B model, made to copy a sentence by grammar, picked a sentence holding the fact for 25 of 40
questions; attribution of its own free answer picks one for 39.

Imports only the standard library and :mod:`.terms`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.knowledge.grounded import sentences
from assistant.knowledge.lexical import STOPWORDS, query_terms
from assistant.knowledge.terms import TermWeights, coverage, stem, stems, words

_CITATION = re.compile(r"\[\d{1,3}\]")
#: An answer is backed by a sentence that holds at least this share of the figures, names and
#: dates it adds: "15 knots" found nowhere in the sources is not from them.
MIN_SPECIFICS_HELD = 0.5
#: ... or that holds at least this share of the question's words (see Attribution.supports).
MIN_QUESTION_COVERAGE = 0.5
#: Where a word splits into parts that match on their own: hyphens, underscores, slashes and a
#: file extension's dot (``sop-114`` in ``riverside-sop-114.docx``), never a time's colon or a
#: decimal point ("15" is not in "06:15", "6" is not in "9.6").
_PARTS = re.compile(r"[-_/]|\.(?=[a-z]+$)")


@dataclass(frozen=True)
class Attribution:
    """The source sentence that best supports an answer.

    Attributes:
        source: the source number.
        text: the sentence, flattened (:func:`~.grounded.flatten`), as it stands in the source.
        support: the rarity-weighted share of what the answer adds to the question (its
            content words that the question does not have) that the sentence holds (0 to 1).
        question_coverage: the same share for the question's content words.
        specifics_held: the share of the specific words (figures, codes, names, dates:
            :func:`specific_words`) that the answer adds to the question which the sentence
            holds; 1 when it adds none.
        specifics: how many such words the answer adds.
    """

    source: int
    text: str
    support: float
    question_coverage: float
    specifics_held: float = 1.0
    specifics: int = 0

    def supports(self, min_support: float) -> bool:
        """Whether the sentence backs the answer.

        The figures, codes, names and dates the answer adds to the question decide first: if
        the sentence holds fewer than half of them they were made up; if it holds all, it
        backs the answer. Otherwise (some, or the answer adds none) the sentence must hold at
        least ``min_support`` of what the answer adds, or half of what the question asks
        (an answer in other words than its source's, about what was asked).
        """
        if self.specifics and self.specifics_held < MIN_SPECIFICS_HELD:
            return False
        if self.specifics and self.specifics_held >= 1.0:
            return True
        return self.support >= min_support or self.question_coverage >= MIN_QUESTION_COVERAGE


def answer_terms(answer: str) -> list[str]:
    """The content words of an answer, citation markers left out."""
    return query_terms(_CITATION.sub(" ", answer))


def attribute(
    answer: str,
    question: str,
    sources: Sequence[tuple[int, str]],
    *,
    prefer: Sequence[int] = (),
) -> Attribution | None:
    """The sentence of ``sources`` that best supports ``answer``.

    Args:
        answer: the model's answer.
        question: what was asked (breaks ties between sentences that hold the answer alike).
        sources: ``(number, text)`` of each source the model was given.
        prefer: source numbers the answer cites; among sentences that support it equally, one
            of these wins.

    Returns:
        The best sentence, or ``None`` when the answer has no content words or there are no
        sentences.
    """
    terms = answer_terms(answer)
    if not terms:
        return None
    asked = query_terms(question)
    asked_stems = {stem(term) for term in asked}
    # What the answer adds to the question ("1998" in "The plant was commissioned in 1998")
    # decides; the words it repeats from the question only break ties.
    added = [term for term in terms if stem(term) not in asked_stems] or terms
    candidates = [(number, sentence) for number, text in sources for sentence in sentences(text)]
    if not candidates:
        return None
    texts = [sentence for _, sentence in candidates]
    weights = _sentence_weights(terms, texts)
    asked_weights = _sentence_weights(asked, texts)
    best: tuple[float, float, bool, int] | None = None
    chosen: Attribution | None = None
    for index, (number, sentence) in enumerate(candidates):
        support = coverage(added, sentence, weights)
        overall = coverage(terms, sentence, weights)
        asked_share = coverage(asked, sentence, asked_weights) if asked else 0.0
        # Half the weight again for the question's words: of two sentences of a long answer,
        # the one that answers what was asked.
        score = support + 0.5 * asked_share
        key = (round(score, 6), round(overall, 6), number in prefer, -index)
        if best is None or key > best:
            best = key
            chosen = Attribution(number, sentence, support, asked_share)
    if chosen is not None:
        # the figures and names the answer adds; those it repeats from the question prove nothing
        asked_held = _held(question)
        specifics = [w for w in specific_words(answer) if not _holds(asked_held, w)]
        if specifics:
            # in the sentence itself: checked against the whole passage, a name the passage
            # mentions elsewhere (the plant manager's, asked as the CFO's) would pass
            held = _held(chosen.text)
            share = sum(_holds(held, w) for w in specifics) / len(specifics)
            chosen = Attribution(
                chosen.source,
                chosen.text,
                chosen.support,
                chosen.question_coverage,
                share,
                len(specifics),
            )
    return chosen


_WEEKDAYS_AND_MONTHS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays "
    "thursdays fridays saturdays sundays january february march april may june july august "
    "september october november december".split()
)


def specific_words(text: str, *, names: bool = True) -> list[str]:
    """The words of ``text`` that pin down one thing: figures and codes (any word with a
    digit), days and months, and (with ``names``) names: capitalised words that do not start a
    sentence."""
    found: list[str] = []
    sentence_start = True
    for match in re.finditer(r"\S+", _CITATION.sub(" ", text)):
        raw = match.group(0)
        for word in words(raw):
            lowered = word.lower()
            specific = (
                any(ch.isdigit() for ch in word)
                or lowered in _WEEKDAYS_AND_MONTHS
                or (names and word[0].isupper() and not sentence_start and lowered not in STOPWORDS)
            )
            if specific and lowered not in {f.lower() for f in found}:
                found.append(word)
            sentence_start = False
        sentence_start = raw.endswith((".", "?", "!", ":")) and not raw[:-1].isdigit()
    return found


def missing_specifics(question: str, evidence: str) -> list[str]:
    """The question's figures, dates, days and months that ``evidence`` lacks.

    A question about 2024 is not answered by a passage about 2025, nor one about Saturdays by
    the Friday opening hours: when the passage, its heading and its document's name do not
    mention a year, figure, code or day the question asks about, the answer found there is
    about something else. Names are left out: questions shorten them ("UV" for
    "ultraviolet", "the clinic" for "Riverside Clinic") too often to tell.
    """
    held = _held(evidence)
    return [w for w in specific_words(question, names=False) if not _holds(held, w)]


def _held(text: str) -> set[str]:
    """Everything a word of ``text`` can be matched by: stems, words, and the parts of
    hyphenated and dotted words (``sop-114`` in ``riverside-sop-114-storage.docx``)."""
    found = stems(text) | {w.lower() for w in words(text)}
    found |= {part for w in words(text) for part in _PARTS.split(w.lower()) if part}
    return found


def _holds(held: set[str], word: str) -> bool:
    lowered = word.lower()
    if stem(word) in held or lowered in held:
        return True
    parts = [part for part in _PARTS.split(lowered) if part]
    return len(parts) > 1 and all(part in held or stem(part) in held for part in parts)


def _sentence_weights(terms: Sequence[str], candidates: Sequence[str]) -> TermWeights:
    """Rarity of each term among the candidate sentences (BM25's idf)."""
    sentence_stems = [stems(sentence) for sentence in candidates]
    lowered = [sentence.lower() for sentence in candidates]
    counts: dict[str, int] = {}
    for term in terms:
        counts[term] = sum(
            1
            for held, text in zip(sentence_stems, lowered, strict=True)
            if coverage([term], text) > 0 or term in held
        )
    weights = TermWeights.from_counts(counts, len(candidates))
    return TermWeights(idf=weights.idf, default=weights.default or math.log(2.0))
