"""The ingest ledger: which files were imported into which collection, as what, and how far.

Each row is one file in one collection, identified by a stable id derived from the collection
and the file's resolved path. The row's ``sha256`` is the content hash of the bytes last
imported, so an unchanged file is recognized without parsing it; its ``status`` follows the
pipeline (pending, parsed, embedded, indexed, or failed with a reason). Search only sees
``indexed`` documents, so an import interrupted half-way is invisible until redone.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from assistant.knowledge.db import Database, utc_now
from assistant.knowledge.records import (
    CollectionInfo,
    DocumentRecord,
    DocumentStatus,
    FailureKind,
)


def document_id(collection: str, path: Path) -> str:
    """The stable id of ``path`` (resolved) in ``collection``."""
    return hashlib.sha256(f"{collection}\0{path}".encode()).hexdigest()[:16]


def _record(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        id=row["id"],
        collection=row["collection"],
        path=Path(row["path"]),
        sha256=row["sha256"],
        kind=row["kind"],
        size=row["size"],
        pages=row["pages"],
        chunks=row["chunks"],
        status=DocumentStatus(row["status"]),
        error=row["error"],
        imported_at=row["imported_at"],
        failure=FailureKind(row["failure"]) if row["failure"] else None,
    )


class Ledger:
    """Reads and writes the ``documents`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, collection: str, path: Path) -> DocumentRecord | None:
        """The record of ``path`` in ``collection``, if it was ever imported."""
        return self.by_id(document_id(collection, path))

    def by_id(self, doc_id: str) -> DocumentRecord | None:
        with self._db.reading() as conn:
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _record(row)

    def begin(
        self,
        conn: sqlite3.Connection,
        *,
        collection: str,
        path: Path,
        sha256: str,
        kind: str,
        size: int,
    ) -> str:
        """Create or reset the row for a file about to be (re)imported; status ``pending``.

        Must run inside a :meth:`Database.transaction`. Returns the document id.
        """
        doc_id = document_id(collection, path)
        conn.execute(
            "INSERT INTO documents (id, collection, path, sha256, kind, size, status, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) "
            "ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, kind = excluded.kind, "
            "size = excluded.size, pages = 0, chunks = 0, status = 'pending', failure = '', "
            "error = '', "
            "imported_at = excluded.imported_at",
            (doc_id, collection, str(path), sha256, kind, size, utc_now()),
        )
        return doc_id

    def set_status(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        status: DocumentStatus,
        *,
        pages: int | None = None,
        chunks: int | None = None,
        failure: FailureKind | None = None,
        error: str = "",
    ) -> None:
        """Move a document to ``status`` (inside a transaction); failures carry a reason."""
        conn.execute(
            "UPDATE documents SET status = ?, failure = ?, error = ?, "
            "pages = COALESCE(?, pages), chunks = COALESCE(?, chunks) WHERE id = ?",
            (status.value, failure.value if failure else "", error, pages, chunks, doc_id),
        )

    def delete(self, conn: sqlite3.Connection, doc_id: str) -> None:
        """Forget a document (its chunks go with it, by foreign key)."""
        conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def documents(self, collection: str | None = None) -> list[DocumentRecord]:
        """Every document, or those of one collection, by collection then path."""
        with self._db.reading() as conn:
            if collection is None:
                rows = conn.execute("SELECT * FROM documents ORDER BY collection, path")
            else:
                rows = conn.execute(
                    "SELECT * FROM documents WHERE collection = ? ORDER BY path", (collection,)
                )
            return [_record(row) for row in rows]

    def under(self, collection: str, folder: Path) -> list[DocumentRecord]:
        """Documents of ``collection`` whose file lies inside ``folder`` (recursively)."""
        return [d for d in self.documents(collection) if d.path.is_relative_to(folder)]

    def find(self, reference: str, collection: str | None = None) -> list[DocumentRecord]:
        """Documents matching an id, an id prefix (4+ characters), a path or a file name."""
        candidates = self.documents(collection)
        for match in (
            lambda d: d.id == reference,
            lambda d: len(reference) >= 4 and d.id.startswith(reference),
            lambda d: str(d.path) == reference or str(d.path) == str(Path(reference).resolve()),
            lambda d: d.name == reference,
        ):
            found = [d for d in candidates if match(d)]
            if found:
                return found
        return []

    def collections(self) -> list[CollectionInfo]:
        """Every collection with its document counts."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT collection, COUNT(*) AS documents, "
                "SUM(status = 'indexed') AS indexed, SUM(status = 'failed') AS failed, "
                "SUM(CASE WHEN status = 'indexed' THEN chunks ELSE 0 END) AS chunks "
                "FROM documents GROUP BY collection ORDER BY collection"
            ).fetchall()
        return [
            CollectionInfo(r["collection"], r["documents"], r["indexed"], r["failed"], r["chunks"])
            for r in rows
        ]

    def incomplete(self) -> Iterable[DocumentRecord]:
        """Documents an interrupted import left between ``pending`` and ``indexed``."""
        finished = {DocumentStatus.INDEXED, DocumentStatus.FAILED}
        return [d for d in self.documents() if d.status not in finished]
