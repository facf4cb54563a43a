"""The conversation store: migrations, messages, partial answers, export, deletion."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.chat.migrations import MIGRATIONS
from assistant.chat.store import ConversationStore
from assistant.config import Paths
from assistant.engine.base import Role
from assistant.errors import ConversationNotFoundError, StoreError


def test_schema_is_migrated_and_recorded(store: ConversationStore) -> None:
    db = sqlite3.connect(store.path)
    versions = [row[0] for row in db.execute("SELECT version FROM _migrations")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_reopening_does_not_migrate_twice(paths: Paths) -> None:
    ConversationStore(paths.conversations_db).close()
    again = ConversationStore(paths.conversations_db)
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_messages_keep_order_and_status(store: ConversationStore) -> None:
    conversation = store.create("Budget questions")
    store.add_message(conversation.id, Role.USER, "How much?")
    answer = store.add_message(conversation.id, Role.ASSISTANT, "", status="partial")
    store.update_message(answer.id, content="Forty", status="complete", token_count=1,
                         meta={"tokens": [["Forty", -0.1, []]]})  # fmt: skip
    messages = store.messages(conversation.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        (Role.USER, "How much?", "complete"),
        (Role.ASSISTANT, "Forty", "complete"),
    ]
    assert messages[1].meta["tokens"][0][0] == "Forty"
    assert store.get(conversation.id).message_count == 2


def test_list_is_newest_first_and_searchable(store: ConversationStore) -> None:
    first = store.create("Alpha report")
    second = store.create("Beta 100% report")
    store.add_message(first.id, Role.USER, "bump")  # updating makes it the newest
    assert [c.id for c in store.conversations()] == [first.id, second.id]
    assert [c.title for c in store.conversations(search="100%")] == ["Beta 100% report"]
    assert store.conversations(search="_") == []  # LIKE wildcards are matched literally
    assert store.latest() is not None


def test_rename_delete_and_missing(store: ConversationStore) -> None:
    conversation = store.create("Old")
    store.rename(conversation.id, "New")
    assert store.get(conversation.id).title == "New"
    store.add_message(conversation.id, Role.USER, "hi")
    store.delete(conversation.id)
    with pytest.raises(ConversationNotFoundError, match="conversations list"):
        store.get(conversation.id)
    with pytest.raises(ConversationNotFoundError):
        store.add_message(conversation.id, Role.USER, "orphan")
    with pytest.raises(ConversationNotFoundError):
        store.delete(conversation.id)


def test_export_contains_everything(store: ConversationStore) -> None:
    conversation = store.create("Export me", model="smol")
    store.add_message(conversation.id, Role.USER, "Q")
    data = store.export(conversation.id)
    assert data["title"] == "Export me"
    assert data["model"] == "smol"
    assert data["messages"][0]["content"] == "Q"


def test_a_damaged_database_is_a_clear_error(paths: Paths) -> None:
    paths.conversations_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be opened"):
        ConversationStore(paths.conversations_db)
