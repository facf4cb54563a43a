"""What the benchmarks share: the machine's load, medians, and app-shaped RAG prompts.

Import it as ``from bench.common import ...`` with ``PYTHONPATH=.`` (the documented commands set
it). Nothing here imports llama.cpp.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from assistant.config import source_root
from assistant.engine.base import ChatMessage, Engine
from assistant.knowledge.prompt import build_messages
from assistant.knowledge.search import SearchHit


def load_average() -> float:
    """The 1-minute load average: the machine is shared, so every result records it."""
    return round(os.getloadavg()[0], 2)


def load_averages() -> list[float]:
    """The 1-, 5- and 15-minute load averages, for results that keep all three."""
    return [round(x, 2) for x in os.getloadavg()]


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmHWM`` for its peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json FILE``: also write the figures there (``bench/plots.py`` reads such files)."""
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON")


def report(result: object, target: Path | None) -> None:
    """Print the figures, and write them to ``target`` when one was given."""
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4) if values else 0.0


def doc_passages(limit: int = 12, min_chars: int = 300) -> list[SearchHit]:
    """Paragraphs of the project's own docs as search hits, for prompts shaped like the app's."""
    hits: list[SearchHit] = []
    for path in sorted((source_root() / "docs").glob("*.md")):
        for paragraph in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            text = " ".join(paragraph.split())
            if len(text) < min_chars or text.startswith(("|", "```", "#")):
                continue
            hits.append(
                SearchHit(
                    chunk_id=f"{path.stem}-{len(hits)}",
                    document_id=path.stem,
                    document_name=path.name,
                    path=Path(path),
                    collection="bench",
                    page=None,
                    heading="",
                    text=text,
                    char_start=0,
                    char_end=len(text),
                    score=1.0,
                    dense_similarity=0.5,
                )  # fmt: skip
            )
            if len(hits) == limit:
                return hits
    return hits


def rag_messages(
    question: str, hits: Sequence[SearchHit], engine: Engine, *, max_tokens: int
) -> list[ChatMessage]:
    """The exact messages the app sends for ``question`` over ``hits``."""
    messages, _ = build_messages(question, hits, engine, max_tokens=max_tokens)
    return messages
