"""Splitting sections into chunks: the passages that are embedded, indexed and cited.

A chunk never crosses a section, so it has exactly one page and one heading to cite. Inside a
section, text is cut at sentence ends, and preferably at paragraph ends: a paragraph that would
not fit in the rest of a half-full chunk starts a new one. When a paragraph is too long for one
chunk, consecutive chunks share up to ``overlap_tokens`` of whole sentences, so a fact that
straddles the cut is still found whole in one of them. A single sentence longer than a chunk is
cut at line breaks, then between words, then (an unbroken blob) every
:data:`CHARS_PER_TOKEN_CAP` x ``max_tokens`` characters. Each cut costs a logarithmic number of
token counts, so a hostile multi-megabyte line takes seconds, not hours.

Sizes are measured with a token-counting callable (the embedder's tokenizer in production, so a
chunk fits the embedder's window); :func:`approximate_tokens` is the cheap default.

This module imports only the standard library.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from assistant.knowledge.records import Chunk, Section

TokenCounter = Callable[[str], int]

_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"')\]\u201d\u2019]*\s+(?=\S)")
_PARAGRAPH = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")

#: A chunk holds at most this many characters per token of ``max_tokens``: far above prose (about
#: 4-5 characters per token), it bounds a chunk when the tokenizer sees a blob as one token.
CHARS_PER_TOKEN_CAP = 12


def approximate_tokens(text: str) -> int:
    """A cheap token estimate: 1.3 tokens per whitespace-separated word (WordPiece on English)."""
    return math.ceil(len(text.split()) * 1.3)


def chunk_id(document_id: str, content_sha256: str, index: int) -> str:
    """The deterministic id of a document's ``index``-th chunk for given content."""
    digest = hashlib.sha256(f"{document_id}\0{content_sha256}\0{index}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    paragraph: int
    tokens: int


class Chunker:
    """Cuts sections into chunks of at most ``max_tokens`` tokens (one oversized word aside)."""

    def __init__(
        self,
        *,
        max_tokens: int = 180,
        overlap_tokens: int = 30,
        count_tokens: TokenCounter = approximate_tokens,
    ) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        if not 0 <= overlap_tokens < max_tokens // 2:
            raise ValueError("overlap_tokens must be between 0 and half of max_tokens")
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.count_tokens = count_tokens
        self.max_chars = max_tokens * CHARS_PER_TOKEN_CAP

    def chunk(
        self, document_id: str, content_sha256: str, sections: Iterable[Section]
    ) -> list[Chunk]:
        """Chunk a document's sections, numbering chunks from 0 in document order.

        Args:
            document_id: the ledger id of the document.
            content_sha256: the hash of the file's bytes (part of every chunk id).
            sections: the loader's sections.

        Returns:
            The chunks; their text is a verbatim slice of the section text.
        """
        chunks: list[Chunk] = []
        for section in sections:
            for start, end in self._spans(section.text):
                index = len(chunks)
                chunks.append(
                    Chunk(
                        id=chunk_id(document_id, content_sha256, index),
                        document_id=document_id,
                        index=index,
                        text=section.text[start:end],
                        page=section.page,
                        heading=section.heading,
                        char_start=section.char_start + start,
                        char_end=section.char_start + end,
                    )
                )
        return chunks

    # --- inside one section ----------------------------------------------------------------

    def _spans(self, text: str) -> list[tuple[int, int]]:
        units = self._units(text)
        paragraph_tokens: dict[int, int] = {}
        for unit in units:
            paragraph_tokens[unit.paragraph] = paragraph_tokens.get(unit.paragraph, 0) + unit.tokens
        spans: list[tuple[int, int]] = []
        current: list[_Unit] = []
        size = 0
        for unit in units:
            if current and size + unit.tokens > self.max_tokens:
                spans.append((current[0].start, current[-1].end))
                current = self._overlap(current, unit)
                size = sum(u.tokens for u in current)
                if size + unit.tokens > self.max_tokens:
                    current, size = [], 0
            elif (
                current
                and unit.paragraph != current[-1].paragraph
                and size >= self.max_tokens // 2
                and size + paragraph_tokens[unit.paragraph] > self.max_tokens
            ):
                spans.append((current[0].start, current[-1].end))
                current, size = [], 0
            current.append(unit)
            size += unit.tokens
        if current:
            spans.append((current[0].start, current[-1].end))
        return spans

    def _overlap(self, previous: list[_Unit], following: _Unit) -> list[_Unit]:
        """The trailing sentences of ``previous`` to repeat before ``following``."""
        if not self.overlap_tokens or previous[-1].paragraph != following.paragraph:
            return []
        carried: list[_Unit] = []
        size = 0
        for unit in reversed(previous[1:]):  # never carry the whole previous chunk
            if unit.paragraph != following.paragraph or size + unit.tokens > self.overlap_tokens:
                break
            carried.insert(0, unit)
            size += unit.tokens
        return carried

    def _units(self, text: str) -> list[_Unit]:
        """Sentences (or pieces of oversized ones) with their paragraph number."""
        units: list[_Unit] = []
        paragraph_start = 0
        paragraphs = [*_PARAGRAPH.finditer(text), None]
        for number, separator in enumerate(paragraphs):
            paragraph_end = separator.start() if separator else len(text)
            sentence_start = paragraph_start
            ends = [m.start() for m in _SENTENCE_END.finditer(text, paragraph_start, paragraph_end)]
            for end in [*ends, paragraph_end]:
                self._add_unit(units, text, sentence_start, end, number)
                sentence_start = self._skip_space(text, end, paragraph_end)
            paragraph_start = separator.end() if separator else len(text)
        return units

    def _add_unit(self, units: list[_Unit], text: str, start: int, end: int, para: int) -> None:
        while end > start and text[end - 1].isspace():
            end -= 1
        if end <= start:
            return
        # Counting a huge span with a real tokenizer takes seconds and could only say "too big".
        too_long = end - start > self.max_chars
        tokens = self.max_tokens + 1 if too_long else self.count_tokens(text[start:end])
        if tokens <= self.max_tokens:
            units.append(_Unit(start, end, para, tokens))
            return
        lines = text[start:end].split("\n")
        if len(lines) > 1:
            offset = start
            for line in lines:
                self._add_unit(units, text, offset, offset + len(line), para)
                offset += len(line) + 1
            return
        self._add_word_windows(units, text, start, end, para)

    def _add_word_windows(
        self, units: list[_Unit], text: str, start: int, end: int, para: int
    ) -> None:
        words = list(_WORD.finditer(text, start, end))
        first = 0
        span = self.max_tokens // 2  # the previous piece's word count: the next one's guess
        while first < len(words):
            if words[first].end() - words[first].start() > self.max_chars:
                self._add_char_windows(units, words[first].start(), words[first].end(), para)
                first += 1
                continue
            # The longest run of words from ``first`` that fits (a longer run never fits if a
            # shorter one does not; every word is at least one token): check the guess and one
            # word more, which usually settles it, else bisect what is left.
            low, high = first + 1, min(len(words), first + self.max_tokens)
            guess = min(max(low, first + span), high)
            if not self._fits(text, words[first].start(), words[guess - 1].end()):
                high = guess - 1
            elif guess < high and not self._fits(text, words[first].start(), words[guess].end()):
                low = high = guess
            else:
                low = guess + 1 if guess < high else guess
            while low < high:
                middle = (low + high + 1) // 2
                if self._fits(text, words[first].start(), words[middle - 1].end()):
                    low = middle
                else:
                    high = middle - 1
            piece_start, piece_end = words[first].start(), words[low - 1].end()
            units.append(
                _Unit(piece_start, piece_end, para, self.count_tokens(text[piece_start:piece_end]))
            )
            span = low - first
            first = low

    def _fits(self, text: str, start: int, end: int) -> bool:
        if end - start > self.max_chars:
            return False
        return self.count_tokens(text[start:end]) <= self.max_tokens

    def _add_char_windows(self, units: list[_Unit], start: int, end: int, para: int) -> None:
        """Cut one unbroken blob into full-size pieces, each a chunk of its own."""
        for piece in range(start, end, self.max_chars):
            units.append(_Unit(piece, min(piece + self.max_chars, end), para, self.max_tokens))

    @staticmethod
    def _skip_space(text: str, position: int, limit: int) -> int:
        while position < limit and text[position].isspace():
            position += 1
        return position
