"""Gold sets: the shipped one stays true to the docs, and a malformed file gets a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.config import source_root
from assistant.errors import EvaluationError
from assistant.evaluation.gold import SAMPLE_GOLD, GoldItem, load_gold, normalize


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
    assert [i.id for i in gold.items] == ["seal", "flights", "visitors", "no-source"]
    assert gold.items[3].source == ""
    assert gold.items[3].passage == ""
    assert len(gold.sha256) == 64


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
