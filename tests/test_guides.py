"""The guides work as written from a checkout: they say where the commands are."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

GUIDES = ["admin-guide.md", "user-guide.md", "knowledge.md", "evaluation.md",
          "structured-output.md", "data-safety.md"]  # fmt: skip


@pytest.mark.parametrize("name", GUIDES)
def test_a_guide_that_uses_bare_commands_says_how_to_reach_them(name: str) -> None:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    head = text[: text.index("\n## ")] if "\n## " in text else text
    assert "source .venv/bin/activate" in head
    assert ".venv/bin/assistant" in head
