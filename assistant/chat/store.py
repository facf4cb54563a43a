"""The conversation store: conversations and their messages in SQLite.

The database runs in WAL mode with ``synchronous=FULL``: a committed message survives a crash or
a killed process. An answer is saved as ``partial`` before generation starts and updated as it
completes, so an answer interrupted by a kill is kept and marked as such.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.chat.migrations import migrate
from assistant.engine.base import Role
from assistant.errors import ConversationNotFoundError, StoreError


def _now() -> str:
    # Microseconds: conversations are ordered by these strings, and two can start in a second.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def shown_time(stamp: str) -> str:
    """A stored time (ISO 8601 in UTC, to the microsecond) as people read it: this machine's
    local time, to the minute (``2026-12-02 14:56``). A value that is not a time is shown as is.
    """
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: Role
    content: str
    status: str
    created_at: str
    token_count: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    model: str = ""
    message_count: int = 0


class ConversationStore:
    """Conversations and messages in one SQLite file.

    Safe to share between threads (one connection behind a lock); the GUI's worker threads save
    answers while the window reads the list.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self.schema_version = migrate(self._db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The conversation database {self.path} cannot be opened ({exc}). If it is "
                "damaged, move it aside; Enclave starts a new one and the old file is kept."
            ) from exc
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    # On a full disk SQLite may already have rolled back, and a second ROLLBACK
                    # would raise "no transaction is active", hiding the error that matters.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(_write_failure(self.path, exc)) from exc

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                cursor.row_factory = sqlite3.Row
                return cursor.fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"Reading conversations from {self.path} failed: {exc}") from exc

    # --- conversations ---------------------------------------------------------------------------

    def create(self, title: str = "New conversation", *, model: str = "") -> Conversation:
        now = _now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model) VALUES (?,?,?,?)",
                (title, now, now, model),
            )
            conversation_id = int(cursor.lastrowid or 0)
        return Conversation(conversation_id, title, now, now, model)

    def get(self, conversation_id: int) -> Conversation:
        rows = self._query(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        )
        if not rows:
            raise ConversationNotFoundError(conversation_id)
        return _conversation(rows[0])

    def conversations(self, *, search: str = "", limit: int = 1000) -> list[Conversation]:
        """Conversations, most recently updated first, optionally filtered by title."""
        rows = self._query(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.title LIKE ? ESCAPE '\\' "
            "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (f"%{_escape_like(search)}%", limit),
        )
        return [_conversation(row) for row in rows]

    def latest(self) -> Conversation | None:
        found = self.conversations(limit=1)
        return found[0] if found else None

    def rename(self, conversation_id: int, title: str) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?",
                (title, _now(), conversation_id),
            )
        if cursor.rowcount == 0:
            raise ConversationNotFoundError(conversation_id)

    def delete(self, conversation_id: int) -> None:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        if cursor.rowcount == 0:
            raise ConversationNotFoundError(conversation_id)

    # --- messages --------------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        status: str = "complete",
        token_count: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        now = _now()
        meta = meta or {}
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, created_at, "
                "token_count, meta) SELECT ?,?,?,?,?,?,? WHERE EXISTS "
                "(SELECT 1 FROM conversations WHERE id = ?)",
                (conversation_id, role.value, content, status, now, token_count,
                 json.dumps(meta), conversation_id),
            )  # fmt: skip
            if cursor.rowcount == 0:
                raise ConversationNotFoundError(conversation_id)
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
            message_id = int(cursor.lastrowid or 0)
        return Message(message_id, conversation_id, role, content, status, now, token_count, meta)

    def update_message(
        self,
        message_id: int,
        *,
        content: str,
        status: str,
        token_count: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Replace an answer's text and status (used as a streamed answer progresses)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET content = ?, status = ?, token_count = ?, "
                "meta = COALESCE(?, meta) WHERE id = ?",
                (content, status, token_count, json.dumps(meta) if meta is not None else None,
                 message_id),
            )  # fmt: skip

    def messages(self, conversation_id: int) -> list[Message]:
        self.get(conversation_id)  # raises when missing
        rows = self._query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [_message(row) for row in rows]

    def export(self, conversation_id: int) -> dict[str, Any]:
        """A conversation and its messages as plain JSON-ready data."""
        conversation = self.get(conversation_id)
        return {
            "id": conversation.id,
            "title": conversation.title,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "model": conversation.model,
            "messages": [
                {
                    "role": m.role.value,
                    "content": m.content,
                    "status": m.status,
                    "created_at": m.created_at,
                    "token_count": m.token_count,
                    "meta": m.meta,
                }
                for m in self.messages(conversation_id)
            ],
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _write_failure(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "full" in text or "disk i/o" in text:
        return (
            f"Could not save to {path}: the disk is full or failing. Nothing was half-written; "
            "free some space and try again."
        )
    return f"Could not save to the conversation database {path}: {exc}"


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        model=row["model"],
        message_count=row["n"],
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=Role(row["role"]),
        content=row["content"],
        status=row["status"],
        created_at=row["created_at"],
        token_count=row["token_count"],
        meta=json.loads(row["meta"] or "{}"),
    )
