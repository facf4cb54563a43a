"""Ranking metrics for one expected source, and summary statistics.

Each gold item expects one source. Its *rank* is the 1-based position of the first retrieved
passage that is that source, or ``None`` when none of the retrieved passages is. With one
relevant item, recall@k is 1 when the rank is at most k, the reciprocal rank is ``1 / rank`` and
nDCG@k is ``1 / log2(1 + rank)`` (the ideal DCG is 1). Means over items give recall@k, MRR and
nDCG@k.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def recall_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank is not None else 0.0


def ndcg_at(rank: int | None, k: int) -> float:
    return 1.0 / math.log2(1 + rank) if rank is not None and rank <= k else 0.0


@dataclass(frozen=True)
class Distribution:
    """Summary of a list of numbers (empty lists give zeros)."""

    count: int
    mean: float
    median: float
    p90: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ordered = sorted(values)
        # Nearest-rank 90th percentile: a value that occurred, fine for small gold sets.
        p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
        return cls(
            count=len(ordered),
            mean=statistics.fmean(ordered),
            median=statistics.median(ordered),
            p90=p90,
            minimum=ordered[0],
            maximum=ordered[-1],
        )
