"""Citations and quotes as saved with an answer, so a reopened conversation shows them again.

An answer from documents stores its citations in the message's ``meta["citations"]`` and the
verbatim quotes that back it in ``meta["quotes"]``; :class:`SavedCitation` and
:class:`SavedQuote` are those records, read back by the CLI and the GUI alike. Imports nothing
heavy and no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.knowledge.answer import AnswerResult


@dataclass(frozen=True)
class SavedCitation:
    """A source an answer relies on, as saved with the answer.

    Attributes:
        number: the ``[n]`` the answer uses.
        document_id: the knowledge base's id for the document (to open it in a viewer).
        document_name: the file name.
        path: where the file was imported from.
        page: 1-based page for paged formats, else None.
        heading: the section heading, ``""`` when none.
        quote: the passage, verbatim.
        score: the retrieval score (cosine similarity when known, else the fused rank score).
        cited: True when the model wrote ``[n]``; False when it cited nothing and this source is
            listed because the answer was based on it.
    """

    number: int
    document_id: str
    document_name: str
    path: str
    page: int | None
    heading: str
    quote: str
    score: float | None = None
    cited: bool = True

    @property
    def location(self) -> str:
        parts = [self.document_name]
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.heading:
            parts.append(f"“{self.heading}”")
        return ", ".join(parts)

    def to_meta(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "document_id": self.document_id,
            "document_name": self.document_name,
            "path": self.path,
            "page": self.page,
            "heading": self.heading,
            "quote": self.quote,
            "score": self.score,
            "cited": self.cited,
        }

    @classmethod
    def from_meta(cls, data: Mapping[str, Any]) -> SavedCitation | None:
        """Read one saved citation back; None when the record is malformed."""
        try:
            page = data.get("page")
            score = data.get("score")
            return cls(
                number=int(data["number"]),
                document_id=str(data.get("document_id", "")),
                document_name=str(data.get("document_name", "")),
                path=str(data.get("path", "")),
                page=int(page) if page is not None else None,
                heading=str(data.get("heading", "")),
                quote=str(data.get("quote", "")),
                score=float(score) if score is not None else None,
                cited=bool(data.get("cited", True)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def citations_of(result: AnswerResult) -> list[SavedCitation]:
    """An answer's citations with the retrieval score of the passage each points to."""
    by_number = {source.number: source.hit for source in result.sources}
    saved = []
    for citation in result.citations:
        hit = by_number.get(citation.number)
        score: float | None = None
        if hit is not None:
            score = hit.dense_similarity if hit.dense_similarity is not None else hit.score
        saved.append(
            SavedCitation(
                number=citation.number,
                document_id=citation.document_id,
                document_name=citation.document_name,
                path=str(citation.path),
                page=citation.page,
                heading=citation.heading,
                quote=citation.quote,
                score=score,
                cited=citation.cited,
            )
        )
    return saved


@dataclass(frozen=True)
class SavedQuote:
    """A verbatim quote that backs an answer, as saved with it.

    Attributes:
        source: the ``[n]`` of the source it is from.
        document_id: the knowledge base's id for the document.
        document_name: the file name.
        page: 1-based page for paged formats, else None.
        text: the quote, exactly as it stands in the passage (spaces flattened).
        start: where it starts in the passage as stored (``-1``: not found there).
        end: where it ends in the passage (exclusive).
        char_start: where it starts in the document's extracted text (``-1``: not found).
        char_end: where it ends there (exclusive).
        verified: the quote was found verbatim in its passage.
    """

    source: int
    document_id: str
    document_name: str
    page: int | None
    text: str
    start: int = -1
    end: int = -1
    char_start: int = -1
    char_end: int = -1
    verified: bool = False

    @property
    def location(self) -> str:
        parts = [self.document_name]
        if self.page is not None:
            parts.append(f"page {self.page}")
        return ", ".join(parts)

    def to_meta(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "document_id": self.document_id,
            "document": self.document_name,
            "page": self.page,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "verified": self.verified,
        }

    @classmethod
    def from_meta(cls, data: Mapping[str, Any]) -> SavedQuote | None:
        """Read one saved quote back; None when the record is malformed."""
        try:
            page = data.get("page")
            return cls(
                source=int(data["source"]),
                document_id=str(data.get("document_id", "")),
                document_name=str(data.get("document", "")),
                page=int(page) if page is not None else None,
                text=str(data["text"]),
                start=int(data.get("start", -1)),
                end=int(data.get("end", -1)),
                char_start=int(data.get("char_start", -1)),
                char_end=int(data.get("char_end", -1)),
                verified=bool(data.get("verified", False)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def quotes_of(result: AnswerResult) -> list[SavedQuote]:
    """An answer's quotes with the document and page of the passage each comes from."""
    by_number = {source.number: source.hit for source in result.sources}
    saved = []
    for quote in result.quotes:
        hit = by_number.get(quote.source)
        if hit is None:
            continue
        found = quote.verified and quote.start >= 0
        saved.append(
            SavedQuote(
                source=quote.source,
                document_id=hit.document_id,
                document_name=hit.document_name,
                page=hit.page,
                text=quote.text,
                start=quote.start,
                end=quote.end,
                char_start=hit.char_start + quote.start if found else -1,
                char_end=hit.char_start + quote.end if found else -1,
                verified=quote.verified,
            )
        )
    return saved
