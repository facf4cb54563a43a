"""The shared document index: collections on a Chroma server (``chroma run``) inside the enclave.

When ``[knowledge] server_url`` is set, :class:`SharedKnowledgeBase` replaces the local index.
Import still happens on this desktop (parsing in the sandbox, chunking, our own embedder); the
vectors go to the server together with each chunk's text and citation data (document, path,
page, heading, offsets), so a passage imported by one analyst is searchable, and citable, by
every desktop granted the same collection. Collection names map to Chroma names exactly as in
the local index (:func:`assistant.knowledge.store.chroma_name`).

Search is hybrid as on the desktop: Chroma's vector search, plus a lexical pass on the server
(a case-insensitive ``$regex`` over the query's content words, ranked by how many of them a
passage holds), fused by reciprocal rank. BM25 needs per-collection statistics the server does
not keep, so the lexical side is coarser than the local FTS5 one.

Per-collection access: the desktop lists, searches and writes only the collections an admin
granted to it (``[knowledge] granted_collections``). This is the desktop's side; the server
side is a bearer token checked by the proxy in front of Chroma (see docs/scale-out.md).

This module and :mod:`assistant.engine.remote` are the only ones that open network connections.
Like :mod:`assistant.knowledge.store`, it passes explicit embeddings and our own embedding
function (Chroma's default one would download a model) and turns telemetry off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from assistant.engine.remote import ServerConfig, address
from assistant.errors import (
    CollectionNotGrantedError,
    KnowledgeIndexError,
    SharedIndexUnavailableError,
)
from assistant.knowledge.base import DEFAULT_COLLECTION, KnowledgeBase
from assistant.knowledge.embedder import Embedder, MiniLMEmbedder
from assistant.knowledge.lexical import query_terms
from assistant.knowledge.records import (
    Chunk,
    CollectionInfo,
    DocumentRecord,
    DocumentStatus,
    KnowledgeSettings,
)
from assistant.knowledge.search import RRF_K, SearchHit
from assistant.knowledge.store import DenseStore, _ChromaEmbedding, chroma_name
from assistant.knowledge.terms import coverage as term_coverage

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from assistant.config import Settings

#: The local folder (under the index folder) that records what this desktop imported.
SHARED_DIR = "shared"

DocumentLookup = Callable[[str], DocumentRecord | None]


class RemoteDenseStore(DenseStore):
    """The dense store on a Chroma server; chunks carry their text and citation data."""

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        describe: DocumentLookup,
        token: str = "",
        ca_file: str = "",
    ) -> None:
        host, port, tls = address(url)
        self._path = Path(url)  # only shown in messages
        self._url = url
        self._embedder = embedder
        self._function = _ChromaEmbedding(embedder)
        self._collections: dict[str, Any] = {}
        self._describe = describe
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if ca_file:
            settings.chroma_server_ssl_verify = str(Path(ca_file).expanduser())
        try:
            self._client = chromadb.HttpClient(
                host=host,
                port=port,
                ssl=tls,
                headers={"Authorization": f"Bearer {token}"} if token else None,
                settings=settings,
            )
            self._client.heartbeat()
        except Exception as exc:
            raise _unavailable(url, exc) from exc

    def add(self, collection: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """Write chunks with their vectors, text and citation data (an upsert).

        Raises:
            KnowledgeIndexError: the server refused or failed.
        """
        if not chunks:
            return
        handle = self._collection(collection, create=True)
        assert handle is not None
        metadatas = []
        for chunk in chunks:
            record = self._describe(chunk.document_id)
            path = str(record.path) if record is not None else ""
            metadatas.append(
                {
                    "document_id": chunk.document_id,
                    "index": chunk.index,
                    "page": chunk.page if chunk.page is not None else -1,
                    "heading": chunk.heading,
                    "char_start": chunk.char_start,
                    "char_end": chunk.char_end,
                    "path": path,
                    "name": Path(path).name if path else chunk.document_id,
                    # The first chunk also describes its document, for listings on any desktop.
                    **(_document_meta(record) if chunk.index == 0 and record else {}),
                }
            )
        try:
            handle.upsert(
                ids=[c.id for c in chunks],
                embeddings=np.asarray(vectors, dtype=np.float32),
                documents=[c.text for c in chunks],
                metadatas=metadatas,
            )
        except Exception as exc:
            raise _unavailable(self._url, exc) from exc

    def names(self) -> set[str]:
        """Chroma names of the collections on the server."""
        try:
            return {c.name for c in self._client.list_collections()}
        except Exception as exc:
            raise _unavailable(self._url, exc) from exc

    def handle(self, collection: str) -> Any | None:
        """The Chroma collection for a user collection name, ``None`` when it does not exist."""
        return self._collection(collection, create=False)


def _document_meta(record: DocumentRecord) -> dict[str, Any]:
    return {
        "doc_sha256": record.sha256,
        "doc_kind": record.kind,
        "doc_size": record.size,
        "doc_pages": record.pages,
        "doc_chunks": record.chunks,
        "doc_imported_at": record.imported_at,
    }


def _unavailable(url: str, exc: BaseException) -> KnowledgeIndexError:
    if isinstance(exc, KnowledgeIndexError):
        return exc
    text = str(exc) or type(exc).__name__
    return SharedIndexUnavailableError(url, text[:300])


class SharedKnowledgeBase(KnowledgeBase):
    """A knowledge base whose collections live on the site's Chroma server.

    Open with :func:`open_shared`. Import, search, listing and answers work as on the desktop;
    this desktop's own import ledger (what it imported, for incremental re-imports) stays in a
    local folder.
    """

    def __init__(
        self,
        index_dir: Path,
        *,
        embedder: Embedder,
        settings: KnowledgeSettings,
        server: ServerConfig,
        granted: Sequence[str],
    ) -> None:
        super().__init__(index_dir, embedder=embedder, settings=settings)
        self.server = server
        self.granted = list(dict.fromkeys(granted))
        self._remote: RemoteDenseStore | None = None

    def _dense_store(self) -> DenseStore:
        return self._shared()

    def _shared(self) -> RemoteDenseStore:
        if self._remote is None:
            self._remote = RemoteDenseStore(
                self.server.url,
                self._embedder,
                describe=self._ledger.by_id,
                token=self.server.token,
                ca_file=self.server.ca_file,
            )
        return self._remote

    def _check_granted(self, collection: str) -> None:
        if collection not in self.granted:
            raise CollectionNotGrantedError(collection, self.granted)

    # --- the public operations that differ from the local index ---------------------------

    def ingest(self, paths: Any, *, collection: str = DEFAULT_COLLECTION, **kwargs: Any) -> Any:
        """Import files into a granted shared collection (see :meth:`KnowledgeBase.ingest`).

        Raises:
            CollectionNotGrantedError: the collection is not granted to this desktop.
            SharedIndexUnavailableError: the server cannot be reached.
        """
        self._check_granted(collection.strip())
        self._shared()  # fail before parsing anything when the server is down
        return super().ingest(paths, collection=collection, **kwargs)

    def collections(self) -> list[CollectionInfo]:
        """The granted collections that exist on the server, with their counts there."""
        existing = self._shared().names()
        infos: list[CollectionInfo] = []
        for name in self.granted:
            if chroma_name(name) not in existing:
                continue
            documents = self.documents(name)
            infos.append(
                CollectionInfo(
                    name=name,
                    documents=len(documents),
                    indexed=len(documents),
                    failed=0,
                    chunks=self._shared().count(name),
                )
            )
        return infos

    def documents(self, collection: str | None = None) -> list[DocumentRecord]:
        """Documents in granted shared collections (imported from any desktop)."""
        names = [collection] if collection is not None else self.granted
        records: list[DocumentRecord] = []
        for name in names:
            if name not in self.granted:
                continue
            handle = self._shared().handle(name)
            if handle is None:
                continue
            try:
                found = handle.get(where={"index": 0}, include=["metadatas"])
            except Exception as exc:
                raise _unavailable(self.server.url, exc) from exc
            for meta in found.get("metadatas") or []:
                records.append(_record(name, meta))
        return sorted(records, key=lambda r: (r.collection, r.name, r.id))

    def search(
        self,
        query: str,
        *,
        collection: str = DEFAULT_COLLECTION,
        top_k: int = 5,
        document: Any = None,
        **_: Any,
    ) -> list[SearchHit]:
        """The passages of a granted shared collection that best match ``query``.

        Raises:
            CollectionNotGrantedError: the collection is not granted to this desktop.
            SharedIndexUnavailableError: the server cannot be reached.
        """
        self._check_granted(collection)
        query = query.strip()
        handle = self._shared().handle(collection)
        if handle is None or not query or top_k <= 0:
            return []
        where = _document_filter(document)
        pool = max(4 * top_k, 20)
        vector = self._embedder.embed([query])[0]
        try:
            dense = handle.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=pool,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
            terms = query_terms(query)
            pattern = "(?i)(" + "|".join(re.escape(t) for t in terms) + ")" if terms else None
            lexical = (
                handle.get(
                    where=where,
                    where_document={"$regex": pattern},
                    limit=pool * 5,
                    include=["documents", "metadatas"],
                )
                if pattern
                else {"ids": [], "documents": [], "metadatas": []}
            )
        except Exception as exc:
            raise _unavailable(self.server.url, exc) from exc
        return _fuse(collection, query, dense, lexical, top_k, pool)

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
        super().close()


def _document_filter(document: Any) -> dict[str, Any] | None:
    if document is None:
        return None
    wanted = [document] if isinstance(document, DocumentRecord | str) else list(document)
    ids = [d.id if isinstance(d, DocumentRecord) else str(d) for d in wanted]
    return {"document_id": {"$in": ids}}


def _record(collection: str, meta: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        id=str(meta.get("document_id", "")),
        collection=collection,
        path=Path(str(meta.get("path", ""))),
        sha256=str(meta.get("doc_sha256", "")),
        kind=str(meta.get("doc_kind", "")),
        size=int(meta.get("doc_size", 0)),
        pages=int(meta.get("doc_pages", 0)),
        chunks=int(meta.get("doc_chunks", 0)),
        status=DocumentStatus.INDEXED,
        error="",
        imported_at=str(meta.get("doc_imported_at", "")),
    )


def _fuse(
    collection: str,
    query: str,
    dense: Any,
    lexical: Any,
    top_k: int,
    pool: int,
) -> list[SearchHit]:
    """Reciprocal-rank fusion of the server's vector and lexical results, as on the desktop."""
    payload: dict[str, tuple[str, dict[str, Any]]] = {}
    dense_info: dict[str, tuple[int, float]] = {}
    ids = (dense.get("ids") or [[]])[0]
    texts = (dense.get("documents") or [[]])[0]
    metas = (dense.get("metadatas") or [[]])[0]
    distances = (dense.get("distances") or [[]])[0]
    for rank, (cid, text, meta, distance) in enumerate(
        zip(ids, texts, metas, distances, strict=True), start=1
    ):
        payload[cid] = (text or "", dict(meta or {}))
        dense_info[cid] = (rank, 1.0 - float(distance))  # cosine distance is 1 - similarity
    terms = query_terms(query)
    scored = []
    for cid, text, meta in zip(
        lexical.get("ids") or [], lexical.get("documents") or [], lexical.get("metadatas") or [],
        strict=True,
    ):  # fmt: skip
        payload.setdefault(cid, (text or "", dict(meta or {})))
        heading = str((meta or {}).get("heading", ""))
        scored.append((term_coverage(terms, f"{heading}\n{text}"), cid))
    scored.sort(key=lambda item: (-item[0], item[1]))
    lexical_info = {cid: (rank, cov) for rank, (cov, cid) in enumerate(scored[:pool], start=1)}

    fused: dict[str, float] = {}
    for cid, (rank, _) in dense_info.items():
        fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    for cid, (rank, _) in lexical_info.items():
        fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    order = sorted(fused, key=lambda c: (-fused[c], dense_info.get(c, (pool + 1, 0.0))[0], c))
    hits: list[SearchHit] = []
    for cid in order[:top_k]:
        text, meta = payload[cid]
        page = int(meta.get("page", -1))
        path = Path(str(meta.get("path", "")))
        heading = str(meta.get("heading", ""))
        dense_rank, similarity = dense_info.get(cid, (None, None))
        lexical_rank, coverage = lexical_info.get(cid, (None, None))
        hits.append(
            SearchHit(
                chunk_id=cid,
                document_id=str(meta.get("document_id", "")),
                document_name=str(meta.get("name", "")) or path.name,
                path=path,
                collection=collection,
                page=page if page >= 1 else None,
                heading=heading,
                text=text,
                char_start=int(meta.get("char_start", 0)),
                char_end=int(meta.get("char_end", 0)),
                score=fused[cid],
                dense_rank=dense_rank,
                dense_similarity=similarity,
                lexical_rank=lexical_rank,
                lexical_score=coverage,
                term_coverage=term_coverage(terms, f"{heading}\n{text}"),
                query_terms=tuple(terms),
            )
        )
    return hits


