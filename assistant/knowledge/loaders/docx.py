"""Word (.docx) text extraction with python-docx: sections follow the document's headings.

A paragraph styled ``Heading N`` or ``Title`` starts a new section; every paragraph and table
after it belongs to that heading. Before python-docx sees the file, its zip directory is checked
so that a zip bomb is refused instead of inflated.
"""

from __future__ import annotations

import io
import zipfile

from assistant.knowledge.loaders.common import LoaderRefusal, SectionBuilder, empty_refusal
from assistant.knowledge.records import FailureKind, KnowledgeSettings, ParsedDocument


def load_docx(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Extract paragraphs and tables in document order, grouped under their headings.

    Raises:
        LoaderRefusal: not a Word file, inflates past the limit, or holds no text.
        Exception: whatever python-docx raises on a malformed file (reported as corrupt).
    """
    _check_zip(data, settings)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    builder = SectionBuilder(settings)
    heading = ""
    lines: list[str] = []

    def flush() -> None:
        builder.add("\n\n".join(lines), heading=heading)
        lines.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = (block.style.name if block.style is not None else "") or ""
            text = block.text.strip()
            if style.startswith(("Heading", "Title")) and text:
                flush()
                heading = text
                continue
            if text:
                lines.append(text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                row_text = " | ".join(_dedupe_merged(cells))
                if row_text.strip(" |"):
                    lines.append(row_text)
    flush()
    if not builder.sections:
        raise empty_refusal()
    title = (document.core_properties.title or "").strip()
    return ParsedDocument("docx", builder.sections, 1, title=title)


def _dedupe_merged(cells: list[str]) -> list[str]:
    """python-docx repeats a merged cell once per grid column; keep one copy."""
    kept: list[str] = []
    for cell in cells:
        if not kept or cell != kept[-1]:
            kept.append(cell)
    return kept


def _check_zip(data: bytes, settings: KnowledgeSettings) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise LoaderRefusal(
            FailureKind.CORRUPT,
            "is not a valid Word document (the .docx container is damaged or it is another "
            "format renamed); open and re-save it in Word",
        ) from exc
    with archive:
        inflated = sum(info.file_size for info in archive.infolist())
        if inflated > settings.max_unzipped_bytes:
            raise LoaderRefusal(
                FailureKind.TOO_LARGE,
                f"would inflate to {inflated:,} bytes, more than the limit of "
                f"{settings.max_unzipped_bytes:,}; it may be a zip bomb",
            )
        if "word/document.xml" not in archive.namelist():
            raise LoaderRefusal(
                FailureKind.CORRUPT,
                "is a zip archive but not a Word document (no word/document.xml)",
            )
