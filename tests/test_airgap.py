"""The air-gap proof: the whole flow traced at the system-call level, with no network at all."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, have_tool

SCRIPT = ROOT / "scripts" / "airgap_check.py"


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("airgap_check", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["airgap_check"] = module
    spec.loader.exec_module(module)
    return module


def _isolation_available() -> bool:
    return (
        have_tool("strace")
        and have_tool("unshare")
        and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
    )


needs_isolation = pytest.mark.skipif(
    not _isolation_available(), reason="needs strace and unshare -rn (user namespaces)"
)


@needs_isolation
def test_the_trace_catches_a_native_connect_attempt(tmp_path: Path) -> None:
    """A connect the Python guard never sees (no assistant.offline here) is still caught."""
    check = _load_script()
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except OSError:\n    pass\n"
    )
    step = check.traced(check.Step("rogue", [sys.executable, "-c", code]), tmp_path,
                        dict(os.environ))  # fmt: skip
    assert step.returncode == 0
    assert step.inet, step.calls
    assert "192.0.2.1" in step.inet[0]
    assert not step.passed


@needs_isolation
@pytest.mark.model
@pytest.mark.embedder
@pytest.mark.slow
def test_the_whole_flow_makes_no_internet_attempt(tmp_path: Path) -> None:
    report = tmp_path / "airgap-report.md"
    result = subprocess.run([sys.executable, str(SCRIPT), "--report", str(report)],
                            capture_output=True, text=True, timeout=1200, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    assert "Result: **PASS**" in text
    for step in ("doctor-and-model-load", "import-pdf-docx-html", "ask-with-retrieval",
                 "structured-extraction", "ask-without-retrieval"):  # fmt: skip
        assert f"| {step} | 0 |" in text
