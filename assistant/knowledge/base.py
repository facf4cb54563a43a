"""The knowledge base facade: the one object the CLI and the GUI use.

:class:`KnowledgeBase` owns an index folder (``config.Paths(...).index_dir``) holding
``knowledge.sqlite3`` (ledger, chunks, full-text index) and ``chroma/`` (vectors). It wires the
loaders, chunker, embedder, stores, importer and searcher together. The heavy parts load only
when first needed: listing documents imports neither chromadb nor torch, and the embedder model
loads on the first import or search.

Not thread-safe for concurrent imports; reads (search, listing) may run while an import runs in
another thread (the database serializes them). One process at a time: the application's
instance lock guards the data directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.engine.base import CancelToken, ChatMessage, Engine, GenerationOptions
from assistant.errors import (
    CollectionNotFoundError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    KnowledgeError,
)
from assistant.knowledge.answer import AnswerResult, AnswerSettings, answer
from assistant.knowledge.chunker import Chunker
from assistant.knowledge.db import Database
from assistant.knowledge.embedder import Embedder, MiniLMEmbedder
from assistant.knowledge.importer import Importer, ProgressCallback
from assistant.knowledge.ledger import Ledger
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.records import (
    Chunk,
    CollectionInfo,
    DocumentRecord,
    IngestReport,
    KnowledgeSettings,
)
from assistant.knowledge.recovery import DenseGuard, IndexCheck, RebuildProgress, RebuildReport
from assistant.knowledge.sandbox import ParserWorker
from assistant.knowledge.scans import OcrSummary, ScanStore
from assistant.knowledge.search import HybridSearcher, SearchHit, SearchMode

if TYPE_CHECKING:
    from assistant.knowledge.ocr import OcrPage
    from assistant.knowledge.store import DenseStore

DEFAULT_COLLECTION = "default"
DATABASE_FILE = "knowledge.sqlite3"
CHROMA_DIR = "chroma"
_EMBEDDER_KEY = "embedder"


def check_collection_name(name: str) -> str:
    """Validate a collection name (1-100 printable characters) and return it stripped.

    Raises:
        KnowledgeError: the name is empty, too long or has control characters.
    """
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        raise KnowledgeError(
            f"{name!r} is not a usable collection name: use 1 to 100 printable characters, "
            "for example 'contracts-2024'."
        )
    return cleaned


class KnowledgeBase:
    """Imported documents, searchable, in one index folder. Open with :meth:`open`."""

    def __init__(
        self,
        index_dir: Path,
        *,
        embedder: Embedder,
        settings: KnowledgeSettings,
    ) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self._embedder = embedder
        self._db = Database(index_dir / DATABASE_FILE)
        self._ledger = Ledger(self._db)
        self._lexical = LexicalIndex(self._db)
        self._dense: DenseStore | None = None
        self._worker: ParserWorker | None = None
        self._closed = False
        # Checks the vector index before its first use here and rebuilds it when damaged.
        self._guard = DenseGuard(
            index_dir / CHROMA_DIR, db=self._db, lexical=self._lexical, embedder=embedder,
            batch_size=settings.embed_batch_size, open_store=self._open_chroma,
        )  # fmt: skip

    @classmethod
    def open(
        cls,
        index_dir: Path,
        *,
        embedder: Embedder | None = None,
        settings: KnowledgeSettings | None = None,
    ) -> KnowledgeBase:
        """Open (creating if needed) the knowledge base in ``index_dir``.

        Args:
            index_dir: the folder for the index, normally ``Paths.from_env().index_dir``.
            embedder: the embedder; default all-MiniLM-L6-v2, loaded on first use.
            settings: limits and chunk sizes.

        Raises:
            KnowledgeIndexError: the index exists but cannot be opened (damaged, newer schema).
        """
        settings = settings or KnowledgeSettings()
        return cls(
            Path(index_dir),
            embedder=(
                embedder
                if embedder is not None
                else MiniLMEmbedder(backend=settings.embedding_backend)
            ),
            settings=settings,
        )

    # --- the lazily built heavy parts -----------------------------------------------------

    def _dense_store(self) -> DenseStore:
        if self._closed:
            raise KnowledgeError("This knowledge base has been closed.")
        if self._dense is None:
            built_with = self._db.get_meta(_EMBEDDER_KEY)
            if built_with is not None and built_with != self._embedder.name:
                raise EmbedderMismatchError(str(self.index_dir), built_with, self._embedder.name)
            self._dense = self._guard.open()
            if built_with is None:
                self._db.set_meta(_EMBEDDER_KEY, self._embedder.name)
        return self._dense

    def _open_chroma(self) -> DenseStore:
        from assistant.knowledge.store import DenseStore

        return DenseStore(self.index_dir / CHROMA_DIR, self._embedder)

    def _importer(self) -> Importer:
        if self._worker is None:
            self._worker = ParserWorker(self.settings)
        return Importer(
            db=self._db,
            ledger=self._ledger,
            lexical=self._lexical,
            dense=self._dense_store(),
            embedder=self._embedder,
            chunker=Chunker(
                max_tokens=self.settings.chunk_tokens,
                overlap_tokens=self.settings.chunk_overlap_tokens,
                count_tokens=self._embedder.count_tokens,
            ),
            worker=self._worker,
            settings=self.settings,
        )

    # --- the public operations ------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[Path | str],
        *,
        collection: str = DEFAULT_COLLECTION,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IngestReport:
        """Import files and folders (recursively) into ``collection``.

        Unchanged files are skipped, changed ones replaced, files gone from an imported folder
        removed; a file that cannot be imported is reported with its reason and the rest go on.

        Raises:
            KnowledgeIndexError: the index cannot be written.
            EmbedderError: the embedding model is missing or failed.
        """
        collection = check_collection_name(collection)
        importer = self._importer()
        with self._guard.writing():
            return importer.run(
                [Path(p) for p in paths],
                collection=collection,
                on_progress=on_progress,
                cancel=cancel,
            )

    def documents(self, collection: str | None = None) -> list[DocumentRecord]:
        """Imported (and refused) documents, of one collection or all."""
        return self._ledger.documents(collection)

    def document(self, reference: str, collection: str | None = None) -> DocumentRecord:
        """Find one document by id, id prefix, path or file name.

        Raises:
            DocumentNotFoundError: nothing matches.
            KnowledgeError: several documents match; the message lists their ids.
        """
        found = self._ledger.find(reference, collection)
        if not found:
            raise DocumentNotFoundError(reference, collection)
        if len(found) > 1:
            listed = "; ".join(f"{d.id} ({d.collection}: {d.path})" for d in found[:5])
            raise KnowledgeError(
                f"{reference!r} matches {len(found)} documents: {listed}. Use the id instead."
            )
        return found[0]

    def chunks(self, document: DocumentRecord | str) -> list[Chunk]:
        """A document's chunks, in order."""
        record = document if isinstance(document, DocumentRecord) else self.document(document)
        return self._lexical.chunks_of(record.id)

    def ocr_summary(self, document: DocumentRecord | str) -> OcrSummary | None:
        """How OCR read the document's scanned pages (engine, pages, mean confidence), or
        ``None`` when its text came from a text layer."""
        record = document if isinstance(document, DocumentRecord) else self.document(document)
        return ScanStore(self._db).summary(record.id)

    def ocr_page(self, document: DocumentRecord | str, page: int) -> OcrPage | None:
        """One page as OCR read it, every word with its box, or ``None`` if OCR did not."""
        record = document if isinstance(document, DocumentRecord) else self.document(document)
        return ScanStore(self._db).page(record.id, page)

    def remove(
        self, document: DocumentRecord | str, *, collection: str | None = None
    ) -> DocumentRecord:
        """Remove a document and its chunks from both indexes.

        Args:
            document: the record, or an id, path or file name.
            collection: narrows a name lookup.

        Returns:
            The removed document's record.

        Raises:
            DocumentNotFoundError: nothing matches.
        """
        if isinstance(document, DocumentRecord):
            record = self._ledger.by_id(document.id)
            if record is None:
                raise DocumentNotFoundError(document.id, document.collection)
        else:
            record = self.document(document, collection)
        self._dense_store()
        with self._guard.writing():
            self._remover().remove(record)
        return record

    def _remover(self) -> Importer:
        return Importer(
            db=self._db,
            ledger=self._ledger,
            lexical=self._lexical,
            dense=self._dense_store(),
            embedder=self._embedder,
            chunker=Chunker(),
            worker=self._worker or ParserWorker(self.settings),
            settings=self.settings,
        )

    # --- the vector index's health (assistant.knowledge.recovery) ---------------------------

    @property
    def notices(self) -> list[str]:
        """What was found wrong with the index and repaired, for the user (oldest first)."""
        return list(self._guard.notices)

    def check_index(self, *, probe: bool = False) -> str:
        """Check the vector index before it is first opened; set it aside when damaged.

        Cheap unless ``probe`` is set or the last writer was interrupted: then Chroma opens in a
        child process. The rebuild itself happens on the next import or search.

        Returns:
            A message for the user when the index must be rebuilt, else ``""``.
        """
        return self._guard.diagnose(force_probe=probe)

    def open_index(self) -> None:
        """Open the vector index now, checking it and rebuilding it first when it is damaged.

        Raises:
            KnowledgeIndexError: it cannot be opened even after a rebuild.
        """
        self._dense_store()

    def verify_index(self) -> IndexCheck:
        """Read the whole vector index in a child process and compare it with the passages."""
        return self._guard.check()

    def rebuild_index(self, *, on_progress: RebuildProgress | None = None) -> RebuildReport:
        """Set the vector index aside and rebuild it by re-embedding every indexed passage.

        Raises:
            KnowledgeIndexError: the index cannot be moved or written.
            EmbedderError: the embedding model failed.
        """
        if self._dense is not None:
            self._dense.close()
            self._dense = None
        report = self._guard.rebuild(on_progress=on_progress)
        self._dense_store()
        return report

    def collections(self) -> list[CollectionInfo]:
        """Every collection with its document counts."""
        return self._ledger.collections()

    def search(
        self,
        query: str,
        *,
        collection: str = DEFAULT_COLLECTION,
        top_k: int = 5,
        document: DocumentRecord | str | Sequence[DocumentRecord | str] | None = None,
        mode: SearchMode = SearchMode.HYBRID,
    ) -> list[SearchHit]:
        """The passages that best match ``query``, best first.

        Args:
            query: any text; never interpreted as query syntax.
            collection: the collection to search.
            top_k: how many passages.
            document: restrict to one document or several (records, ids, paths or names).
            mode: hybrid (what answers use), or the dense or lexical retriever alone.

        Raises:
            CollectionNotFoundError: no such collection.
            DocumentNotFoundError: a named document does not exist.
        """
        known = [c.name for c in self.collections()]
        if collection not in known:
            raise CollectionNotFoundError(collection, known)
        document_ids: list[str] | None = None
        if document is not None:
            wanted = [document] if isinstance(document, DocumentRecord | str) else document
            document_ids = [
                d.id if isinstance(d, DocumentRecord) else self.document(d, collection).id
                for d in wanted
            ]
        searcher = HybridSearcher(
            dense=self._dense_store(), lexical=self._lexical, embedder=self._embedder
        )
        return searcher.search(
            query, collection=collection, top_k=top_k, document_ids=document_ids, mode=mode
        )

    def ask(
        self,
        question: str,
        engine: Engine,
        *,
        collection: str = DEFAULT_COLLECTION,
        top_k: int = 5,
        options: GenerationOptions | None = None,
        settings: AnswerSettings | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        history: Sequence[ChatMessage] = (),
    ) -> AnswerResult:
        """Retrieve passages for ``question`` and answer from them with citations.

        For token-by-token control (logprobs, a GUI), call :meth:`search` and
        :func:`assistant.knowledge.answer.stream_answer` instead.
        """
        hits = self.search(question, collection=collection, top_k=top_k)
        return answer(
            question,
            hits,
            engine,
            options=options,
            settings=settings,
            on_token=on_token,
            cancel=cancel,
            history=history,
        )

    def close(self) -> None:
        """Stop the parsing process and close the index files. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.close()
        if self._dense is not None:
            self._dense.close()
        self._db.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
