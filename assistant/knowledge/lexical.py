"""The lexical index: SQLite FTS5 over the chunks' text, ranked with BM25.

It is the dense index's complement: exact identifiers (``AB-1234/X``), names and rare words that
an embedding blurs are found here. It also owns the ``chunks`` table, which holds every chunk's
text and citation data and is what search results are built from.

User text never reaches ``MATCH`` as syntax: :func:`match_expression` turns each word into a
quoted FTS5 phrase, so quotes, hyphens, slashes, colons and FTS5 keywords (``AND``, ``NEAR``) are
just text. A code like ``AB-1234/X`` becomes the phrase ``"AB-1234/X"``, which the tokenizer
reads as the consecutive tokens ``ab 1234 x``: exactly how it was indexed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.knowledge.db import Database
from assistant.knowledge.records import Chunk
from assistant.knowledge.terms import TermWeights

#: Words too common to say anything about relevance; dropped from lexical queries.
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yours tell say said please give show find list document documents many much often
    whose""".split()
)

_TERM = re.compile(r"\S+")
_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")
_POSSESSIVE = re.compile(r"['\u2019]s$")


def query_terms(query: str) -> list[str]:
    """The content words of a query, lower-cased, punctuation trimmed from their ends.

    Inner punctuation stays (``ab-1234/x``), a possessive ``'s`` goes (``orion's`` is
    ``orion``), stopwords go, duplicates go.
    """
    terms: list[str] = []
    for raw in _TERM.findall(query):
        term = _POSSESSIVE.sub("", _EDGE_PUNCTUATION.sub("", raw).lower())
        if (
            term
            and term not in STOPWORDS
            and any(ch.isalnum() for ch in term)
            and term not in terms
        ):
            terms.append(term)
    return terms


def match_expression(query: str) -> str | None:
    """A safe FTS5 ``MATCH`` expression: the query's terms as quoted phrases joined by OR.

    Returns:
        The expression, or ``None`` when the query has no content words.
    """
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


@dataclass(frozen=True)
class LexicalMatch:
    """A chunk found by full-text search. ``score`` is BM25 negated: higher is better."""

    chunk_id: str
    score: float


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored, with its document's path and status (for building search hits)."""

    chunk: Chunk
    collection: str
    path: str
    indexed: bool


class LexicalIndex:
    """Writes chunks and searches them with FTS5."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def replace_document(
        self, conn: sqlite3.Connection, collection: str, title: str, chunks: Sequence[Chunk]
    ) -> None:
        """Write a document's chunks, replacing any it had (inside a transaction)."""
        if not chunks:
            return
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (chunks[0].document_id,))
        self.add_chunks(conn, collection, title, chunks)

    def add_chunks(
        self, conn: sqlite3.Connection, collection: str, title: str, chunks: Sequence[Chunk]
    ) -> None:
        """Insert chunks (inside a transaction); ids already stored are left as they are."""
        conn.executemany(
            "INSERT INTO chunks (id, document_id, collection, ordinal, page, heading, "
            "char_start, char_end, text, title) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            [
                (
                    c.id, c.document_id, collection, c.index, c.page, c.heading,
                    c.char_start, c.char_end, c.text, title,
                )
                for c in chunks
            ],
        )  # fmt: skip

    def delete_document(self, conn: sqlite3.Connection, doc_id: str) -> None:
        """Delete a document's chunks (inside a transaction)."""
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))

    def search(
        self,
        query: str,
        collection: str,
        *,
        limit: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[LexicalMatch]:
        """The ``limit`` best BM25 matches among indexed documents, best first.

        Text matches weigh fully, headings half, document titles a quarter.
        """
        expression = match_expression(query)
        if expression is None or limit <= 0:
            return []
        sql = (
            "SELECT chunks.id AS id, bm25(chunks_fts, 1.0, 0.5, 0.25) AS rank "
            "FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid "
            "JOIN documents ON documents.id = chunks.document_id "
            "WHERE chunks_fts MATCH ? AND chunks.collection = ? AND documents.status = 'indexed'"
        )
        params: list[object] = [expression, collection]
        if document_ids is not None:
            if not document_ids:
                return []
            sql += f" AND chunks.document_id IN ({', '.join('?' * len(document_ids))})"
            params.extend(document_ids)
        sql += " ORDER BY rank LIMIT ?"
        params.append(limit)
        with self._db.reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [LexicalMatch(row["id"], -float(row["rank"])) for row in rows]

    def term_weights(self, terms: Sequence[str], collection: str) -> TermWeights:
        """Each term's rarity among the collection's passages (see :mod:`.terms`).

        One full-text count per term, stemmed by FTS5 as the index was: a few milliseconds.
        """
        counts: dict[str, int] = {}
        absent: set[str] = set()
        with self._db.reading() as conn:
            total = int(
                conn.execute(
                    "SELECT COUNT(*) FROM chunks WHERE collection = ?", (collection,)
                ).fetchone()[0]
            )
            for term in terms:
                expression = match_expression(term)
                if expression is None:
                    continue
                row = conn.execute(
                    "SELECT COUNT(*) FROM chunks_fts "
                    "JOIN chunks ON chunks.rowid = chunks_fts.rowid "
                    "WHERE chunks_fts MATCH ? AND chunks.collection = ?",
                    (expression, collection),
                ).fetchone()
                counts[term] = int(row[0])
                if (
                    counts[term] == 0
                    and term.isalpha()
                    and not self._has_relative(conn, term, collection)
                ):
                    absent.add(term)
        return TermWeights.from_counts(counts, total, absent=frozenset(absent))

    @staticmethod
    def _has_relative(conn: sqlite3.Connection, term: str, collection: str) -> bool:
        """Whether the collection holds a word sharing the start of ``term`` ("night" for
        "nightly", "storage" for "stored"): then the term is only worded differently there."""
        prefix = term[: max(4, len(term) - 2)].lower()
        row = conn.execute(
            "SELECT COUNT(*) FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ? AND chunks.collection = ?",
            (f'"{prefix}" *', collection),
        ).fetchone()
        return int(row[0]) > 0

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """The stored chunks with these ids (missing ids are left out)."""
        found: dict[str, StoredChunk] = {}
        with self._db.reading() as conn:
            for start in range(0, len(chunk_ids), 500):  # stay under SQLite's variable limit
                batch = list(chunk_ids[start : start + 500])
                rows = conn.execute(
                    "SELECT chunks.*, documents.path AS path, documents.status AS status "
                    "FROM chunks JOIN documents ON documents.id = chunks.document_id "
                    f"WHERE chunks.id IN ({', '.join('?' * len(batch))})",
                    batch,
                ).fetchall()
                for row in rows:
                    chunk = Chunk(
                        id=row["id"],
                        document_id=row["document_id"],
                        index=row["ordinal"],
                        text=row["text"],
                        page=row["page"],
                        heading=row["heading"],
                        char_start=row["char_start"],
                        char_end=row["char_end"],
                    )
                    found[chunk.id] = StoredChunk(
                        chunk, row["collection"], row["path"], row["status"] == "indexed"
                    )
        return found

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """A document's stored chunks, in order."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal", (doc_id,)
            ).fetchall()
        ids = [row["id"] for row in rows]
        stored = self.fetch(ids)
        return [stored[i].chunk for i in ids if i in stored]

    def count(self, collection: str | None = None) -> int:
        """How many chunks are stored (in one collection, or all)."""
        with self._db.reading() as conn:
            if collection is None:
                row = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM chunks WHERE collection = ?", (collection,)
                ).fetchone()
        return int(row[0])
