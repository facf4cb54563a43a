"""Numbered schema migrations for the conversation database.

Each migration is a function taking a connection; :func:`migrate` applies, in order, those whose
number is not yet in the ``_migrations`` table, each in its own transaction, and records it. A
migration never changes once released: a schema change is a new function at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = Callable[[sqlite3.Connection], None]


def _m001_conversations(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'partial', 'error')),
            created_at TEXT NOT NULL,
            token_count INTEGER,
            meta TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")
    db.execute("CREATE INDEX conversations_by_update ON conversations(updated_at)")


MIGRATIONS: tuple[Migration, ...] = (_m001_conversations,)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date. ``db`` must be in autocommit mode (isolation_level=None).

    Returns:
        The schema version after migrating.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
    )
    applied = {row[0] for row in db.execute("SELECT version FROM _migrations")}
    for number, migration in enumerate(MIGRATIONS, start=1):
        if number in applied:
            continue
        # The connection is in autocommit mode, so BEGIN makes the DDL and its record one unit.
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            db.execute(
                "INSERT INTO _migrations (version, applied_at) VALUES (?, ?)",
                (number, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return len(MIGRATIONS)
