"""Helpers for the robustness tests: a corpus with many batch boundaries, index snapshots."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.knowledge import HashEmbedder, KnowledgeBase
from assistant.knowledge.base import CHROMA_DIR, DATABASE_FILE
from tests.conftest import ROOT
from tests.knowledge.corpus import build_corpus
from tests.robustness.ingest_driver import DRIVER_SETTINGS

#: Topics for the extra notes, one fact each, so every note yields its own searchable chunks.
_TOPICS = (
    "The harbour crane was inspected in March and its cable replaced.",
    "Ration stocks at the northern depot last for ninety days.",
    "The satellite uplink fails over to the backup dish at Vardo.",
    "Night patrols rotate every four hours between the two gates.",
    "Diesel for the generators is delivered by barge each fortnight.",
    "The medical bay holds antidotes for the three listed agents.",
    "Visitor badges expire at midnight and must be returned at the desk.",
    "The archive humidity must stay between forty and fifty percent.",
)


def write_rich_corpus(folder: Path) -> dict[str, Path]:
    """The knowledge tests' corpus plus eight multi-paragraph notes (about 40 small chunks)."""
    files = build_corpus(folder)
    for number, fact in enumerate(_TOPICS):
        note = folder / f"note-{number:02d}.txt"
        paragraphs = [f"{fact} Paragraph {p} of note {number} repeats it for length."
                      for p in range(4)]  # fmt: skip
        note.write_text("\n\n".join(paragraphs), encoding="utf-8")
        files[f"note-{number:02d}"] = note
    return files


@dataclass(frozen=True)
class Snapshot:
    """What an index holds, in the terms a clean run and a resumed run must agree on."""

    ledger: dict[str, tuple[str, int, str]]  # file name -> (status, chunks, sha256)
    lexical: frozenset[str]  # chunk ids in the chunks table (FTS5's content)
    dense: frozenset[str]  # chunk ids in Chroma
    fts_rows: int  # rows the FTS5 index holds


def snapshot(index_dir: Path, collection: str = "default") -> Snapshot:
    """Read the ledger, FTS5 and Chroma of an index (no process may be writing it)."""
    from assistant.knowledge.store import inventory

    conn = sqlite3.connect(index_dir / DATABASE_FILE)
    try:
        # Raises when the FTS5 index disagrees with its content table.
        conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")
        ledger = {
            Path(path).name: (status, chunks, sha)
            for path, status, chunks, sha in conn.execute(
                "SELECT path, status, chunks, sha256 FROM documents WHERE collection = ?",
                (collection,),
            )
        }
        lexical = frozenset(r[0] for r in conn.execute("SELECT id FROM chunks"))
        fts_rows = conn.execute("SELECT COUNT(*) FROM chunks_fts_docsize").fetchone()[0]
    finally:
        conn.close()
    dense = frozenset(inventory(index_dir / CHROMA_DIR).get(collection, []))
    return Snapshot(ledger, lexical, dense, fts_rows)


def open_kb(index_dir: Path) -> KnowledgeBase:
    return KnowledgeBase.open(index_dir, embedder=HashEmbedder(), settings=DRIVER_SETTINGS)


def run_driver(
    home: Path, *args: str, kill_at: str = "", timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run the ingest driver (the real CLI commands, fake embedder) in a fresh interpreter."""
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    env.pop("ENCLAVE_TEST_KILL_AT", None)
    if kill_at:
        env["ENCLAVE_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "tests.robustness.ingest_driver", "--home", str(home), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture
def rich_corpus(tmp_path: Path) -> dict[str, Path]:
    return write_rich_corpus(tmp_path / "docs")


@pytest.fixture
def clean_index(tmp_path: Path, rich_corpus: dict[str, Path]) -> Iterator[Path]:
    """The rich corpus imported once, undisturbed, in this process: the reference."""
    index_dir = tmp_path / "clean-index"
    with open_kb(index_dir) as kb:
        kb.ingest([next(iter(rich_corpus.values())).parent])
    return index_dir
