"""The chunker: sizes, sentence and paragraph boundaries, overlap, ids and offsets."""

from __future__ import annotations

import pytest

from assistant.knowledge.chunker import Chunker, approximate_tokens, chunk_id
from assistant.knowledge.records import Section


def words(count: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + count))


def sentence(n: int, length: int = 10) -> str:
    return f"Sentence {n} " + words(length - 3) + " end."


def section(text: str, page: int | None = 1, start: int = 0) -> Section:
    return Section(text, page, "Heading", start, start + len(text))


def test_chunks_stay_within_the_token_limit_and_end_at_sentences() -> None:
    text = " ".join(sentence(i) for i in range(60))
    chunker = Chunker(max_tokens=50, overlap_tokens=10)
    chunks = chunker.chunk("doc", "sha", [section(text)])
    assert len(chunks) > 5
    for chunk in chunks:
        assert approximate_tokens(chunk.text) <= 50
        assert chunk.text.startswith("Sentence ")
        assert chunk.text.endswith("end.")


def test_long_paragraphs_overlap_by_whole_sentences() -> None:
    text = " ".join(sentence(i) for i in range(30))
    chunks = Chunker(max_tokens=50, overlap_tokens=15).chunk("doc", "sha", [section(text)])
    for first, second in zip(chunks, chunks[1:], strict=False):
        last_sentence = first.text.rsplit("Sentence ", 1)[1]
        assert second.text.startswith("Sentence " + last_sentence.split(" ", 1)[0])
        assert second.char_start < first.char_end  # they share text


def test_no_overlap_when_a_chunk_ends_at_a_paragraph() -> None:
    paragraphs = [" ".join(sentence(p * 10 + i) for i in range(3)) for p in range(4)]
    text = "\n\n".join(paragraphs)
    chunks = Chunker(max_tokens=45, overlap_tokens=10).chunk("doc", "sha", [section(text)])
    assert [c.text for c in chunks] == paragraphs


def test_paragraphs_are_packed_together_when_they_fit() -> None:
    text = "\n\n".join(["Short one.", "Short two.", "Short three."])
    chunks = Chunker(max_tokens=100).chunk("doc", "sha", [section(text)])
    assert len(chunks) == 1
    assert chunks[0].text == text


def test_a_sentence_longer_than_a_chunk_is_split_between_words() -> None:
    text = words(500)
    chunks = Chunker(max_tokens=40, overlap_tokens=0).chunk("doc", "sha", [section(text)])
    assert all(approximate_tokens(c.text) <= 40 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_chunks_keep_page_heading_and_document_offsets() -> None:
    first = section("Alpha fact. " * 3, page=1, start=0)
    second = section("Beta fact. " * 3, page=2, start=first.char_end + 2)
    full = first.text + "\n\n" + second.text
    chunks = Chunker(max_tokens=100).chunk("doc", "sha", [first, second])
    assert [c.page for c in chunks] == [1, 2]  # never across pages
    assert all(c.heading == "Heading" for c in chunks)
    for chunk in chunks:
        assert full[chunk.char_start : chunk.char_end] == chunk.text


def test_ids_are_deterministic_and_depend_on_content() -> None:
    sections = [section(" ".join(sentence(i) for i in range(20)))]
    chunker = Chunker(max_tokens=40, overlap_tokens=5)
    once = chunker.chunk("doc", "sha-a", sections)
    again = chunker.chunk("doc", "sha-a", sections)
    changed = chunker.chunk("doc", "sha-b", sections)
    assert [c.id for c in once] == [c.id for c in again]
    assert once[0].id == chunk_id("doc", "sha-a", 0)
    assert not {c.id for c in once} & {c.id for c in changed}
    assert len({c.id for c in once}) == len(once)


def test_custom_token_counter_is_used() -> None:
    text = " ".join(sentence(i) for i in range(10))
    chunks = Chunker(max_tokens=200, count_tokens=lambda t: len(t)).chunk(
        "doc", "sha", [section(text)]
    )
    assert all(len(c.text) <= 200 for c in chunks)


def test_invalid_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(max_tokens=20, overlap_tokens=15)
