"""A damaged or missing vector index is found at start, the user told, and it is rebuilt.

The rebuilt index holds exactly the chunk ids it held before (re-embedded from the passages in
``knowledge.sqlite3``), the damaged copy is kept aside, and opening again does not rebuild again
(no loop).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.cli.common import add_global_options, run_command
from assistant.cli.knowledge import register
from assistant.config import Paths
from assistant.knowledge import KnowledgeBase
from assistant.knowledge.base import CHROMA_DIR
from assistant.knowledge.recovery import REBUILD_KEY, quick_check
from assistant.knowledge.store import inventory
from tests.robustness.conftest import open_kb

QUESTION = "total approved budget for fiscal year 2024"


def vector_ids(index_dir: Path) -> dict[str, set[str]]:
    return {name: set(ids) for name, ids in inventory(index_dir / CHROMA_DIR).items()}


def chroma_db(index_dir: Path) -> Path:
    return index_dir / CHROMA_DIR / "chroma.sqlite3"


def truncate(index_dir: Path) -> None:
    data = chroma_db(index_dir).read_bytes()
    chroma_db(index_dir).write_bytes(data[: len(data) // 3])


def garble_header(index_dir: Path) -> None:
    with chroma_db(index_dir).open("r+b") as handle:
        handle.write(b"\x00garbage garbage garbage garbage\x00" * 4)


def delete_folder(index_dir: Path) -> None:
    shutil.rmtree(index_dir / CHROMA_DIR)


@pytest.fixture
def index(tmp_path: Path, clean_index: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(clean_index, copy)
    return copy


@pytest.mark.parametrize(
    ("damage", "said"),
    [(truncate, "cannot be read"), (garble_header, "cannot be read"), (delete_folder, "missing")],
)
def test_a_damaged_index_is_reported_rebuilt_and_searchable(
    index: Path, damage: Callable[[Path], None], said: str
) -> None:
    before = vector_ids(index)
    damage(index)
    with open_kb(index) as kb:
        message = kb.check_index()
        assert said in message
        assert "being rebuilt from the 47 passages" in message
        assert "no document is lost" in message
        hits = kb.search(QUESTION, top_k=3)  # opens the index: the rebuild runs here
        assert hits[0].path.name == "nightjar-report.pdf"
        assert hits[0].page == 2
        assert hits[0].dense_rank is not None  # found by the vector index, not FTS5 alone
        assert kb.notices[-1].startswith("The vector index was rebuilt: 47 passages")
    assert vector_ids(index) == before  # the same ids, re-embedded
    kept = sorted(index.glob(f"{CHROMA_DIR}.damaged-*"))
    assert len(kept) == (0 if damage is delete_folder else 1)
    with open_kb(index) as kb:  # the next start finds nothing wrong: no rebuild loop
        assert kb.check_index() == ""
        kb.search(QUESTION)
        assert kb.notices == []


def test_damage_found_without_an_explicit_check_is_repaired_on_first_use(index: Path) -> None:
    truncate(index)
    with open_kb(index) as kb:
        assert kb.search(QUESTION)[0].page == 2
        assert "unusable" in kb.notices[0]
        assert "rebuilt" in kb.notices[1]


def test_an_index_chroma_itself_rejects_is_caught_by_the_child_probe(index: Path) -> None:
    # A sound SQLite file with Chroma's table names but not its schema: the cheap check passes,
    # Chroma fails on it, in the child process.
    chroma = index / CHROMA_DIR
    shutil.rmtree(chroma)
    chroma.mkdir()
    conn = sqlite3.connect(chroma / "chroma.sqlite3")
    conn.executescript("CREATE TABLE collections (x); CREATE TABLE segments (x); "
                       "CREATE TABLE embeddings (x);")  # fmt: skip
    conn.close()
    assert quick_check(chroma) is None
    with open_kb(index) as kb:
        message = kb.check_index(probe=True)
        assert "unusable" in message
        assert kb.search(QUESTION)[0].page == 2


def test_an_interrupted_rebuild_is_finished_on_the_next_start(index: Path) -> None:
    with open_kb(index) as kb:
        kb._db.set_meta(REBUILD_KEY, "pending")  # as a rebuild killed half-way leaves it
    with open_kb(index) as kb:
        assert "interrupted" in kb.check_index()
        assert kb.search(QUESTION)[0].page == 2
    with open_kb(index) as kb:
        assert kb.check_index() == ""


@dataclass
class _App:
    paths: Paths
    knowledge: KnowledgeBase

    def close(self) -> None:
        self.knowledge.close()


@pytest.fixture
def cli(index: Path, paths: Paths) -> Iterator[Callable[..., int]]:
    parser = argparse.ArgumentParser(prog="assistant")
    add_global_options(parser)
    register(parser.add_subparsers(dest="command"), lambda args: _App(paths, open_kb(index)))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return run_command(args.handler, args)

    return run  # type: ignore[return-value]


def test_docs_check_and_docs_rebuild(cli, index: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: rebuilding a sound index calls nothing damaged and counts every collection."""
    with open_kb(index) as kb:  # a second collection, holding only a file that failed
        (index.parent / "broken.pdf").write_bytes(b"%PDF-1.4 cut off")
        kb.ingest([index.parent / "broken.pdf"], collection="scans")
        assert [c.name for c in kb.collections()] == ["default", "scans"]
    assert cli("docs", "check") == 0
    assert "default: 47 passages, 0 without a vector" in capsys.readouterr().out
    assert cli("docs", "rebuild") == 0
    captured = capsys.readouterr()
    assert "Rebuilt the vector index: 47 passages in 2 collections" in captured.out
    assert "damaged" not in captured.out + captured.err
    assert captured.err == ""  # the command's own line says it all; no second notice
    assert list(index.parent.glob(f"{CHROMA_DIR}.*")) == []  # the sound copy is gone
    assert list(index.glob(f"{CHROMA_DIR}.*")) == []
    assert cli("search", QUESTION, "--json") == 0
    assert '"page": 2' in capsys.readouterr().out