def open_shared(
    index_dir: Path,
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    knowledge: KnowledgeSettings | None = None,
) -> SharedKnowledgeBase:
    """The shared knowledge base described by ``[knowledge] server_url`` and ``[server]`` TLS.

    Args:
        index_dir: the local index folder; this desktop's import ledger goes in ``shared/``.
        settings: the application settings.
        embedder: the embedder (default all-MiniLM-L6-v2); it must match the one every other
            desktop uses for the same collections.
        knowledge: limits and chunk sizes.

    Raises:
        ConfigError: the URL or the token file is invalid.
    """
    s = settings.server
    server = ServerConfig.from_settings(
        settings.knowledge.server_url,
        token_file=s.token_file,
        ca_file=s.ca_file,
        connect_timeout_s=s.connect_timeout_s,
        read_timeout_s=s.read_timeout_s,
    )
    return SharedKnowledgeBase(
        Path(index_dir) / SHARED_DIR,
        embedder=(
            embedder
            if embedder is not None
            else MiniLMEmbedder(backend=settings.knowledge.embedding_backend)
        ),
        settings=knowledge or KnowledgeSettings(),
        server=server,
        granted=settings.knowledge.granted_collections,
    )


__all__ = ["RemoteDenseStore", "SharedKnowledgeBase", "open_shared"]
