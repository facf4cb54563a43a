"""Content words, stemmed and weighted by rarity: how much of a question a passage covers.

Relevance and the choice of sentences shown to the model both ask "which of the question's words
does this text hold?". Plain substring tests miss inflections ("retained" against "retain",
"supplies" against "supplied") and count every word alike, so a question about a rare name that
occurs in exactly one passage ("Who is Wierzbicki?") looks no more covered by that passage than
by any other that says "who". Here words are compared by their Snowball (Porter2) stems, and
each weighs its inverse document frequency in the collection (:class:`TermWeights`, built from
the full-text index's counts): the rare name carries the question, "plant" in a plant's report
carries almost nothing.

Imports only the standard library and ``snowballstemmer`` (pure Python).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import snowballstemmer

_WORD = re.compile(r"[\w][\w'\u2019./:-]*[\w]|[\w]", re.UNICODE)


@functools.lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A word's Snowball English stem, lower-cased (codes such as ``ab-1234/x`` unchanged)."""
    lowered = word.lower()
    if not lowered.isalpha():
        return lowered
    return str(_stemmer().stemWord(lowered))


def words(text: str) -> list[str]:
    """The words of ``text``: letters and digits, with inner ``' . / : -`` kept (``CP-7``,
    ``9.6``, ``01:00``); edge punctuation dropped."""
    return _WORD.findall(text)


def stems(text: str) -> set[str]:
    """The set of stems of the words of ``text``, plus each hyphenated word's parts."""
    found: set[str] = set()
    for word in words(text):
        found.add(stem(word))
        if "-" in word:
            found.update(stem(part) for part in word.split("-") if part)
    return found


@dataclass(frozen=True)
class TermWeights:
    """Each query term's weight: its inverse document frequency among ``total`` passages.

    A term no passage holds weighs the most; one that every passage holds weighs almost
    nothing. Unknown terms (not in ``idf``) weigh ``default``. ``absent`` names the counted
    terms that no passage of the collection holds at all.
    """

    idf: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0
    absent: frozenset[str] = frozenset()

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], total: int, *, absent: frozenset[str] | None = None
    ) -> TermWeights:
        """Weights from document frequencies (BM25's idf, always positive); ``absent``
        defaults to the terms counted 0."""
        n = max(total, 1)
        idf = {term: _idf(count, n) for term, count in counts.items()}
        if absent is None:
            absent = frozenset(term for term, count in counts.items() if count == 0)
        return cls(idf=idf, default=_idf(0, n), absent=absent)

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.default)


def _idf(count: int, total: int) -> float:
    return math.log(1.0 + (total - count + 0.5) / (count + 0.5))


def coverage(terms: Sequence[str], text: str, weights: TermWeights | None = None) -> float:
    """The weighted share of ``terms`` (query terms, lower-case) that ``text`` holds.

    A term counts as held when its stem is among the text's stems, or, for a term that is not
    a plain word (a code or a number: ``ab-1234/x``), when it occurs in the text as written.
    Without ``weights`` every term weighs the same.
    """
    if not terms:
        return 0.0
    weights = weights or TermWeights()
    text_stems = stems(text)
    lowered = text.lower()
    held = total = 0.0
    for term in terms:
        weight = weights.weight(term)
        total += weight
        if stem(term) in text_stems or (not term.isalpha() and term in lowered):
            held += weight
    return held / total if total else 0.0
