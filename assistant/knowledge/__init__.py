"""The knowledge base: imported documents, hybrid retrieval, and answers that cite them.

Data flow::

    files ─loaders─▶ sections ─chunker─▶ chunks ─embedder─▶ Chroma (store.py) ─┐
                                                └─────────▶ FTS5 (lexical.py) ─┴▶ search.py (RRF)
    question ─▶ search ─▶ answer.py: numbered sources in the prompt ─▶ engine ─▶ citations

Modules: ``records`` (values), ``loaders/`` (file formats), ``sandbox`` (parsing in a child
process), ``chunker``, ``embedder`` (the only importer of sentence-transformers), ``store`` (the
only importer of chromadb), ``db`` (SQLite and migrations), ``ledger``, ``lexical``,
``importer``, ``search``, ``prompt`` (numbered sources fitted to the context), ``citations``,
``answer`` (streaming answers), ``ocr`` and ``scans`` (reading page images with Tesseract),
``pages`` (drawing a PDF page and boxing a quote on it, in a capped child process), ``base``
(the :class:`KnowledgeBase` facade).

This package must not import Qt. Importing it loads neither chromadb nor torch; they load when
a knowledge base first imports or searches.
"""

from __future__ import annotations

from assistant.knowledge.answer import (
    AnswerResult,
    AnswerSettings,
    AnswerStream,
    Citation,
    answer,
    stream_answer,
)
from assistant.knowledge.base import DEFAULT_COLLECTION, KnowledgeBase
from assistant.knowledge.embedder import Embedder, HashEmbedder, MiniLMEmbedder
from assistant.knowledge.records import (
    CollectionInfo,
    DocumentRecord,
    DocumentStatus,
    FailedFile,
    FailureKind,
    IngestReport,
    IngestStage,
    KnowledgeSettings,
    ProgressEvent,
)
from assistant.knowledge.search import SearchHit

__all__ = [
    "DEFAULT_COLLECTION",
    "AnswerResult",
    "AnswerSettings",
    "AnswerStream",
    "Citation",
    "CollectionInfo",
    "DocumentRecord",
    "DocumentStatus",
    "Embedder",
    "FailedFile",
    "FailureKind",
    "HashEmbedder",
    "IngestReport",
    "IngestStage",
    "KnowledgeBase",
    "KnowledgeSettings",
    "MiniLMEmbedder",
    "ProgressEvent",
    "SearchHit",
    "answer",
    "stream_answer",
]
