"""The knowledge base's SQLite database: connection, durability settings and schema migrations.

One file, ``knowledge.sqlite3``, holds the ingest ledger (:mod:`~assistant.knowledge.ledger`)
and the lexical index with the chunks' text (:mod:`~assistant.knowledge.lexical`), so a document's
status and its chunks change in one transaction. It runs in WAL mode with ``synchronous=FULL``:
a committed import survives a crash or power cut, and a crash mid-import leaves the document in
a non-``indexed`` state that the next import redoes.

Schema changes are numbered functions in :data:`MIGRATIONS`, applied in order and recorded in
``schema_migrations``; never edit one that has shipped, append a new one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import KnowledgeIndexError


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute SQL statements one by one, inside the caller's transaction.

    ``executescript`` would commit the open transaction first, making a migration non-atomic.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {statement[:80]!r}")


def _m1_initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE documents (
            id          TEXT PRIMARY KEY,
            collection  TEXT NOT NULL,
            path        TEXT NOT NULL,
            sha256      TEXT NOT NULL DEFAULT '',
            kind        TEXT NOT NULL DEFAULT '',
            size        INTEGER NOT NULL DEFAULT 0,
            pages       INTEGER NOT NULL DEFAULT 0,
            chunks      INTEGER NOT NULL DEFAULT 0,
            status      TEXT NOT NULL CHECK (status IN
                            ('pending', 'parsed', 'embedded', 'indexed', 'failed')),
            failure     TEXT NOT NULL DEFAULT '',
            error       TEXT NOT NULL DEFAULT '',
            imported_at TEXT NOT NULL,
            UNIQUE (collection, path)
        );
        CREATE INDEX documents_collection ON documents (collection, status);

        CREATE TABLE chunks (
            rowid       INTEGER PRIMARY KEY,
            id          TEXT NOT NULL UNIQUE,
            document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            collection  TEXT NOT NULL,
            ordinal     INTEGER NOT NULL,
            page        INTEGER,
            heading     TEXT NOT NULL DEFAULT '',
            char_start  INTEGER NOT NULL,
            char_end    INTEGER NOT NULL,
            text        TEXT NOT NULL,
            title       TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX chunks_document ON chunks (document_id, ordinal);

        -- External-content FTS5 over chunks: porter stemming, diacritics folded. The triggers
        -- keep it in step with the chunks table inside the same transaction.
        CREATE VIRTUAL TABLE chunks_fts USING fts5 (
            text, heading, title,
            content = 'chunks', content_rowid = 'rowid',
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, text, heading, title)
            VALUES (new.rowid, new.text, new.heading, new.title);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text, heading, title)
            VALUES ('delete', old.rowid, old.text, old.heading, old.title);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text, heading, title)
            VALUES ('delete', old.rowid, old.text, old.heading, old.title);
            INSERT INTO chunks_fts (rowid, text, heading, title)
            VALUES (new.rowid, new.text, new.heading, new.title);
        END;

        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )


def _m2_ocr_pages(conn: sqlite3.Connection) -> None:
    # One row per page read by OCR: the engine, its mean word confidence, and the words with
    # their boxes as JSON (assistant.knowledge.ocr.OcrPage.to_json), for the page view.
    run_script(
        conn,
        """
        CREATE TABLE ocr_pages (
            document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            page        INTEGER NOT NULL,
            engine      TEXT NOT NULL,
            confidence  REAL NOT NULL,
            words       INTEGER NOT NULL,
            data        TEXT NOT NULL,
            PRIMARY KEY (document_id, page)
        );
        """,
    )


#: Schema migrations, in order; the list index + 1 is the version recorded.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("initial schema: documents, chunks, chunks_fts, meta", _m1_initial),
    ("ocr_pages: what OCR read on scanned pages, with word boxes", _m2_ocr_pages),
]


_DISK_FULL = ("disk is full", "no space left", "disk full", "quota exceeded")


def write_error(path: Path, exc: BaseException) -> KnowledgeIndexError:
    """The error for a failed write to the index at ``path``; disk full gets its own message.

    A full disk is the one write failure users can fix themselves, and they must know that
    nothing was lost: every write is a transaction (or an idempotent upsert) that the next
    import redoes.
    """
    text = str(exc)
    if any(marker in text.lower() for marker in _DISK_FULL):
        return KnowledgeIndexError(
            f"The disk holding the document index ({path.parent}) is full. Free some space and "
            "run the import again: documents imported before are intact, and the import "
            "finishes the rest where it stopped."
        )
    return KnowledgeIndexError(f"Cannot write the document index: {text}")


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (what the ledger stores)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """A serialized SQLite connection shared by the ledger and the lexical index.

    The connection may be used from several threads (the GUI imports in a worker thread while
    the user searches); a lock serializes every use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise KnowledgeIndexError(
                f"The document index {path} cannot be opened ({exc}). It may be damaged: move "
                "the folder that holds it away and import your documents again; the documents "
                "themselves are untouched."
            ) from exc

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        if applied and max(applied) > len(MIGRATIONS):
            raise KnowledgeIndexError(
                f"The document index {self.path} was written by a newer version of Enclave "
                f"(schema {max(applied)}, this version knows {len(MIGRATIONS)}). Upgrade Enclave."
            )
        for version, (name, migrate) in enumerate(MIGRATIONS, start=1):
            if version in applied:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrate(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, utc_now()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        with self.lock:
            row = self.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            return int(row[0] or 0)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any exception.

        Raises:
            KnowledgeIndexError: SQLite failed (disk full, damaged file, ...).
        """
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise write_error(self.path, exc) from exc
            try:
                yield self.conn
            except sqlite3.Error as exc:
                self._rollback()
                raise write_error(self.path, exc) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise write_error(self.path, exc) from exc

    def _rollback(self) -> None:
        # On SQLITE_FULL and I/O errors SQLite has already rolled the transaction back, and a
        # second ROLLBACK would raise "no transaction is active" over the real error.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads, with the lock held.

        Raises:
            KnowledgeIndexError: SQLite failed.
        """
        with self.lock:
            try:
                yield self.conn
            except sqlite3.DatabaseError as exc:
                raise KnowledgeIndexError(f"Cannot read the document index: {exc}") from exc

    def get_meta(self, key: str) -> str | None:
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        with self.lock:
            self.conn.close()
