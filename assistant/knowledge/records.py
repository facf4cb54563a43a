"""The values the knowledge base passes between its stages, and its tunable limits.

Loaders produce :class:`Section` values inside a :class:`ParsedDocument` (or a
:class:`LoadFailure`), the chunker turns sections into :class:`Chunk` values, the ledger describes
each imported file as a :class:`DocumentRecord`, and an import ends with an :class:`IngestReport`.
Everything here is a small frozen dataclass or an enum and can cross a process boundary (pickle).

This module imports only the standard library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: the OCR module is imported where OCR runs
    from assistant.knowledge.ocr import OcrPage


class DocumentStatus(enum.StrEnum):
    """Where a document is in the import pipeline.

    Only ``INDEXED`` documents are visible to search; every other state is either in progress or
    was interrupted, and the next import of the same file redoes it from the start.
    """

    PENDING = "pending"
    PARSED = "parsed"
    EMBEDDED = "embedded"
    INDEXED = "indexed"
    FAILED = "failed"


class FailureKind(enum.StrEnum):
    """Why a file could not be imported."""

    UNSUPPORTED = "unsupported"
    TOO_LARGE = "too-large"
    EMPTY = "empty"
    ENCRYPTED = "encrypted"
    NO_TEXT = "no-text"
    CORRUPT = "corrupt"
    TIMEOUT = "timeout"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class KnowledgeSettings:
    """Limits and sizes for importing and searching.

    Attributes:
        max_file_bytes: files larger than this are refused before anything reads them.
        max_pages: documents with more pages than this are refused.
        max_chars: documents whose extracted text is longer than this are refused.
        max_unzipped_bytes: DOCX files whose parts inflate past this are refused (zip bombs).
        parse_timeout_s: a file whose parsing takes longer is abandoned (its worker is killed).
        parse_memory_bytes: address-space limit for the parsing worker process (0: none).
        isolate_parsing: parse in a child process (True) or in this process (False, for tests).
        chunk_tokens: the target size of a chunk, in the counting function's tokens.
        chunk_overlap_tokens: how much of the previous chunk a chunk repeats, when a paragraph
            is split across chunks.
        embed_batch_size: chunks per call to the embedder.
        embedding_backend: how the default embedder runs (``onnx-int8`` or ``torch``, see
            :class:`~assistant.knowledge.embedder.EmbeddingBackend`).
        ocr: read PDF pages that have no text layer with OCR (False: refuse such PDFs).
        ocr_images: import pictures (PNG, JPEG, TIFF) found in folders through OCR; a picture
            named on its own is always read.
        ocr_threads: pages recognised at once (0: one per physical core).
        max_image_pixels: pictures (and rendered pages) larger than this are refused before
            they are decoded (decompression bombs).
    """

    max_file_bytes: int = 100 * 1024 * 1024
    max_pages: int = 5_000
    max_chars: int = 20_000_000
    max_unzipped_bytes: int = 500 * 1024 * 1024
    parse_timeout_s: float = 120.0
    parse_memory_bytes: int = 4 * 1024 * 1024 * 1024
    isolate_parsing: bool = True
    chunk_tokens: int = 180
    chunk_overlap_tokens: int = 30
    embed_batch_size: int = 64
    embedding_backend: str = "onnx-int8"
    ocr: bool = True
    ocr_images: bool = False
    ocr_threads: int = 0
    max_image_pixels: int = 100_000_000


@dataclass(frozen=True)
class Section:
    """A stretch of a document's text under one page and heading.

    Attributes:
        text: the extracted text.
        page: the 1-based page number for paged formats (PDF); ``None`` otherwise.
        heading: the heading the text sits under (``""`` when none).
        char_start: where ``text`` starts in the document's extracted text.
        char_end: where it ends (exclusive).
    """

    text: str
    page: int | None
    heading: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader extracted from one file (``ocr``: the pages whose text OCR read)."""

    kind: str
    sections: tuple[Section, ...]
    pages: int
    title: str = ""
    notes: tuple[str, ...] = ()
    ocr: tuple[OcrPage, ...] = ()


