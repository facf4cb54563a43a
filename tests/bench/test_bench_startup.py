"""bench/bench_startup.py at a tiny size with the real parts, and the GUI probe when it is off.

The benchmark test spawns the real ``assistant-gui`` (offscreen) with the real SmolLM2 model
and embedder, the real ``assistant ask`` and both references, once each, and checks that the
figures it reports are in the order time allows. The probe tests check that without
``ASSISTANT_STARTUP_PROBE`` there is no probe, and that the real GUI then neither closes itself
nor writes anything once it is ready and warmed up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.runner import run_bench

pytestmark = [pytest.mark.gui, pytest.mark.model, pytest.mark.slow]

#: Libraries that take seconds to import: none may load on the way to the window.
NOT_BEFORE_WINDOW = ("torch", "sentence_transformers", "transformers", "chromadb")


def test_benchmark_reports_ordered_start_up_marks(tmp_path: Path, smol_path: Path) -> None:
    out = tmp_path / "startup.json"
    result = run_bench(
        "bench_startup", out, "--runs", "1", "--max-tokens", "8", "--quick", "--threads", "1",
        "--model", str(smol_path), "--workdir", str(tmp_path / "work"), timeout=900,
    )  # fmt: skip

    for row in ("gui", "gui_ask_after_warm_up"):
        gui = result[row]
        assert 0 < gui["main_s"] < gui["interactive_s"] < gui["ready_s"], row
        assert gui["ready_s"] <= gui["asked_s"] <= gui["first_token_s"], row
        assert gui["first_token_s"] <= gui["complete_s"] <= gui["exit_s"], row
        assert gui["ready_s"] <= gui["library_warm_s"] <= gui["exit_s"], row
        assert 0 < gui["answer_first_token_s"] <= gui["answer_complete_s"], row
        assert 1 <= gui["tokens"] <= 8, row
    late = result["gui_ask_after_warm_up"]
    assert late["library_warm_s"] <= late["asked_s"]  # it did wait for the warm-up

    window = result["window_reference"]
    assert 0 < window["interactive_s"] <= window["exit_s"]
    raw = result["answer_reference"]
    assert 0 < raw["imported_s"] < raw["loaded_s"] < raw["first_token_s"]
    for row in ("cli", "answer_reference"):
        answer = result[row]
        assert 0 < answer["first_token_s"] <= answer["complete_s"] <= answer["exit_s"], row
    # Greedy on every side: the app's answers are the raw floor's answer.
    assert result["same_answer"] is True
    assert result["same_token_count"] is True
    assert result["prompt_tokens"] > 10
    assert all(value > 0 for value in result["ratios"].values()), result["ratios"]

    assert not set(NOT_BEFORE_WINDOW) & set(result["heavy_loaded_at_gui_interactive"])
    imports = result["imports"]
    assert imports["gui_module"]["heavy_loaded"] == []
    assert "llama_cpp" in imports["cli_ask_whole_run"]["heavy_loaded"]  # the model did load
    assert imports["gui_module"]["total_s"] > imports["bare_window_module"]["total_s"] > 0
    assert len(result["load_average"]["before"]) == 3


def test_no_probe_without_the_variable() -> None:
    from assistant.gui.app import (
        PROBE_ASK_AFTER_ENV,
        PROBE_ENV,
        PROBE_QUESTION_ENV,
        StartupProbe,
    )

    assert StartupProbe.from_env({}) is None
    assert StartupProbe.from_env({PROBE_ENV: "  ", PROBE_QUESTION_ENV: "Hello?"}) is None
    probe = StartupProbe.from_env(
        {PROBE_ENV: "/tmp/p.json", PROBE_QUESTION_ENV: " Hello? ", PROBE_ASK_AFTER_ENV: "warm-up"}
    )
    assert probe is not None
    assert (probe.file, probe.question, probe.after_warm_up) == (
        Path("/tmp/p.json"),
        "Hello?",
        True,
    )


#: Runs the real GUI with no probe variable; once the model is ready and the library warmed
#: up (when an active probe would have written its file and closed the window), it reports
#: whether the window is still open, then closes it.
WATCH_GUI = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from assistant.gui.app import main
from assistant.gui.chat_panel import InputState
from assistant.gui.main_window import MainWindow

qapp = QApplication([sys.argv[0]])
state = {}

def watch():
    windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
    if not windows:
        return
    window = windows[0]
    if window.chat.state is InputState.READY and window.warm_task is None and not state:
        state["settled"] = True
        QTimer.singleShot(500, lambda: report(window))

def report(window):
    print("open" if window.isVisible() else "closed", flush=True)
    window.close()

timer = QTimer()
timer.timeout.connect(watch)
timer.start(20)
sys.exit(main(["--home", sys.argv[1]]))
"""


def test_gui_without_the_variable_neither_closes_nor_writes(
    tmp_path: Path, smol_path: Path
) -> None:
    home = tmp_path / "gui-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_STARTUP_PROBE")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(
        [sys.executable, "-c", WATCH_GUI, str(home)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["open"]
    written = {p.name for p in tmp_path.rglob("*.json*")}
    assert written == set(), written
