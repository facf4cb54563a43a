"""The sources panel: the citations of the selected answer (document, page, passage, score).

Activating a row asks the main window to open the document viewer at that page.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from assistant.gui.transcript import CitationView

_PASSAGE_PREVIEW = 160


class SourcesPanel(QWidget):
    """A table of an answer's citations.

    Signals:
        open_requested(object): a :class:`CitationView` the user activated.
    """

    open_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.table = QTreeWidget()
        self.table.setAccessibleName("Sources of the selected answer")
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(False)
        self.table.setWordWrap(True)
        self.table.setHeaderLabels(["#", "Document", "Page", "Score", "Passage"])
        self.table.itemActivated.connect(self._activated)
        self.table.itemClicked.connect(self._activated)
        layout.addWidget(self.table, 1)
        self._citations: list[CitationView] = []
        self.show_citations([], answer_label="")

    @property
    def citations(self) -> list[CitationView]:
        return list(self._citations)

    def show_citations(self, citations: list[CitationView], *, answer_label: str) -> None:
        """List ``citations`` for the answer described by ``answer_label``."""
        self._citations = list(citations)
        self.table.clear()
        if not answer_label:
            self.caption.setText("Select an answer to see the passages it is based on.")
        elif not citations:
            self.caption.setText(f"{answer_label} was not based on your documents.")
        elif not any(c.cited for c in citations):
            self.caption.setText(
                f"{answer_label} cites no source by number; it was based on these passages."
            )
        else:
            self.caption.setText(f"Sources of {answer_label.lower()}: click one to open it.")
        for citation in citations:
            passage = " ".join(citation.quote.split())
            if len(passage) > _PASSAGE_PREVIEW:
                passage = passage[: _PASSAGE_PREVIEW - 1] + "…"
            score = "" if citation.score is None else f"{citation.score:.2f}"
            item = QTreeWidgetItem(
                [
                    f"[{citation.number}]",
                    citation.document_name,
                    "" if citation.page is None else str(citation.page),
                    score,
                    passage,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, citation.number)
            item.setToolTip(4, citation.quote[:2000])
            item.setToolTip(1, citation.path)
            item.setToolTip(
                3, "cosine similarity to the question (higher is closer)" if score else ""
            )
            self.table.addTopLevelItem(item)
        for column in range(4):
            self.table.resizeColumnToContents(column)

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        number = item.data(0, Qt.ItemDataRole.UserRole)
        found = next((c for c in self._citations if c.number == number), None)
        if found is not None:
            self.open_requested.emit(found)
