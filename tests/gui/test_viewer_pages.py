"""The document viewer draws the cited PDF page, with the passage and the quote boxed on it.

Real widgets (offscreen), real PDFs written with fpdf2, the real knowledge base on a hash
embedder, and PDFium drawing in the GUI's worker thread (in a child process where the test says
so). No language model: answers come from the scripted engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QWidget

from assistant.chat.citations import SavedCitation, SavedQuote
from assistant.engine.fake import ScriptedEngine
from assistant.gui.viewer import DocumentViewer
from assistant.knowledge import KnowledgeBase
from assistant.knowledge.pages import RenderLimits
from tests.gui.conftest import REPORT_PAGES, wait_answer, wait_import
from tests.knowledge.corpus import write_pdf

pytestmark = pytest.mark.gui

SENTENCE = (
    "The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
    "committed to maintenance contracts for the radar stations."
)


def _tint(viewer: DocumentViewer, rect: QRectF) -> float:
    """How much yellower than grey ``rect`` (scene pixels) looks on screen: mean red - blue."""
    view = viewer.page_view
    area = view.mapFromScene(rect).boundingRect()
    shot = view.viewport().grab().toImage()
    red = blue = count = 0
    for y in range(area.top() + 1, area.bottom()):
        for x in range(area.left() + 1, area.right()):
            colour = shot.pixelColor(x, y)
            red, blue, count = red + colour.red(), blue + colour.blue(), count + 1
    assert count, "the box is not on screen"
    return (red - blue) / count


def _drawn(qtbot, viewer: DocumentViewer, page: int) -> None:
    qtbot.waitUntil(
        lambda: (
            viewer.showing_page_image
            and viewer.page_view.image is not None
            and viewer.page_view.image.page == page
            and not viewer.drawing
        ),
        timeout=20_000,
    )


def _citation(kb: KnowledgeBase, path: Path, needle: str = "4.2 million") -> SavedCitation:
    """A citation of the chunk of ``path`` that holds ``needle``, as an answer saves it."""
    (record,) = [d for d in kb.documents() if d.path == path.resolve()]
    (chunk,) = [c for c in kb.chunks(record.id) if needle in c.text]
    return SavedCitation(
        number=1,
        document_id=record.id,
        document_name=record.name,
        path=str(record.path),
        page=chunk.page,
        heading=chunk.heading,
        quote=chunk.text,
    )


def _quote(citation: SavedCitation, text: str) -> SavedQuote:
    return SavedQuote(
        source=citation.number,
        document_id=citation.document_id,
        document_name=citation.document_name,
        page=citation.page,
        text=text,
        verified=True,
    )


def test_a_cited_answer_opens_the_pdf_page_with_the_quote_boxed(
    qtbot, make_window, knowledge, tmp_path, crashes
):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    window.library.import_paths([write_pdf(tmp_path / "nightjar-report.pdf", REPORT_PAGES)])
    wait_import(qtbot, window)
    engine.enqueue("The approved budget for 2024 is 4.2 million euros [1].")
    window.send("What is the total approved budget for fiscal year 2024?")
    wait_answer(qtbot, window)

    window.sources.table.itemClicked.emit(window.sources.table.topLevelItem(0), 0)
    viewer = window.viewer
    assert viewer is not None
    _drawn(qtbot, viewer, 2)
    assert viewer.page == 2
    assert viewer.page_count.text() == "of 3"
    pixmap = viewer.page_view.pixmap()
    assert pixmap is not None
    assert not pixmap.isNull()
    # Fitted to the width: the page is as wide as the view, give or take the margins.
    assert abs(pixmap.width() - viewer.page_view.viewport().width()) < 80
    # The answer's quote is the whole budget sentence: two lines, inside the passage's boxes.
    assert viewer.quote_boxes() == 2
    assert viewer.passage_boxes() >= 2
    (quote_rect, *_) = viewer.page_view.quote_rects()
    assert _tint(viewer, quote_rect) > 20  # a yellow box is on screen over the quote
    paper = QRectF(quote_rect.left(), quote_rect.bottom() + 300, quote_rect.width(), 20)
    assert abs(_tint(viewer, paper)) < 3  # and plain white paper elsewhere
    # The text view still has the passage and the quote for "Show text".
    assert viewer.highlighted_quote() == SENTENCE
    qtbot.mouseClick(viewer.mode_button, Qt.MouseButton.LeftButton)
    assert not viewer.showing_page_image
    assert viewer.stack.currentWidget() is viewer.text
    qtbot.mouseClick(viewer.mode_button, Qt.MouseButton.LeftButton)
    assert viewer.showing_page_image

    # Next and previous page: other pages have no boxes; the cited one has them again.
    qtbot.mouseClick(viewer.next_button, Qt.MouseButton.LeftButton)
    _drawn(qtbot, viewer, 3)
    assert viewer.page_spin.value() == 3
    assert viewer.quote_boxes() == viewer.passage_boxes() == 0
    assert not viewer.next_button.isEnabled()  # the last page
    assert "Halvorsen" in viewer.text.toPlainText()
    qtbot.mouseClick(viewer.prev_button, Qt.MouseButton.LeftButton)
    _drawn(qtbot, viewer, 2)
    assert viewer.quote_boxes() == 2

    # Zoom in draws the page again, larger and sharp; fit brings it back to the width.
    fitted = viewer.page_view.image.scale
    qtbot.mouseClick(viewer.zoom_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: viewer.page_view.image.scale > fitted * 1.05, timeout=20_000)
    assert viewer.zoom_label.text().endswith("%")
    assert viewer.quote_boxes() == 2
    wider = viewer.page_view.pixmap()
    assert wider is not None
    assert wider.width() > pixmap.width()
    qtbot.mouseClick(viewer.fit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: abs(viewer.page_view.image.scale - fitted) < 0.03 * fitted, timeout=20_000
    )
    assert crashes == []


def test_controls_have_accessible_names(qtbot, knowledge, tmp_path):
    viewer = DocumentViewer(knowledge)
    qtbot.addWidget(viewer)
    names = {
        w.accessibleName()
        for w in (
            viewer.prev_button, viewer.next_button, viewer.page_spin, viewer.zoom_in_button,
            viewer.zoom_out_button, viewer.fit_button, viewer.mode_button, viewer.page_view,
            viewer.text,
        )
    }  # fmt: skip
    assert "" not in names
    assert {"Previous page", "Next page", "Zoom in", "Zoom out", "Page image"} <= names


def test_a_missing_file_falls_back_to_the_text_with_the_reason(qtbot, knowledge, tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", REPORT_PAGES)
    knowledge.ingest([pdf])
    citation = _citation(knowledge, pdf)
    pdf.unlink()
    viewer = DocumentViewer(knowledge)
    qtbot.addWidget(viewer)
    viewer.open_citation(citation, _quote(citation, "4.2 million euros"))
    assert not viewer.drawing  # nothing to draw
    assert not viewer.showing_page_image
    assert viewer.stack.currentWidget() is viewer.text
    assert f"no longer at {pdf.resolve()}" in viewer.note.text()
    assert viewer.highlighted_quote() == "4.2 million euros"
    assert not viewer.zoom_in_button.isVisible()
    assert viewer.page_spin.value() == 2  # the pages of the stored text still page


def test_a_file_changed_since_import_falls_back_to_the_text(qtbot, knowledge, tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", REPORT_PAGES)
    knowledge.ingest([pdf])
    citation = _citation(knowledge, pdf)
    write_pdf(pdf, ["A different report was saved over the imported one.", "Page two.", "3"])
    viewer = DocumentViewer(knowledge)
    qtbot.addWidget(viewer)
    with qtbot.waitSignal(viewer.page_failed, timeout=20_000) as failed:
        viewer.open_citation(citation)
    assert "changed since it was imported" in failed.args[0]
    assert "changed since it was imported" in viewer.note.text()
    assert not viewer.showing_page_image
    assert "4.2 million euros" in viewer.highlighted_text()


def test_a_pdf_that_cannot_be_drawn_falls_back_to_the_passage(qtbot, knowledge, tmp_path):
    broken = tmp_path / "removed-report.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    # A citation saved with an answer, its document since removed from the library.
    citation = SavedCitation(
        number=2,
        document_id="0123456789abcdef",
        document_name=broken.name,
        path=str(broken),
        page=4,
        heading="",
        quote="The station at Vardo was closed in 2021.",
    )
    viewer = DocumentViewer(knowledge)
    qtbot.addWidget(viewer)
    with qtbot.waitSignal(viewer.page_failed, timeout=20_000):
        viewer.open_citation(citation)
    assert "PDFium cannot open it" in viewer.note.text()
    assert "no longer in the library" in viewer.note.text()
    assert viewer.highlighted_text() == citation.quote
    assert not viewer.showing_page_image


def test_text_documents_open_at_the_passage_without_page_controls(qtbot, knowledge, tmp_path):
    notes = tmp_path / "field-notes.md"
    notes.write_text(
        "# Field notes\n\nThe antenna at Hammerfest was inspected in March. "
        "Its mast had corroded and was replaced by the spring team.\n"
    )
    knowledge.ingest([notes])
    citation = _citation(knowledge, notes, "Hammerfest")
    viewer = DocumentViewer(knowledge)
    qtbot.addWidget(viewer)
    viewer.open_citation(citation, _quote(citation, "Its mast had corroded"))
    assert viewer.highlighted_quote() == "Its mast had corroded"
    assert "Hammerfest" in viewer.highlighted_text()
    assert not viewer.drawing
    assert not viewer.showing_page_image
    assert not viewer.page_spin.isVisible()
    assert not viewer.zoom_in_button.isVisible()
    assert not viewer.mode_button.isVisible()


def test_the_page_is_drawn_in_a_child_process_off_the_gui_thread(qtbot, knowledge, tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", REPORT_PAGES)
    knowledge.ingest([pdf])
    citation = _citation(knowledge, pdf)
    window = QWidget()
    qtbot.addWidget(window)
    viewer = DocumentViewer(knowledge, window, limits=RenderLimits())  # sandboxed, as shipped
    viewer.open_citation(citation, _quote(citation, "4.2 million euros"))
    # open_citation returned before the page was drawn: the text is there meanwhile.
    assert viewer.drawing
    assert not viewer.showing_page_image
    assert "4.2 million euros" in viewer.highlighted_text()
    _drawn(qtbot, viewer, 2)
    assert viewer.quote_boxes() == 1
    assert viewer.renderer.pid is not None
    # Closing the window it belongs to ends the drawing process.
    window.close()
    assert viewer.renderer.pid is None


def test_a_huge_page_is_drawn_once_at_a_lower_resolution(qtbot, tmp_path):
    from fpdf import FPDF

    pdf = FPDF(format=(4000, 4000))  # millimetres: a 4 m square page
    pdf.set_font("Helvetica", size=400)
    pdf.add_page()
    pdf.cell(0, 200, "Poster of the radar network.")
    path = tmp_path / "poster.pdf"
    pdf.output(str(path))
    citation = SavedCitation(1, "", path.name, str(path), 1, "", "Poster of the radar network.")
    viewer = DocumentViewer(None, limits=RenderLimits(isolate=False, max_pixels=100_000))
    qtbot.addWidget(viewer)
    drawn: list[int] = []
    viewer.page_drawn.connect(drawn.append)
    viewer.open_citation(citation)  # fitting its width would take 0.5 megapixels: too many
    _drawn(qtbot, viewer, 1)
    qtbot.wait(300)  # long enough for a redraw loop to show itself
    assert not viewer.drawing
    assert len(drawn) <= 2
    image = viewer.page_view.image
    assert image.width_px * image.height_px <= 101_000
    assert "lower resolution" in viewer.note.text()
    assert viewer.passage_boxes() == 1
    qtbot.mouseClick(viewer.zoom_in_button, Qt.MouseButton.LeftButton)  # asks for even more
    qtbot.waitUntil(lambda: len(drawn) > 1 and not viewer.drawing, timeout=20_000)
    qtbot.wait(300)
    assert not viewer.drawing
    assert len(drawn) <= 3
