"""The SQLite side: migrations, durability settings, damaged files, safe full-text queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.errors import KnowledgeIndexError
from assistant.knowledge.db import MIGRATIONS, Database
from assistant.knowledge.lexical import match_expression, query_terms


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "k.sqlite3")
    assert db.schema_version == len(MIGRATIONS)
    db.close()
    again = Database(tmp_path / "k.sqlite3")  # reopening applies nothing twice
    rows = again.conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again.close()


def test_an_index_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Database(tmp_path / "k.sqlite3").close()
    conn = sqlite3.connect(tmp_path / "k.sqlite3")
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(KnowledgeIndexError, match="newer version of Enclave"):
        Database(tmp_path / "k.sqlite3")


def test_a_damaged_database_gives_an_actionable_error(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(KnowledgeIndexError, match="move the folder"):
        Database(path)


@pytest.mark.parametrize(
    "query",
    [
        'say "hello',
        "a AND OR NOT b",
        "NEAR(x y)",
        "col:value",
        "*star*",
        "((( x",
        "-x ^y",
        "'; DROP",
    ],
)
def test_any_user_text_is_a_valid_match_expression(tmp_path: Path, query: str) -> None:
    db = Database(tmp_path / "k.sqlite3")
    expression = match_expression(query)
    assert expression is not None
    db.conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,))
    db.close()


def test_codes_keep_their_inner_punctuation() -> None:
    assert query_terms("Where is part AB-1234/X?") == ["part", "ab-1234/x"]
    assert match_expression("the of and") is None
