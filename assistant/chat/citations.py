"""Citations as saved with an answer, so a reopened conversation shows its sources again.

An answer from documents stores its citations in the message's ``meta["citations"]``;
:class:`SavedCitation` is that record, read back by the CLI and the GUI alike. Imports nothing
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
