"""The library panel, answers from documents, the sources panel and the document viewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from assistant.engine.fake import ScriptedEngine
from assistant.knowledge.records import DocumentStatus, IngestReport, ProgressEvent
from tests.gui.conftest import REPORT_PAGES, click_text, wait_answer, wait_import
from tests.knowledge.corpus import write_pdf

pytestmark = pytest.mark.gui

BUDGET_QUOTE = "total approved budget for fiscal year 2024 is 4.2 million euros"


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(folder / "nightjar-report.pdf", REPORT_PAGES)
    for n in range(3):
        (folder / f"note-{n}.txt").write_text(f"Field note {n}: the antenna {n} was inspected.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    return folder


def test_import_shows_progress_and_the_reason_a_file_failed(
    qtbot, make_window, knowledge, tmp_path
):
    window = make_window(knowledge=knowledge)
    library = window.library
    events: list[ProgressEvent] = []
    values: list[int] = []
    library.progress.valueChanged.connect(values.append)
    task = library.import_paths([_docs(tmp_path / "docs")])
    assert task is not None
    task.progress.connect(events.append)
    assert not library.progress.isHidden()
    assert library.cancel_button.isEnabled()
    with qtbot.waitSignal(library.import_finished, timeout=60_000) as finished:
        pass
    wait_import(qtbot, window)
    report = finished.args[0]
    assert isinstance(report, IngestReport)
    assert len(report.imported) == 4
    assert len(report.failed) == 1
    assert events
    assert events[-1].total == 5
    assert max(values) >= 4  # the bar advanced file by file
    assert library.progress.isHidden()

    reason = report.failed[0].reason
    assert "broken.pdf" in library.report_label.text()
    assert reason in library.report_label.text()
    rows = {library.table.item(r, 0).text(): r for r in range(library.table.rowCount())}
    assert library.table.item(rows["nightjar-report.pdf"], 5).text() == DocumentStatus.INDEXED
    if "broken.pdf" in rows:  # the ledger keeps refused files; the table shows why
        assert library.table.item(rows["broken.pdf"], 6).text()
    # After an import the chat offers (and picks) that collection.
    assert window.chat.scope_collection() == "default"


def test_cancel_stops_an_import(qtbot, make_window, knowledge, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(60):
        (folder / f"n{n:02}.txt").write_text(f"Note number {n} about topic {n}. " * 40)
    window = make_window(knowledge=knowledge)
    window.library.import_paths([folder])
    qtbot.waitUntil(lambda: window.library.progress.value() >= 1, timeout=30_000)
    qtbot.mouseClick(window.library.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.library.import_finished, timeout=30_000) as finished:
        pass
    report = finished.args[0]
    assert report.cancelled
    assert len(report.imported) < 60
    assert "cancelled" in window.library.report_label.text()


def _ask_about_budget(qtbot, window, engine: ScriptedEngine, tmp_path: Path) -> None:
    window.library.import_paths([write_pdf(tmp_path / "nightjar-report.pdf", REPORT_PAGES)])
    wait_import(qtbot, window)
    assert window.chat.scope_collection() == "default"
    engine.enqueue("The approved budget for 2024 is 4.2 million euros [1].")
    window.send("What is the total approved budget for fiscal year 2024?")
    wait_answer(qtbot, window)


def test_sources_fill_and_a_click_opens_the_viewer_at_the_page(
    qtbot, make_window, knowledge, tmp_path, crashes
):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    _ask_about_budget(qtbot, window, engine, tmp_path)
    # The model was given numbered sources from the document.
    assert "[1]" in engine.calls[-1].messages[0].content

    table = window.sources.table
    assert table.topLevelItemCount() >= 1
    first = table.topLevelItem(0)
    assert (first.text(0), first.text(1), first.text(2)) == ("[1]", "nightjar-report.pdf", "2")
    assert first.text(3)  # the score
    assert "4.2 million" in first.text(4)

    table.itemClicked.emit(first, 0)
    viewer = window.viewer
    assert viewer is not None
    assert viewer.isVisible()
    assert viewer.page == 2
    assert viewer.page_spin.value() == 2
    assert BUDGET_QUOTE in viewer.text.toPlainText()
    assert BUDGET_QUOTE in viewer.highlighted_text()
    viewer.page_spin.setValue(3)  # other pages are there too, without the highlight
    assert "Halvorsen" in viewer.text.toPlainText()
    assert viewer.highlighted_text() == ""
    viewer.close()

    # The saved conversation keeps its sources, and [1] in the answer opens the same page.
    window.open_conversation(window.conversation_id)
    assert window.sources.table.topLevelItemCount() >= 1
    click_text(qtbot, window.chat.transcript, "[1]")
    assert window.viewer.isVisible()
    assert window.viewer.page == 2
    assert BUDGET_QUOTE in window.viewer.highlighted_text()
    assert crashes == []


def test_the_answer_shows_its_verbatim_quote_and_the_viewer_marks_it_in_the_passage(
    qtbot, make_window, knowledge, tmp_path, crashes
):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    _ask_about_budget(qtbot, window, engine, tmp_path)
    sentence = (
        "The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
        "committed to maintenance contracts for the radar stations."
    )
    (answer,) = [m for m in window.chat.transcript.messages if m.is_answer]
    assert [q.text for q in answer.quotes] == [sentence]
    shown = " ".join(window.chat.transcript.toPlainText().split())
    assert f"\u201c{sentence}\u201d \u2014 nightjar-report.pdf, page 2 [1]" in shown
    click_text(qtbot, window.chat.transcript, "[1]")
    assert window.viewer.page == 2
    assert window.viewer.highlighted_quote() == sentence  # inside the highlighted passage
    assert BUDGET_QUOTE in window.viewer.highlighted_text()
    assert crashes == []


def test_an_answer_no_passage_supports_is_marked(qtbot, make_window, knowledge, tmp_path):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    window.library.import_paths([write_pdf(tmp_path / "nightjar-report.pdf", REPORT_PAGES)])
    wait_import(qtbot, window)
    engine.enqueue("The budget for fiscal year 2024 was 9.9 million dollars [1].")
    window.send("What is the total approved budget for fiscal year 2024?")
    wait_answer(qtbot, window)
    (answer,) = [m for m in window.chat.transcript.messages if m.is_answer]
    assert answer.supported is False
    assert "No sentence of your documents says this" in window.chat.transcript.toPlainText()


def test_the_viewer_still_shows_the_passage_after_the_document_is_removed(
    qtbot, make_window, knowledge, tmp_path
):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    _ask_about_budget(qtbot, window, engine, tmp_path)
    window.library.table.selectRow(0)
    window.confirm = lambda title, question: True
    qtbot.mouseClick(window.library.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.library.table.rowCount() == 0, timeout=10_000)
    window.sources.table.itemClicked.emit(window.sources.table.topLevelItem(0), 0)
    assert "no longer in the library" in window.viewer.note.text()
    assert BUDGET_QUOTE in window.viewer.highlighted_text()


def test_asking_about_something_the_documents_do_not_cover(qtbot, make_window, knowledge, tmp_path):
    engine = ScriptedEngine()
    window = make_window(engine, knowledge=knowledge)
    window.library.import_paths([write_pdf(tmp_path / "r.pdf", REPORT_PAGES)])
    wait_import(qtbot, window)
    window.send("Which volcano erupted in Iceland last winter?")
    wait_answer(qtbot, window)
    assert engine.calls == []  # nothing relevant: the model is not asked to make it up
    assert "found nothing in your documents" in window.chat.transcript.toPlainText()
    assert "not based on your documents" in window.sources.caption.text()


def test_collections_can_be_created_and_switched(qtbot, make_window, knowledge, tmp_path):
    window = make_window(knowledge=knowledge)
    window.library.create_collection("contracts")
    assert window.library.current_collection() == "contracts"
    window.library.import_paths([write_pdf(tmp_path / "c.pdf", REPORT_PAGES[:1])])
    wait_import(qtbot, window)
    assert [d.collection for d in knowledge.documents()] == ["contracts"]
    assert window.chat.scope.findData("contracts") >= 0
    window.library.create_collection("bad\nname")
    assert "not a usable collection name" in window.library.report_label.text()


def test_the_import_summary_counts_as_the_command_line_does() -> None:
    from assistant.gui.library import describe_report
    from assistant.knowledge.records import FailedFile, FailureKind

    report = IngestReport(
        collection="default",
        failed=(
            FailedFile(Path("setup.exe"), FailureKind.UNSUPPORTED, "is of an unsupported type"),
            FailedFile(Path("broken.pdf"), FailureKind.CORRUPT, "is damaged"),
        ),
        not_documents=(Path("photo.gif"),),
    )
    text = describe_report(report)
    # a file of a type no loader reads is "not a document", not a failure (docs/exit-status.md)
    assert "not documents 1, failed 1" in text
    assert "• setup.exe: is of an unsupported type" in text
    assert "• broken.pdf: is damaged" in text
