"""Gold sets: the shipped one stays true to the docs, and a malformed file gets a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.config import source_root
from assistant.errors import EvaluationError
from assistant.evaluation.gold import (
    ANSWER_GOLD,
    EVAL_CORPUS,
    SAMPLE_GOLD,
    GoldItem,
    holds_fact,
    load_gold,
    normalize,
)


def test_the_shipped_gold_set_points_at_passages_that_exist_in_the_docs() -> None:
    gold = load_gold(SAMPLE_GOLD)
    assert len(gold.items) >= 15
    docs = source_root() / "docs"
    for item in gold.items:
        text = normalize((docs / item.source).read_text(encoding="utf-8"))
        assert normalize(item.passage) in text, f"{item.id}: {item.passage!r} not in {item.source}"
        # a question that quotes its passage would make lexical retrieval look better than it is
        assert normalize(item.passage) not in normalize(item.question), item.id


def test_items_load_with_defaults(gold_file: Path) -> None:
    gold = load_gold(gold_file)
    assert [i.id for i in gold.items] == ["seal", "flights", "visitors", "no-source", "hotel-2019"]
    assert gold.items[3].source == ""
    assert gold.items[3].passage == ""
    assert gold.items[0].facts == ("2000 hours",)
    assert gold.items[1].facts == ()
    assert gold.items[4].unanswerable
    assert len(gold.sha256) == 64


def test_the_shipped_answer_gold_set_covers_every_format_and_holds_its_facts() -> None:
    from assistant.knowledge.loaders import load_file
    from assistant.knowledge.records import KnowledgeSettings, ParsedDocument

    gold = load_gold(ANSWER_GOLD)
    answerable = [i for i in gold.items if not i.unanswerable]
    assert len(answerable) >= 40
    assert sum(i.unanswerable for i in gold.items) >= 8
    kinds = {Path(i.source).suffix for i in answerable}
    assert kinds == {".pdf", ".docx", ".html", ".md", ".txt"}
    texts = {}
    for path in EVAL_CORPUS.iterdir():
        parsed = load_file(path, KnowledgeSettings())
        assert isinstance(parsed, ParsedDocument), path
        texts[path.name] = normalize(" ".join(s.text for s in parsed.sections))
    for item in answerable:
        assert item.facts, item.id
        assert any(holds_fact(texts[item.source], (f,)) for f in item.facts), item.id
        assert normalize(item.passage) in texts[item.source], item.id


@pytest.mark.parametrize(
    ("text", "facts", "held"),
    [
        ("About 148000 residents.", ("148,000",), True),
        ("It was 41.3 million litres.", ("41.3 million",), True),
        ("In 19980.", ("1998",), False),  # whole words only
        ("Ten years.", ("ten years", "10 years"), True),
        ("The pump CP-7, at 08:00.", ("cp-7",), True),
        ("The pump CP-71.", ("cp-7",), False),
    ],
)
def test_a_fact_is_found_as_whole_words_after_normalising(
    text: str, facts: tuple[str, ...], held: bool
) -> None:
    assert holds_fact(text, facts) is held


def test_matching_needs_the_document_and_the_phrase() -> None:
    item = GoldItem("x", "q?", "a.", source="guide.md", passage="the **Sources** tab")
    assert item.matches("guide.md", "Open the Sources   tab to check.")
    assert not item.matches("other.md", "Open the Sources tab to check.")
    assert not item.matches("guide.md", "Open the library.")
    assert GoldItem("y", "q?", "a.", source="guide.md").matches("guide.md", "anything")
    assert not GoldItem("z", "q?", "a.").matches("guide.md", "anything")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2 is not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"question": "q?"}', "'answer' is missing"),
        ('{"question": "q?", "answer": 3}', "'answer' must be a string"),
        ('{"question": "q?", "answer": "a", "sorce": "x.md"}', "unknown field(s) sorce"),
        ('{"id": "one", "question": "q?", "answer": "a"}', "the id 'one' is used twice"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "one", "question": "q?", "answer": "a"}\n' + line + "\n")
    with pytest.raises(EvaluationError, match=re.escape(message)):
        load_gold(path)


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="Cannot read the gold set"):
        load_gold(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("# only a comment\n\n")
    with pytest.raises(EvaluationError, match="holds no items"):
        load_gold(tmp_path / "empty.jsonl")
