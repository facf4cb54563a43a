"""Hybrid retrieval: dense (Chroma) and lexical (FTS5 BM25) results fused by reciprocal rank.

Each retriever returns its best ``candidates`` chunks; a chunk's fused score is the sum over the
retrievers that found it of ``1 / (k + rank)`` with ``k = 60`` (Cormack, Clarke and Buettcher,
SIGIR 2009). RRF needs no score calibration between a cosine similarity and a BM25 value, which
have nothing in common, and a chunk found by both rises above one found by either alone.

Each hit keeps both raw signals (rank and score from each side) and the rarity-weighted share
of the query's content words that the passage holds (:mod:`.terms`), so callers can judge
relevance for themselves.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.knowledge.embedder import Embedder
from assistant.knowledge.lexical import LexicalIndex, LexicalMatch, query_terms
from assistant.knowledge.terms import TermWeights, coverage

if TYPE_CHECKING:
    from assistant.knowledge.store import DenseMatch, DenseStore

RRF_K = 60


class SearchMode(enum.StrEnum):
    """Which retrievers run. The app always uses ``HYBRID``; the others exist so evaluation
    (:mod:`assistant.evaluation`) can measure what fusing the two buys."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"


@dataclass(frozen=True)
class SearchHit:
    """One retrieved passage and where it comes from.

    Attributes:
        chunk_id: the chunk's id.
        document_id: the ledger id of its document.
        document_name: the document's file name.
        path: the document's path when imported.
        collection: the collection searched.
        page: the 1-based page (PDF), else ``None``.
        heading: the section heading, ``""`` when none.
        text: the passage.
        char_start: offset of the passage in the document's extracted text.
        char_end: its end (exclusive).
        score: the fused RRF score (higher is better).
        dense_rank: 1-based rank in the vector search, ``None`` when not found there.
        dense_similarity: cosine similarity to the question, ``None`` when not found there.
        lexical_rank: 1-based rank in the full-text search, ``None`` when not found there.
        lexical_score: BM25 (higher is better), ``None`` when not found there.
        term_coverage: the share of the query's content words that the passage holds (by stem),
            each weighted by its rarity in the collection (:func:`~.terms.coverage`).
        query_terms: the query's content words, as searched.
        term_weights: their rarity weights, for choosing the sentences to show (``prompt``).
    """

    chunk_id: str
    document_id: str
    document_name: str
    path: Path
    collection: str
    page: int | None
    heading: str
    text: str
    char_start: int
    char_end: int
    score: float
    dense_rank: int | None = None
    dense_similarity: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    term_coverage: float = 0.0
    query_terms: tuple[str, ...] = ()
    term_weights: TermWeights | None = field(default=None, compare=False, repr=False)

    @property
    def location(self) -> str:
        """Where the passage is, for people: ``report.pdf, page 3, "Budget"``."""
        parts = [self.document_name]
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.heading:
            parts.append(f'"{self.heading}"')
        return ", ".join(parts)


class HybridSearcher:
    """Runs both retrievers and fuses their rankings."""

    def __init__(
        self, *, dense: DenseStore, lexical: LexicalIndex, embedder: Embedder, rrf_k: int = RRF_K
    ) -> None:
        self._dense = dense
        self._lexical = lexical
        self._embedder = embedder
        self._rrf_k = rrf_k

    def search(
        self,
        query: str,
        *,
        collection: str,
        top_k: int = 5,
        document_ids: Sequence[str] | None = None,
        candidates: int | None = None,
        mode: SearchMode = SearchMode.HYBRID,
    ) -> list[SearchHit]:
        """The ``top_k`` best passages for ``query``, best first.

        Args:
            query: the user's words, any text (it is never interpreted as query syntax).
            collection: the collection to search.
            top_k: how many hits to return.
            document_ids: restrict the search to these documents.
            candidates: how many results each retriever contributes (default ``4 * top_k``,
                at least 20).
            mode: both retrievers fused (the default), or one alone (its own order).

        Raises:
            KnowledgeIndexError: an index cannot be read.
            EmbedderError: the query cannot be embedded.
        """
        query = query.strip()
        if not query or top_k <= 0:
            return []
        pool = candidates or max(4 * top_k, 20)
        dense: list[DenseMatch] = []
        if mode is not SearchMode.LEXICAL:
            vector = self._embedder.embed([query])[0]
            dense = self._dense.query(collection, vector, limit=pool, document_ids=document_ids)
        lexical: list[LexicalMatch] = []
        if mode is not SearchMode.DENSE:
            lexical = self._lexical.search(query, collection, limit=pool, document_ids=document_ids)

        fused: dict[str, float] = {}
        dense_info: dict[str, tuple[int, float]] = {}
        lexical_info: dict[str, tuple[int, float]] = {}
        for rank, match in enumerate(dense, start=1):
            dense_info[match.chunk_id] = (rank, match.similarity)
            fused[match.chunk_id] = fused.get(match.chunk_id, 0.0) + 1.0 / (self._rrf_k + rank)
        for rank, lex in enumerate(lexical, start=1):
            lexical_info[lex.chunk_id] = (rank, lex.score)
            fused[lex.chunk_id] = fused.get(lex.chunk_id, 0.0) + 1.0 / (self._rrf_k + rank)

        # Ties (same fused score) fall back to the dense rank, then the id, for a stable order.
        order = sorted(
            fused,
            key=lambda cid: (-fused[cid], dense_info.get(cid, (pool + 1, 0.0))[0], cid),
        )
        stored = self._lexical.fetch(order)
        terms = query_terms(query)
        weights = self._lexical.term_weights(terms, collection)
        hits: list[SearchHit] = []
        for chunk_id in order:
            entry = stored.get(chunk_id)
            if entry is None or not entry.indexed:  # a half-imported or removed document
                continue
            chunk = entry.chunk
            dense_rank, similarity = dense_info.get(chunk_id, (None, None))
            lexical_rank, bm25 = lexical_info.get(chunk_id, (None, None))
            path = Path(entry.path)
            hits.append(
                SearchHit(
                    chunk_id=chunk_id,
                    document_id=chunk.document_id,
                    document_name=path.name,
                    path=path,
                    collection=entry.collection,
                    page=chunk.page,
                    heading=chunk.heading,
                    text=chunk.text,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    score=fused[chunk_id],
                    dense_rank=dense_rank,
                    dense_similarity=similarity,
                    lexical_rank=lexical_rank,
                    lexical_score=bm25,
                    term_coverage=coverage(terms, f"{chunk.heading}\n{chunk.text}", weights),
                    query_terms=tuple(terms),
                    term_weights=weights,
                )
            )
            if len(hits) == top_k:
                break
        return hits
