"""The text side of the document viewer: a document's pages rebuilt from its chunks, and where a
passage sits in them. Plain data and string work, no Qt (like ``transcript``), so it is tested
without a display.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.knowledge.records import Chunk


@dataclass(frozen=True)
class DocumentPages:
    """A document's extracted text by page (``None`` is the one "page" of unpaged formats)."""

    pages: dict[int | None, str]

    @property
    def numbers(self) -> list[int]:
        return sorted(p for p in self.pages if p is not None)

    def text(self, page: int | None) -> str:
        return self.pages.get(page, "")


def stitch(chunks: Sequence[Chunk]) -> DocumentPages:
    """Rebuild each page's text from overlapping chunks, using their character offsets."""
    by_page: dict[int | None, list[Chunk]] = {}
    for chunk in chunks:
        by_page.setdefault(chunk.page, []).append(chunk)
    pages: dict[int | None, str] = {}
    for page, members in by_page.items():
        parts: list[str] = []
        end = -1
        for chunk in sorted(members, key=lambda c: (c.char_start, c.char_end)):
            if end < 0 or chunk.char_start > end:
                if parts:
                    parts.append("\n\n")
                parts.append(chunk.text)
            elif chunk.char_end > end:
                # Overlap: the chunk repeats the tail of the previous one; keep the new part only.
                parts.append(chunk.text[end - chunk.char_start :])
            end = max(end, chunk.char_end)
        pages[page] = "".join(parts)
    return DocumentPages(pages)


def find_passage(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``text`` (exactly, else ignoring differences in white space)."""
    quote = quote.strip()
    if not quote:
        return None
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    words = quote.split()
    for count in (len(words), min(len(words), 12)):
        pattern = r"\s+".join(re.escape(w) for w in words[:count])
        match = re.search(pattern, text)
        if match:
            return match.start(), match.end()
    return None
