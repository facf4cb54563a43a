"""Drawing PDF pages and boxing a passage on them (assistant/knowledge/pages.py), on real PDFs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.engine.base import CancelToken
from assistant.errors import PageRenderError
from assistant.knowledge.pages import (
    Box,
    PageImage,
    PageRenderer,
    RenderLimits,
    RenderRequest,
    find_boxes,
    locate,
    render_page,
)
from tests.knowledge.corpus import write_pdf

A4 = (595.28, 841.89)
BUDGET = (
    "Budget. The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
    "committed to maintenance contracts for the radar stations."
)


def write_lines(path: Path, lines: Sequence[str], *, size: int = 12) -> Path:
    """A one-page PDF with exactly these lines (fpdf2 breaks nothing itself)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=size)
    pdf.add_page()
    for line in lines:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def _pixel(image: PageImage, x: float, y: float) -> tuple[int, int, int]:
    """The RGB of the image at page point (x, y)."""
    col, row = int(x * image.scale), int(y * image.scale)
    at = row * image.stride + col * 4
    r, g, b = image.pixels[at : at + 3]
    return r, g, b


def _ink(image: PageImage, box: Box) -> float:
    """The share of dark pixels inside ``box``: text is there."""
    dark = total = 0
    y = box.top
    while y < box.bottom:
        x = box.left
        while x < box.right:
            total += 1
            dark += sum(_pixel(image, x, y)) < 300
            x += 0.5
        y += 0.5
    return dark / max(total, 1)


# --- locate: the text match ---------------------------------------------------------------


def test_locate_ignores_white_space_hyphens_case_and_ligatures():
    page = "Most of it committed to\r\nmain-\r\ntenance con\ufb01rmed \u201cradar\u201d"
    start, end = locate(page, "committed to maintenance")[0]
    assert page[start:end] == "committed to\r\nmain-\r\ntenance"
    start, end = locate(page, 'CONFIRMED "radar"')[0]
    assert page[start:end] == "con\ufb01rmed \u201cradar\u201d"


def test_locate_finds_a_passage_in_pieces_and_refuses_what_is_not_there():
    # The extractor read two columns in another order than PDFium: found piece by piece.
    page = "the second column continues here. First column text starts the passage."
    spans = locate(page, "First column text starts the passage. the second column continues here.")
    assert len(spans) == 2
    assert "".join(page[a:b] for a, b in sorted(spans)).replace(" ", "").startswith("thesecond")
    assert locate(page, "nothing of this sentence is on that page at all") == []
    assert locate(page, "   ") == []


# --- find_boxes on real PDFs ----------------------------------------------------------------


