"""Parsing in a child process: results come back, a slow parse is cut off, the next file works."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from assistant.knowledge.records import FailureKind, KnowledgeSettings, LoadFailure, ParsedDocument
from assistant.knowledge.sandbox import ParserWorker
from tests.knowledge.corpus import REPORT_PAGES, write_pdf


def test_child_process_parses_and_keeps_pages(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "r.pdf", REPORT_PAGES)
    with ParserWorker(KnowledgeSettings()) as worker:
        result = worker.parse(pdf)
        child = worker._process
        assert child is not None
        assert child.pid != os.getpid()
    assert isinstance(result, ParsedDocument)
    assert [s.page for s in result.sections] == [1, 2, 3, 4]


def test_a_parse_past_the_time_limit_is_abandoned_and_the_next_file_still_parses(
    tmp_path: Path,
) -> None:
    pdf = write_pdf(tmp_path / "r.pdf", REPORT_PAGES * 20)
    note = tmp_path / "note.txt"
    note.write_text("still works", encoding="utf-8")
    with ParserWorker(KnowledgeSettings(parse_timeout_s=0.0005)) as worker:
        slow = worker.parse(pdf)
        assert isinstance(slow, LoadFailure)
        assert slow.kind is FailureKind.TIMEOUT
        assert "longer than" in slow.reason
        worker._settings = KnowledgeSettings(parse_timeout_s=30)
        after = worker.parse(note)
    assert isinstance(after, ParsedDocument)
    assert after.sections[0].text == "still works"


def test_a_dead_parser_process_is_replaced(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("survivor", encoding="utf-8")
    with ParserWorker(KnowledgeSettings()) as worker:
        assert isinstance(worker.parse(note), ParsedDocument)
        first = worker._process
        assert first is not None
        assert first.pid is not None
        first_pid = first.pid
        os.kill(first_pid, signal.SIGKILL)
        first.join(5)
        recovered = worker.parse(note)
        assert worker._process is not None
        assert worker._process.pid != first_pid
    assert isinstance(recovered, ParsedDocument)
    assert recovered.sections[0].text == "survivor"
