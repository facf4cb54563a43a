"""Retrieval scoring, and the search modes it compares."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.evaluation.gold import load_gold
from assistant.evaluation.retrieval import score_retrieval
from assistant.knowledge import KnowledgeBase
from assistant.knowledge.search import SearchMode


def test_each_mode_uses_only_its_retriever(kb: KnowledgeBase) -> None:
    dense = kb.search("pump seal kit", collection="lib", top_k=3, mode=SearchMode.DENSE)
    lexical = kb.search("pump seal kit", collection="lib", top_k=3, mode=SearchMode.LEXICAL)
    hybrid = kb.search("pump seal kit", collection="lib", top_k=3)
    assert dense
    assert all(h.lexical_rank is None and h.dense_rank for h in dense)
    assert [h.dense_rank for h in dense] == list(range(1, len(dense) + 1))
    assert lexical
    assert all(h.dense_rank is None and h.lexical_rank for h in lexical)
    assert hybrid[0].dense_rank is not None
    assert hybrid[0].lexical_rank is not None
    assert hybrid[0].document_name == "pumps.txt"


def test_ranks_and_metrics_per_mode(kb: KnowledgeBase, gold_file: Path) -> None:
    gold = load_gold(gold_file)
    done: list[tuple[int, int]] = []
    scores = score_retrieval(
        gold.items, kb, collection="lib", on_item=lambda d, t: done.append((d, t))
    )
    assert [s.mode for s in scores] == ["dense", "lexical", "hybrid"]
    assert done == [(1, 3), (2, 3), (3, 3)]  # the item without a source is not ranked
    hybrid = scores[2]
    assert [i.id for i in hybrid.items] == ["seal", "flights", "visitors"]
    assert all(i.rank == 1 for i in hybrid.items)  # each question names its document's words
    assert hybrid.recall == {1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}
    assert hybrid.mrr == 1.0
    assert hybrid.ndcg10 == 1.0


def test_an_expected_source_that_is_not_retrieved_scores_zero(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    gold_path = tmp_path / "g.jsonl"
    gold_path.write_text(
        '{"id": "wrong", "question": "pump seal kit", "answer": "x", "source": "pumps.txt",'
        ' "passage": "a phrase that no passage holds"}\n'
        '{"id": "second", "question": "badge visitors escorted", "answer": "x",'
        ' "source": "pumps.txt"}\n'
    )
    (hybrid,) = score_retrieval(load_gold(gold_path).items, kb, collection="lib",
                                modes=(SearchMode.HYBRID,))  # fmt: skip
    first, second = hybrid.items
    assert first.rank is None
    assert first.top_document == "pumps.txt"
    assert second.rank is not None
    assert second.rank > 1
    assert second.top_document == "security.txt"
    assert hybrid.recall[1] == 0.0
    assert hybrid.mrr == pytest.approx(0.5 / second.rank)
