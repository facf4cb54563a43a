"""Ranking metrics for one expected source."""

from __future__ import annotations

import math

import pytest

from assistant.evaluation.metrics import Distribution, ndcg_at, recall_at, reciprocal_rank


@pytest.mark.parametrize(
    ("rank", "r1", "r5", "rr", "ndcg"),
    [
        (1, 1.0, 1.0, 1.0, 1.0),
        (2, 0.0, 1.0, 0.5, 1 / math.log2(3)),
        (7, 0.0, 0.0, 1 / 7, 1 / 3),
        (11, 0.0, 0.0, 1 / 11, 0.0),  # outside nDCG@10
        (None, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_one_relevant_item(rank: int | None, r1: float, r5: float, rr: float, ndcg: float) -> None:
    assert recall_at(rank, 1) == r1
    assert recall_at(rank, 5) == r5
    assert reciprocal_rank(rank) == pytest.approx(rr)
    assert ndcg_at(rank, 10) == pytest.approx(ndcg)


def test_distribution() -> None:
    d = Distribution.of([4.0, 1.0, 3.0, 2.0, 10.0])
    assert (d.count, d.mean, d.median, d.minimum, d.maximum) == (5, 4.0, 3.0, 1.0, 10.0)
    assert d.p90 == 10.0
    assert Distribution.of([]).count == 0
