"""The conversations sidebar, token confidence on saved answers, and window memory."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt

from assistant.chat.store import ConversationStore
from assistant.engine.base import Role
from assistant.engine.fake import ScriptedEngine
from assistant.gui import confidence
from tests.gui.conftest import wait_answer

pytestmark = pytest.mark.gui


def _conversation(store: ConversationStore, title: str, answer: str = "Yes.") -> int:
    cid = store.create(title).id
    store.add_message(cid, Role.USER, f"question about {title}")
    store.add_message(cid, Role.ASSISTANT, answer)
    return cid


def test_new_rename_delete_and_search(qtbot, make_window, gui_paths):
    window = make_window(ScriptedEngine().enqueue("One.", "Two."))
    window.send("alpha question")
    wait_answer(qtbot, window)
    window.commands.new_conversation.trigger()
    assert window.conversation_id is None
    assert "alpha question" not in window.chat.transcript.toPlainText()
    window.send("beta question")
    wait_answer(qtbot, window)
    assert window.sidebar.titles() == ["beta question", "alpha question"]

    window.ask_text = lambda title, label, current: "Renamed beta"
    window.commands.rename_conversation.trigger()
    assert window.sidebar.titles()[0] == "Renamed beta"

    qtbot.keyClicks(window.sidebar.search, "alp")
    assert window.sidebar.titles() == ["alpha question"]
    window.sidebar.search.clear()

    asked: list[str] = []

    def decline(title: str, question: str) -> bool:
        asked.append(question)
        return False

    window.confirm = decline
    window.commands.delete_conversation.trigger()
    assert "Renamed beta" in asked[0]
    assert len(window.sidebar.titles()) == 2  # declined: nothing deleted
    window.confirm = lambda title, question: True
    window.commands.delete_conversation.trigger()
    assert window.sidebar.titles() == ["alpha question"]
    assert window.conversation_id is None


def test_clicking_a_conversation_opens_it_and_the_last_one_reopens(qtbot, make_window, store):
    older = _conversation(store, "older", "The older answer.")
    newer = _conversation(store, "newer", "The newer answer.")
    window = make_window()
    assert window.conversation_id == newer  # the latest reopens on a first start
    item = window.sidebar.list.item(window.sidebar.titles().index("older"))
    rect = window.sidebar.list.visualItemRect(item)
    qtbot.mouseClick(window.sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.conversation_id == older
    assert "The older answer." in window.chat.transcript.toPlainText()
    window.close()

    again = make_window()
    assert again.conversation_id == older  # the one last open, not the newest


def test_confidence_colours_high_and_low_probability_tokens_apart(qtbot, make_window, store):
    cid = store.create("saved").id
    store.add_message(cid, Role.USER, "Where?")
    tokens = [
        ["The", math.log(0.97), [["The", math.log(0.97)], ["A", math.log(0.02)]]],
        [" treaty", math.log(0.6), [[" treaty", math.log(0.6)], [" pact", math.log(0.3)]]],
        [" Oslo", math.log(0.04), [[" Bergen", math.log(0.5)], [" Oslo", math.log(0.04)]]],
    ]
    store.add_message(cid, Role.ASSISTANT, "The treaty Oslo", meta={"tokens": tokens})
    window = make_window()
    assert window.conversation_id == cid
    window.commands.confidence.trigger()
    assert window.chat.legend.isVisible()

    runs = window.chat.transcript.token_formats(1)
    assert [text for text, _ in runs] == ["The", " treaty", " Oslo"]
    colours = [fmt.background().color() for _, fmt in runs]
    assert colours[0] == confidence.band_for(0.97).color
    assert colours[2] == confidence.band_for(0.04).color
    assert len({c.name(c.NameFormat.HexArgb) for c in colours}) == 3  # sure, likely, guess
    low_tip = runs[2][1].toolTip()
    assert "4.0%" in low_tip
    assert "Bergen" in low_tip
    assert "50.0%" in low_tip
    assert "mean probability" in window.chat.transcript.toPlainText()

    window.commands.confidence.trigger()  # back to rendered text: no colours
    assert window.chat.transcript.token_formats(1) == []


def test_confidence_view_colours_tokens_while_they_stream(qtbot, make_window):
    engine = ScriptedEngine().enqueue("one two three four")
    window = make_window(engine)
    window.commands.confidence.setChecked(True)
    window.send("count")
    wait_answer(qtbot, window)
    runs = window.chat.transcript.token_formats(1)
    assert "".join(text for text, _ in runs) == "one two three four"
    # The scripted engine gives 90 %, 82 %, 74 %: "sure" then "likely".
    assert runs[0][1].background().color() != runs[1][1].background().color()


def test_window_geometry_is_remembered(qtbot, make_window):
    window = make_window()
    window.resize(761, 599)
    window.close()
    again = make_window()
    assert (again.width(), again.height()) == (761, 599)
