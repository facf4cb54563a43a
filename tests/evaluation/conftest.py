"""Fixtures for the evaluation tests: a small library with a gold set over it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings

FAST = KnowledgeSettings(isolate_parsing=False, chunk_tokens=60, chunk_overlap_tokens=10)

LIBRARY = {
    "pumps.txt": (
        "Maintenance of the coolant pumps. The pump seal kit has part number QX-7731 and must "
        "be replaced every 2000 hours of operation.\n\nPump bearings are greased monthly."
    ),
    "travel.txt": (
        "Travel policy. Staff book trains for journeys under four hours. Flights need the "
        "approval of a director.\n\nHotel costs are refunded up to 120 euros a night."
    ),
    "security.txt": (
        "Badge rules. Visitors wear a red badge and are escorted at all times. Lost badges "
        "are reported to the security desk within one hour."
    ),
}

GOLD = [
    {"id": "seal", "question": "How often is the pump seal kit replaced?",
     "answer": "Every 2000 hours of operation.", "source": "pumps.txt",
     "passage": "replaced every 2000 hours", "fact": "2000 hours"},
    {"id": "flights", "question": "Who approves flights?",
     "answer": "A director approves flights.", "source": "travel.txt"},
    {"id": "visitors", "question": "What colour badge do visitors wear?",
     "answer": "Visitors wear a red badge.", "source": "security.txt"},
    {"id": "no-source", "question": "What is the capital of France?", "answer": "Paris."},
    {"id": "hotel-2019", "question": "What were hotel costs refunded up to in 2019?",
     "answer": "The documents do not say.", "unanswerable": True},
]  # fmt: skip


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    for name, text in LIBRARY.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in GOLD), encoding="utf-8")
    return path


@pytest.fixture
def kb(tmp_path: Path, library: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(), settings=FAST)
    base.ingest([library], collection="lib")
    yield base
    base.close()
