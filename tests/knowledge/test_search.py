"""Hybrid retrieval: reciprocal rank fusion of the dense and lexical rankings."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.knowledge import KnowledgeBase
from assistant.knowledge.search import RRF_K


def test_hits_carry_both_signals_and_the_fused_score(
    kb: KnowledgeBase, corpus: dict[str, Path]
) -> None:
    kb.ingest([corpus["report"].parent])
    hits = kb.search("replacement valve AB-1234/X", top_k=5)
    top = hits[0]
    assert "AB-1234/X" in top.text
    assert top.document_name == "nightjar-report.pdf"
    assert top.page == 4
    assert top.lexical_rank == 1
    assert top.dense_rank is not None
    expected = 1 / (RRF_K + top.dense_rank) + 1 / (RRF_K + top.lexical_rank)
    assert top.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert top.term_coverage == 1.0
    assert top.char_end - top.char_start == len(top.text)


def test_a_passage_found_by_both_retrievers_outranks_one_found_by_either(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.txt").write_text("zebra crossing rules for cyclists", encoding="utf-8")
    (folder / "b.txt").write_text("quokka habitat on Rottnest island", encoding="utf-8")
    kb.ingest([folder])
    hits = kb.search("zebra crossing", top_k=2)
    assert hits[0].document_name == "a.txt"
    assert hits[0].dense_rank == 1
    assert hits[0].lexical_rank == 1
    assert hits[1].lexical_rank is None  # found by vector search only
    assert hits[0].score > hits[1].score


def test_top_k_and_empty_queries(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    kb.ingest([corpus["report"].parent])
    assert len(kb.search("radar", top_k=3)) == 3
    assert kb.search("   ") == []
    # FTS5 syntax in user text is just text
    assert kb.search('"unbalanced AND (NEAR', top_k=2) is not None


def test_a_rare_name_in_one_passage_is_relevant_though_the_other_words_are_inflected(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    """The gate once dropped this: dense similarity low, and the question's other words in other
    forms ("supervised" / "supervises", "stations" / "station") so plain substring coverage
    was under a half. Stems and rarity weights count the name for what it is."""
    from assistant.knowledge.prompt import AnswerSettings, is_relevant

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "team.txt").write_text(
        "Dr. Ingrid Wierzbicka supervises the engineering crew at the northern station.",
        encoding="utf-8",
    )
    for n in range(8):  # other passages, so the common words are common
        (folder / f"other-{n}.txt").write_text(
            f"Station {n} report: the crew supervised the engineering works at the station.",
            encoding="utf-8",
        )
    kb.ingest([folder])
    question = "Which crews has Wierzbicka supervised at the northern stations?"
    hits = kb.search(question, top_k=5)
    top = hits[0]
    assert top.document_name == "team.txt"
    assert top.lexical_rank == 1
    old = sum(t in top.text.lower() for t in top.query_terms) / len(top.query_terms)
    assert old < 0.5  # what the substring rule saw
    assert top.term_coverage >= 0.7
    assert is_relevant(
        type(top)(**{**top.__dict__, "dense_similarity": 0.05}), AnswerSettings()
    )  # relevant on the lexical side alone
    others = [h for h in hits if h.document_name != "team.txt"]
    assert all(h.term_coverage < top.term_coverage for h in others)


def test_hits_name_the_question_words_no_passage_of_the_collection_holds(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Vaccines are kept in the medical refrigerator between 2 and 8 degrees. Backups run "
        "each night; the tapes go to storage.",
        encoding="utf-8",
    )
    kb.ingest([folder])
    hits = kb.search("Is the nightly backup stored in the vaccine freezer?", top_k=1)
    weights = hits[0].term_weights
    assert weights is not None
    # "freezer" is in no passage; "nightly" and "stored" are, worded differently
    assert weights.absent == frozenset({"freezer"})
