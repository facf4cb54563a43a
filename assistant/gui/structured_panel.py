"""The structured-output panel: fill a JSON Schema from documents, see it validated, export it.

The analyst picks an example schema or pastes one, picks the source (the documents selected in
the library, a collection searched with the question, or none), and runs it. The run is a
:class:`~assistant.gui.workers.Task` (:func:`assistant.gui.structured.run`), so the window
stays responsive and Cancel stops the model at its next token. The result appears as a tree
with a green "valid" mark, or the validation error in red. Filled from documents, the values
are copied from the passages by default ("Copy values from the documents"): each field shows
the span it was read from, double-clicking it opens the viewer with that span highlighted, and
a field the documents do not state is shown as such, not made up. With copying off, each field
shows the passage the model cited. A valid result exports to JSON (optionally with its
evidence) or CSV (with evidence columns).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.engine.base import CancelToken, Engine
from assistant.errors import AssistantError, OutputValidationError
from assistant.gui import structured
from assistant.gui.library import LibraryPanel
from assistant.gui.structured import Outcome, Request, SourceMode
from assistant.gui.workers import Task, TaskRunner

if TYPE_CHECKING:
    from assistant.grammar import Evidence, GrammarCompiler
    from assistant.grammar.tasks import Citation

#: The tree item's data role holding a value's evidence path.
EVIDENCE_ROLE = Qt.ItemDataRole.UserRole + 1
ABSENT_TEXT = "not in the documents"

CUSTOM = "Custom schema"
VALID_COLOUR = "#1b7a35"
ERROR_COLOUR = "#b3261e"
_MAX_SCHEMA_BYTES = 1024 * 1024
_SOURCES = (  # the mode, its name, the question box's hint
    (SourceMode.DOCUMENTS, "Selected documents", "Optional: what to look for in them"),
    (SourceMode.COLLECTION, "Collection + question", "What to look for in the collection"),
    (SourceMode.NONE, "None (the request only)", "The request, with the facts for the schema"),
)


class StructuredPanel(QWidget):
    """Schema, source, Run/Cancel, the result tree and the export buttons.

    Signals:
        message(str): a line for the status bar.
        finished(): a run ended (valid, invalid, refused, failed or cancelled).
        evidence_opened(object, object): the user asked to see a value's evidence: the
            :class:`~assistant.chat.citations.SavedCitation` of its passage and the
            :class:`~assistant.chat.citations.SavedQuote` of its span.
    """

    message = Signal(str)
    finished = Signal()
    evidence_opened = Signal(object, object)

    def __init__(
        self,
        runner: TaskRunner,
        *,
        engine: Callable[[], Engine | None],
        compiler: Callable[[], GrammarCompiler],
        library: LibraryPanel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._engine = engine
        self._compiler = compiler
        self._library = library
        self._examples = structured.examples()
        self.task: Task | None = None
        self.outcome: Outcome | None = None
        self.error = ""
        self.setAccessibleName("Structured output")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        top = QHBoxLayout()
        self.example = QComboBox()
        self.example.setAccessibleName("Example schema")
        self.example.addItems([e.title for e in self._examples] + [CUSTOM])
        self.example.activated.connect(self._example_chosen)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Load a JSON Schema file")
        self.open_button.clicked.connect(self._open_schema)
        top.addWidget(_buddy("Sc&hema:", self.example))
        top.addWidget(self.example, 1)
        top.addWidget(self.open_button)
        layout.addLayout(top)

        self.schema_edit = QPlainTextEdit()
        self.schema_edit.setAccessibleName("JSON Schema")
        self.schema_edit.setPlaceholderText("Paste a JSON Schema (draft 2020-12 or draft-07)")
        self.schema_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.schema_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.schema_edit.textChanged.connect(self._schema_edited)
        layout.addWidget(self.schema_edit, 2)

        source_row = QHBoxLayout()
        self.source = QComboBox()
        self.source.setAccessibleName("Source")
        for mode, label, _hint in _SOURCES:
            self.source.addItem(label, mode)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.collection = QComboBox()
        self.collection.setAccessibleName("Collection to search")
        source_row.addWidget(_buddy("S&ource:", self.source))
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.collection, 1)
        layout.addLayout(source_row)

        self.question = QLineEdit()
        self.question.setAccessibleName("Question")
        self.question.returnPressed.connect(self.run)
        layout.addWidget(self.question)

        self.grounded = QCheckBox("Copy values from the documents")
        self.grounded.setAccessibleName("Copy values from the documents")
        self.grounded.setToolTip(
            "Each value is copied word for word from a passage and shows where; a field the "
            "documents do not state stays empty. Turn off for fields meant to be written, "
            "such as a summary."
        )
        self.grounded.setChecked(True)
        layout.addWidget(self.grounded)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Fill the schema from the source (Ctrl+Shift+Return)")
        self.run_button.setShortcut("Ctrl+Shift+Return")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the run")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_json_button = QPushButton("Export JSON…")
        self.export_json_button.clicked.connect(lambda: self._export("json"))
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.clicked.connect(lambda: self._export("csv"))
        self.with_evidence = QCheckBox("JSON with evidence")
        self.with_evidence.setAccessibleName("Export the evidence with the JSON record")
        self.with_evidence.setToolTip(
            'Write {"record": ..., "evidence": ...}: each value\'s document, page and span.'
        )
        for button in (self.run_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.with_evidence)
        for button in (self.export_json_button, self.export_csv_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.status_label = QLabel()
        self.status_label.setAccessibleName("Result status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)

        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Result")
        self.tree.setHeaderLabels(["Field", "Value", "Source"])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.header().setStretchLastSection(True)
        self.tree.itemActivated.connect(self._item_activated)
        layout.addWidget(self.tree, 3)

        library.collections_changed.connect(self._set_collections)
        self._set_collections(library.collection_names())
        if self._examples:
            self.choose_example(self._examples[0].title)
        self._source_changed()
        self._set_running(False)

    # --- choosing -----------------------------------------------------------------------------

    def choose_example(self, title: str) -> None:
        """Put the example schema called ``title`` in the editor."""
        for example in self._examples:
            if example.title == title:
                self.example.setCurrentText(title)
                self.schema_edit.setPlainText(example.text)
                return

    def set_schema_text(self, text: str) -> None:
        """Put a schema of one's own in the editor (the example choice becomes Custom)."""
        self.schema_edit.setPlainText(text)

    def set_source(self, mode: SourceMode) -> None:
        self.source.setCurrentIndex(self.source.findData(mode))

    def source_mode(self) -> SourceMode:
        mode = self.source.currentData()
        return mode if isinstance(mode, SourceMode) else SourceMode.NONE

    def _example_chosen(self, index: int) -> None:
        if index < len(self._examples):
            self.schema_edit.setPlainText(self._examples[index].text)

    def _schema_edited(self) -> None:
        # The combo names the example only while the text is still that example's.
        text = self.schema_edit.toPlainText()
        titles = [e.title for e in self._examples if e.text == text]
        self.example.setCurrentText(titles[0] if titles else CUSTOM)

    def _open_schema(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Open a JSON Schema", str(Path.home()), "JSON Schema (*.json);;All files (*)"
        )
        if not name:
            return
        path = Path(name)
        try:
            if path.stat().st_size > _MAX_SCHEMA_BYTES:
                raise OSError("the file is larger than 1 MB")
            self.set_schema_text(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self._show_error(f"Could not read the schema file {path}: {exc}")

    def _set_collections(self, names: list[str]) -> None:
        current = self.collection.currentText()
        self.collection.clear()
        self.collection.addItems(names)
        if current in names:
            self.collection.setCurrentText(current)

    def _source_changed(self, _index: int = 0) -> None:
        mode = self.source_mode()
        self.collection.setVisible(mode is SourceMode.COLLECTION)
        self.question.setPlaceholderText(next(h for m, _, h in _SOURCES if m is mode))
        self.grounded.setEnabled(mode is not SourceMode.NONE)

    # --- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.task is not None

    def run(self) -> Task | None:
        """Check what can be checked at once, then fill the schema in a worker; None if refused."""
        if self.task is not None:
            return None
        self._clear_result()
        try:
            request = self._request()
        except AssistantError as exc:
            self._show_error(str(exc))
            return None
        engine = self._engine()
        if engine is None:
            self._show_error("The model is not loaded yet; wait for it, or check Settings.")
            return None
        knowledge = self._library.knowledge
        compiler = self._compiler

        def job(report: Callable[[Any], None], cancel: CancelToken) -> Outcome | None:
            return structured.run(
                engine, request, knowledge=knowledge, compiler=compiler(), cancel=cancel
            )

        self._set_status("Running… the model is writing JSON that follows the schema.", "")
        self.task = self._runner.start(
            "structured-output",
            job,
            on_success=self._succeeded,
            on_failure=self._failed,
            on_finished=self._done,
        )
        self._set_running(True)
        return self.task

    def cancel(self) -> None:
        """Stop the run at the model's next token."""
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self._set_status("Cancelling…", "")

    def _request(self) -> Request:
        mode = self.source_mode()
        documents = self._library.selected_documents() if mode is SourceMode.DOCUMENTS else []
        request = Request(
            self.schema_edit.toPlainText(), mode, self.question.text().strip(),
            self.collection.currentText(), tuple(documents),
            grounded=self.grounded.isChecked(),
        )  # fmt: skip
        structured.check(request, library=self._library.knowledge is not None)
        return request

    def _succeeded(self, outcome: object) -> None:
        if not isinstance(outcome, Outcome):  # cancelled before the model started
            self._set_status("Cancelled.", "")
            return
        self.outcome = outcome
        self._fill_tree(outcome.data, outcome.citations, outcome.evidence, outcome.absent)
        if outcome.valid:
            tries = f" after {outcome.attempts} attempts" if (outcome.attempts or 1) > 1 else ""
            where = f" from {outcome.passages} passage(s)" if outcome.passages else ""
            text = f"✔ Valid against the schema{where}{tries}."
            if outcome.grounded:
                text += (f" {len(outcome.evidence)} value(s) copied from the documents"
                         " (double-click one to see it on its page)")  # fmt: skip
                text += f"; {len(outcome.absent)} not stated." if outcome.absent else "."
            self._set_status(" ".join([text, *outcome.notes]), VALID_COLOUR)
            self.message.emit("Structured output: valid.")
        else:
            self._show_error("Not valid: " + "; ".join(outcome.errors))
        self._set_running(False)

    def _failed(self, exc: AssistantError) -> None:
        if self.task is not None and self.task.cancelled:
            self._set_status("Cancelled.", "")
            return
        self._show_error(str(exc))
        if isinstance(exc, OutputValidationError) and exc.output:
            item = QTreeWidgetItem(["(last output)", exc.output[:2000], ""])
            item.setToolTip(1, exc.output[:2000])
            self.tree.addTopLevelItem(item)

    def _done(self) -> None:
        self.task = None
        self._set_running(False)
        self.finished.emit()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        valid = not running and self.outcome is not None and self.outcome.valid
        self.export_json_button.setEnabled(valid)
        self.export_csv_button.setEnabled(valid)

    # --- showing ------------------------------------------------------------------------------

    def _clear_result(self) -> None:
        self.outcome = None
        self.error = ""
        self.tree.clear()
        self._set_status("", "")

    def _set_status(self, text: str, colour: str) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")

    def _show_error(self, text: str) -> None:
        self.error = text
        self._set_status(f"✖ {text}", ERROR_COLOUR)

    def _fill_tree(
        self,
        data: Any,
        citations: Mapping[str, Citation],
        evidence: Mapping[str, Evidence] | None = None,
        absent: tuple[str, ...] = (),
    ) -> None:
        self.tree.clear()
        evidence = evidence or {}
        if isinstance(data, Mapping):
            for key, value in data.items():
                item = _item(str(key), value, citations.get(str(key)), evidence, str(key))
                self.tree.addTopLevelItem(item)
            for path in absent:
                if "." in path or "[" in path or path in data:
                    continue  # nested, or kept as null: shown where it is
                item = QTreeWidgetItem([path, "", ABSENT_TEXT])
                item.setToolTip(2, "No passage states this field, so it was left empty.")
                self.tree.addTopLevelItem(item)
        else:
            self.tree.addTopLevelItem(_item("(result)", data, None))
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        self.tree.resizeColumnToContents(1)
        # Long values are elided (their tooltip has them whole) so the Source column stays seen.
        room = self.tree.viewport().width() - self.tree.columnWidth(0) - 160
        self.tree.setColumnWidth(1, max(120, min(self.tree.columnWidth(1), room)))

    # --- exporting ----------------------------------------------------------------------------

    def export_json(self, path: Path) -> None:
        """Write the valid result to ``path`` as JSON, with its evidence beside the record when
        "JSON with evidence" is ticked.

        Raises:
            AssistantError: there is no valid result, or the file cannot be written.
        """
        with_evidence = self.with_evidence.isChecked()
        self._write(path, lambda p, data, evidence: structured.write_json(
            p, data, evidence if with_evidence else None))  # fmt: skip

    def export_csv(self, path: Path) -> None:
        """Write the valid result to ``path`` as CSV (nested objects as dotted columns, and each
        copied value's document, page and span in the columns after it).

        Raises:
            AssistantError: there is no valid result, or the file cannot be written.
        """
        self._write(path, structured.write_csv)

    def _write(self, path: Path, writer: Callable[[Path, Any, Any], None]) -> None:
        if self.outcome is None or not self.outcome.valid:
            raise AssistantError("There is no valid result to export; run the schema first.")
        try:
            writer(path, self.outcome.data, self.outcome.evidence)
        except OSError as exc:
            raise AssistantError(f"Could not write {path}: {exc}") from exc
        self.message.emit(f"Exported {path.name}.")

    def _export(self, kind: str) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, f"Export {kind.upper()}", str(Path.home() / f"result.{kind}"),
            f"{kind.upper()} (*.{kind})",
        )  # fmt: skip
        if not name:
            return
        try:
            (self.export_json if kind == "json" else self.export_csv)(Path(name))
        except AssistantError as exc:
            self._show_error(str(exc))

    def _item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        path = item.data(0, EVIDENCE_ROLE)
        outcome = self.outcome
        if not isinstance(path, str) or outcome is None or path not in outcome.evidence:
            return
        citation, quote = structured.evidence_source(outcome, outcome.evidence[path])
        self.evidence_opened.emit(citation, quote)


