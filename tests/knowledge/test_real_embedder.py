"""The real thing: all-MiniLM-L6-v2, Chroma on disk, pypdf and python-docx in the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.engine.fake import ScriptedEngine
from assistant.knowledge import (
    FailureKind,
    KnowledgeBase,
    KnowledgeSettings,
    MiniLMEmbedder,
    answer,
)
from assistant.knowledge.answer import AnswerSettings
from tests.knowledge.corpus import build_corpus, write_encrypted_pdf, write_pdf

pytestmark = pytest.mark.embedder


@pytest.fixture(scope="module")
def real_kb(
    tmp_path_factory: pytest.TempPathFactory, minilm: MiniLMEmbedder
) -> Iterator[KnowledgeBase]:
    """The corpus imported once, with parsing in the child process as in production."""
    root = tmp_path_factory.mktemp("real")
    build_corpus(root / "docs")
    kb = KnowledgeBase.open(root / "index", embedder=minilm, settings=KnowledgeSettings())
    report = kb.ingest([root / "docs"])
    assert not report.failed, report.failed
    yield kb
    kb.close()


@pytest.mark.parametrize(
    ("question", "document", "page", "heading"),
    [
        ("How much money was allocated for 2024?", "nightjar-report.pdf", 2, None),
        ("Who is in charge of the engineers?", "nightjar-report.pdf", 3, None),
        ("When did the programme start?", "nightjar-report.pdf", 1, None),
        ("What must workers carry when they go into the reactor building?", "handbook.docx",
         None, "Safety procedures"),
        ("When can I visit the reading room?", "archive-guide.html", None, "Opening hours"),
        ("How often does the antenna need adjusting?", "field-manual.md", None, "Calibration"),
    ],
)  # fmt: skip
def test_paraphrased_questions_find_the_right_page(
    real_kb: KnowledgeBase, question: str, document: str, page: int | None, heading: str | None
) -> None:
    top = real_kb.search(question, top_k=3)[0]
    assert top.document_name == document
    assert top.page == page
    if heading is not None:
        assert top.heading == heading
    assert top.dense_rank == 1


def test_exact_codes_are_found_by_the_lexical_index(real_kb: KnowledgeBase) -> None:
    top = real_kb.search("AB-1234/X", top_k=3)[0]
    assert (top.document_name, top.page) == ("nightjar-report.pdf", 4)
    assert top.lexical_rank == 1
    extension = real_kb.search("extension 4471", top_k=3)[0]
    assert extension.heading == "Contacts"
    assert extension.lexical_rank == 1


def test_script_text_is_not_searchable(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("SCRIPTSECRET", top_k=20)
    assert all("SCRIPTSECRET" not in h.text for h in hits)
    assert all(h.lexical_rank is None for h in hits)


def test_answers_cite_the_right_document_and_page(real_kb: KnowledgeBase) -> None:
    engine = ScriptedEngine().enqueue("The budget is 4.2 million euros [1].")
    question = "What is the approved budget for 2024?"
    result = answer(question, real_kb.search(question, top_k=4), engine)
    assert not result.refused
    citation = result.citations[0]
    assert (citation.document_name, citation.page, citation.cited) == (
        "nightjar-report.pdf",
        2,
        True,
    )
    assert "4.2 million euros" in citation.quote
    assert "4.2 million euros" in engine.calls[0].messages[0].content


@pytest.mark.parametrize(
    "question",
    ["What is the recipe for chocolate cake?", "Who won the 1998 football world cup?"],
)
def test_unrelated_questions_are_refused_without_the_model(
    real_kb: KnowledgeBase, question: str
) -> None:
    hits = real_kb.search(question, top_k=5)
    assert hits  # retrieval always returns neighbours; relevance decides
    assert max(h.dense_similarity or 0.0 for h in hits) < AnswerSettings().min_similarity
    engine = ScriptedEngine()
    result = answer(question, hits, engine)
    assert result.refused
    assert engine.calls == []
    assert result.text.startswith("I found nothing in your documents about")


def test_reimport_change_and_removal_on_disk(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    uniform = "Uniform regulations: boots must be polished every morning before inspection."
    pdf = write_pdf(
        folder / "orders.pdf", [uniform, "The rally point for all units is the old mill."]
    )
    (folder / "memo.txt").write_text("The quartermaster stocks blue paint.", encoding="utf-8")
    write_encrypted_pdf(folder / "locked.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.5\n1 0 obj << /Type /Catalog")
    with KnowledgeBase.open(tmp_path / "index", embedder=minilm) as kb:
        first = kb.ingest([folder])
        assert sorted(d.name for d in first.imported) == ["memo.txt", "orders.pdf"]
        assert {f.path.name: f.kind for f in first.failed} == {
            "locked.pdf": FailureKind.ENCRYPTED,
            "broken.pdf": FailureKind.CORRUPT,
        }
        hit = kb.search("Where do the units gather?", top_k=1)[0]
        assert (hit.document_name, hit.page) == ("orders.pdf", 2)

        again = kb.ingest([folder])
        assert not again.imported
        assert len(again.skipped) == 2

        write_pdf(pdf, [uniform, "The rally point for all units is the north bridge."])
        changed = kb.ingest([folder])
        assert [d.name for d in changed.imported] == ["orders.pdf"]
        texts = [h.text for h in kb.search("Where do the units gather?", top_k=10)]
        assert any("north bridge" in t for t in texts)
        assert not any("old mill" in t for t in texts)

        (folder / "memo.txt").unlink()
        assert [d.name for d in kb.ingest([folder]).removed] == ["memo.txt"]
        assert not any("paint" in h.text for h in kb.search("blue paint", top_k=10))
        kb.remove("orders.pdf")
        assert kb.collections()[0].chunks == 0
        assert kb._dense_store().count("default") == 0
