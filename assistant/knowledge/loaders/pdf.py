"""PDF text extraction with pypdf, one section per page, keeping 1-based page numbers.

Headings come from the PDF's outline (bookmarks) when it has one: each page gets the title of
the last bookmark that starts on or before it. pypdf is imported here and nowhere else.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

from assistant.knowledge.loaders.common import LoaderRefusal, SectionBuilder, empty_refusal
from assistant.knowledge.records import FailureKind, KnowledgeSettings, ParsedDocument

# pypdf logs every defect it meets ("EOF marker not found"); without a handler of its own the
# records would reach stderr through logging's last resort. The application's log still gets
# them when it configures the root logger; the import report says what matters.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


def load_pdf(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Extract the text of every page.

    Raises:
        LoaderRefusal: password-protected, too many pages, or no text layer.
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
        builder = SectionBuilder(settings)
        try:
            for number, page in enumerate(reader.pages, start=1):
                builder.add(page.extract_text() or "", page=number, heading=headings[number])
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
    if not builder.sections:
        raise LoaderRefusal(
            FailureKind.NO_TEXT,
            f"has {page_count} page{'s' if page_count != 1 else ''} but no text layer (scanned "
            "images?); run it through OCR (for example ocrmypdf) and import the result",
        )
    blank = page_count - len(builder.sections)
    notes = (f"{blank} of {page_count} pages have no text layer",) if blank else ()
    return ParsedDocument("pdf", builder.sections, page_count, title=title, notes=notes)


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
