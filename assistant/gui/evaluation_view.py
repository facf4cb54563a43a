"""The last evaluation report (``assistant eval``) in a dialog: its plot and its table.

Reports are files under ``ASSISTANT_HOME/evaluations/`` (:mod:`assistant.evaluation.report`);
this dialog only reads the newest one, so it never loads a model or the index.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from assistant.errors import AssistantError
from assistant.evaluation.report import load_report, render
from assistant.evaluation.runner import last_report

NO_REPORT = (
    "No evaluation has been run yet. Run one from a terminal, for example:\n\n"
    "    assistant ingest docs --collection sample\n"
    "    assistant eval\n\n"
    "See docs/evaluation.md."
)


class EvaluationDialog(QDialog):
    """Shows the newest report in ``folder``: the comparison PNG above, the table below."""

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Last evaluation report")
        self.resize(1040, 760)
        layout = QVBoxLayout(self)
        self.report_path = last_report(folder)
        self.plot = QLabel()
        self.plot.setAccessibleName("Evaluation plot")
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setAccessibleName("Evaluation table")
        self.text.setFont(QFont("monospace"))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        if self.report_path is None:
            self.text.setPlainText(NO_REPORT)
        else:
            try:
                table = render(load_report(self.report_path), worst=10)
            except AssistantError as exc:
                table = str(exc)
            self.text.setPlainText(f"{self.report_path}\n\n{table}")
            pixmap = QPixmap(str(self.report_path.with_suffix(".png")))
            if not pixmap.isNull():
                self.plot.setPixmap(pixmap)
                scroll = QScrollArea()
                scroll.setWidget(self.plot)
                layout.addWidget(scroll, 3)
        layout.addWidget(self.text, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
