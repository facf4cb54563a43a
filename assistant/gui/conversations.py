"""The conversations sidebar: search by title, new, rename, delete.

It lists what the :class:`~assistant.chat.store.ConversationStore` holds and says which one the
user picked; confirmations and renaming go through the main window's prompts, so tests can
answer them without a modal dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.chat.store import Conversation, ConversationStore


class ConversationList(QWidget):
    """Search box, list and buttons.

    Args:
        store: the conversations.
        confirm: asks a yes/no question (title, question) and returns the answer.
        ask_text: asks for a line of text (title, label, current value); None when cancelled.

    Signals:
        selected(int): the user opened a conversation (its id).
        new_requested(): the New button.
        deleted(int): a conversation was deleted.
    """

    selected = Signal(int)
    new_requested = Signal()
    deleted = Signal(int)

    def __init__(
        self,
        store: ConversationStore,
        *,
        confirm: Callable[[str, str], bool],
        ask_text: Callable[[str, str, str], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._confirm = confirm
        self._ask_text = ask_text
        #: Conversations that must not be deleted now (the one being answered in).
        self.busy: set[int] = set()
        self._current: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.refresh())
        layout.addWidget(self.search)
        self.list = QListWidget()
        self.list.setAccessibleName("Conversations")
        self.list.itemActivated.connect(self._on_item)
        self.list.itemClicked.connect(self._on_item)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.new_button.setAccessibleName("New conversation")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self.rename_button = QPushButton("Rename")
        self.rename_button.setAccessibleName("Rename conversation")
        self.rename_button.setToolTip("Rename the selected conversation (F2)")
        self.rename_button.clicked.connect(self._rename)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setAccessibleName("Delete conversation")
        self.delete_button.setToolTip("Delete the selected conversation (asks first)")
        self.delete_button.clicked.connect(self._delete)
        for button in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Reload the list from the store, keeping the current conversation highlighted."""
        found = self._store.conversations(search=self.search.text().strip())
        self.list.blockSignals(True)
        self.list.clear()
        for conversation in found:
            item = QListWidgetItem(conversation.title or "(untitled)")
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            item.setToolTip(_describe(conversation))
            self.list.addItem(item)
            if conversation.id == self._current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        has_current = self._current is not None
        self.rename_button.setEnabled(has_current)
        self.delete_button.setEnabled(has_current)

    def set_current(self, conversation_id: int | None) -> None:
        self._current = conversation_id
        self.refresh()

    @property
    def current(self) -> int | None:
        return self._current

    def titles(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def _selected_id(self) -> int | None:
        item = self.list.currentItem()
        if item is not None:
            value = item.data(Qt.ItemDataRole.UserRole)
            if isinstance(value, int):
                return value
        return self._current

    def _on_item(self, item: QListWidgetItem) -> None:
        value = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(value, int) and value != self._current:
            self.selected.emit(value)

    def _rename(self) -> None:
        self.rename(self._selected_id())

    def _delete(self) -> None:
        self.delete(self._selected_id())

    def rename(self, conversation_id: int | None) -> None:
        """Ask for a new title and save it."""
        if conversation_id is None:
            return
        current = self._store.get(conversation_id).title
        title = self._ask_text("Rename conversation", "New title:", current)
        if title and title.strip() and title.strip() != current:
            self._store.rename(conversation_id, title.strip())
            self.refresh()

    def delete(self, conversation_id: int | None) -> None:
        """Delete a conversation after the user confirms."""
        if conversation_id is None or conversation_id in self.busy:
            return
        title = self._store.get(conversation_id).title
        question = f"Delete “{title}” and all its messages? This cannot be undone."
        if self._confirm("Delete conversation", question):
            self._store.delete(conversation_id)
            self.refresh()
            self.deleted.emit(conversation_id)


def _describe(conversation: Conversation) -> str:
    when = conversation.updated_at.replace("T", " ")[:16]
    return f"{conversation.title}\n{conversation.message_count} messages · last change {when} UTC"
