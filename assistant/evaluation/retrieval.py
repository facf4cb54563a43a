"""Retrieval scoring: where the expected source ranks for dense, lexical and hybrid search.

For each gold item with a ``source``, the knowledge base is searched in each mode for the top
:data:`DEPTH` passages, and the rank of the first passage that is the expected source is kept
(:mod:`.metrics` turns ranks into recall@k, MRR and nDCG@10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.evaluation.gold import GoldItem
from assistant.evaluation.metrics import ndcg_at, recall_at, reciprocal_rank
from assistant.knowledge.search import SearchHit, SearchMode

DEPTH = 10  # passages retrieved per question: enough for recall@10 and nDCG@10
RECALL_KS = (1, 3, 5, 10)


class Searchable(Protocol):
    """What retrieval scoring needs of a knowledge base."""

    def search(
        self, query: str, *, collection: str, top_k: int, mode: SearchMode
    ) -> list[SearchHit]: ...


@dataclass(frozen=True)
class RankedItem:
    """Where one item's expected source came in one mode (``rank`` ``None``: not in the top
    :data:`DEPTH`); ``top_document`` is the first passage's document, for reading failures."""

    id: str
    rank: int | None
    top_document: str


@dataclass(frozen=True)
class RetrievalScores:
    """One mode's scores over the gold items that name a source."""

    mode: str
    items: tuple[RankedItem, ...]

    @property
    def recall(self) -> dict[int, float]:
        """recall@k for each k in :data:`RECALL_KS`."""
        return {k: _mean([recall_at(i.rank, k) for i in self.items]) for k in RECALL_KS}

    @property
    def mrr(self) -> float:
        return _mean([reciprocal_rank(i.rank) for i in self.items])

    @property
    def ndcg10(self) -> float:
        return _mean([ndcg_at(i.rank, 10) for i in self.items])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def first_match(item: GoldItem, hits: Sequence[SearchHit]) -> int | None:
    """The 1-based rank of the first hit that is ``item``'s expected source."""
    for rank, hit in enumerate(hits, start=1):
        if item.matches(hit.document_name, f"{hit.heading}\n{hit.text}"):
            return rank
    return None


def score_retrieval(
    items: Sequence[GoldItem],
    knowledge: Searchable,
    *,
    collection: str,
    modes: Sequence[SearchMode] = (SearchMode.DENSE, SearchMode.LEXICAL, SearchMode.HYBRID),
    on_item: Callable[[int, int], None] | None = None,
) -> list[RetrievalScores]:
    """Search every item's question in every mode and rank its expected source.

    Args:
        items: the gold items; those without a ``source`` are skipped.
        knowledge: the knowledge base holding the collection.
        collection: the collection to search.
        modes: the retrieval modes to compare.
        on_item: called with (done, total) after each item, for progress.

    Raises:
        KnowledgeError: the collection does not exist or the index cannot be read.
    """
    sourced = [item for item in items if item.source]
    ranked: dict[SearchMode, list[RankedItem]] = {mode: [] for mode in modes}
    for done, item in enumerate(sourced, start=1):
        for mode in modes:
            hits = knowledge.search(item.question, collection=collection, top_k=DEPTH, mode=mode)
            top = hits[0].document_name if hits else ""
            ranked[mode].append(RankedItem(item.id, first_match(item, hits), top))
        if on_item is not None:
            on_item(done, len(sourced))
    return [RetrievalScores(mode.value, tuple(ranked[mode])) for mode in modes]
