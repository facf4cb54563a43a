"""The chat area: a notice banner, the confidence legend, the transcript and the question box.

It knows the states the input can be in (waiting for the model, ready, answering, no model) and
shows each one plainly; what happens on Send is the main window's business.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.gui import confidence
from assistant.gui.chat_view import ChatInput, Transcript

#: The scope combo's first entry: answer from the model alone.
NO_DOCUMENTS = ""


class InputState(enum.Enum):
    LOADING = "loading"  # the model is loading; the window is usable, the input waits
    READY = "ready"
    ANSWERING = "answering"
    NO_MODEL = "no-model"  # the model failed to load; the banner says why and what to do


class Banner(QFrame):
    """A dismissible line of news at the top of the chat (an error, an offer)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Notice")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self.action_button = QPushButton()
        self.action_button.hide()
        layout.addWidget(self.action_button)
        self.close_button = QPushButton("Dismiss")
        self.close_button.setAccessibleName("Dismiss notice")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str, *, action: str = "", error: bool = False) -> None:
        """Show ``text``; ``action`` labels the optional button (connect ``action_button``)."""
        self.label.setText(text)
        self.setProperty("error", error)
        self.setStyleSheet("QFrame { border: 1px solid #c0392b; }" if error else "")
        self.action_button.setText(action)
        self.action_button.setVisible(bool(action))
        self.show()


class ChatPanel(QWidget):
    """Transcript, question box, Send and Stop.

    Signals:
        send_requested(): Enter or the Send button.
        stop_requested(): the Stop button.
    """

    send_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.legend = QLabel(confidence.legend_html())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setAccessibleName("Token confidence legend")
        self.legend.hide()
        layout.addWidget(self.legend)
        self.transcript = Transcript()
        layout.addWidget(self.transcript, 1)

        scope_row = QHBoxLayout()
        scope_label = QLabel("Answer &from:")
        self.scope = QComboBox()
        self.scope.setAccessibleName("Answer from")
        self.scope.setToolTip("Answer from the model alone, or from the documents of a collection")
        self.scope.addItem("the model only (no documents)", NO_DOCUMENTS)
        scope_label.setBuddy(self.scope)
        scope_row.addWidget(scope_label)
        scope_row.addWidget(self.scope, 1)
        self.state_label = QLabel()
        self.state_label.setAccessibleName("Chat state")
        scope_row.addWidget(self.state_label)
        layout.addLayout(scope_row)

        row = QHBoxLayout()
        self.input = ChatInput()
        self.input.submitted.connect(self.send_requested)
        row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send question")
        self.send_button.setToolTip("Send the question (Enter)")
        self.send_button.clicked.connect(self.send_requested)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop answer")
        self.stop_button.setToolTip("Stop the answer now (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        layout.addLayout(row)
        self.state = InputState.LOADING
        self.set_state(InputState.LOADING)

    def set_state(self, state: InputState, detail: str = "") -> None:
        """Enable what makes sense in ``state`` and say what is happening."""
        self.state = state
        ready = state is InputState.READY
        self.send_button.setEnabled(ready)
        self.stop_button.setEnabled(state is InputState.ANSWERING)
        # Typing ahead while an answer streams is allowed; only sending waits.
        self.input.setReadOnly(state in (InputState.LOADING, InputState.NO_MODEL))
        placeholder = {
            InputState.LOADING: "Loading model … you can look around; the question box opens "
            "when the model is ready.",
            InputState.READY: "Ask a question (Enter sends, Shift+Enter for a new line)",
            InputState.ANSWERING: "Answering … (Esc stops)",
            InputState.NO_MODEL: "No model loaded. See the message above, then open Settings.",
        }[state]
        self.input.setPlaceholderText(placeholder)
        # QPlainTextEdit does not repaint for a new placeholder by itself; without this the
        # box could go on saying "Loading model" after the model is ready.
        self.input.viewport().update()
        label = {
            InputState.LOADING: "Loading model …",
            InputState.READY: "Ready",
            InputState.ANSWERING: "Answering …",
            InputState.NO_MODEL: "No model",
        }[state]
        self.state_label.setText(detail or label)

    def question(self) -> str:
        return self.input.toPlainText().strip()

    def set_scope_choices(self, collections: list[str], current: str) -> None:
        """Offer the collections; keep ``current`` selected when it is still there."""
        self.scope.blockSignals(True)
        self.scope.clear()
        self.scope.addItem("the model only (no documents)", NO_DOCUMENTS)
        for name in collections:
            self.scope.addItem(f"documents in “{name}”", name)
        found = self.scope.findData(current)
        self.scope.setCurrentIndex(found if found >= 0 else 0)
        self.scope.blockSignals(False)

    def scope_collection(self) -> str:
        """The collection to answer from, or ``""`` for the model alone."""
        value = self.scope.currentData()
        return value if isinstance(value, str) else NO_DOCUMENTS

    def set_confidence(self, on: bool) -> None:
        self.legend.setVisible(on)
        self.transcript.set_confidence(on)
