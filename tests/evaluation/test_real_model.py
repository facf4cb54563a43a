"""Answer scoring with the real SmolLM2 model over the shipped gold set and the project's docs."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import source_root
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.answers import Context, score_answers
from assistant.evaluation.gold import SAMPLE_GOLD, load_gold
from assistant.knowledge import HashEmbedder, KnowledgeBase
from tests.evaluation.conftest import FAST

pytestmark = pytest.mark.model


@pytest.fixture
def docs_kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(), settings=FAST)
    base.ingest([source_root() / "docs"], collection="sample")
    yield base
    base.close()


def test_retrieved_sources_make_the_expected_answers_more_likely(
    smol_engine: LlamaEngine, docs_kb: KnowledgeBase
) -> None:
    items = [i for i in load_gold(SAMPLE_GOLD).items if i.source == "admin-guide.md"][:3]
    common = {"collection": "sample", "top_k": 3, "max_tokens": 256}
    grounded = score_answers(items, smol_engine, docs_kb, **common)  # type: ignore[arg-type]
    alone = score_answers(
        items, smol_engine, None, context=Context.NONE, system_prompt="You are helpful.",
        **common,  # type: ignore[arg-type]
    )  # fmt: skip
    assert all(s.tokens > 3 and s.cross_entropy > 0 for s in grounded)
    assert any(s.source_in_context for s in grounded)
    # The answers quote the admin guide: with its passages in the prompt they are far likelier.
    mean_with = statistics.fmean(s.cross_entropy for s in grounded)
    mean_without = statistics.fmean(s.cross_entropy for s in alone)
    assert mean_with < mean_without - 0.5
