"""Answering with citations, against the scripted engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.engine.base import GenerationOptions, Role
from assistant.engine.fake import ScriptedEngine
from assistant.errors import ContextOverflowError
from assistant.knowledge import KnowledgeBase, SearchHit
from assistant.knowledge.answer import (
    AnswerSettings,
    answer,
    build_messages,
    extract_citations,
    refusal_text,
    stream_answer,
)


def hit(
    n: int, *, similarity: float | None = 0.8, words: int = 10, page: int | None = None
) -> SearchHit:
    return SearchHit(
        chunk_id=f"c{n}",
        document_id=f"d{n}",
        document_name=f"doc{n}.pdf",
        path=Path(f"/docs/doc{n}.pdf"),
        collection="default",
        page=page if page is not None else n,
        heading=f"Heading {n}",
        text=" ".join(f"fact{n}_{i}" for i in range(words)),
        char_start=0,
        char_end=100,
        score=1.0 / (60 + n),
        dense_rank=n,
        dense_similarity=similarity,
    )


def test_cited_sources_map_to_document_page_and_passage() -> None:
    engine = ScriptedEngine().enqueue("The valve comes from Bergen [2]. Lead time is long [2][1].")
    hits = [hit(1), hit(2), hit(3)]
    result = answer("Where does the valve come from?", hits, engine)
    assert result.text.startswith("The valve comes from Bergen [2]")
    assert [c.number for c in result.citations] == [2, 1]
    first = result.citations[0]
    assert (first.document_name, first.page, first.quote) == ("doc2.pdf", 2, hits[1].text)
    assert first.cited
    system = engine.calls[0].messages[0]
    assert system.role is Role.SYSTEM
    assert "[1] doc1.pdf, page 1" in system.content
    assert "[3] doc3.pdf, page 3" in system.content
    assert "cite" in system.content
    assert engine.calls[0].messages[-1].content == "Where does the valve come from?"


def test_without_citations_the_top_sources_are_listed_as_uncited() -> None:
    engine = ScriptedEngine().enqueue("It comes from Bergen.")
    result = answer("q?", [hit(1), hit(2), hit(3), hit(4)], engine)
    assert [c.number for c in result.citations] == [1, 2, 3]
    assert not any(c.cited for c in result.citations)


def test_citations_outside_the_sources_are_reported_not_cited() -> None:
    citations, invalid = extract_citations("See [7] and [1, 2]", [], fallback=0)
    assert citations == []
    assert invalid == [7, 1, 2]


def test_nothing_relevant_refuses_without_calling_the_model() -> None:
    engine = ScriptedEngine()
    tokens: list[str] = []
    result = answer("What is the cake recipe?", [hit(1, similarity=0.05)], engine,
                    on_token=tokens.append)  # fmt: skip
    assert result.refused
    assert (
        result.text
        == "I found nothing in your documents about \u201cWhat is the cake recipe\u201d."
    )
    assert tokens == [result.text]
    assert engine.calls == []
    assert answer("anything?", [], engine).refused
    assert engine.calls == []


def test_a_lexical_match_covering_the_question_counts_as_relevant() -> None:
    engine = ScriptedEngine().enqueue("It is a valve [1].")
    code_hit = SearchHit(**{**hit(1, similarity=0.1).__dict__, "lexical_rank": 1,
                            "term_coverage": 1.0})  # fmt: skip
    result = answer("AB-1234/X", [code_hit], engine)
    assert not result.refused
    assert len(engine.calls) == 1


def test_passages_are_trimmed_to_fit_the_context() -> None:
    engine = ScriptedEngine(context_size=400)
    hits = [hit(n, words=60) for n in range(1, 7)]
    options = GenerationOptions(max_tokens=150)
    messages, sources = build_messages("question?", hits, engine, max_tokens=options.max_tokens)
    used = engine.count_tokens(engine.render_chat(messages))
    assert used + options.max_tokens <= engine.context_size
    assert 1 <= len(sources) < len(hits)
    assert [s.number for s in sources] == list(range(1, len(sources) + 1))


def test_the_best_passage_is_cut_rather_than_dropped() -> None:
    engine = ScriptedEngine(context_size=200)
    messages, sources = build_messages("q?", [hit(1, words=500)], engine, max_tokens=100)
    assert len(sources) == 1
    assert sources[0].text.endswith("...")
    assert engine.count_tokens(engine.render_chat(messages)) + 100 <= 200


def test_a_question_too_long_for_the_context_is_an_error() -> None:
    engine = ScriptedEngine(context_size=50)
    with pytest.raises(ContextOverflowError, match="max_tokens"):
        build_messages("word " * 100, [hit(1)], engine, max_tokens=10)


def test_streaming_yields_tokens_then_a_result_even_when_stopped_early() -> None:
    engine = ScriptedEngine().enqueue("one two three four [1]")
    stream = stream_answer("q?", [hit(1)], engine)
    with pytest.raises(RuntimeError):
        _ = stream.result
    pieces = []
    for token in stream:
        pieces.append(token.text)
        if len(pieces) == 2:
            break
    assert stream.result.text == "one two"
    assert stream.result.tokens[0].text == "one"
    assert stream.result.citations[0].cited is False  # nothing cited yet: fallback


def test_max_sources_and_the_refusal_topic() -> None:
    engine = ScriptedEngine().enqueue("ok [1]")
    result = answer("q?", [hit(n) for n in range(1, 10)], engine,
                    settings=AnswerSettings(max_sources=2))  # fmt: skip
    assert len(result.sources) == 2
    assert result.timings.total_s >= result.timings.generation_s >= 0
    assert (
        refusal_text("  what   about x?? ")
        == "I found nothing in your documents about \u201cwhat about x\u201d."
    )


def test_ask_through_the_facade(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    kb.ingest([corpus["report"].parent])
    engine = ScriptedEngine().enqueue("Order it from Bergen [1].")
    result = kb.ask("Where is replacement valve AB-1234/X ordered?", engine)
    assert result.citations[0].document_name == "nightjar-report.pdf"
    assert result.citations[0].page == 4
    assert "AB-1234/X" in result.citations[0].quote
