"""A killed import resumes to exactly what an undisturbed import produces (issue 8).

The ingest command runs in its own process (``ingest_driver``: the real CLI commands with the fast
fake embedder) and is SIGKILLed by ``ENCLAVE_TEST_KILL_AT`` at named points of the pipeline, one
after another on the same index, including inside an uncommitted FTS5 transaction and, by a
seeded random delay, inside whatever write follows a stage (Chroma's upsert, the ledger). After
a final, uninterrupted run the ledger, the FTS5 chunks and the Chroma ids must equal a clean
run's, and search must work.
"""

from __future__ import annotations

import random
import signal
import sqlite3
from pathlib import Path

import pytest

from assistant.knowledge.base import DATABASE_FILE
from assistant.knowledge.db import Database
from assistant.knowledge.importer import KILL_STAGES
from tests.robustness.conftest import open_kb, run_driver, snapshot

pytestmark = pytest.mark.slow

_RANDOM = random.Random(8)  # fixed seed: the same "random" kill points on every run
#: Each entry kills one run of the import; the next run resumes from what it left.
KILL_POINTS = (
    "parsed:3",  # a document parsed, its batch not yet embedded
    "dense:2",  # a batch's vectors in Chroma, its passages not yet in FTS5
    "lexical:2",  # inside an FTS5 transaction, uncommitted: mid-write
    f"embedded:1+{_RANDOM.uniform(0.0005, 0.008):.4f}",  # somewhere in the Chroma upsert
)


def test_every_kill_point_names_a_stage() -> None:
    assert {p.split(":")[0] for p in KILL_POINTS} <= set(KILL_STAGES)


def test_a_killed_import_resumes_to_the_same_index_as_a_clean_run(
    tmp_path: Path, rich_corpus: dict[str, Path], clean_index: Path
) -> None:
    home = tmp_path / "home"
    folder = str(next(iter(rich_corpus.values())).parent)
    notes: list[str] = []
    for point in KILL_POINTS:
        result = run_driver(home, "ingest", folder, kill_at=point)
        assert result.returncode == -signal.SIGKILL, (point, result.stdout, result.stderr)
        notes += [line for line in result.stderr.splitlines() if line.startswith("note:")]
    progress = snapshot(home / "index")
    reference = snapshot(clean_index)
    # The kills happened part-way: some documents were left unfinished.
    assert any(status != "indexed" for status, _, _ in progress.ledger.values()) or len(
        progress.ledger
    ) < len(reference.ledger)

    final = run_driver(home, "ingest", folder)
    assert final.returncode == 0, final.stderr
    assert "failed 0" in final.stdout
    resumed = snapshot(home / "index")
    assert resumed.ledger == reference.ledger
    assert all(status == "indexed" for status, _, _ in resumed.ledger.values())
    assert resumed.lexical == reference.lexical
    assert resumed.dense == reference.dense == reference.lexical
    assert resumed.fts_rows == reference.fts_rows == len(reference.lexical)
    assert sum(chunks for _, chunks, _ in resumed.ledger.values()) == len(reference.lexical)

    with open_kb(home / "index") as kb:
        # Replaying the finished import is harmless: nothing changes.
        report = kb.ingest([folder])
        assert (len(report.imported), len(report.skipped)) == (0, len(reference.ledger))
        hits = kb.search("total approved budget for fiscal year 2024", top_k=3)
        assert hits[0].path.name == "nightjar-report.pdf"
        assert hits[0].page == 2
        assert kb.notices == []  # the last run finished cleanly: nothing left to repair
    assert snapshot(home / "index") == resumed
    print("notes from resumed runs:", notes or "none")


def test_the_ledger_is_wal_with_full_sync(tmp_path: Path) -> None:
    db = Database(tmp_path / DATABASE_FILE)
    try:
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        db.close()
    conn = sqlite3.connect(tmp_path / DATABASE_FILE)  # WAL is a property of the file
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.embedder
def test_the_real_assistant_ingest_killed_between_its_two_indexes_resumes(
    tmp_path: Path, rich_corpus: dict[str, Path]
) -> None:
    """``python -m assistant ingest`` with the real embedder, killed after Chroma was written
    and before FTS5 was: the worst moment for the two indexes to disagree."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    home = tmp_path / "home"
    folder = str(next(iter(rich_corpus.values())).parent)

    def ingest(kill_at: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ASSISTANT_HOME": str(home), "ENCLAVE_TEST_KILL_AT": kill_at}
        return subprocess.run(
            [sys.executable, "-m", "assistant", "ingest", folder],
            capture_output=True, text=True, timeout=400, env=env, cwd=ROOT,
        )  # fmt: skip

    killed = ingest("dense:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    half = snapshot(home / "index")
    assert half.dense - half.lexical  # vectors written whose passages FTS5 never got
    resumed = ingest()
    assert resumed.returncode == 0, resumed.stderr
    assert "failed 0" in resumed.stdout
    done = snapshot(home / "index")
    assert set(done.ledger) == {p.name for p in rich_corpus.values()}
    assert all(status == "indexed" for status, _, _ in done.ledger.values())
    assert done.dense == done.lexical
    assert done.fts_rows == len(done.lexical) == sum(c for _, c, _ in done.ledger.values())
