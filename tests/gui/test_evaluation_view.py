"""The window shows the last evaluation report: its plot and its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Paths
from assistant.evaluation.answers import AnswerScore
from assistant.evaluation.report import EvalReport, reports_dir
from assistant.evaluation.retrieval import RankedItem, RetrievalScores
from assistant.evaluation.runner import save_with_plot
from assistant.gui.evaluation_view import NO_REPORT, EvaluationDialog

pytestmark = pytest.mark.gui


def test_the_newest_report_is_shown_with_its_plot(qtbot, gui_paths: Paths) -> None:  # type: ignore[no-untyped-def]
    folder = reports_dir(gui_paths)
    for label, created in (("older", "2026-01-01T00:00:00+00:00"),
                           ("newer", "2026-02-01T00:00:00+00:00")):  # fmt: skip
        report = EvalReport(
            label=label, created=created, model="m.gguf", setup={"items": 1},
            answers=(AnswerScore("q1", tokens=4, cross_entropy=0.7, total_nll=2.8, chars=20),),
            retrieval=(RetrievalScores("hybrid", (RankedItem("q1", 2, "a.md"),)),),
        )  # fmt: skip
        saved = save_with_plot(report, folder)
    dialog = EvaluationDialog(folder)
    qtbot.addWidget(dialog)
    assert dialog.report_path == saved
    assert "Evaluation 'newer'" in dialog.text.toPlainText()
    assert "cross-entropy" in dialog.text.toPlainText()
    assert not dialog.plot.pixmap().isNull()
    assert dialog.plot.pixmap().width() == 1000


def test_without_a_report_it_says_how_to_make_one(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = EvaluationDialog(tmp_path / "none")
    qtbot.addWidget(dialog)
    assert dialog.text.toPlainText() == NO_REPORT
    assert dialog.plot.pixmap().isNull()
