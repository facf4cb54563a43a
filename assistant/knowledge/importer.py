"""Importing files and folders into a collection: scan, parse, chunk, embed, index, report.

The import is incremental and safe to interrupt:

- a file whose content hash matches an indexed document is skipped without parsing;
- a changed file gets new chunks in both indexes, the old ones deleted first;
- a file gone from an imported folder has its document and chunks removed;
- each document's status advances pending, parsed, embedded, indexed in the ledger; only
  ``indexed`` documents are searchable, and a crash anywhere leaves a non-``indexed`` row that
  the next import of that file redoes (chunk ids are deterministic, so rewrites are harmless).

Bad files never stop an import: each is reported with a reason, and recorded in the ledger
unless its type is simply unsupported. Chunks are embedded in batches across documents, so many
small files cost as few embedder calls as one large one.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.engine.base import CancelToken
from assistant.knowledge.chunker import Chunker
from assistant.knowledge.db import Database
from assistant.knowledge.embedder import Embedder
from assistant.knowledge.ledger import Ledger, document_id
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.loaders import (
    PICTURE_SUFFIXES,
    document_kind,
    size_failure,
    unsupported_failure,
)
from assistant.knowledge.records import (
    Chunk,
    DocumentRecord,
    DocumentStatus,
    FailedFile,
    FailureKind,
    IngestReport,
    IngestStage,
    KnowledgeSettings,
    LoadFailure,
    ParsedDocument,
    ProgressEvent,
)
from assistant.knowledge.sandbox import ParseCancelled, ParserWorker
from assistant.knowledge.scans import ScanStore

if TYPE_CHECKING:
    from assistant.knowledge.store import DenseStore

ProgressCallback = Callable[[ProgressEvent], None]

_HASH_BLOCK = 1 << 20

#: Test-only fault injection. ``ENCLAVE_TEST_KILL_AT=STAGE[:N][+SECONDS]`` makes the importing
#: process SIGKILL itself the N-th time (default 1) it reaches STAGE, one of :data:`KILL_STAGES`,
#: or that many seconds later (from a timer thread, so the kill lands inside whatever write comes
#: next), so tests/robustness/test_crash_resume.py can prove that an import killed there resumes
#: cleanly. Nobody sets it outside those tests; unset, each stage costs one comparison.
KILL_AT_ENV = "ENCLAVE_TEST_KILL_AT"
#: parsed: a document's PARSED status committed; embedded: a batch's EMBEDDED committed;
#: dense: a batch's vectors written to Chroma, its passages not yet in FTS5; lexical: inside the
#: FTS5 transaction, uncommitted (mid-write); indexed: a document's INDEXED status committed.
KILL_STAGES = ("parsed", "embedded", "dense", "lexical", "indexed")


class _KillSwitch:
    """Reads :data:`KILL_AT_ENV` once per import; see there."""

    def __init__(self, spec: str) -> None:
        spec, _, delay = spec.partition("+")
        stage, _, count = spec.partition(":")
        self._stage = stage if stage in KILL_STAGES else ""
        self._left = int(count) if count.isdigit() else 1
        self._delay = float(delay or 0)

    def __call__(self, stage: str) -> None:
        if stage != self._stage:
            return
        self._left -= 1
        if self._left == 0 and self._delay > 0:
            threading.Timer(self._delay, self._kill).start()
        elif self._left == 0:
            self._kill()

    @staticmethod
    def _kill() -> None:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def shown_path(path: Path) -> Path:
    """``path`` safe to print, store or show: undecodable name bytes become U+FFFD.

    A file name that is not valid UTF-8 (a Latin-1 name from an old share) reaches Python with
    lone surrogates, which SQLite, JSON, terminals and Qt all refuse to encode.
    """
    return Path(os.fsencode(path).decode("utf-8", "replace"))


def _has_text_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Scan:
    """The files an import will try.

    Attributes:
        files: resolved, de-duplicated files in a stable order.
        folders: the folders that were walked.
        missing: named paths that do not exist.
        not_documents: files in those folders that no loader reads, passed over.
    """

    files: list[Path]
    folders: list[Path]
    missing: list[FailedFile]
    not_documents: list[Path]


def scan(paths: Iterable[Path], *, ocr_images: bool = False) -> Scan:
    """Expand files and folders (recursively) into files to import.

    Hidden files and folders and Office lock files (``~$...``) are passed over; symbolic links
    to folders are not followed (no loops). In a folder, a file of a type no loader reads (an
    archive) is not a document and is passed over, and so is a picture unless ``ocr_images``
    (pictures are read by OCR); a file named on its own is always tried, so its refusal says
    why.
    """
    files: dict[Path, None] = {}
    folders: list[Path] = []
    missing: list[FailedFile] = []
    not_documents: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            folder = path.resolve()
            folders.append(folder)
            for root, dirs, names in os.walk(folder, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith((".", "~$")):
                        continue
                    found = Path(root, name).resolve()
                    picture = found.suffix.lower() in PICTURE_SUFFIXES
                    if document_kind(found) is None or (picture and not ocr_images):
                        not_documents.setdefault(found, None)
                    else:
                        files.setdefault(found, None)
        elif path.is_file():
            files.setdefault(path.resolve(), None)
        else:
            missing.append(
                FailedFile(
                    shown_path(path), FailureKind.UNREADABLE, "does not exist or is not a file"
                )
            )
    named = [p for p in not_documents if p not in files]
    return Scan(list(files), folders, missing, named)


@dataclass
class _Prepared:
    doc_id: str
    path: Path
    title: str
    parsed: ParsedDocument
    chunks: list[Chunk]


@dataclass
class _Tally:
    total: int = 0
    done: int = 0
    imported: list[DocumentRecord] = field(default_factory=list)
    skipped: list[DocumentRecord] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    removed: list[DocumentRecord] = field(default_factory=list)
    pages: int = 0
    chunks: int = 0


class Importer:
    """Runs imports against one database, dense store and embedder."""

    def __init__(
        self,
        *,
        db: Database,
        ledger: Ledger,
        lexical: LexicalIndex,
        dense: DenseStore,
        embedder: Embedder,
        chunker: Chunker,
        worker: ParserWorker,
        settings: KnowledgeSettings,
        scans: ScanStore | None = None,
    ) -> None:
        self._db = db
        self._scans = scans or ScanStore(db)
        self._ledger = ledger
        self._lexical = lexical
        self._dense = dense
        self._embedder = embedder
        self._chunker = chunker
        self._worker = worker
        self._settings = settings
        self._reached = _KillSwitch(os.environ.get(KILL_AT_ENV, ""))

    def run(
        self,
        paths: Iterable[Path],
        *,
        collection: str,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IngestReport:
        """Import ``paths`` (files and folders) into ``collection``.

        Returns:
            What was imported, skipped, refused (with reasons) and removed.

        Raises:
            KnowledgeIndexError: the index itself cannot be written (disk full, damaged).
            EmbedderError: the embedding model failed.
        """
        started = time.perf_counter()
        found = scan(paths, ocr_images=self._settings.ocr_images)
        files, folders = found.files, found.folders
        tally = _Tally(total=len(files), failed=list(found.missing))
        notify = _Notifier(on_progress, tally)
        notify(IngestStage.SCANNING, None)

        seen = set(files)
        for folder in folders:
            for gone in self._ledger.under(collection, folder):
                if gone.path not in seen:
                    notify(IngestStage.REMOVING, gone.path)
                    self.remove(gone)
                    tally.removed.append(gone)

        group: list[_Prepared] = []
        cancelled = False
        for path in files:
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            notify(IngestStage.PARSING, path)
            try:
                prepared = self._prepare(path, collection, tally, notify, cancel)
            except ParseCancelled:  # stopped mid-file: the file is left as it was
                cancelled = True
                break
            if prepared is None:
                tally.done += 1
                continue
            group.append(prepared)
            if sum(len(p.chunks) for p in group) >= self._settings.embed_batch_size:
                self._flush(group, collection, tally, notify, cancel)
                group = []
        if group and not cancelled:
            self._flush(group, collection, tally, notify, cancel)
        cancelled = cancelled or (cancel is not None and cancel.cancelled)
        notify(IngestStage.DONE, None)
        return IngestReport(
            collection=collection,
            imported=tuple(tally.imported),
            skipped=tuple(tally.skipped),
            failed=tuple(tally.failed),
            removed=tuple(tally.removed),
            pages=tally.pages,
            chunks=tally.chunks,
            elapsed_s=time.perf_counter() - started,
            cancelled=cancelled,
            not_documents=tuple(shown_path(p) for p in found.not_documents),
        )

    def remove(self, document: DocumentRecord) -> None:
        """Delete a document and its chunks from both indexes and the ledger.

        The vectors go first: if the process dies in between, the ledger row survives and a
        second removal finishes the job.
        """
        self._dense.delete_document(document.collection, document.id)
        with self._db.transaction() as conn:
            self._lexical.delete_document(conn, document.id)
            self._ledger.delete(conn, document.id)

    # --- one file -------------------------------------------------------------------------

    def _prepare(
        self,
        path: Path,
        collection: str,
        tally: _Tally,
        notify: _Notifier,
        cancel: CancelToken | None,
    ) -> _Prepared | None:
        if not _has_text_name(path):
            tally.failed.append(
                FailedFile(
                    shown_path(path),
                    FailureKind.UNREADABLE,
                    "has a name that is not valid UTF-8 text, which the index cannot record; "
                    "rename it and import it again",
                )
            )
            return None
        kind = document_kind(path)
        if kind is None:
            failure = unsupported_failure(path)
            tally.failed.append(FailedFile(path, failure.kind, failure.reason))
            return None
        try:
            size = path.stat().st_size
            early = size_failure(size, self._settings)
            sha = "" if early is not None else file_sha256(path)
        except OSError as exc:
            early = LoadFailure(FailureKind.UNREADABLE, f"cannot be read ({exc.strerror or exc})")
            size, sha = 0, ""
        existing = self._ledger.get(collection, path)
        if early is None and existing is not None and existing.sha256 == sha:
            if existing.status is DocumentStatus.INDEXED:
                tally.skipped.append(existing)
                return None
            if existing.status is DocumentStatus.FAILED:  # same bytes, same verdict
                kind_ = existing.failure or FailureKind.CORRUPT
                tally.failed.append(FailedFile(path, kind_, existing.error))
                return None

        def on_page(done: int, total: int) -> None:
            notify(IngestStage.PARSING, path, pages_read=done, pages_to_read=total)

        result = early or self._worker.parse(path, on_page=on_page, cancel=cancel)
        chunks: list[Chunk] = []
        if isinstance(result, ParsedDocument):
            chunks = self._chunker.chunk(document_id(collection, path), sha, result.sections)
            if not chunks:
                result = LoadFailure(FailureKind.EMPTY, "contains no text")
        doc_id = self._start(collection, path, sha, kind, size, existing)
        if isinstance(result, LoadFailure):
            with self._db.transaction() as conn:
                self._ledger.set_status(
                    conn, doc_id, DocumentStatus.FAILED, failure=result.kind, error=result.reason
                )
            tally.failed.append(FailedFile(path, result.kind, result.reason))
            return None
        with self._db.transaction() as conn:
            self._ledger.set_status(
                conn, doc_id, DocumentStatus.PARSED, pages=result.pages, chunks=len(chunks)
            )
            self._scans.replace(conn, doc_id, result.ocr)
        self._reached("parsed")
        return _Prepared(doc_id, path, result.title, result, chunks)

    def _start(
        self,
        collection: str,
        path: Path,
        sha: str,
        kind: str,
        size: int,
        existing: DocumentRecord | None,
    ) -> str:
        """Mark the document pending and clear whatever an earlier import left of it."""
        with self._db.transaction() as conn:
            doc_id = self._ledger.begin(
                conn, collection=collection, path=path, sha256=sha, kind=kind, size=size
            )
            self._lexical.delete_document(conn, doc_id)
            self._scans.clear(conn, doc_id)
        if existing is not None:
            self._dense.delete_document(collection, doc_id)
        return doc_id

    # --- a batch of documents -------------------------------------------------------------

    def _flush(
        self,
        group: list[_Prepared],
        collection: str,
        tally: _Tally,
        notify: _Notifier,
        cancel: CancelToken | None,
    ) -> None:
        chunks = [chunk for prepared in group for chunk in prepared.chunks]
        notify(IngestStage.EMBEDDING, group[-1].path)
        batch = self._settings.embed_batch_size
        vectors = np.zeros((len(chunks), self._embedder.dimension), dtype=np.float32)
        for start in range(0, len(chunks), batch):
            if cancel is not None and cancel.cancelled:
                return  # the documents stay "parsed": invisible, redone by the next import
            texts = [embedding_text(c) for c in chunks[start : start + batch]]
            vectors[start : start + len(texts)] = self._embedder.embed(texts)
        with self._db.transaction() as conn:
            for prepared in group:
                self._ledger.set_status(conn, prepared.doc_id, DocumentStatus.EMBEDDED)
        self._reached("embedded")
        notify(IngestStage.INDEXING, group[-1].path)
        self._dense.add(collection, chunks, vectors)
        self._reached("dense")
        for prepared in group:
            with self._db.transaction() as conn:
                self._lexical.replace_document(
                    conn, collection, prepared.title or prepared.path.name, prepared.chunks
                )
                self._reached("lexical")
                self._ledger.set_status(conn, prepared.doc_id, DocumentStatus.INDEXED)
            self._reached("indexed")
            record = self._ledger.by_id(prepared.doc_id)
            assert record is not None
            tally.imported.append(record)
            tally.pages += prepared.parsed.pages
            tally.chunks += len(prepared.chunks)
            tally.done += 1
        notify(IngestStage.INDEXING, None)


def embedding_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its heading, then its text (the heading gives context)."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


class _Notifier:
    """Builds progress events from the running tally and hands them to the callback."""

    def __init__(self, callback: ProgressCallback | None, tally: _Tally) -> None:
        self._callback = callback
        self._tally = tally

    def __call__(
        self,
        stage: IngestStage,
        current: Path | None,
        *,
        pages_read: int = 0,
        pages_to_read: int = 0,
    ) -> None:
        if self._callback is None:
            return
        t = self._tally
        self._callback(
            ProgressEvent(
                done=t.done,
                total=t.total,
                current_file=current,
                stage=stage,
                imported=len(t.imported),
                skipped=len(t.skipped),
                failed=len(t.failed),
                pages_read=pages_read,
                pages_to_read=pages_to_read,
            )
        )


__all__ = ["Importer", "ProgressCallback", "embedding_text", "file_sha256", "scan"]
