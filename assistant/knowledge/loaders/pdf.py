"""PDF text extraction with pypdf, one section per page, keeping 1-based page numbers.

Headings come from the PDF's outline (bookmarks) when it has one: each page gets the title of
the last bookmark that starts on or before it. A page with no text layer, or almost none (a
scan, perhaps with a stamped page number), is drawn with pypdfium2 and read by OCR
(:mod:`assistant.knowledge.loaders.image`); pages that have text keep it, so a mixed PDF is
OCR'd only where it needs to be. pypdf is imported here and nowhere else; pypdfium2 here and in
:mod:`assistant.knowledge.pages` (the viewer's page images).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from assistant.knowledge.loaders.common import (
    LoaderRefusal,
    SectionBuilder,
    empty_refusal,
    normalize_text,
)
from assistant.knowledge.loaders.image import PageProgress, ocr_note, recognize
from assistant.knowledge.ocr import OcrPage, PageImage
from assistant.knowledge.records import FailureKind, KnowledgeSettings, ParsedDocument

#: A page whose text layer has fewer visible characters than this is read by OCR.
OCR_BELOW_CHARS = 32
#: Scanned pages are drawn at the resolution of their largest picture, within these bounds.
OCR_MIN_DPI, OCR_MAX_DPI = 150, 300

# pypdf logs every defect it meets ("EOF marker not found"); without a handler of its own the
# records would reach stderr through logging's last resort. The application's log still gets
# them when it configures the root logger; the import report says what matters.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


def load_pdf(
    data: bytes, settings: KnowledgeSettings, on_page: PageProgress | None = None
) -> ParsedDocument:
    """Extract the text of every page; pages without a text layer are read by OCR.

    Args:
        data: the file's bytes.
        settings: the limits, and whether to OCR (``settings.ocr``).
        on_page: called after each page OCR read, with (done, to read).

    Raises:
        LoaderRefusal: password-protected, too many pages, or no text (even by OCR).
        Exception: whatever pypdf raises on a malformed file (reported as corrupt).
    """
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

    with warnings.catch_warnings():
        # pypdf warns about every repairable defect; a defect it cannot repair raises instead.
        warnings.simplefilter("ignore")
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                # Many "protected" PDFs only restrict printing: the empty user password opens them.
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise LoaderRefusal(
                    FailureKind.ENCRYPTED,
                    f"is encrypted with a method this installation cannot open ({exc}); save an "
                    "unprotected copy and import that",
                ) from exc
            if not opened:
                raise LoaderRefusal(
                    FailureKind.ENCRYPTED,
                    "is password-protected; open it with its password, save an unprotected "
                    "copy, and import that",
                )
        page_count = len(reader.pages)
        if page_count > settings.max_pages:
            raise LoaderRefusal(
                FailureKind.TOO_LARGE,
                f"has {page_count:,} pages, more than the import limit of "
                f"{settings.max_pages:,}; split it into smaller files",
            )
        headings = _page_headings(reader, page_count)
        try:
            texts = [page.extract_text() or "" for page in reader.pages]
        except FileNotDecryptedError as exc:
            raise LoaderRefusal(
                FailureKind.ENCRYPTED, "is password-protected; save an unprotected copy"
            ) from exc
        except LimitReachedError as exc:  # pypdf's own cap on inflating streams
            raise LoaderRefusal(
                FailureKind.TOO_LARGE,
                "holds compressed content that inflates past the safety limit (it may be a "
                "decompression bomb); it was not imported",
            ) from exc
        title = _title(reader)
    if page_count == 0:
        raise empty_refusal()
    scans = [n for n, text in enumerate(texts, start=1) if _visible(text) < OCR_BELOW_CHARS]
    read: dict[int, OcrPage] = {}
    if scans and settings.ocr:
        pages = recognize(_render(data, scans, settings), settings, total=len(scans),
                          on_page=on_page)  # fmt: skip
        # OCR replaces a page's text layer only where it read more (a stamp on a scan).
        read = {p.page: p for p in pages if _visible(p.text) > _visible(texts[p.page - 1])}
    builder = SectionBuilder(settings)
    for number, text in enumerate(texts, start=1):
        scanned = read.get(number)
        builder.add(scanned.text if scanned else text, page=number, heading=headings[number])
    if not builder.sections:
        plural = "s" if page_count != 1 else ""
        if settings.ocr:
            raise LoaderRefusal(
                FailureKind.NO_TEXT,
                f"has {page_count} page{plural} but no text layer, and OCR recognised no text "
                "on them; if they show text, scan it again at 300 dpi or more",
            )
        raise LoaderRefusal(
            FailureKind.NO_TEXT,
            f"has {page_count} page{plural} but no text layer (scanned images?) and OCR is "
            "off; turn it on, or run it through OCR (for example ocrmypdf) and import the result",
        )
    notes: list[str] = []
    if read:
        notes.append(ocr_note(read.values(), page_count))
    blank = page_count - len(builder.sections)
    if blank:
        notes.append(f"{blank} of {page_count} pages have no text")
    return ParsedDocument(
        "pdf", builder.sections, page_count, title=title, notes=tuple(notes),
        ocr=tuple(read[n] for n in sorted(read)),
    )  # fmt: skip


def _visible(text: str) -> int:
    """Characters other than white space in ``text``."""
    return len("".join(normalize_text(text).split()))


def _render(data: bytes, numbers: list[int], settings: KnowledgeSettings) -> Iterator[PageImage]:
    """Draw the given 1-based pages in grey, one at a time, each at its scan's resolution.

    Raises:
        LoaderRefusal: PDFium cannot open the file.
    """
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise LoaderRefusal(
            FailureKind.CORRUPT, f"has pages without text that cannot be drawn for OCR ({exc})"
        ) from exc
    try:
        for number in numbers:
            page = document[number - 1]
            try:
                width_pt, height_pt = page.get_size()
                dpi = _scan_dpi(page, width_pt)
                # A huge page is drawn at a lower resolution, never past the pixel limit.
                area = max(width_pt * height_pt, 1.0) / (72 * 72)
                dpi = max(1, min(dpi, int((settings.max_image_pixels / area) ** 0.5)))
                bitmap = page.render(scale=dpi / 72, grayscale=True)
                image = bitmap.to_pil().convert("L")
            finally:
                page.close()
            yield PageImage(number, image, dpi)
    finally:
        document.close()


def _scan_dpi(page: Any, width_pt: float) -> int:
    """The resolution of the widest picture on the page, within the OCR bounds."""
    import pypdfium2.raw as pdfium_c

    best = 0.0
    try:
        for item in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
            left, _, right, _ = item.get_bounds()
            pixels, _ = item.get_px_size()
            if right - left > 0.25 * width_pt:
                best = max(best, pixels / ((right - left) / 72))
    except Exception:  # an odd image object only costs the guess: draw at the default
        best = 0.0
    if best <= 0:
        return OCR_MAX_DPI
    return int(min(OCR_MAX_DPI, max(OCR_MIN_DPI, best)))


def _title(reader: Any) -> str:
    try:
        meta = reader.metadata
        return str(meta.title or "") if meta is not None else ""
    except Exception:  # metadata is optional; a broken info dictionary must not fail the file
        return ""


def _page_headings(reader: Any, page_count: int) -> dict[int, str]:
    """Map each 1-based page to the title of the last bookmark at or before it."""
    starts: dict[int, str] = {}
    try:
        stack = list(reversed(reader.outline))
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
                continue
            number = reader.get_destination_page_number(item) + 1
            if 1 <= number <= page_count:
                starts.setdefault(number, str(item.title or "").strip())
    except Exception:  # a broken outline only loses headings, never the text
        starts = {}
    headings: dict[int, str] = {}
    current = ""
    for number in range(1, page_count + 1):
        current = starts.get(number, current)
        headings[number] = current
    return headings
