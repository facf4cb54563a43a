"""Grounded extraction with the real models over the shipped extraction gold set.

The whole gold set runs on the fast SmolLM2: whatever it picks, every value shown is a span of
its passage. Four documents run on the default model, which must get their fields right and
invent nothing for the fields their document does not state.
"""

from __future__ import annotations

import pytest

from assistant.app import knowledge_settings
from assistant.config import DEFAULT_MODEL_FILE, Settings, default_models_dir
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.extraction import DOCUMENTS, GROUNDED, load_gold, run_gold
from assistant.grammar.documents import document_passages

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_every_value_is_a_span_of_its_passage_over_the_whole_gold_set(
    smol_engine: LlamaEngine,
) -> None:
    gold = load_gold()
    assert len(gold) >= 10
    assert sum(len(r["fields"]) for r in gold) >= 40
    run = run_gold(smol_engine, knowledge_settings(Settings()), mode=GROUNDED, gold=gold)
    summary = run.summary()
    assert summary["failed_documents"] == {}
    assert summary["spans_shown"] >= 20  # values were given, not avoided
    assert summary["spans_verified"] == 1.0
    for check in run.checks:  # each string value is its span, from its own document
        if isinstance(check.value, str) and check.span and not check.value[:4].isdigit():
            assert " ".join(check.span.split()).casefold() == check.value.casefold()


def test_the_document_loaders_give_each_gold_value_on_its_page() -> None:
    settings = knowledge_settings(Settings())
    for record in load_gold():
        passages = document_passages(DOCUMENTS / record["document"], settings)
        for name, field in record["fields"].items():
            if isinstance(field["value"], str) and not field["value"][:4].isdigit():
                pages = {p.page for p in passages if field["value"] in " ".join(p.text.split())}
                assert field["page"] in pages, (record["document"], name)


DEFAULT = default_models_dir() / DEFAULT_MODEL_FILE
SAMPLE = ("invoice-halden-aqua-4471.pdf", "incident-forklift-warehouse.docx",
          "letter-audit-findings.txt", "access-request-lindqvist.docx")  # fmt: skip


@pytest.mark.skipif(not DEFAULT.is_file(), reason="the default model is installed by set-up")
def test_the_default_model_copies_the_right_values_and_invents_none() -> None:
    gold = [r for r in load_gold() if r["document"] in SAMPLE]
    engine = LlamaEngine.load(DEFAULT, context_size=4096)
    try:
        run = run_gold(engine, knowledge_settings(Settings()), mode=GROUNDED, gold=gold)
    finally:
        engine.close()
    summary = run.summary()
    assert summary["invented"] == 0
    assert summary["spans_verified"] == 1.0
    assert summary["field_accuracy"] >= 0.85, [c for c in run.checks if not c.right]
