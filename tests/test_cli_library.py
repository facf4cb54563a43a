"""Import a folder and ask, through the real command line: real model, embedder and Chroma."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.knowledge.corpus import REPORT_PAGES, write_pdf

pytestmark = [pytest.mark.model, pytest.mark.embedder, pytest.mark.slow]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "case-files"
    folder.mkdir()
    write_pdf(folder / "nightjar-report.pdf", REPORT_PAGES)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this file was cut off")
    result = run_cli("ingest", str(folder))
    assert result.returncode == 0, result.stderr
    assert "imported 1" in result.stdout
    assert "failed 1" in result.stdout
    assert "broken.pdf" in result.stdout
    return folder


def test_ask_cites_the_right_document_and_page(library: Path) -> None:
    result = run_cli("ask", "--json", "--seed", "1",
                     "What is the total approved budget for fiscal year 2024?")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["library"] is True
    assert data["refused"] is False
    assert "4.2" in data["answer"]
    first = data["citations"][0]
    assert (first["document_name"], first["page"]) == ("nightjar-report.pdf", 2)
    assert "4.2 million euros" in first["quote"]
    assert data["retrieval"][0]["page"] == 2
    # the sentence that says it, verbatim, under the answer
    (quote,) = data["quotes"]
    assert quote["verified"] is True
    assert (quote["document"], quote["page"], quote["source"]) == ("nightjar-report.pdf", 2, 1)
    assert "4.2 million euros" in quote["text"]
    passage = first["quote"]
    assert " ".join(passage[quote["passage_start"] : quote["passage_end"]].split()) == quote["text"]
    assert data["supported"] is True
    assert data["abstained"] is False


def test_the_terminal_prints_the_quote_under_the_answer(library: Path) -> None:
    result = run_cli("ask", "--seed", "1",
                     "What is the total approved budget for fiscal year 2024?")  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer, _, rest = result.stdout.partition("\u201c")
    assert "4.2" in answer
    quoted, _, below = rest.partition("\u201d")
    assert "4.2 million euros" in quoted
    assert below.lstrip().startswith("\u2014 nightjar-report.pdf, page 2 [1]")
    assert "Sources:" in below


def test_exact_codes_are_found_and_unrelated_questions_refused(library: Path) -> None:
    search = run_cli("search", "--json", "AB-1234/X")
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)
    assert hits[0]["page"] == 4
    refused = json.loads(run_cli("ask", "--json", "How do I bake a chocolate cake?").stdout)
    assert refused["refused"] is True
    assert refused["answer"].startswith("I found nothing in your documents")
    assert refused["tokens"] == 0 or refused["finish_reason"] in (None, "stop")
    plain = run_cli("ask", "How do I bake a chocolate cake?")
    assert "--no-library" in plain.stdout  # the way out is named


def test_no_library_answers_from_the_model(library: Path) -> None:
    result = run_cli("ask", "--json", "--no-library", "--temperature", "0",
                     "What is the capital of France?")  # fmt: skip
    data = json.loads(result.stdout)
    assert data["library"] is False
    assert "Paris" in data["answer"]
