"""Fixtures for the GUI tests: a real window on a scripted engine, a fast knowledge base.

Every window is built through :func:`assistant.gui.app.build_window`, the same assembly the
application uses; only the engine loader (a scripted engine) and the embedder (hash vectors,
in-process parsing) are swapped, through the parameters made for that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.app import App
from assistant.config import Paths
from assistant.engine.base import Engine
from assistant.engine.fake import ScriptedEngine
from assistant.gui.app import build_window
from assistant.gui.chat_panel import InputState
from assistant.gui.main_window import MainWindow
from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings

FAST = KnowledgeSettings(isolate_parsing=False, chunk_tokens=60, chunk_overlap_tokens=10)

# The knowledge tests' PDF writer; the GUI's report has three of its pages.
REPORT_PAGES: tuple[str, ...] = (
    "Project Nightjar overview. The Nightjar programme began in 2019 to replace the ageing "
    "coastal radar network along the northern fjords.",
    "Budget. The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
    "committed to maintenance contracts for the radar stations.",
    "Personnel. Dr. Ingrid Halvorsen leads the field engineering team of twelve technicians "
    "based in Tromso, who service the stations every spring.",
)


@pytest.fixture
def gui_paths(assistant_home: Path) -> Paths:
    return Paths.from_env().ensure()


@pytest.fixture
def crashes() -> list[str]:
    """Tracebacks the window's crash handler received; a test that expects none checks it."""
    return []


@pytest.fixture
def knowledge(gui_paths: Paths) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase.open(gui_paths.index_dir, embedder=HashEmbedder(), settings=FAST)
    yield kb
    kb.close()


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, gui_paths: Paths, crashes: list[str]) -> Iterator[WindowFactory]:
    """Build a window (optionally with a knowledge base) and wait until its model is ready."""
    apps: list[App] = []

    def factory(
        engine: Engine | None = None,
        *,
        knowledge: KnowledgeBase | None = None,
        loader: Callable[..., Engine] | None = None,
        wait_ready: bool = True,
        warm_up: Callable[[], object] | None = None,
    ) -> MainWindow:
        app = App.create(gui_paths)
        apps.append(app)
        chosen = engine if engine is not None else ScriptedEngine()
        window = build_window(
            app,
            engine_loader=loader or (lambda settings: chosen),
            knowledge=knowledge,
            on_crash=crashes.append,
            warm_up=warm_up,
        )
        qtbot.addWidget(window)
        window.show()
        if wait_ready:
            qtbot.waitUntil(lambda: window.chat.state is InputState.READY, timeout=10_000)
        return window

    yield factory
    for app in apps:
        app.close()


def wait_answer(qtbot, window: MainWindow, timeout: int = 15_000) -> None:
    """Wait until the streaming answer has finished and the window is ready again."""
    qtbot.waitUntil(
        lambda: not window.answerer.busy and window.chat.state is InputState.READY,
        timeout=timeout,
    )


def wait_import(qtbot, window: MainWindow, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not window.library.importing, timeout=timeout)


def click_text(qtbot, browser, text: str) -> None:
    """Click the middle of the first occurrence of ``text`` in a text browser, as a user would."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QTextCursor

    found = browser.document().find(text)
    assert not found.isNull(), f"{text!r} is not in the transcript"
    middle = QTextCursor(browser.document())
    middle.setPosition((found.selectionStart() + found.selectionEnd()) // 2)
    browser.setTextCursor(middle)
    browser.ensureCursorVisible()
    point = browser.cursorRect(middle).center()
    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=point)
