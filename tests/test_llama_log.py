"""llama.cpp's own log lines stay off the terminal (issue 19: ``--model`` leaked one with a URL).

Gemma 3 makes llama.cpp warn "using full-size SWA cache (ref: https://github.com/...)" while the
context is created; llama-cpp-python's callback lets ggml's warnings through despite
``verbose=False``. The engine routes them to the log instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.model


def test_loading_gemma_prints_nothing_from_llama_cpp(gemma_path: Path) -> None:
    result = run_cli("--model", str(gemma_path), "doctor", "--json")
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout  # the model did load
    assert "llama_" not in result.stderr
    assert "https://" not in result.stderr
    assert result.stderr == ""


def test_the_lines_go_to_the_log_at_debug_level(
    gemma_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from assistant.engine.llama import LlamaEngine

    with caplog.at_level(logging.DEBUG, logger="assistant.engine.llama"):
        engine = LlamaEngine.load(gemma_path, context_size=512, threads=1)
        engine.close()
    assert "using full-size SWA cache" not in capfd.readouterr().err
    assert any("using full-size SWA cache" in r.getMessage() for r in caplog.records)
    assert {r.levelno for r in caplog.records if "llama.cpp:" in r.getMessage()} == {logging.DEBUG}
