"""Answer accuracy with the real models, the real embedder and Chroma over the shipped corpus.

The whole answer gold set runs on the fast SmolLM2 (every quote shown must be verbatim, whatever
the model answers); a handful of questions run on the default model, which must get them right.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.config import DEFAULT_MODEL_FILE, default_models_dir
from assistant.engine.base import GenerationOptions
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.accuracy import check_answers, summarize
from assistant.evaluation.gold import ANSWER_GOLD, EVAL_CORPUS, load_gold
from assistant.knowledge import KnowledgeBase

pytestmark = [pytest.mark.model, pytest.mark.embedder, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(tmp_path_factory.mktemp("eval") / "index")
    report = base.ingest([EVAL_CORPUS], collection="eval")
    assert not report.failed
    assert len(report.imported) == 5
    yield base
    base.close()


def test_every_quote_shown_is_verbatim_over_the_whole_gold_set(
    smol_engine: LlamaEngine, corpus_kb: KnowledgeBase
) -> None:
    gold = load_gold(ANSWER_GOLD)
    checks = check_answers(
        gold.items, smol_engine, corpus_kb, collection="eval", top_k=5,
        options=GenerationOptions(max_tokens=96),
    )  # fmt: skip
    assert len(checks) == 50
    summary = summarize(checks)
    assert summary["quotes_verified"] == 1.0
    assert sum(bool(c.quote) for c in checks) >= 15  # quotes were shown, not avoided
    for check in checks:  # and each is in the passage of the document it names
        if check.quote:
            assert check.quote_document.startswith(("kestrel", "riverside", "northfield",
                                                    "orion", "mv-corrie"))  # fmt: skip
    # the far-off questions never reach the model
    refused = {c.id for c in checks if c.refused}
    assert {"un-capital", "un-recipe"} <= refused


DEFAULT = default_models_dir() / DEFAULT_MODEL_FILE
SAMPLE = ("kb-budget", "rc-excursion-ext", "nf-friday", "or-vpn", "mc-engineer",
          "un-kb-budget-2024", "un-mc-speed")  # fmt: skip


@pytest.mark.skipif(not DEFAULT.is_file(), reason="the default model is installed by set-up")
def test_the_default_model_answers_from_the_right_sentence_and_abstains(
    corpus_kb: KnowledgeBase,
) -> None:
    engine = LlamaEngine.load(DEFAULT, context_size=4096)
    try:
        items = [i for i in load_gold(ANSWER_GOLD).items if i.id in SAMPLE]
        checks = {
            c.id: c
            for c in check_answers(
                items,
                engine,
                corpus_kb,
                collection="eval",
                top_k=5,
                options=GenerationOptions(max_tokens=96),
            )  # fmt: skip
        }
    finally:
        engine.close()
    for name in SAMPLE[:5]:
        assert checks[name].correct, checks[name]
        assert checks[name].source_holds_fact, checks[name]
        assert checks[name].quotes_verified
    for name in SAMPLE[5:]:  # another year; a figure no document gives
        assert checks[name].abstained, checks[name]