@dataclass(frozen=True)
class LoadFailure:
    """Why a loader gave up on a file, in words a person can act on."""

    kind: FailureKind
    reason: str


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: the unit that is embedded, indexed and cited.

    Attributes:
        id: deterministic: a hash of the document id, its content hash and ``index``, so
            importing the same bytes twice writes the same ids (a replay is harmless).
        document_id: the ledger id of the document.
        index: the chunk's position in the document, from 0.
        text: the passage, verbatim from the extracted text.
        page: the 1-based page (PDF) or ``None``.
        heading: the heading of the section the passage sits in.
        char_start: offset of the passage in the document's extracted text.
        char_end: end offset (exclusive).
    """

    id: str
    document_id: str
    index: int
    text: str
    page: int | None
    heading: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class DocumentRecord:
    """One imported (or refused) file, as the ledger remembers it."""

    id: str
    collection: str
    path: Path
    sha256: str
    kind: str
    size: int
    pages: int
    chunks: int
    status: DocumentStatus
    error: str
    imported_at: str
    failure: FailureKind | None = None

    @property
    def name(self) -> str:
        """The file name, as people refer to the document."""
        return self.path.name


@dataclass(frozen=True)
class CollectionInfo:
    """A named group of documents searched together."""

    name: str
    documents: int
    indexed: int
    failed: int
    chunks: int


def _plural(word: str) -> str:
    head, _, tail = word.partition(" or ")
    if tail:  # "audio or video file" -> "audio or video files"
        return f"{head} or {tail}s"
    return word + "s"


@dataclass(frozen=True)
class FailedFile:
    """A file an import could not take, and why."""

    path: Path
    kind: FailureKind
    reason: str


class IngestStage(enum.StrEnum):
    SCANNING = "scanning"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    REMOVING = "removing"
    DONE = "done"


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report from a running import.

    Attributes:
        done: files finished so far (imported, skipped or failed).
        total: files found to process.
        current_file: the file being worked on, if any.
        stage: what the importer is doing now.
        imported: files imported so far.
        skipped: unchanged files skipped so far.
        failed: files refused so far.
        pages_read: pages of the current file OCR has read so far.
        pages_to_read: pages of the current file OCR reads in all (0: no OCR in this file).
    """

    done: int
    total: int
    current_file: Path | None
    stage: IngestStage
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    pages_read: int = 0
    pages_to_read: int = 0


@dataclass(frozen=True)
class IngestReport:
    """What an import did.

    Attributes:
        collection: the collection the files went into.
        imported: documents (new or changed) now searchable.
        skipped: files unchanged since their last import.
        failed: files refused, each with a reason.
        removed: documents deleted because their file left an imported folder.
        pages: pages (or sections, for unpaged formats) read from imported files.
        chunks: chunks written for imported files.
        elapsed_s: wall time of the import.
        cancelled: the import was stopped before it finished.
        not_documents: files found in a folder that no loader reads (pictures, archives,
            programs), passed over: not failures. A file named on its own is tried and, if no
            loader reads it, refused with the reason.
    """

    collection: str
    imported: tuple[DocumentRecord, ...] = ()
    skipped: tuple[DocumentRecord, ...] = ()
    failed: tuple[FailedFile, ...] = ()
    removed: tuple[DocumentRecord, ...] = ()
    pages: int = 0
    chunks: int = 0
    elapsed_s: float = 0.0
    cancelled: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    not_documents: tuple[Path, ...] = ()

    @property
    def not_documents_summary(self) -> str:
        """One line for the files passed over: "skipped 10 pictures (.png), 1 archive (.zip)";
        ``""`` when there were none."""
        if not self.not_documents:
            return ""
        from assistant.knowledge.loaders import non_document_kind

        groups: dict[str, list[Path]] = {}
        for path in self.not_documents:
            groups.setdefault(non_document_kind(path), []).append(path)
        parts = []
        for word, paths in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
            endings = sorted({p.suffix.lower() for p in paths if p.suffix})
            noun = word if len(paths) == 1 else _plural(word)
            shown = f" ({', '.join(endings[:4])}{', ...' if len(endings) > 4 else ''})"
            parts.append(f"{len(paths)} {noun}{shown if endings else ''}")
        return "skipped " + ", ".join(parts) + ": not documents"
