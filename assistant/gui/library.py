"""The library panel: import files and folders, watch progress, list, remove and re-import.

Imports and removals run as :class:`~assistant.gui.workers.Task` threads (they load the embedder
and Chroma and parse files); listing reads the ledger directly, which is quick. A file that could
not be imported stays in the table with its reason, and the last import's summary names every
failed file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.errors import AssistantError
from assistant.gui.workers import Task, TaskRunner
from assistant.knowledge.base import DEFAULT_COLLECTION, KnowledgeBase, check_collection_name
from assistant.knowledge.records import (
    DocumentRecord,
    FailureKind,
    IngestReport,
    ProgressEvent,
)

COLUMNS = ("Name", "Type", "Pages", "Chunks", "Imported at", "Status", "Error")
Confirm = Callable[[str, str], bool]


def describe_report(report: IngestReport) -> str:
    """A short account of an import, naming each failed file and why.

    Counted as the CLI counts (docs/exit-status.md): a file picked by name whose type no loader
    reads is "not a document", with its reason, not a failure; "failed" is what the library
    lists as failed.
    """
    failed = [f for f in report.failed if f.kind is not FailureKind.UNSUPPORTED]
    named = [f for f in report.failed if f.kind is FailureKind.UNSUPPORTED]
    parts = [f"Imported {len(report.imported)}", f"unchanged {len(report.skipped)}"]
    if report.removed:
        parts.append(f"removed {len(report.removed)} (gone from the folder)")
    if named:
        parts.append(f"not documents {len(named)}")
    parts.append(f"failed {len(failed)}")
    text = ", ".join(parts) + f" into “{report.collection}”"
    if report.cancelled:
        text = "Import cancelled. " + text
    lines = [text + "."]
    if report.not_documents:
        lines.append(
            report.not_documents_summary[0].upper() + report.not_documents_summary[1:] + "."
        )
    lines += [f"• {file.path.name}: {file.reason}" for file in (*named, *failed)]
    return "\n".join(lines)


class LibraryPanel(QWidget):
    """Documents of the current collection and the controls to manage them.

    Signals:
        collections_changed(list): the collection names (after an import or removal).
        collection_switched(str): the user picked another collection.
        import_finished(object): the :class:`IngestReport` of an import.
        message(str): a line for the status bar.
    """

    collections_changed = Signal(list)
    collection_switched = Signal(str)
    import_finished = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        knowledge: KnowledgeBase | None,
        runner: TaskRunner,
        *,
        confirm: Confirm,
        unavailable_reason: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._kb = knowledge
        self._runner = runner
        self._confirm = confirm
        self._pending: list[str] = []  # collections created here, with no document yet
        self._task: Task | None = None
        self.last_report: IngestReport | None = None
        self.setAcceptDrops(True)
        self.setAccessibleName("Library")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        top = QHBoxLayout()
        label = QLabel("&Collection:")
        self.collection = QComboBox()
        self.collection.setAccessibleName("Collection")
        label.setBuddy(self.collection)
        self.collection.currentIndexChanged.connect(self._switched)
        self.new_collection_button = QPushButton("New…")
        self.new_collection_button.setAccessibleName("New collection")
        self.new_collection_button.clicked.connect(self._new_collection)
        top.addWidget(label)
        top.addWidget(self.collection, 1)
        top.addWidget(self.new_collection_button)
        layout.addLayout(top)

        actions = QHBoxLayout()
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.setToolTip("Import documents (Ctrl+I); or drop files here")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.reimport_button = QPushButton("Re-import")
        self.reimport_button.setToolTip("Import the selected documents again from their files")
        self.reimport_button.clicked.connect(self._reimport)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected documents from the index (files stay)")
        self.remove_button.clicked.connect(self._remove)
        for button in (
            self.add_files_button,
            self.add_folder_button,
            self.reimport_button,
            self.remove_button,
        ):
            button.setAccessibleName(button.text().rstrip("…"))
            actions.addWidget(button)
        layout.addLayout(actions)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Import progress")
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel import")
        self.cancel_button.clicked.connect(self.cancel_import)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        self.report_label = QLabel()
        self.report_label.setWordWrap(True)
        self.report_label.setAccessibleName("Last import")
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.report_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Documents")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self._records: list[DocumentRecord] = []
        self._set_progress_visible(False)
        if knowledge is None:
            self.setEnabled(False)
            self.report_label.setText(unavailable_reason or "The document library is unavailable.")
        else:
            self.refresh()

    # --- state --------------------------------------------------------------------------------

    @property
    def knowledge(self) -> KnowledgeBase | None:
        return self._kb

    @property
    def importing(self) -> bool:
        return self._task is not None

    def current_collection(self) -> str:
        value = self.collection.currentData()
        return value if isinstance(value, str) else DEFAULT_COLLECTION

    def collection_names(self) -> list[str]:
        """Collections that hold documents, then ones created here and still empty."""
        known = [c.name for c in self._kb.collections()] if self._kb else []
        return known + [name for name in self._pending if name not in known]

    def refresh(self) -> None:
        """Reload collections and the document table from the ledger."""
        if self._kb is None:
            return
        current = self.current_collection()
        names = self.collection_names() or [DEFAULT_COLLECTION]
        self.collection.blockSignals(True)
        self.collection.clear()
        for name in names:
            self.collection.addItem(name, name)
        index = self.collection.findData(current)
        self.collection.setCurrentIndex(index if index >= 0 else 0)
        self.collection.blockSignals(False)
        self._records = self._kb.documents(self.current_collection())
        self.table.setRowCount(len(self._records))
        for row, record in enumerate(self._records):
            values = (
                record.name,
                record.kind,
                str(record.pages),
                str(record.chunks),
                record.imported_at.replace("T", " ")[:19],
                record.status.value,
                record.error,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(str(record.path) if column == 0 else value)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.collections_changed.emit(self.collection_names())

    def documents(self) -> list[DocumentRecord]:
        return list(self._records)

    def select_collection(self, name: str) -> None:
        index = self.collection.findData(name)
        if index >= 0 and index != self.collection.currentIndex():
            self.collection.setCurrentIndex(index)

    def _switched(self, _index: int) -> None:
        self.refresh()
        self.collection_switched.emit(self.current_collection())

    def _new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the new collection:")
        if ok:
            self.create_collection(name)

    def create_collection(self, name: str) -> None:
        """Add a collection (it exists on disk once a document is imported into it)."""
        try:
            name = check_collection_name(name)
        except AssistantError as exc:
            self.report_label.setText(str(exc))
            return
        if name not in self.collection_names():
            self._pending.append(name)
        self.refresh()
        self.select_collection(name)

    # --- importing ----------------------------------------------------------------------------

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Import documents",
            str(Path.home()),
            "Documents (*.pdf *.docx *.html *.htm *.md *.markdown *.txt *.csv *.tsv *.eml);;"
            "All files (*)",
        )
        if files:
            self.import_paths([Path(f) for f in files])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder", str(Path.home()))
        if folder:
            self.import_paths([Path(folder)])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if self._kb is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    def import_paths(self, paths: Sequence[Path], collection: str | None = None) -> Task | None:
        """Import files and folders in a worker thread, showing progress; None if busy."""
        if self._kb is None or self._task is not None:
            if self._task is not None:
                self.message.emit("An import is already running; wait for it or cancel it.")
            return None
        kb = self._kb
        target = collection or self.current_collection()
        wanted = list(paths)

        def job(report: Callable[[Any], None], cancel: Any) -> IngestReport:
            return kb.ingest(wanted, collection=target, on_progress=report, cancel=cancel)

        self._set_progress_visible(True)
        self.progress.setRange(0, 0)  # busy until the first event says how many files
        self.progress_label.setText(f"Starting the import into “{target}” …")
        self.report_label.clear()
        self._task = self._runner.start(
            "import",
            job,
            on_progress=self._on_progress,
            on_success=self._on_imported,
            on_failure=lambda exc: self.report_label.setText(f"Import failed: {exc}"),
            on_finished=self._import_done,
        )
        return self._task

    def cancel_import(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling after the current file …")

    def _on_progress(self, event: object) -> None:
        if not isinstance(event, ProgressEvent) or self._task is None:
            return
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        name = event.current_file.name if event.current_file else ""
        step = min(event.done + 1, event.total)
        where = f" {name} ({step} of {event.total})" if name else ""
        if not self._task.cancelled:
            self.progress_label.setText(f"{event.stage.value.capitalize()}{where}")

    def _on_imported(self, report: object) -> None:
        if isinstance(report, IngestReport):
            self.last_report = report
            self.report_label.setText(describe_report(report))
            self.message.emit(describe_report(report).splitlines()[0])
            if report.collection in self._pending:
                self._pending.remove(report.collection)
            self.refresh()  # listeners of import_finished see the new collection already
            self.import_finished.emit(report)

    def _import_done(self) -> None:
        self._task = None
        self._set_progress_visible(False)
        self.refresh()

    def _set_progress_visible(self, visible: bool) -> None:
        for widget in (self.progress, self.progress_label, self.cancel_button):
            widget.setVisible(visible)
        self.cancel_button.setEnabled(visible)
        for button in (self.add_files_button, self.add_folder_button, self.reimport_button):
            button.setEnabled(not visible)

    # --- the selection ------------------------------------------------------------------------

    def selected_documents(self) -> list[DocumentRecord]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self._records[row] for row in rows if row < len(self._records)]

    def _reimport(self) -> None:
        chosen = self.selected_documents()
        if chosen:
            self.import_paths([record.path for record in chosen], self.current_collection())

    def _remove(self) -> None:
        chosen = self.selected_documents()
        if chosen and self._confirm(
            "Remove documents",
            f"Remove {len(chosen)} document(s) from the library? The files themselves stay.",
        ):
            self.remove_documents(chosen)

    def remove_documents(self, records: Sequence[DocumentRecord]) -> Task | None:
        """Remove documents from the index in a worker thread."""
        if self._kb is None:
            return None
        kb = self._kb
        wanted = list(records)

        def job(report: Callable[[Any], None], cancel: Any) -> int:
            for record in wanted:
                kb.remove(record)
            return len(wanted)

        return self._runner.start(
            "remove",
            job,
            on_success=lambda n: self.message.emit(f"Removed {n} document(s) from the library."),
            on_failure=lambda exc: self.report_label.setText(str(exc)),
            on_finished=self.refresh,
        )
