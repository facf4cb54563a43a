"""``doctor`` on a configured model file that is not there: a missing file, with the way out.

Issue 19: it used to be reported as a failed header check, which sends people looking for a
damaged file that does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.config import DEFAULT_MODEL_ENV
from tests.conftest import run_cli


def test_a_missing_model_path_is_a_missing_file_not_a_header_failure(tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    result = run_cli("--model", str(missing), "doctor", "--no-model", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    model = report["configured_model"]
    assert model["missing"] is True
    assert model["error"].startswith(f"missing file {missing} (chosen by model.path")
    assert "assistant-admin settings set model.path FILE" in model["error"]
    assert (
        f"the configured model file is missing: {missing} (see [FAIL] above)"
        in (report["problems"])
    )
    assert not any("header" in problem for problem in report["problems"])

    text = run_cli("--model", str(missing), "doctor", "--no-model").stdout
    assert f"[FAIL] answering model: missing file {missing}" in text
    assert "header check" not in text


def test_a_missing_default_model_says_how_to_get_it_back(tmp_path: Path) -> None:
    missing = tmp_path / "default.gguf"
    result = run_cli("doctor", "--no-model", env={DEFAULT_MODEL_ENV: str(missing)})
    assert result.returncode == 1
    assert f"[FAIL] answering model: missing file {missing} (chosen by {DEFAULT_MODEL_ENV})" in (
        result.stdout
    )
    assert "run scripts/setup.sh again" in result.stdout
    assert "header check" not in result.stdout


def test_a_file_that_is_there_but_not_a_model_still_fails_the_header_check(
    tmp_path: Path,
) -> None:
    bogus = tmp_path / "notes.gguf"
    bogus.write_bytes(b"not a model at all" * 10)
    report = json.loads(run_cli("--model", str(bogus), "doctor", "--no-model", "--json").stdout)
    assert "missing" not in report["configured_model"]
    assert "the configured model does not pass the header check" in report["problems"]
