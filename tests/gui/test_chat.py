"""Chatting in the window: streaming, Stop, Regenerate, Copy, loading and failure states."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextImageFormat

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    GenerationOptions,
    GenerationStats,
    Role,
    Token,
)
from assistant.engine.fake import ScriptedEngine
from assistant.errors import ModelNotFoundError
from assistant.gui.chat_panel import InputState
from tests.gui.conftest import click_text, wait_answer

pytestmark = pytest.mark.gui

LONG_ANSWER = " ".join(f"word{i}" for i in range(200))


def test_sending_streams_tokens_into_the_transcript(qtbot, make_window, crashes):
    engine = ScriptedEngine(token_delay=0.02).enqueue("The capital of Norway is **Oslo**.")
    window = make_window(engine)
    qtbot.keyClicks(window.chat.input, "What is the capital of Norway?")
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)

    transcript = window.chat.transcript
    # Part of the answer is on screen while the rest is still being generated.
    qtbot.waitUntil(lambda: "capital" in transcript.toPlainText(), timeout=5000)
    assert window.answerer.busy
    assert "Oslo" not in transcript.toPlainText()
    assert window.chat.state is InputState.ANSWERING
    assert window.chat.input.toPlainText() == ""

    wait_answer(qtbot, window)
    text = transcript.toPlainText()
    assert "What is the capital of Norway?" in text
    assert "The capital of Norway is Oslo." in text  # Markdown rendered: no asterisks
    saved = window.app.store.messages(window.conversation_id)
    assert [m.role for m in saved] == [Role.USER, Role.ASSISTANT]
    assert saved[1].status == "complete"
    assert window.sidebar.titles() == ["What is the capital of Norway?"]
    assert window.status.speed.text().endswith("tok/s")
    assert crashes == []


def test_shift_enter_adds_a_line_and_enter_sends(qtbot, make_window):
    engine = ScriptedEngine().enqueue("Fine.")
    window = make_window(engine)
    qtbot.keyClicks(window.chat.input, "first line")
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.chat.input, "second line")
    assert window.chat.input.toPlainText() == "first line\nsecond line"
    assert not window.answerer.busy
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)
    wait_answer(qtbot, window)
    assert engine.calls[0].messages[-1].content == "first line\nsecond line"


def test_stop_cancels_at_once_and_keeps_the_partial_answer(qtbot, make_window):
    engine = ScriptedEngine(token_delay=0.05).enqueue(LONG_ANSWER)
    window = make_window(engine)
    window.send("Count for me")
    transcript = window.chat.transcript
    qtbot.waitUntil(lambda: "word2" in transcript.toPlainText(), timeout=5000)
    qtbot.mouseClick(window.chat.stop_button, Qt.MouseButton.LeftButton)
    shown = transcript.live_text()
    # The display stops with the click; the worker ends within a token or two.
    wait_answer(qtbot, window, timeout=2000)
    saved = window.app.store.messages(window.conversation_id)[-1]
    assert saved.status == "partial"
    assert 0 < len(saved.content.split()) < 20
    assert saved.content.startswith(shown)
    assert "(stopped)" in transcript.toPlainText()
    assert "word199" not in transcript.toPlainText()


def test_input_waits_while_the_model_loads(qtbot, make_window):
    release = threading.Event()
    engine = ScriptedEngine().enqueue("Ready now.")

    def slow_loader(settings):
        release.wait(10)
        return engine

    window = make_window(loader=slow_loader, wait_ready=False)
    assert window.isVisible()
    assert window.chat.state is InputState.LOADING
    assert window.chat.input.isReadOnly()
    assert "Loading model" in window.chat.input.placeholderText()
    assert not window.chat.send_button.isEnabled()
    assert "loading" in window.status.model.text()
    assert window.send("too early") is None
    release.set()
    qtbot.waitUntil(lambda: window.chat.state is InputState.READY, timeout=5000)
    assert not window.chat.input.isReadOnly()
    assert window.status.model.text() == "Model: scripted"


def test_a_model_that_will_not_load_shows_what_to_do(qtbot, make_window, gui_paths):
    def failing_loader(settings):
        raise ModelNotFoundError(f"No model file at {gui_paths.home}/missing.gguf. Import one.")

    window = make_window(loader=failing_loader, wait_ready=False)
    qtbot.waitUntil(lambda: window.chat.state is InputState.NO_MODEL, timeout=5000)
    assert "missing.gguf" in window.chat.banner.label.text()
    assert window.chat.banner.action_button.text() == "Settings…"
    assert not window.chat.send_button.isEnabled()


def test_regenerate_asks_again_and_copy_takes_the_answer(qtbot, make_window):
    engine = ScriptedEngine().enqueue("First try.", "Second try.")
    window = make_window(engine)
    window.send("Say something")
    wait_answer(qtbot, window)
    assert window.commands.regenerate.isEnabled()
    window.commands.regenerate.trigger()
    wait_answer(qtbot, window)
    assert [c.messages[-1].content for c in engine.calls] == ["Say something"] * 2
    assert "Second try." in window.chat.transcript.toPlainText()
    window.commands.copy_answer.trigger()
    assert QGuiApplication.clipboard().text() == "Second try."


def test_links_never_open_and_images_never_load(qtbot, make_window):
    engine = ScriptedEngine().enqueue(
        "See [the site](http://example.com/x) and ![chart](http://example.com/c.png) "
        "or ![local](/etc/hostname)."
    )
    window = make_window(engine)
    refused: list[str] = []
    window.chat.transcript.link_refused.connect(refused.append)
    window.send("links?")
    wait_answer(qtbot, window)
    transcript = window.chat.transcript
    assert transcript.resource_requests == []
    block = transcript.document().begin()
    while block.isValid():  # no image made it into the document
        iterator = block.begin()
        while not iterator.atEnd():
            assert not iterator.fragment().charFormat().isImageFormat()
            assert not isinstance(iterator.fragment().charFormat(), QTextImageFormat)
            iterator += 1
        block = block.next()
    click_text(qtbot, transcript, "the site")
    assert refused == ["http://example.com/x"]
    assert "offline" in window.statusBar().currentMessage()


class _ExplodingEngine(ScriptedEngine):
    """Streams two tokens, then fails with a bug (not an AssistantError)."""

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        *,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[Token]:
        yield Token(" Half", 1, -0.1)
        yield Token(" an", 2, -0.1)
        raise RuntimeError("boom in the engine")


def test_an_unexpected_error_is_reported_and_the_conversation_kept(qtbot, make_window, crashes):
    window = make_window(_ExplodingEngine())
    window.send("Will this work?")
    wait_answer(qtbot, window)
    assert len(crashes) == 1
    assert "boom in the engine" in crashes[0]
    saved = window.app.store.messages(window.conversation_id)
    assert saved[0].content == "Will this work?"
    assert saved[1].content == "Half an"
    assert saved[1].status == "partial"
    assert window.chat.state is InputState.READY  # the window carries on