def test_docs_rebuild_of_a_damaged_index_keeps_the_evidence(cli, index: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = vector_ids(index)
    garble_header(index)
    assert cli("docs", "rebuild") == 0
    out = capsys.readouterr().out
    (kept,) = index.glob(f"{CHROMA_DIR}.damaged-*")
    assert "Rebuilt the vector index: 47 passages in 1 collection," in out
    assert "The old index was damaged (chroma.sqlite3 cannot be read" in out
    assert f"it is kept in {kept}" in out
    assert vector_ids(index) == before


@pytest.mark.gui
def test_the_gui_start_up_reports_a_damaged_index(
    index: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.gui.app import open_knowledge
    from tests.robustness.ingest_driver import DRIVER_SETTINGS

    shutil.copytree(index, paths.index_dir)
    truncate(paths.index_dir)
    from assistant.knowledge import HashEmbedder

    knowledge, problem = open_knowledge(paths, embedder=HashEmbedder(), settings=DRIVER_SETTINGS)
    assert knowledge is not None  # the library stays available while it is rebuilt
    try:
        assert "The vector index at" in problem
        assert "being rebuilt" in problem
        knowledge.open_index()  # what the GUI's warm-up worker does
        assert knowledge.search(QUESTION)[0].page == 2
    finally:
        knowledge.close()


def test_a_sound_copy_left_by_an_interrupted_rebuild_goes_when_the_next_one_finishes(
    index: Path,
) -> None:
    from assistant.knowledge.recovery import PREVIOUS_SUFFIX

    with open_kb(index) as kb:  # as "docs rebuild" killed right after moving the sound index
        kb._guard._set_aside(PREVIOUS_SUFFIX)
    (left,) = index.glob(f"{CHROMA_DIR}.{PREVIOUS_SUFFIX}-*")
    with open_kb(index) as kb:
        assert "interrupted" in kb.check_index()
        assert kb.search(QUESTION)[0].page == 2  # rebuilt here
    assert not left.exists()
    assert list(index.glob(f"{CHROMA_DIR}.damaged-*")) == []
