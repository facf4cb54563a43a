"""The window's actions: menu entries, toolbar buttons and keyboard shortcuts in one place.

Each action is created once, with its shortcut and an accessible description, and placed in a
menu (so every shortcut can be discovered there) and, for the common ones, the toolbar.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar


@dataclass(frozen=True)
class Actions:
    new_conversation: QAction
    rename_conversation: QAction
    delete_conversation: QAction
    search_conversations: QAction
    import_files: QAction
    import_folder: QAction
    settings: QAction
    quit: QAction
    send: QAction
    stop: QAction
    regenerate: QAction
    copy_answer: QAction
    confidence: QAction
    show_sources: QAction
    show_library: QAction
    show_structured: QAction
    focus_question: QAction
    last_evaluation: QAction


def _action(
    window: QMainWindow,
    text: str,
    shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
    tip: str,
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
    action.setStatusTip(tip)
    return action


def build_actions(window: QMainWindow) -> Actions:
    """Create the actions, the menus and the toolbar of ``window``."""
    std = QKeySequence.StandardKey
    actions = Actions(
        new_conversation=_action(window, "&New conversation", std.New, "Start a new conversation"),
        rename_conversation=_action(window, "&Rename conversation…", "F2", "Rename it"),
        delete_conversation=_action(
            window, "&Delete conversation…", "Ctrl+Shift+D", "Delete the conversation (asks first)"
        ),
        search_conversations=_action(window, "&Search conversations", std.Find, "Search titles"),
        import_files=_action(window, "&Import files…", "Ctrl+I", "Import documents"),
        import_folder=_action(window, "Import &folder…", "Ctrl+Shift+I", "Import a folder"),
        settings=_action(window, "&Settings…", "Ctrl+,", "Model and generation settings"),
        quit=_action(window, "&Quit", std.Quit, "Quit Enclave"),
        send=_action(window, "&Send", "Ctrl+Return", "Send the question"),
        stop=_action(window, "S&top", "Esc", "Stop the answer now"),
        regenerate=_action(window, "&Regenerate", "Ctrl+R", "Ask the last question again"),
        copy_answer=_action(window, "&Copy answer", "Ctrl+Shift+C", "Copy the selected answer"),
        confidence=_action(
            window, "Token &confidence", "Ctrl+T", "Colour each token by its probability"
        ),
        show_sources=_action(window, "S&ources", "Ctrl+1", "Show the sources of the answer"),
        show_library=_action(window, "&Library", "Ctrl+2", "Show the document library"),
        show_structured=_action(
            window, "S&tructured output", "Ctrl+3", "Fill a JSON Schema from documents"
        ),
        focus_question=_action(window, "&Question box", "Ctrl+L", "Go to the question box"),
        last_evaluation=_action(
            window, "Last &evaluation report…", None, "Show the last 'assistant eval' report"
        ),
    )
    actions.confidence.setCheckable(True)

    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    for action in (actions.import_files, actions.import_folder):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(actions.settings)
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    conversation_menu = bar.addMenu("&Conversation")
    for action in (
        actions.new_conversation,
        actions.rename_conversation,
        actions.delete_conversation,
        actions.search_conversations,
    ):
        conversation_menu.addAction(action)
    answer_menu = bar.addMenu("&Answer")
    for action in (
        actions.send,
        actions.stop,
        actions.regenerate,
        actions.copy_answer,
        actions.confidence,
    ):
        answer_menu.addAction(action)
    view_menu = bar.addMenu("&View")
    for action in (
        actions.show_sources,
        actions.show_library,
        actions.show_structured,
        actions.focus_question,
    ):
        view_menu.addAction(action)
    view_menu.addSeparator()
    view_menu.addAction(actions.last_evaluation)

    toolbar = QToolBar("Main toolbar", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.setAccessibleName("Main toolbar")
    for action in (
        actions.new_conversation,
        actions.regenerate,
        actions.copy_answer,
        actions.confidence,
        actions.import_files,
        actions.settings,
    ):
        toolbar.addAction(action)
    window.addToolBar(toolbar)
    return actions
