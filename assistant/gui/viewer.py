"""The document viewer: a cited page of an imported document, the quoted passage highlighted.

A PDF is shown as the page itself: the core draws it with PDFium in a sandboxed child process
(:class:`~assistant.knowledge.pages.PageRenderer`), from a worker thread, and the cited passage
and the answer's verbatim quote are boxed on the image. Zoom (fit width, steps, Ctrl+wheel) draws
the page again at the new scale, so it stays sharp.

Every document also has its text view: the knowledge base's own chunks (verbatim extracts with
their page and character offsets), stitched back together page by page, with the passage and the
quote highlighted. DOCX, HTML, Markdown and text documents open there; a PDF falls back to it,
with a one-line reason, when its file has gone, has changed since import, or cannot be drawn.
The viewer never parses a file in the GUI process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QIcon,
    QKeySequence,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QStyle,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.chat.citations import SavedQuote
from assistant.errors import AssistantError, DocumentNotFoundError
from assistant.gui.page_text import DocumentPages, find_passage, stitch
from assistant.gui.page_view import PageView
from assistant.gui.transcript import CitationView
from assistant.gui.workers import TaskRunner
from assistant.knowledge.pages import PageImage, PageRenderer, RenderLimits, RenderRequest
from assistant.knowledge.records import Chunk, DocumentRecord, KnowledgeSettings

HIGHLIGHT = QColor(255, 214, 10, 110)
#: The verbatim quote inside the cited passage: a stronger mark over the passage's.
QUOTE_HIGHLIGHT = QColor(255, 150, 0, 170)


#: Zoom steps, as a share of the page's actual size on screen.
ZOOM_STEPS = (0.25, 0.33, 0.5, 0.67, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
#: Wait this long after the last resize before drawing the page again at the new width.
_REFIT_MS = 150


class ChunkSource(Protocol):
    """What the viewer needs from the knowledge base."""

    def chunks(self, document: str) -> list[Chunk]: ...

    def document(self, reference: str) -> DocumentRecord: ...


@dataclass(frozen=True)
class PdfFile:
    """The file the viewer draws pages from, and the hash it must still have (``""``: any)."""

    path: Path
    sha256: str = ""
    pages: int = 0


def _utf16(text: str, index: int) -> int:
    """A Python string index as a Qt (UTF-16) position."""
    return len(text[:index].encode("utf-16-le")) // 2


def _limits_for(source: object) -> RenderLimits:
    """The drawing limits that match the knowledge base's own (file size, isolation)."""
    settings = getattr(source, "settings", None)
    if isinstance(settings, KnowledgeSettings):
        return RenderLimits(
            max_file_bytes=settings.max_file_bytes, isolate=settings.isolate_parsing
        )
    return RenderLimits()


