"""Fixtures for the knowledge-base tests: a corpus on disk, fast and real knowledge bases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings, MiniLMEmbedder
from tests.knowledge.corpus import build_corpus

#: Fast settings: parse in-process (the sandbox has its own tests), small chunks.
FAST = KnowledgeSettings(isolate_parsing=False, chunk_tokens=60, chunk_overlap_tokens=10)


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return build_corpus(tmp_path / "docs")


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def kb(tmp_path: Path, hash_embedder: HashEmbedder) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(tmp_path / "index", embedder=hash_embedder, settings=FAST)
    yield base
    base.close()


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real all-MiniLM-L6-v2, loaded once for the whole session."""
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder
