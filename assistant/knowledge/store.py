"""The dense (vector) index: the only module that imports chromadb.

One Chroma collection holds the chunks of one user collection, in cosine space. Chroma stores
only what vector search needs: the chunk id, its embedding and the document id (to delete or
filter by document); the chunk's text and citation data live in the lexical index's table, the
single source of truth that search joins against.

Two traps are closed here. Chroma's default embedding function downloads an ONNX model on first
use: every collection gets :class:`_ChromaEmbedding`, a wrapper around our own embedder, and every
call passes explicit embeddings anyway. And the client is opened with anonymized telemetry off.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant.errors import EmbedderError, EmbedderMismatchError, KnowledgeIndexError
from assistant.knowledge.db import write_error
from assistant.knowledge.embedder import Embedder
from assistant.knowledge.records import Chunk

if TYPE_CHECKING:
    from numpy.typing import NDArray

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
# HNSW search breadth for new collections. Chroma's default (100) found 0.82 of the exact ten
# nearest passages at 100k chunks; 400 finds 0.98 for about 3 ms more (bench/bench_retrieval.py,
# docs/benchmarks.md). Collections created earlier keep the value they were built with.
HNSW_EF_SEARCH = 400


class _ChromaEmbedding(EmbeddingFunction[Documents]):
    """Chroma's view of our embedder, so Chroma never falls back to its own downloading one."""

    def __init__(self, embedder: Embedder | None) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        if self._embedder is None:
            raise EmbedderError("The index was opened without an embedder; pass one explicitly.")
        return list(self._embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "enclave"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name if self._embedder is not None else ""}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _ChromaEmbedding:
        # Chroma rebuilds persisted functions from their config; ours cannot load a model from
        # a name, so the rebuilt one refuses to embed (we always pass ours or explicit vectors).
        return _ChromaEmbedding(None)

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine"]


# chromadb persists each collection's embedding function by name and rebuilds it from that name
# when another process opens the collection; an unregistered name gets "Could not reconstruct
# embedding function enclave" warned at the user on every re-import.
register_embedding_function(_ChromaEmbedding)  # type: ignore[no-untyped-call]


def chroma_name(collection: str) -> str:
    """A valid, collision-free Chroma collection name for a user's collection name.

    Chroma allows 3-512 characters of ``[a-zA-Z0-9._-]`` starting and ending with a letter or
    digit; user names can be anything, so the readable slug gets a hash of the exact name.
    """
    slug = _UNSAFE.sub("-", collection).strip("-_")[:40] or "c"
    digest = hashlib.sha256(collection.encode()).hexdigest()[:10]
    return f"kb-{slug}-{digest}"


def _persistent_client(path: Path) -> Any:
    """Chroma on disk at ``path``, telemetry off (every on-disk client is made here)."""
    return chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
    )


def inventory(path: Path) -> dict[str, list[str]]:
    """Every chunk id in the vector index at ``path``, by user collection, reading all of it.

    Used by :mod:`assistant.knowledge.recovery` in a child process: it opens the index the way
    the application does, lists each collection's ids and runs one nearest-neighbour query, so a
    damaged file fails (or crashes Chroma's native core) there rather than in the application.

    Raises:
        Exception: whatever Chroma raises on a damaged index.
    """
    client = _persistent_client(path)
    found: dict[str, list[str]] = {}
    try:
        for listed in client.list_collections():
            handle = client.get_collection(
                listed.name, embedding_function=cast(Any, _ChromaEmbedding(None))
            )
            name = str((handle.metadata or {}).get("enclave_collection", listed.name))
            ids = list(handle.get(include=[])["ids"])
            if ids:  # loads the HNSW segment: the part a crash mid-write can leave torn
                sample = handle.get(ids=ids[:1], include=["embeddings"])["embeddings"]
                handle.query(query_embeddings=[sample[0]], n_results=min(len(ids), 10), include=[])
            found[name] = ids
    finally:
        client.close()
    return found


@dataclass(frozen=True)
class DenseMatch:
    """A chunk found by vector search, with its cosine similarity to the query."""

    chunk_id: str
    similarity: float