class DocumentViewer(QDialog):
    """Shows one page of a document with a passage highlighted; reused for every citation.

    A PDF page is drawn in a worker thread; until it arrives (and whenever it cannot be drawn)
    the text view shows the page's extracted text.

    Signals:
        page_drawn(int): a page image is on screen (its number).
        page_failed(str): the page could not be drawn; the text view shows it (why).
    """

    page_drawn = Signal(int)
    page_failed = Signal(str)

    def __init__(
        self,
        source: ChunkSource | None,
        parent: QWidget | None = None,
        *,
        limits: RenderLimits | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Source")
        self.setAccessibleName("Document viewer")
        self.setModal(False)
        self.resize(760, 860)
        self._source = source
        self._pages = DocumentPages({})
        self._citation: CitationView | None = None
        self._quote: SavedQuote | None = None
        self.renderer = PageRenderer(limits or _limits_for(source))
        self._runner = TaskRunner(self._render_crashed, self)
        self._pdf: PdfFile | None = None
        self._zoom: float | None = None  # None: fit the page's width to the window
        self._page_width_pt = 595.0  # A4 until the first page is drawn
        self._rendering: RenderRequest | None = None
        self._shown: RenderRequest | None = None  # what the page on screen was drawn for
        self._pending: RenderRequest | None = None
        self._generation = 0
        self._text_only = False
        self._base_note = ""
        self._refit = QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(_REFIT_MS)
        self._refit.timeout.connect(self._refit_page)

        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        style = self.style()
        self.prev_button = self._tool(
            "Previous page", "Ctrl+PgUp", style.standardIcon(QStyle.StandardPixmap.SP_ArrowBack)
        )
        self.prev_button.clicked.connect(lambda: self.step_page(-1))
        self.page_label = QLabel("&Page")
        self.page_spin = QSpinBox()
        self.page_spin.setAccessibleName("Page")
        self.page_label.setBuddy(self.page_spin)
        self.page_spin.valueChanged.connect(self._show_page)
        self.page_count = QLabel()
        self.next_button = self._tool(
            "Next page", "Ctrl+PgDown", style.standardIcon(QStyle.StandardPixmap.SP_ArrowForward)
        )
        self.next_button.clicked.connect(lambda: self.step_page(1))
        self.zoom_out_button = self._tool("Zoom out", QKeySequence.StandardKey.ZoomOut, text="−")
        self.zoom_out_button.clicked.connect(lambda: self.zoom_by(-1))
        self.zoom_label = QLabel()
        self.zoom_label.setAccessibleName("Zoom")
        self.zoom_label.setMinimumWidth(self.zoom_label.fontMetrics().horizontalAdvance("400%"))
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_in_button = self._tool("Zoom in", QKeySequence.StandardKey.ZoomIn, text="+")
        self.zoom_in_button.clicked.connect(lambda: self.zoom_by(1))
        self.fit_button = self._tool("Fit page width", "Ctrl+0", text="Fit width")
        self.fit_button.clicked.connect(self.fit_width)
        self.mode_button = self._tool("Show the extracted text", "Ctrl+T", text="Show text")
        self.mode_button.clicked.connect(self._toggle_mode)
        self.status = QLabel()
        self.status.setAccessibleName("Drawing status")
        for widget in (self.prev_button, self.page_label, self.page_spin, self.page_count):
            row.addWidget(widget)
        row.addWidget(self.next_button)
        row.addSpacing(16)
        for widget in (self.zoom_out_button, self.zoom_label, self.zoom_in_button):
            row.addWidget(widget)
        row.addWidget(self.fit_button)
        row.addWidget(self.mode_button)
        row.addStretch(1)
        row.addWidget(self.status)
        layout.addLayout(row)
        self.stack = QStackedWidget()
        self.page_view = PageView()
        self.page_view.zoom_requested.connect(self.zoom_by)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Page text")
        self.stack.addWidget(self.text)
        self.stack.addWidget(self.page_view)
        layout.addWidget(self.stack, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Viewer note")
        layout.addWidget(self.note)
        self.page: int | None = None
        self._update_controls()
        # Never leave a drawing thread running when the window or the application goes away.
        if parent is not None:
            parent.installEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _tool(
        self,
        name: str,
        shortcut: str | QKeySequence.StandardKey,
        icon: QIcon | None = None,
        *,
        text: str = "",
    ) -> QToolButton:
        button = QToolButton()
        button.setAccessibleName(name)
        keys = QKeySequence(shortcut)
        button.setShortcut(keys)
        shown = keys.toString(QKeySequence.SequenceFormat.NativeText)
        button.setToolTip(f"{name} ({shown})" if shown else name)
        if icon is not None:
            button.setIcon(icon)
        if text:
            button.setText(text)
        return button

    # --- opening a citation -------------------------------------------------------------------

    def open_citation(self, citation: CitationView, quote: SavedQuote | None = None) -> None:
        """Show the cited page with the passage highlighted, the answer's verbatim quote from it
        (when there is one) highlighted more strongly inside it, and raise the window.

        A PDF whose file is still where it was imported from is drawn as the page image (in a
        worker thread); everything else, and a PDF that cannot be drawn, shows the text.
        """
        self._citation = citation
        self._quote = quote
        self._generation += 1  # a page still being drawn for the last citation is not shown
        self._pending = None
        self.setWindowTitle(f"Source [{citation.number}] — {citation.document_name}")
        self.title.setText(f"<b>{citation.location}</b><br><small>{citation.path}</small>")
        note = ""
        try:
            chunks = self._source.chunks(citation.document_id) if self._source else []
        except DocumentNotFoundError:
            chunks = []  # removed since the answer was given: the note below says so
        except AssistantError as exc:
            chunks = []
            note = f"{exc} Showing the quoted passage only."
        if not chunks and not note:
            note = "This document is no longer in the library; showing the quoted passage only."
        self._pages = stitch(chunks) if chunks else DocumentPages({citation.page: citation.quote})
        pdf, missing = self._pdf_file(citation)
        if self._pdf is None or pdf is None or pdf.path != self._pdf.path:
            self.page_view.clear()
            self._shown = None
        self._pdf = pdf
        self._base_note = " ".join(part for part in (note, missing) if part)
        self.note.setText(self._base_note)
        numbers = self._pages.numbers
        last = max([*numbers, pdf.pages if pdf is not None else 0, citation.page or 0])
        paged = last > 0
        for widget in (
            self.prev_button, self.page_label, self.page_spin, self.page_count, self.next_button
        ):  # fmt: skip
            widget.setVisible(paged)
        self.page_spin.blockSignals(True)
        if paged:
            self.page_spin.setRange(1, last)
            self.page_count.setText(f"of {last}")
            self.page_spin.setValue(citation.page or (numbers[0] if numbers else 1))
        self.page_spin.blockSignals(False)
        self._show_page(self.page_spin.value() if paged else None)
        self.show()
        self.raise_()
        self.activateWindow()

    def _pdf_file(self, citation: CitationView) -> tuple[PdfFile | None, str]:
        """The PDF to draw the citation's pages from, or None and (when it has gone) why."""
        record: DocumentRecord | None = None
        if self._source is not None and citation.document_id:
            try:
                record = self._source.document(citation.document_id)
            except AssistantError:
                record = None  # removed from the library: the file may still be there
        if record is not None:
            if record.kind != "pdf":
                return None, ""
            path, sha256, pages = record.path, record.sha256, record.pages
        else:
            if not citation.path or Path(citation.path).suffix.lower() != ".pdf":
                return None, ""
            path, sha256, pages = Path(citation.path), "", 0
        # The import keeps no copy of the file: the page is drawn from where it was imported.
        if not path.is_file():
            return None, (
                f"The original file is no longer at {path}; showing the text extracted when it "
                "was imported."
            )
        return PdfFile(path, sha256, pages), ""

    # --- showing a page -----------------------------------------------------------------------

    def _show_page(self, page: int | None) -> None:
        self.page = page
        self._show_text_of(page)
        self._update_controls()
        if self._pdf is not None and page is not None:
            if not self._text_only:
                self._draw(page)
        else:
            self.stack.setCurrentWidget(self.text)

    def _show_text_of(self, page: int | None) -> None:
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

    def _update_controls(self) -> None:
        page, low, high = self.page_spin.value(), self.page_spin.minimum(), self.page_spin.maximum()
        paged = self.page is not None
        self.prev_button.setEnabled(paged and page > low)
        self.next_button.setEnabled(paged and page < high)
        drawing = self._pdf is not None
        on_page = drawing and not self._text_only
        for widget in (self.zoom_out_button, self.zoom_label, self.zoom_in_button):
            widget.setVisible(drawing)
            widget.setEnabled(on_page)
        self.fit_button.setVisible(drawing)
        self.fit_button.setEnabled(on_page)
        self.mode_button.setVisible(drawing)
        self.mode_button.setText("Show page" if self._text_only else "Show text")
        self.mode_button.setAccessibleName(
            "Show the page image" if self._text_only else "Show the extracted text"
        )
        self.zoom_label.setText(f"{round(self.zoom * 100)}%" if drawing else "")

    # --- drawing ------------------------------------------------------------------------------

    @property
    def _actual_size(self) -> float:
        """Screen pixels per point at 100% (the page at its real size)."""
        return max(self.logicalDpiX(), 1) / 72.0

    def _fit_scale(self) -> float:
        """Screen pixels per point that fit the page's width into the view."""
        room = self.page_view.viewport().width() - 24
        room -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        return max(room, 50) / max(self._page_width_pt, 1.0)

    @property
    def zoom(self) -> float:
        """The zoom as a share of the page's real size (1.0 is 100%)."""
        if self._zoom is not None:
            return self._zoom
        return self._fit_scale() / self._actual_size

    def step_page(self, steps: int) -> None:
        """Go ``steps`` pages forward (or back, when negative)."""
        self.page_spin.stepBy(steps)

    def zoom_by(self, steps: int) -> None:
        """Zoom in (``steps`` > 0) or out by that many steps of :data:`ZOOM_STEPS`."""
        if self._pdf is None or self._text_only:
            return
        current = self.zoom
        if steps > 0:
            larger = [z for z in ZOOM_STEPS if z > current * 1.01]
            self._zoom = larger[min(steps, len(larger)) - 1] if larger else ZOOM_STEPS[-1]
        else:
            smaller = [z for z in ZOOM_STEPS if z < current / 1.01]
            self._zoom = smaller[-min(-steps, len(smaller))] if smaller else ZOOM_STEPS[0]
        self._redraw()

    def fit_width(self) -> None:
        """Zoom so the page's width fills the view (the default), and keep it so on resize."""
        self._zoom = None
        self._redraw()

    def _redraw(self) -> None:
        self._update_controls()
        if self.page is not None:
            self._draw(self.page)

    def _draw(self, page: int) -> None:
        """Ask for ``page`` at the current zoom, with the citation's marks when it is the cited
        page; the text view stays until the image arrives."""
        pdf, citation = self._pdf, self._citation
        if pdf is None:
            return
        here = citation is not None and citation.page == page
        quote = self._quote
        ratio = self.devicePixelRatioF()
        request = RenderRequest(
            path=str(pdf.path),
            page=page,
            scale=self.zoom * self._actual_size * ratio,
            passage=citation.quote if here and citation is not None else "",
            quote=quote.text if here and quote is not None else "",
            sha256=pdf.sha256,
        )
        shown = self._shown
        if shown is not None and self.page_view.has_page and _alike(shown, request):
            self.stack.setCurrentWidget(self.page_view)
            return
        self._submit(request)

    def _submit(self, request: RenderRequest) -> None:
        if self._rendering is not None:
            self._pending = request  # drawn when the current page is done; older asks dropped
            return
        self._rendering = request
        generation = self._generation
        renderer = self.renderer
        self.status.setText(f"Drawing page {request.page}…")
        self._runner.start(
            "draw page",
            lambda report, cancel: renderer.render(request, cancel=cancel),
            on_success=lambda image: self._drawn(generation, request, image),
            on_failure=lambda exc: self._failed(generation, request, exc),
            on_finished=self._render_finished,
        )

    def _render_finished(self) -> None:
        self._rendering = None
        pending, self._pending = self._pending, None
        if pending is not None:
            self._submit(pending)
        else:
            self.status.clear()

    def _drawn(self, generation: int, request: RenderRequest, image: PageImage) -> None:
        if generation != self._generation or image.page != self.page or self._pdf is None:
            return  # another citation or page was asked for since
        self._page_width_pt = image.width_pt
        if self.page_spin.maximum() != image.page_count:
            self.page_spin.blockSignals(True)
            self.page_spin.setMaximum(image.page_count)
            self.page_spin.blockSignals(False)
            self.page_count.setText(f"of {image.page_count}")
        self.page_view.show_image(image, device_pixel_ratio=self.devicePixelRatioF())
        self._shown = request
        if not self._text_only:
            self.stack.setCurrentWidget(self.page_view)
        notes = [self._base_note, image.note]
        if (request.passage or request.quote) and not (image.passage or image.quote):
            notes.append(
                "The passage could not be found on the page image; “Show text” highlights it "
                "in the extracted text."
            )
        self.note.setText(" ".join(n for n in notes if n))
        self._update_controls()
        self.page_drawn.emit(image.page)
        if self._zoom is None and self._pending is None:
            # The first drawing guessed the page's width; fit again now that it is known.
            wanted = self._fit_scale() * self.devicePixelRatioF()
            if not _alike(request, replace(request, scale=wanted)):
                self._draw(image.page)

    def _failed(self, generation: int, request: RenderRequest, exc: AssistantError) -> None:
        if generation != self._generation:
            return
        reason = getattr(exc, "reason", str(exc))
        self._fall_back(f"the page cannot be drawn: {reason}.")

    def _render_crashed(self, text: str) -> None:
        # The traceback is in the log already (workers.Task); the user keeps the text view.
        self._fall_back("drawing the page failed unexpectedly (the details are in the log).")

    def _fall_back(self, reason: str) -> None:
        """Show the extracted text for this document from now on, saying why."""
        self._pdf = None
        self._pending = None
        self.page_view.clear()
        self._shown = None
        self.stack.setCurrentWidget(self.text)
        line = f"Showing the text extracted at import; {reason}"
        self.note.setText(" ".join(n for n in (self._base_note, line) if n))
        self._update_controls()
        self.page_failed.emit(reason)

    def _toggle_mode(self) -> None:
        self._text_only = not self._text_only
        self._update_controls()
        if self._text_only:
            self.stack.setCurrentWidget(self.text)
        elif self.page is not None:
            self._draw(self.page)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self._zoom is None and self._pdf is not None:
            self._refit.start()

    def _refit_page(self) -> None:
        if self._zoom is None and self.page is not None and self._pdf is not None:
            self._update_controls()
            if not self._text_only:
                self._draw(self.page)

    # --- for people and tests -----------------------------------------------------------------

    @property
    def showing_page_image(self) -> bool:
        """True when the drawn page, not the extracted text, is on screen."""
        return self.stack.currentWidget() is self.page_view and self.page_view.has_page

    @property
    def drawing(self) -> bool:
        """True while a page is being drawn (or waits to be)."""
        return self._rendering is not None or self._pending is not None

    def passage_boxes(self) -> int:
        """How many boxes mark the cited passage on the page image."""
        return len(self.page_view.passage_rects())

    def quote_boxes(self) -> int:
        """How many boxes mark the verbatim quote on the page image."""
        return len(self.page_view.quote_rects())

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

    # --- shutting down ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop drawing and end the drawing process (the window or the application closes)."""
        self._generation += 1
        self._pending = None
        self._runner.shutdown(5_000)
        self.renderer.close()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self.shutdown()
        return super().eventFilter(watched, event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._pending = None  # the page being drawn finishes; nothing more is asked for
        super().closeEvent(event)


def _alike(one: RenderRequest, other: RenderRequest) -> bool:
    """True when both ask for the same drawing, within 3% of scale (not worth drawing again)."""
    return replace(one, scale=other.scale) == other and abs(one.scale - other.scale) <= (
        0.03 * other.scale
    )