def test_a_quote_on_one_line_gets_one_box_over_its_ink(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", ["Overview.", BUDGET])
    boxes = find_boxes(pdf, 2, "4.2 million euros")
    assert len(boxes) == 1
    (box,) = boxes
    assert 0 < box.left < box.right < A4[0]
    assert 0 < box.top < box.bottom < 120  # near the top of the page, where the text is
    assert 5 < box.height < 20  # one 12-point line
    image = render_page(pdf, 2, 2.0)
    assert _ink(image, box) > 0.05  # the box sits on the words, not on white paper
    below = Box(box.left, box.bottom + 200, box.right, box.bottom + 210)
    assert _ink(image, below) == 0.0
    assert find_boxes(pdf, 1, "4.2 million euros") == []  # not on page 1


def test_a_quote_spanning_two_lines_gets_a_box_per_line(tmp_path):
    pdf = write_lines(
        tmp_path / "two-lines.pdf",
        ["The total approved budget for fiscal year 2024 is", "4.2 million euros in all."],
    )
    boxes = find_boxes(pdf, 1, "fiscal year 2024 is 4.2 million euros")
    assert len(boxes) == 2
    first, second = boxes
    assert second.top >= first.bottom - 2  # the second box is the next line down
    assert second.left < first.left  # it starts at the margin, left of where the quote began
    image = render_page(pdf, 1, 2.0)
    assert all(_ink(image, box) > 0.05 for box in boxes)


def test_a_word_hyphenated_at_a_line_end_matches_the_stored_text(tmp_path):
    pdf = write_lines(
        tmp_path / "hyphen.pdf",
        ["Most of it is committed to main-", "tenance contracts for the stations."],
    )
    # The stored chunk text may have the word joined, split or re-spaced: all are found.
    for stored in (
        "committed to maintenance contracts",
        "committed to main-\ntenance contracts",
        "committed   to\n main- tenance\tcontracts",
    ):
        boxes = find_boxes(pdf, 1, stored)
        assert len(boxes) == 2, stored


def test_render_page_draws_rgba_pixels_at_the_scale_asked(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", ["Overview.", BUDGET, "Personnel."])
    image = render_page(pdf, 2, 1.5, passage=BUDGET, quote="4.2 million euros")
    assert (image.page, image.page_count) == (2, 3)
    assert image.width_px == pytest.approx(A4[0] * 1.5, abs=2)
    assert image.height_px == pytest.approx(A4[1] * 1.5, abs=2)
    assert len(image.pixels) == image.stride * image.height_px
    assert _pixel(image, 5, 5) == (255, 255, 255)  # white paper at the corner
    assert len(image.passage) == 2  # the budget sentence wraps onto a second line
    assert len(image.quote) == 1
    (quote,) = image.quote
    assert any(p.top <= quote.top and quote.bottom <= p.bottom + 1 for p in image.passage)
    assert image.note == ""


def test_a_huge_request_is_drawn_smaller_never_past_the_pixel_limit(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    image = render_page(pdf, 1, 40.0, limits=RenderLimits(max_pixels=2_000_000))
    assert image.width_px * image.height_px <= 2_000_000 * 1.01
    assert image.scale < 40.0
    assert "lower resolution" in image.note


def test_files_that_cannot_be_drawn_say_why(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    with pytest.raises(PageRenderError, match="cannot be read"):
        render_page(tmp_path / "gone.pdf", 1)
    with pytest.raises(PageRenderError, match="has no page 4"):
        render_page(pdf, 4)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(PageRenderError, match="PDFium cannot open it"):
        render_page(broken, 1)
    with pytest.raises(PageRenderError, match="larger than"):
        render_page(pdf, 1, limits=RenderLimits(max_file_bytes=100))


def test_a_file_changed_since_import_is_refused(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    with PageRenderer(RenderLimits(isolate=False)) as renderer:
        request = RenderRequest(str(pdf), 1, 1.0, sha256=digest)
        assert renderer.render(request).page == 1
        write_pdf(pdf, ["Another text altogether, written over the imported file."])
        os.utime(pdf, ns=(1, 1))  # a different modification time, whatever the clock's grain
        with pytest.raises(PageRenderError, match="changed since it was imported"):
            renderer.render(request)


# --- the sandboxed child --------------------------------------------------------------------


def test_pages_are_drawn_in_a_child_process_that_is_reused(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", ["Overview.", BUDGET])
    with PageRenderer() as renderer:
        image = renderer.render(RenderRequest(str(pdf), 2, 1.0, quote="4.2 million euros"))
        pid = renderer.pid
        assert pid is not None
        assert pid != os.getpid()
        assert len(image.quote) == 1
        assert renderer.render(RenderRequest(str(pdf), 1, 1.0)).page == 1
        assert renderer.pid == pid  # one child for the whole document
        with pytest.raises(PageRenderError, match="has no page 9"):
            renderer.render(RenderRequest(str(pdf), 9, 1.0))
        assert renderer.pid == pid  # a refused page does not cost the child
    assert renderer.pid is None


def test_a_page_past_the_time_limit_is_abandoned_and_the_child_replaced(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    with PageRenderer(RenderLimits(timeout_s=0.0)) as renderer:
        with pytest.raises(PageRenderError, match="took longer than 0 s"):
            renderer.render(RenderRequest(str(pdf), 1, 1.0))
        assert renderer.pid is None  # killed
        renderer.limits = RenderLimits()
        assert renderer.render(RenderRequest(str(pdf), 1, 1.0)).page == 1


def test_the_memory_cap_stops_a_page_too_big_to_draw(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    # Pixel limit lifted: 20x is 200 million pixels, 800 MB, past the child's 512 MB.
    limits = RenderLimits(max_pixels=10**9, memory_bytes=512 * 2**20)
    with PageRenderer(limits) as renderer:
        with pytest.raises(PageRenderError, match="more memory than the viewer allows"):
            renderer.render(RenderRequest(str(pdf), 1, 20.0))
        assert renderer.render(RenderRequest(str(pdf), 1, 1.0)).page == 1  # the child lives on


def test_a_cancel_stops_the_child(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [BUDGET])
    token = CancelToken()
    token.cancel()
    with PageRenderer() as renderer:
        with pytest.raises(PageRenderError, match="cancelled"):
            renderer.render(RenderRequest(str(pdf), 1, 8.0), cancel=token)
