"""The document viewer: a cited page of an imported document, the quoted passage highlighted.

The text comes from the knowledge base's own chunks (verbatim extracts with their page and
character offsets), stitched back together page by page. The viewer therefore never parses the
original file in the GUI process (parsers run sandboxed at import time), needs no PDF renderer,
and still works if the original file has moved since it was imported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from assistant.chat.citations import SavedQuote
from assistant.errors import AssistantError, DocumentNotFoundError
from assistant.gui.transcript import CitationView
from assistant.knowledge.records import Chunk

HIGHLIGHT = QColor(255, 214, 10, 110)
#: The verbatim quote inside the cited passage: a stronger mark over the passage's.
QUOTE_HIGHLIGHT = QColor(255, 150, 0, 170)


class ChunkSource(Protocol):
    """What the viewer needs from the knowledge base."""

    def chunks(self, document: str) -> list[Chunk]: ...


@dataclass(frozen=True)
class DocumentPages:
    """A document's extracted text by page (``None`` is the one "page" of unpaged formats)."""

    pages: dict[int | None, str]

    @property
    def numbers(self) -> list[int]:
        return sorted(p for p in self.pages if p is not None)

    def text(self, page: int | None) -> str:
        return self.pages.get(page, "")


def stitch(chunks: Sequence[Chunk]) -> DocumentPages:
    """Rebuild each page's text from overlapping chunks, using their character offsets."""
    by_page: dict[int | None, list[Chunk]] = {}
    for chunk in chunks:
        by_page.setdefault(chunk.page, []).append(chunk)
    pages: dict[int | None, str] = {}
    for page, members in by_page.items():
        parts: list[str] = []
        end = -1
        for chunk in sorted(members, key=lambda c: (c.char_start, c.char_end)):
            if end < 0 or chunk.char_start > end:
                if parts:
                    parts.append("\n\n")
                parts.append(chunk.text)
            elif chunk.char_end > end:
                # Overlap: the chunk repeats the tail of the previous one; keep the new part only.
                parts.append(chunk.text[end - chunk.char_start :])
            end = max(end, chunk.char_end)
        pages[page] = "".join(parts)
    return DocumentPages(pages)


def find_passage(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``text`` (exactly, else ignoring differences in white space)."""
    quote = quote.strip()
    if not quote:
        return None
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    words = quote.split()
    for count in (len(words), min(len(words), 12)):
        pattern = r"\s+".join(re.escape(w) for w in words[:count])
        match = re.search(pattern, text)
        if match:
            return match.start(), match.end()
    return None


def _utf16(text: str, index: int) -> int:
    """A Python string index as a Qt (UTF-16) position."""
    return len(text[:index].encode("utf-16-le")) // 2


class DocumentViewer(QDialog):
    """Shows one page of a document with a passage highlighted; reused for every citation."""

    def __init__(self, source: ChunkSource | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Source")
        self.setAccessibleName("Document viewer")
        self.setModal(False)
        self.resize(720, 640)
        self._source = source
        self._pages = DocumentPages({})
        self._citation: CitationView | None = None
        self._quote: SavedQuote | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        self.page_label = QLabel("&Page:")
        self.page_spin = QSpinBox()
        self.page_spin.setAccessibleName("Page")
        self.page_label.setBuddy(self.page_spin)
        self.page_spin.valueChanged.connect(self._show_page)
        self.page_count = QLabel()
        row.addWidget(self.page_label)
        row.addWidget(self.page_spin)
        row.addWidget(self.page_count)
        row.addStretch(1)
        layout.addLayout(row)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Page text")
        layout.addWidget(self.text, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.page: int | None = None

    def open_citation(self, citation: CitationView, quote: SavedQuote | None = None) -> None:
        """Show the cited page with the passage highlighted, the answer's verbatim quote from it
        (when there is one) highlighted more strongly inside it, and raise the window."""
        self._citation = citation
        self._quote = quote
        self.setWindowTitle(f"Source [{citation.number}] — {citation.document_name}")
        self.title.setText(f"<b>{citation.location}</b><br><small>{citation.path}</small>")
        self.note.clear()
        try:
            chunks = self._source.chunks(citation.document_id) if self._source else []
        except DocumentNotFoundError:
            chunks = []  # removed since the answer was given: the note below says so
        except AssistantError as exc:
            chunks = []
            self.note.setText(f"{exc} Showing the quoted passage only.")
        if not chunks and not self.note.text():
            self.note.setText(
                "This document is no longer in the library; showing the quoted passage only."
            )
        self._pages = stitch(chunks) if chunks else DocumentPages({citation.page: citation.quote})
        numbers = self._pages.numbers
        paged = bool(numbers)
        for widget in (self.page_label, self.page_spin, self.page_count):
            widget.setVisible(paged)
        self.page_spin.blockSignals(True)
        if paged:
            self.page_spin.setRange(1, max(numbers))
            self.page_count.setText(f"of {max(numbers)}")
            self.page_spin.setValue(citation.page or numbers[0])
        self.page_spin.blockSignals(False)
        self._show_page(citation.page if paged else None)
        self.show()
        self.raise_()
        self.activateWindow()

    def _show_page(self, page: int | None) -> None:
        self.page = page
        text = self._pages.text(page)
        if not text and page is not None:
            text = "(No text was extracted from this page.)"
        self.text.setPlainText(text)
        selections: list[QTextEdit.ExtraSelection] = []
        citation = self._citation
        if citation is not None and page == citation.page:
            span = find_passage(text, citation.quote)
            if span is not None:
                selections.append(self._mark(text, span, HIGHLIGHT))
                quote = self._quote
                inner = find_passage(text[span[0] : span[1]], quote.text) if quote else None
                if inner is not None:
                    selections.append(
                        self._mark(text, (span[0] + inner[0], span[0] + inner[1]), QUOTE_HIGHLIGHT)
                    )
                # Scroll the passage into view, then put the caret at its start.
                end = QTextCursor(self.text.document())
                end.setPosition(_utf16(text, span[1]))
                self.text.setTextCursor(end)
                self.text.ensureCursorVisible()
                start = QTextCursor(self.text.document())
                start.setPosition(_utf16(text, span[0]))
                self.text.setTextCursor(start)
                self.text.ensureCursorVisible()
        self.text.setExtraSelections(selections)

    def _mark(self, text: str, span: tuple[int, int], colour: QColor) -> QTextEdit.ExtraSelection:
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(_utf16(text, span[0]))
        cursor.setPosition(_utf16(text, span[1]), QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setBackground(colour)
        selection.format = fmt
        return selection

    def highlighted_text(self) -> str:
        """The text currently highlighted as the cited passage (``""`` when none)."""
        selections = self.text.extraSelections()
        return selections[0].cursor.selectedText().replace("\u2029", "\n") if selections else ""

    def highlighted_quote(self) -> str:
        """The text highlighted as the answer's verbatim quote (``""`` when none)."""
        selections = self.text.extraSelections()
        if len(selections) < 2:
            return ""
        return " ".join(selections[1].cursor.selectedText().replace("\u2029", "\n").split())
