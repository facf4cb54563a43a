"""Settings dialog, the single-instance lock, the entry points and the Qt boundary."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from assistant.app import App
from assistant.config import load_settings
from assistant.engine.fake import ScriptedEngine
from assistant.gui.app import acquire_instance_lock
from assistant.gui.chat_panel import InputState
from assistant.gui.settings_dialog import SettingsDialog
from tests.conftest import ROOT, run_cli
from tests.gui.conftest import wait_answer

pytestmark = pytest.mark.gui

QT_IMPORT = re.compile(r"^\s*(from|import)\s+(PySide6|shiboken6)\b", re.MULTILINE)


def test_settings_persist_across_a_restart(qtbot, make_window, gui_paths):
    loads: list[int] = []
    engine = ScriptedEngine().enqueue("ok")

    def loader(settings):
        loads.append(settings.model.threads)
        return engine

    window = make_window(loader=loader)
    dialog = SettingsDialog(gui_paths, window.app.settings, window.retrieval_top_k, window)
    qtbot.addWidget(dialog)
    dialog.fields["model.threads"].setValue(3)
    dialog.fields["generation.temperature"].setValue(0.7)
    dialog.fields["generation.top_k"].setValue(12)
    dialog.retrieval.setValue(8)
    dialog.system_prompt.setPlainText("Answer in one sentence.")
    dialog.accept()
    assert dialog.saved is not None
    assert dialog.saved.model_changed
    window.apply_settings(dialog.saved.settings, dialog.saved.retrieval_top_k)
    qtbot.waitUntil(lambda: loads == [0, 3] and window.chat.state is InputState.READY)
    window.send("hello")
    wait_answer(qtbot, window)
    call = engine.calls[-1]
    assert call.options.temperature == 0.7
    assert call.options.top_k == 12
    assert call.messages[0].content == "Answer in one sentence."
    window.close()

    saved = load_settings(gui_paths)  # what a restart reads
    assert (saved.model.threads, saved.generation.temperature) == (3, 0.7)
    assert saved.generation.system_prompt == "Answer in one sentence."
    again = make_window()
    assert again.app.settings.generation.top_k == 12
    assert again.retrieval_top_k == 8
    reopened = SettingsDialog(gui_paths, again.app.settings, again.retrieval_top_k, again)
    qtbot.addWidget(reopened)
    assert reopened.fields["model.threads"].value() == 3


def test_invalid_values_are_refused_in_the_form(qtbot, gui_paths):
    app = App.create(gui_paths)
    dialog = SettingsDialog(gui_paths, app.settings, 5)
    qtbot.addWidget(dialog)
    dialog.fields["model.context_size"].setValue(100)  # the schema's minimum is 256
    dialog.accept()
    assert dialog.saved is None
    assert "context_size" in dialog.error.text()
    assert "256" in dialog.error.text()
    assert not gui_paths.settings_file.exists()  # nothing half-saved
    dialog.fields["model.context_size"].setValue(2048)
    dialog.retrieval.setValue(0)
    dialog.accept()
    assert dialog.saved is None
    assert "knowledge.top_k" in dialog.error.text()
    app.close()


def test_a_second_instance_says_it_is_already_running(gui_paths):
    lock = acquire_instance_lock(gui_paths)
    try:
        result = run_cli(
            "--home", str(gui_paths.home), program="assistant.gui",
            env={"QT_QPA_PLATFORM": "offscreen"}, timeout=120,
        )  # fmt: skip
    finally:
        lock.release()
    assert result.returncode == 1, result.stderr
    assert "already running" in result.stderr
    assert "Traceback" not in result.stderr


def test_assistant_gui_is_a_command(gui_paths):
    result = run_cli("gui", "--help")
    assert result.returncode == 0, result.stderr
    assert "gui" in result.stdout


def test_only_the_gui_package_imports_qt():
    code = (
        "import sys, assistant.app, assistant.cli.main, assistant.chat.session, "
        "assistant.knowledge, assistant.gui.transcript, assistant.gui.document_chat; "
        "assert 'PySide6' not in sys.modules, 'Qt leaked'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "assistant").rglob("*.py")
        if QT_IMPORT.search(path.read_text(encoding="utf-8")) and path.parent.name != "gui"
    ]
    assert offenders == []