class DenseStore:
    """Chroma on disk, one Chroma collection per user collection."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self._path = path
        self._embedder = embedder
        self._function = _ChromaEmbedding(embedder)
        self._collections: dict[str, Any] = {}
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._client = _persistent_client(path)
        except Exception as exc:
            raise KnowledgeIndexError(
                f"Cannot open the vector index at {path}: {exc}. If the folder is damaged, move "
                "it away and import your documents again; the files themselves are untouched."
            ) from exc

    def _collection(self, name: str, *, create: bool) -> Any | None:
        cached = self._collections.get(name)
        if cached is not None:
            return cached
        try:
            if create:
                handle = self._client.get_or_create_collection(
                    chroma_name(name),
                    configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
                    metadata={"enclave_collection": name, "embedder": self._embedder.name},
                    embedding_function=cast(Any, self._function),
                )
            else:
                existing = {c.name for c in self._client.list_collections()}
                if chroma_name(name) not in existing:
                    return None
                handle = self._client.get_collection(
                    chroma_name(name), embedding_function=cast(Any, self._function)
                )
        except Exception as exc:
            raise KnowledgeIndexError(
                f"Cannot open collection {name!r} in the vector index at {self._path}: {exc}"
            ) from exc
        built_with = (handle.metadata or {}).get("embedder", self._embedder.name)
        if built_with != self._embedder.name:
            raise EmbedderMismatchError(str(self._path), str(built_with), self._embedder.name)
        self._collections[name] = handle
        return handle

    def add(self, collection: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """Write chunks and their vectors (an upsert: writing the same ids again is harmless).

        Raises:
            KnowledgeIndexError: Chroma failed.
        """
        if not chunks:
            return
        handle = self._collection(collection, create=True)
        assert handle is not None
        try:
            handle.upsert(
                ids=[c.id for c in chunks],
                embeddings=np.asarray(vectors, dtype=np.float32),
                metadatas=[{"document_id": c.document_id, "index": c.index} for c in chunks],
            )
        except Exception as exc:
            raise write_error(self._path / "chroma.sqlite3", exc) from exc  # disk full: said so

    def delete_document(self, collection: str, document_id: str) -> None:
        """Delete every chunk of a document (nothing happens when it has none).

        Raises:
            KnowledgeIndexError: Chroma failed.
        """
        handle = self._collection(collection, create=False)
        if handle is None:
            return
        try:
            handle.delete(where={"document_id": document_id})
        except Exception as exc:
            raise KnowledgeIndexError(f"Could not delete from the vector index: {exc}") from exc

    def query(
        self,
        collection: str,
        vector: NDArray[np.float32],
        *,
        limit: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[DenseMatch]:
        """The ``limit`` chunks nearest to ``vector``, best first.

        Raises:
            KnowledgeIndexError: Chroma failed.
        """
        handle = self._collection(collection, create=False)
        if handle is None or limit <= 0:
            return []
        where: dict[str, Any] | None = None
        if document_ids is not None:
            if not document_ids:
                return []
            where = {"document_id": {"$in": list(document_ids)}}
        try:
            # No count() first: it costs more than the query at 100k chunks, and Chroma returns
            # what it has when asked for more (nothing for an empty collection).
            result = handle.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=limit,
                where=where,
                include=["distances"],
            )
        except Exception as exc:
            raise KnowledgeIndexError(f"Could not search the vector index: {exc}") from exc
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        # Chroma's cosine distance is 1 - cosine similarity.
        return [DenseMatch(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def count(self, collection: str) -> int:
        """How many chunks the collection holds."""
        handle = self._collection(collection, create=False)
        return int(handle.count()) if handle is not None else 0

    def drop_collection(self, collection: str) -> None:
        """Delete a whole collection's vectors."""
        self._collections.pop(collection, None)
        try:
            self._client.delete_collection(chroma_name(collection))
        except Exception:  # already gone is what we wanted
            pass

    def close(self) -> None:
        """Release the handles and Chroma's per-folder system (its files stay consistent).

        Chroma caches one system per folder for the whole process; releasing it lets a rebuilt
        folder at the same path be opened afresh instead of through the moved one's handles.
        """
        self._collections.clear()
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the files are already safe
            pass
