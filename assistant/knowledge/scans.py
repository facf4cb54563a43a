"""What the index keeps about pages read by OCR: the engine, its confidence and every word's box.

A document whose text (all of it, or some pages) came from OCR has one row per such page in
the ``ocr_pages`` table of the knowledge database, written in the same transaction that marks
the document parsed and deleted with it (foreign key): the engine and model, the page's mean
word confidence, and the page as :meth:`~assistant.knowledge.ocr.OcrPage.to_json` (words with
their boxes in page pixels and their offsets in the page's text). The page's text is also the
text of the document's section for that page, so a chunk's offsets lead to its words on the
scan: what a page view highlights for a cited passage or a grounded quote.

Imports only the standard library and the knowledge base's own stdlib-only modules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.knowledge.db import Database
from assistant.knowledge.ocr import OcrPage


@dataclass(frozen=True)
class OcrSummary:
    """How a document's OCR'd text was made.

    Attributes:
        engine: the engine and model that read it.
        pages: the 1-based pages whose text came from OCR.
        confidence: the engine's mean word confidence over those pages, from 0 to 1.
        words: the words recognised on them.
    """

    engine: str
    pages: tuple[int, ...]
    confidence: float
    words: int


class ScanStore:
    """Reads and writes the ``ocr_pages`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def replace(self, conn: sqlite3.Connection, doc_id: str, pages: Sequence[OcrPage]) -> None:
        """Make ``pages`` the document's OCR'd pages (inside a transaction)."""
        self.clear(conn, doc_id)
        conn.executemany(
            "INSERT INTO ocr_pages (document_id, page, engine, confidence, words, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(doc_id, p.page, p.engine, p.confidence, len(p.words), p.to_json()) for p in pages],
        )

    def clear(self, conn: sqlite3.Connection, doc_id: str) -> None:
        """Forget the document's OCR'd pages (inside a transaction)."""
        conn.execute("DELETE FROM ocr_pages WHERE document_id = ?", (doc_id,))

    def summary(self, doc_id: str) -> OcrSummary | None:
        """How the document's OCR'd pages were read, or ``None`` when none were."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT page, engine, confidence, words FROM ocr_pages WHERE document_id = ? "
                "ORDER BY page",
                (doc_id,),
            ).fetchall()
        if not rows:
            return None
        words = sum(int(r["words"]) for r in rows)
        weighted = sum(float(r["confidence"]) * int(r["words"]) for r in rows)
        return OcrSummary(
            engine=str(rows[0]["engine"]),
            pages=tuple(int(r["page"]) for r in rows),
            confidence=weighted / words if words else 0.0,
            words=words,
        )

    def page(self, doc_id: str, page: int) -> OcrPage | None:
        """One OCR'd page with its words and boxes, or ``None`` when OCR did not read it."""
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT data FROM ocr_pages WHERE document_id = ? AND page = ?", (doc_id, page)
            ).fetchone()
        return None if row is None else OcrPage.from_json(str(row["data"]))


__all__ = ["OcrSummary", "ScanStore"]
