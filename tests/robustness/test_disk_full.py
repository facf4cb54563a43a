"""A full disk during an import or a save: a clear message, nothing half-written, then resume.

The index (or the conversation database) lives on a small tmpfs that a filler file fills up;
without permission to mount one, the tests skip and say why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.chat.store import ConversationStore
from assistant.engine.base import Role
from assistant.errors import KnowledgeIndexError, StoreError
from tests.robustness.conftest import open_kb, snapshot


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount to make a small disk: {exc}")
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def fill(disk: Path, *, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file; returns it."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_an_import_on_a_full_disk_says_so_keeps_what_was_done_and_resumes(
    small_disk: Path, rich_corpus: dict[str, Path], clean_index: Path
) -> None:
    index = small_disk / "index"
    folder = rich_corpus["report"].parent
    with open_kb(index) as kb:
        kb.ingest([rich_corpus["report"], rich_corpus["note"]])
        filler = fill(small_disk, leave=16 * 1024)
        with pytest.raises(KnowledgeIndexError) as caught:
            kb.ingest([folder])
        message = str(caught.value)
        assert "is full" in message
        assert "Free some space" in message
        assert "imported before are intact" in message
        # Nothing half-written: what was searchable still is, and nothing else became so.
        hits = kb.search("replacement valve AB-1234/X", top_k=1)
        assert hits[0].path.name == "nightjar-report.pdf"
        indexed = {d.name for d in kb.documents() if d.status.value == "indexed"}
        assert {"nightjar-report.pdf", "note.txt"} <= indexed
        filler.unlink()
        report = kb.ingest([folder])  # space again: the import finishes
        assert not report.failed
    assert snapshot(index) == snapshot(clean_index)


def test_saving_a_conversation_on_a_full_disk_says_so_and_keeps_the_rest(
    small_disk: Path,
) -> None:
    store = ConversationStore(small_disk / "conversations.sqlite3")
    try:
        conversation = store.create("Convoy")
        store.add_message(conversation.id, Role.USER, "When does the convoy leave?")
        filler = fill(small_disk, leave=4 * 1024)

        def keep_saving() -> None:
            for _ in range(200):  # until the database needs a page the disk does not have
                store.add_message(conversation.id, Role.ASSISTANT, "x" * 8192)

        with pytest.raises(StoreError) as caught:
            keep_saving()
        assert "the disk is full" in str(caught.value)
        assert "Nothing was half-written" in str(caught.value)
        saved = store.messages(conversation.id)
        assert saved[0].content == "When does the convoy leave?"
        assert all(m.content == "x" * 8192 for m in saved[1:])  # whole messages or none
        filler.unlink()
        store.add_message(conversation.id, Role.ASSISTANT, "Friday at dawn.")
        assert store.messages(conversation.id)[-1].content == "Friday at dawn."
    finally:
        store.close()
