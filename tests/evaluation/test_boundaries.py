"""The evaluation package stays light: no Qt, and no llama.cpp or Chroma until they are used."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_importing_evaluation_loads_no_heavy_library() -> None:
    code = (
        "import sys, assistant.evaluation, assistant.evaluation.runner, assistant.cli.evaluate\n"
        "heavy = [m for m in ('PySide6', 'llama_cpp', 'chromadb', 'torch', 'PIL') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
