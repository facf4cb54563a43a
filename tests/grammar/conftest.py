"""Shared helpers for the structured-output tests: the schema corpus on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "schemas"


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Every schema of the corpus: the SchemaStore files and the keyword cases."""
    found = [
        (p.stem, json.loads(p.read_text()))
        for p in sorted((SCHEMAS / "schemastore").glob("*.json"))
    ]
    found += [(c["name"], c["schema"]) for c in keyword_cases()]
    return found


def keyword_cases() -> list[dict[str, Any]]:
    return json.loads((SCHEMAS / "keywords" / "cases.json").read_text())
