"""End to end with the real parts: SmolLM2 in llama.cpp, all-MiniLM-L6-v2, Chroma on disk,
sandboxed PDF parsing, and the real window."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.app import load_engine
from assistant.gui.app import library_warm_up
from assistant.knowledge import KnowledgeBase, MiniLMEmbedder
from tests.gui.conftest import REPORT_PAGES, wait_answer, wait_import
from tests.knowledge.corpus import write_pdf

pytestmark = [pytest.mark.gui, pytest.mark.model, pytest.mark.embedder, pytest.mark.slow]


def test_import_a_pdf_and_get_an_answer_with_a_citation(
    qtbot, make_window, gui_paths, smol_path, tmp_path, crashes
):
    embedder = MiniLMEmbedder()
    knowledge = KnowledgeBase.open(gui_paths.index_dir, embedder=embedder)

    def real_loader(settings):
        # A small context and two threads keep the test quick on a shared CPU.
        model = replace(settings.model, path=str(smol_path), context_size=2048, threads=2)
        return load_engine(replace(settings, model=model))

    try:
        window = make_window(
            knowledge=knowledge, loader=real_loader, warm_up=library_warm_up(embedder)
        )
        assert window.status.model.text() != "Model: scripted"
        window.library.import_paths([write_pdf(tmp_path / "nightjar-report.pdf", REPORT_PAGES)])
        wait_import(qtbot, window, timeout=180_000)
        report = window.library.last_report
        assert report is not None
        assert len(report.imported) == 1, report
        assert window.chat.scope_collection() == "default"

        window.send("What is the total approved budget for fiscal year 2024?")
        wait_answer(qtbot, window, timeout=180_000)
        answer = window.chat.transcript.messages[-1]
        assert answer.is_answer
        assert answer.text
        assert answer.status == "complete"
        assert answer.tokens  # real per-token probabilities were saved
        citations = window.sources.citations
        assert citations, "the answer lists no source"
        budget = next(c for c in citations if c.page == 2)
        assert budget.document_name == "nightjar-report.pdf"
        window.open_citation(budget)
        assert window.viewer is not None
        assert window.viewer.page == 2
        assert "4.2 million euros" in window.viewer.highlighted_text()
        assert crashes == []
    finally:
        knowledge.close()