def _buddy(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _item(
    name: str,
    value: Any,
    citation: Citation | None,
    evidence: Mapping[str, Evidence] | None = None,
    path: str = "",
) -> QTreeWidgetItem:
    """A tree row for ``value``, with children for objects and arrays; ``path`` is its place in
    the record, for its evidence."""
    evidence = evidence or {}
    if isinstance(value, Mapping):
        item = QTreeWidgetItem([name, f"{{{len(value)} fields}}", ""])
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            item.addChild(_item(str(key), child, None, evidence, where))
    elif isinstance(value, list):
        item = QTreeWidgetItem([name, f"[{len(value)} items]", ""])
        for index, child in enumerate(value):
            item.addChild(_item(f"[{index}]", child, None, evidence, f"{path}[{index}]"))
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        item = QTreeWidgetItem([name, text, ""])
        item.setToolTip(1, text)
    if isinstance(value, Mapping | list):
        font = QFont(item.font(1))
        font.setItalic(True)
        item.setFont(1, font)
    if value is None and path and path not in evidence:
        item.setText(2, ABSENT_TEXT)
    found = evidence.get(path)
    if found is not None:
        page = f", page {found.page}" if found.page is not None else ""
        span = " ".join(found.span.split())
        item.setText(2, f"“{span}” — {found.document}{page}")
        how = "copied from" if found.copied else "found in"
        item.setToolTip(2, f"{how} [{found.source}] {found.document}{page}; double-click to open")
        item.setData(0, EVIDENCE_ROLE, path)
    if citation is not None:
        page = f", page {citation.page}" if citation.page is not None else ""
        item.setText(2, f"[{citation.source}] {citation.document}{page}")
        item.setToolTip(2, citation.passage[:600])
    return item
