"""Scans and pictures imported through the real importer: OCR'd, searchable, cited by page.

The documents are pictures of text drawn by tests/knowledge/scanned.py (no text layer at all);
the facts are the corpus's report pages, so each search must find the page that shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.app import knowledge_settings
from assistant.config import settings_from_mapping
from assistant.engine.base import CancelToken
from assistant.errors import ConfigError
from assistant.knowledge import DocumentStatus, FailureKind, HashEmbedder, KnowledgeBase
from assistant.knowledge.db import Database
from assistant.knowledge.records import IngestStage, ProgressEvent
from tests.knowledge.conftest import FAST
from tests.knowledge.corpus import REPORT_PAGES, write_pdf
from tests.knowledge.scanned import scan_image, write_mixed_pdf, write_scanned_pdf

#: Parsing in the real sandboxed child, as the application does.
SANDBOXED = replace(FAST, isolate_parsing=True, parse_timeout_s=60)


def top(kb: KnowledgeBase, query: str) -> tuple[str, int | None, str]:
    hit = kb.search(query, top_k=1)[0]
    return hit.document_name, hit.page, hit.text


@pytest.fixture
def sandboxed_kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(), settings=SANDBOXED)
    yield base
    base.close()


@pytest.mark.slow
def test_a_scanned_pdf_imports_in_the_sandbox_and_cites_the_right_page(
    sandboxed_kb: KnowledgeBase, tmp_path: Path
) -> None:
    scan = write_scanned_pdf(tmp_path / "nightjar-scan.pdf", REPORT_PAGES)
    events: list[ProgressEvent] = []
    report = sandboxed_kb.ingest([scan], on_progress=events.append)
    assert [d.name for d in report.imported] == ["nightjar-scan.pdf"], report.failed
    (document,) = sandboxed_kb.documents()
    assert (document.status, document.pages) == (DocumentStatus.INDEXED, 4)

    # each fact is found on the page of the scan that shows it
    assert top(sandboxed_kb, "replacement valve Bergen warehouse")[:2] == ("nightjar-scan.pdf", 4)
    assert top(sandboxed_kb, "Ingrid Halvorsen field engineering team")[1] == 3
    name, page, text = top(sandboxed_kb, "approved budget fiscal year 2024")
    assert page == 2
    assert "4.2 million euros" in " ".join(text.split())  # (a line ends after "million")

    # the document says its text came from OCR, and how sure the engine was
    summary = sandboxed_kb.ocr_summary(document)
    assert summary is not None
    assert summary.pages == (1, 2, 3, 4)
    assert "tesseract" in summary.engine
    assert 0.8 < summary.confidence <= 1.0
    # the cited passage maps back to its words on the scan, inside the page
    scanned = sandboxed_kb.ocr_page(document, 2)
    assert scanned is not None
    words = scanned.words_for(text)
    assert [w.text for w in words][:3] == text.split()[:3]
    assert all(0 <= w.box[0] < w.box[2] <= scanned.width for w in words)
    assert all(0 <= w.box[1] < w.box[3] <= scanned.height for w in words)
    assert scanned.dpi == 150  # drawn at the scan's own resolution

    # progress came page by page from the child
    pages = [(e.pages_read, e.pages_to_read) for e in events if e.pages_to_read]
    assert pages == [(n, 4) for n in range(1, 5)]
    assert all(e.stage is IngestStage.PARSING for e in events if e.pages_to_read)


@pytest.mark.slow
def test_cancel_stops_a_scan_between_pages_and_leaves_no_verdict(
    sandboxed_kb: KnowledgeBase, tmp_path: Path
) -> None:
    scan = write_scanned_pdf(tmp_path / "long-scan.pdf", REPORT_PAGES * 2)
    cancel = CancelToken()

    def on_progress(event: ProgressEvent) -> None:
        if event.pages_read == 1:
            cancel.cancel()

    report = sandboxed_kb.ingest([scan], on_progress=on_progress, cancel=cancel)
    assert report.cancelled
    assert not report.imported
    assert not report.failed
    assert [d.status for d in sandboxed_kb.documents()] in ([], [DocumentStatus.PENDING])
    again = sandboxed_kb.ingest([scan])  # the next import reads it all
    assert [d.pages for d in again.imported] == [8]


def test_a_mixed_pdf_is_ocrd_only_where_it_has_no_text(kb: KnowledgeBase, tmp_path: Path) -> None:
    mixed = write_mixed_pdf(tmp_path / "mixed.pdf", REPORT_PAGES[0], REPORT_PAGES[1])
    report = kb.ingest([mixed])
    assert [d.name for d in report.imported] == ["mixed.pdf"], report.failed
    summary = kb.ocr_summary("mixed.pdf")
    assert summary is not None
    assert summary.pages == (2,)
    assert kb.ocr_page("mixed.pdf", 1) is None
    assert top(kb, "Nightjar programme began 2019 coastal radar")[1] == 1
    assert top(kb, "approved budget fiscal year")[1] == 2


@pytest.mark.parametrize(("name", "frames"), [("memo.png", 1), ("memo.jpg", 1), ("fax.tiff", 2)])
def test_a_picture_named_on_its_own_imports_through_ocr(
    kb: KnowledgeBase, tmp_path: Path, name: str, frames: int
) -> None:
    images = [scan_image([REPORT_PAGES[3 - n]], dpi=200, seed=n) for n in range(frames)]
    path = tmp_path / name
    images[0].save(path, dpi=(200, 200), save_all=frames > 1, append_images=images[1:])
    report = kb.ingest([path])
    (document,) = report.imported
    assert (document.kind, document.pages) == ("image", frames)
    assert top(kb, "replacement valve Bergen warehouse")[:2] == (name, 1)
    if frames == 2:
        assert top(kb, "Ingrid Halvorsen technicians Tromso")[1] == 2
    summary = kb.ocr_summary(document)
    assert summary is not None
    assert summary.pages == tuple(range(1, frames + 1))


def test_folders_skip_pictures_unless_ocr_images_is_set(tmp_path: Path) -> None:
    folder = tmp_path / "drawer"
    folder.mkdir()
    scan_image([REPORT_PAGES[1]], dpi=200).save(folder / "budget.png")
    write_pdf(folder / "typed.pdf", [REPORT_PAGES[0]])
    for ocr_images, imported in ((False, ["typed.pdf"]), (True, ["budget.png", "typed.pdf"])):
        settings = replace(FAST, ocr_images=ocr_images)
        kb = KnowledgeBase.open(tmp_path / f"index-{ocr_images}", embedder=HashEmbedder(),
                                settings=settings)  # fmt: skip
        try:
            report = kb.ingest([folder])
        finally:
            kb.close()
        assert sorted(d.name for d in report.imported) == imported
        if ocr_images:
            assert report.not_documents == ()
        else:
            assert report.not_documents_summary == "skipped 1 picture (.png): not documents"


def test_reimporting_a_scan_as_a_typed_pdf_drops_its_ocr_record(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = write_scanned_pdf(tmp_path / "report.pdf", REPORT_PAGES[:1])
    kb.ingest([path])
    assert kb.ocr_summary("report.pdf") is not None
    write_pdf(path, REPORT_PAGES[:1])  # the same report, now with a text layer
    (replaced,) = kb.ingest([path]).imported
    assert kb.ocr_summary(replaced) is None
    (scanned,) = kb.ingest([write_scanned_pdf(tmp_path / "other.pdf", REPORT_PAGES[1:3])]).imported
    check = Database(kb.index_dir / "knowledge.sqlite3")
    try:
        count = "SELECT COUNT(*) FROM ocr_pages"
        assert check.conn.execute(count).fetchone()[0] == 2
        kb.remove(scanned)  # its pages' words go with it
        assert check.conn.execute(count).fetchone()[0] == 0
    finally:
        check.close()


def test_with_ocr_off_a_scan_is_refused_with_the_way_out(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(),
                            settings=replace(FAST, ocr=False))  # fmt: skip
    try:
        report = kb.ingest([write_scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES[:2])])
    finally:
        kb.close()
    (failed,) = report.failed
    assert failed.kind is FailureKind.NO_TEXT
    assert "OCR is off" in failed.reason


def test_the_ocr_images_setting_is_validated_and_reaches_the_importer() -> None:
    settings = settings_from_mapping({"knowledge": {"ocr_images": True}})
    assert knowledge_settings(settings).ocr_images is True
    assert knowledge_settings(settings_from_mapping({})).ocr_images is False
    with pytest.raises(ConfigError, match="knowledge.ocr_images must be true or false"):
        settings_from_mapping({"knowledge": {"ocr_images": "yes"}})
