"""``--model``, ``--home`` and ``--debug`` work after the command too (issue 19: the issue's own
``assistant ask --model FILE "hi"`` was refused as "unrecognized arguments")."""

from __future__ import annotations

from pathlib import Path

from assistant.cli.main import build_parser
from tests.conftest import run_cli


def test_model_after_the_command_is_the_model_used(tmp_path: Path) -> None:
    missing = tmp_path / "after.gguf"
    result = run_cli("ask", "--model", str(missing), "--no-library", "hi")
    assert result.returncode == 3, result.stderr  # the model was looked for: exit status 3
    assert result.stderr.startswith(f"error: No model file at {missing}.")


def test_home_after_a_nested_command(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    result = run_cli("docs", "list", "--home", str(home))
    assert result.returncode == 0, result.stderr
    assert "No documents yet" in result.stdout
    assert (home / "index").is_dir()


def test_before_stays_unless_given_again_after() -> None:
    parser = build_parser()
    before = parser.parse_args(["--model", "a.gguf", "--home", "/h", "ask", "q"])
    assert (before.model, before.home, before.debug) == ("a.gguf", "/h", False)
    after = parser.parse_args(["--model", "a.gguf", "ask", "--model", "b.gguf", "--debug", "q"])
    assert (after.model, after.debug) == ("b.gguf", True)
    nested = parser.parse_args(["conversations", "show", "3", "--home", "/x"])
    assert (nested.home, nested.id) == ("/x", 3)
