"""Run a benchmark script the way the documentation does, for the tests in this folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT


def run_bench(script: str, target: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``bench/<script>.py`` with ``args --json target`` in a fresh interpreter.

    Returns the figures it wrote, after checking it exited cleanly and printed the same JSON (the
    last thing on its standard output).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{script}.py"), *args, "--json", str(target)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    out = done.stdout
    printed = out if out.startswith("{") else out[out.index("\n{") + 1 :]
    assert json.loads(printed) == result  # printed = written
    return result
