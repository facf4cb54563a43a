"""The transcript: messages rendered from Markdown, streamed tokens, token confidence, citations.

Safety: model output is untrusted text. Links never open (``setOpenLinks(False)``), raw HTML in
Markdown is off, image syntax is escaped before parsing (QTextDocument falls back to reading
local files even when :meth:`Transcript.loadResource` refuses), and ``loadResource`` returns
nothing for anything, so rendering an answer can never fetch or read a resource.

A source number in an answer (``[2]``) becomes an internal ``cite:<message>/<n>`` anchor; a click
emits :attr:`Transcript.citation_clicked`.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRegularExpression, Qt, QUrl, Signal
from PySide6.QtGui import (
    QFont,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
)
from PySide6.QtWidgets import QPlainTextEdit, QTextBrowser, QToolTip, QWidget

from assistant.engine.base import Role
from assistant.gui import confidence
from assistant.gui.transcript import CITATION_PATTERN, MessageView, TokenView, summarize

CITE_SCHEME = "cite"
_MARKDOWN = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)


def safe_markdown(text: str) -> str:
    """Markdown with image syntax escaped, so parsing it never asks for a resource."""
    return re.sub(r"!\[", r"!\\[", text)


class Transcript(QTextBrowser):
    """A read-only conversation view.

    Signals:
        citation_clicked(int, int): message index and source number of a clicked ``[n]``.
        answer_selected(int): the index of the answer the user clicked into.
        link_refused(str): a link the user clicked that the app will not open.
    """

    citation_clicked = Signal(int, int)
    answer_selected = Signal(int)
    link_refused = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.setAccessibleName("Conversation transcript")
        self.setAccessibleDescription("The messages of the current conversation.")
        self.document().setDocumentMargin(12)
        self.anchorClicked.connect(self._on_anchor)
        self._messages: list[MessageView] = []
        self._spans: list[tuple[int, int, int]] = []  # (start, end, message index)
        self._confidence = False
        self._live_tokens: list[TokenView] = []
        self._live_key = -1
        self.resource_requests: list[str] = []  # what rendering asked for (all refused)

    # --- resources and links ------------------------------------------------------------------

    def loadResource(self, kind: int, url: QUrl | str) -> Any:  # noqa: N802 - Qt's name
        """Refuse every resource: nothing in an answer may load a file or a URL."""
        self.resource_requests.append(url.toString() if isinstance(url, QUrl) else str(url))
        return None

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() == CITE_SCHEME:
            message, _, number = url.path().partition("/")
            if message.isdigit() and number.isdigit():
                self.citation_clicked.emit(int(message), int(number))
            return
        self.link_refused.emit(url.toString())

    # --- content ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[MessageView]:
        return list(self._messages)

    @property
    def confidence(self) -> bool:
        return self._confidence

    def set_confidence(self, on: bool) -> None:
        """Switch between rendered Markdown and tokens coloured by probability."""
        if on != self._confidence:
            self._confidence = on
            self.set_messages(self._messages)

    def set_messages(self, messages: list[MessageView]) -> None:
        """Draw ``messages`` (replacing everything), keeping the reader's scroll position."""
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        previous = bar.value()
        self._messages = list(messages)
        self._spans = []
        self._live_tokens = []
        self.document().clear()
        cursor = QTextCursor(self.document())
        for index, message in enumerate(self._messages):
            self._render(cursor, index, message)
        if not self._messages:
            cursor.insertHtml(
                "<p style='color: gray'>Ask a question below. Nothing you type leaves this "
                "computer.</p>"
            )
        bar.setValue(bar.maximum() if at_bottom else previous)

    def _header(self, cursor: QTextCursor, message: MessageView, index: int) -> None:
        if index or not cursor.atStart():
            cursor.insertBlock()
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(self.palette().color(QPalette.ColorRole.Link))
        cursor.insertText("You" if not message.is_answer else "Enclave", fmt)
        notes = []
        if message.is_answer and message.status == "error":
            notes.append("failed")
        elif message.is_answer and message.stopped:
            notes.append("stopped")
        if notes:
            note = QTextCharFormat()
            note.setFontItalic(True)
            note.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
            cursor.insertText(f"  ({', '.join(notes)})", note)
        cursor.insertBlock()

    def _render(self, cursor: QTextCursor, index: int, message: MessageView) -> None:
        start = cursor.position()
        self._header(cursor, message, index)
        body_start = cursor.position()
        base = QTextCharFormat()
        if not message.is_answer:
            cursor.insertText(message.text, base)
        elif self._confidence and message.tokens:
            self._insert_tokens(cursor, index, message.tokens, base)
            summary = QTextCharFormat()
            summary.setFontItalic(True)
            summary.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
            cursor.insertBlock()
            cursor.insertText(confidence.summary_text(summarize(message.tokens)), summary)
        else:
            text = message.text or ("…" if message.stopped else "")
            cursor.insertFragment(
                QTextDocumentFragment.fromMarkdown(safe_markdown(text), _MARKDOWN)
            )
        if message.is_answer:
            self._insert_evidence(cursor, message)
        if message.is_answer and message.citations:
            self._link_citations(index, body_start, cursor.position())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self._spans.append((start, cursor.position(), index))

    def _insert_evidence(self, cursor: QTextCursor, message: MessageView) -> None:
        """The verbatim quote under an answer (its ``[n]`` opens the page), or the warning that
        no passage says what the answer says."""
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for quote in message.quotes:
            cursor.insertBlock()
            fmt = QTextCharFormat()
            fmt.setFontItalic(True)
            cursor.insertText(f"\u201c{quote.text}\u201d", fmt)
            where = QTextCharFormat()
            where.setForeground(muted)
            cursor.insertText(f"  \u2014 {quote.location} [{quote.source}]", where)
        if message.supported is False:
            cursor.insertBlock()
            warn = QTextCharFormat()
            warn.setFontItalic(True)
            warn.setForeground(muted)
            cursor.insertText(
                "No sentence of your documents says this: treat it as not answered, and check "
                "the sources before relying on it.",
                warn,
            )

    def _insert_tokens(
        self, cursor: QTextCursor, index: int, tokens: tuple[TokenView, ...], base: QTextCharFormat
    ) -> None:
        leading = True
        for number, token in enumerate(tokens):
            text = token.text.lstrip() if leading else token.text
            if not text:
                continue
            leading = False
            cursor.insertText(text, confidence.token_format(token, base, f"{index}:{number}"))

    def _link_citations(self, index: int, start: int, end: int) -> None:
        """Turn each ``[n]`` between ``start`` and ``end`` into a ``cite:`` anchor."""
        pattern = QRegularExpression(CITATION_PATTERN.pattern)
        pattern.setPatternOptions(QRegularExpression.PatternOption.CaseInsensitiveOption)
        found = self.document().find(pattern, start)
        while not found.isNull() and found.selectionEnd() <= end:
            numbers = re.findall(r"\d+", found.selectedText())
            if numbers:
                fmt = QTextCharFormat()
                fmt.setAnchor(True)
                fmt.setAnchorHref(f"{CITE_SCHEME}:{index}/{numbers[0]}")
                fmt.setForeground(self.palette().color(QPalette.ColorRole.Link))
                fmt.setFontUnderline(True)
                fmt.setToolTip("Open source " + ", ".join(numbers))
                found.mergeCharFormat(fmt)
            found = self.document().find(pattern, found.selectionEnd())

    # --- streaming ----------------------------------------------------------------------------

    def begin_answer(self, question: str) -> None:
        """Show the question and an empty answer that tokens will stream into."""
        self._messages.append(MessageView(role=Role.USER, text=question))
        self._messages.append(MessageView(role=Role.ASSISTANT, text="", status="partial"))
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self._spans:
            self.document().clear()
            cursor = QTextCursor(self.document())
        self._render(cursor, len(self._messages) - 2, self._messages[-2])
        self._live_key = len(self._messages) - 1
        start = cursor.position()
        self._header(cursor, self._messages[-1], self._live_key)
        self._spans.append((start, cursor.position(), self._live_key))
        self._live_tokens = []
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def append_token(self, token: TokenView) -> None:
        """Add one streamed token at the end of the answer being written."""
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        text = token.text.lstrip() if not self._live_tokens else token.text
        self._live_tokens.append(token)
        if text:
            cursor = QTextCursor(self.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            base = QTextCharFormat()
            if self._confidence:
                key = f"{self._live_key}:{len(self._live_tokens) - 1}"
                cursor.insertText(text, confidence.token_format(token, base, key))
            else:
                cursor.insertText(text, base)
        if at_bottom:
            bar.setValue(bar.maximum())

    def live_text(self) -> str:
        return "".join(t.text for t in self._live_tokens).strip()

    # --- selection, tooltips ------------------------------------------------------------------

    def message_at(self, position: int) -> int | None:
        """The index of the message drawn at a document position."""
        for start, end, index in self._spans:
            if start <= position <= end:
                return index
        return None

    def token_formats(self, index: int) -> list[tuple[str, QTextCharFormat]]:
        """The text and format of each token run drawn for message ``index`` (confidence view)."""
        runs: list[tuple[str, QTextCharFormat]] = []
        block = self.document().begin()
        prefix = f"{index}:"
        while block.isValid():
            iterator = block.begin()
            while not iterator.atEnd():
                fragment = iterator.fragment()
                key = fragment.charFormat().property(confidence.TOKEN_PROPERTY)
                if isinstance(key, str) and key.startswith(prefix):
                    runs.append((fragment.text(), fragment.charFormat()))
                iterator += 1
            block = block.next()
        return runs

    def _hit(self, point: QPoint) -> int:
        offset = QPoint(self.horizontalScrollBar().value(), self.verticalScrollBar().value())
        return self.document().documentLayout().hitTest(point + offset, Qt.HitTestAccuracy.ExactHit)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # QTextEdit does not show a character format's tooltip by itself; token tooltips need it.
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            position = self._hit(event.pos())
            tip = ""
            if position >= 0:
                cursor = QTextCursor(self.document())
                cursor.setPosition(position + 1)
                tip = cursor.charFormat().toolTip()
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        super().mouseReleaseEvent(event)
        position = self._hit(event.position().toPoint())
        index = self.message_at(position) if position >= 0 else None
        if index is not None and index < len(self._messages):
            if self._messages[index].is_answer:
                self.answer_selected.emit(index)


class ChatInput(QPlainTextEdit):
    """The question box: Enter sends, Shift+Enter starts a new line.

    Signals:
        submitted(): the user pressed Enter.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Question")
        self.setAccessibleDescription("Type a question. Enter sends; Shift+Enter adds a line.")
        self.setTabChangesFocus(True)
        self.setMaximumHeight(120)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            event.accept()
            self.submitted.emit()
            return
        if enter:
            # Shift+Enter would insert a paragraph separator; insert a plain newline instead.
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)
