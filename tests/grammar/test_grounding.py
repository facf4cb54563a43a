"""Grounded extraction: the grammar only allows values the passages hold, and the evidence of
each value is found and checked (fast: a byte-level matcher and a scripted engine)."""

from __future__ import annotations

import json
from typing import Any

import llguidance
import pytest

from assistant.engine.fake import ScriptedEngine
from assistant.errors import ContextOverflowError, GrammarError, SchemaError
from assistant.grammar import Passage, load_schema
from assistant.grammar.budget import estimate_tokens, fit_budget
from assistant.grammar.extract import DEFAULT_OPTIONS, build_messages
from assistant.grammar.grounding import fill_grounded, form_grammar, settle

INVOICE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "number": {"type": "string"},
        "issued": {"type": "string", "format": "date"},
        "vendor": {"type": "string", "maxLength": 40},
        "total": {"type": "number"},
        "lines": {"type": "integer", "minimum": 1},
        "status": {"enum": ["paid", "open"]},
        "po": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["number", "total"],
}
PASSAGES = [
    Passage(
        "Halden Aqua AS, Strandveien 41. Invoice number: HA-2025-4471. Date of issue: 14\n"
        'November 2025. The "design" phase has two lines.',
        "invoice.pdf",
        1,
    ),
    Passage("Subtotal 21,050.00 EUR. Total due: 26,312.50 EUR. Status: open.", "invoice.pdf", 2),
]


def _accepts(lark: str, text: str) -> bool:
    tokenizer = llguidance.LLTokenizer("byte")  # one token per byte: checks text, not a model
    matcher = llguidance.LLMatcher(tokenizer, llguidance.grammar_from("lark", lark), log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    for token in tokenizer.tokenize_str(text):
        if not matcher.consume_token(token):
            return False
    return matcher.is_accepting()


def _record(**changes: Any) -> str:
    record: dict[str, Any] = {
        "number": "HA-2025-4471",
        "issued": "2025-11-14",
        "vendor": "Halden Aqua AS",
        "total": 26312.5,
        "lines": 2,
        "status": "open",
        "po": None,
        "tags": ["design"],
    }
    record.update(changes)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({}, True),
        ({"vendor": None, "po": None, "tags": []}, True),  # "not stated" is always possible
        ({"number": "HA-2025-4472"}, False),  # an invented identifier
        ({"vendor": "Halden Aqua ASA"}, False),  # an altered name
        ({"vendor": "alden Aqua AS"}, False),  # half a word
        ({"vendor": "Strandveien 41. Invoice number"}, True),  # whole words, across a stop
        ({"total": 26312.6}, False),  # a number no passage writes
        ({"total": 21050}, True),  # a number a passage writes (the wrong one, but real)
        ({"lines": 2}, True),  # "two", written as a word
        ({"lines": 0}, False),  # below the schema's minimum
        ({"issued": "2025-11-15"}, False),  # a date no passage writes
        ({"status": "paid"}, True),  # an enum keeps its own choices
        ({"status": "closed"}, False),
        ({"tags": ["design", "phase", "lines"]}, False),  # maxItems
        ({"vendor": "Halden Aqua AS, Strandveien 41. Invoice number: HA-2025-4471. Date"}, False),
    ],
)
def test_the_grammar_allows_only_values_the_passages_hold(
    changes: dict[str, Any], accepted: bool
) -> None:
    assert _accepts(form_grammar(INVOICE, PASSAGES), _record(**changes)) is accepted


def test_a_span_never_crosses_a_character_json_would_escape() -> None:
    lark = form_grammar(INVOICE, PASSAGES)
    assert _accepts(lark, _record(tags=["design"]))
    assert not _accepts(lark, _record(tags=['The "design']))
    assert not _accepts(lark, _record(tags=['The \\"design']))


def test_settle_finds_the_evidence_of_every_value_on_its_page() -> None:
    form = settle(load_schema(INVOICE), json.loads(_record()), PASSAGES)
    assert form.complete
    assert form.evidence["number"].span == "HA-2025-4471"
    assert form.evidence["issued"].span == "14\nNovember 2025"  # as stored, line break and all
    assert form.evidence["total"].span == "26,312.50"
    assert form.evidence["total"].page == 2
    assert form.evidence["lines"].span == "two"
    assert form.evidence["status"].copied is False  # an enum label found, not copied
    assert form.evidence["tags[0]"].span == "design"
    for found in form.evidence.values():
        passage = PASSAGES[found.source - 1]
        assert passage.text[found.start : found.end] == found.span
        assert passage.page == found.page


def test_a_null_is_left_out_when_optional_and_missing_when_required() -> None:
    data = json.loads(_record(vendor=None, number=None, po=None))
    form = settle(load_schema(INVOICE), data, PASSAGES)
    assert "vendor" not in form.values  # optional, and null is not allowed: left out
    assert form.values["po"] is None  # the schema allows null: kept
    assert set(form.absent) == {"vendor", "po"}
    assert form.missing == ("number",)
    assert not form.complete


def _grounded_engine(*answers: str) -> ScriptedEngine:
    return ScriptedEngine(supports_llguidance=True).enqueue(*answers)


def test_fill_grounded_returns_a_valid_record_with_its_evidence_and_the_grammar_used() -> None:
    engine = _grounded_engine(_record())
    form = fill_grounded(engine, INVOICE, PASSAGES)
    assert form.values["total"] == 26312.5
    assert form.evidence["vendor"].document == "invoice.pdf"
    assert load_schema(INVOICE).validation_errors(form.values) == []
    grammar = engine.calls[0].options.grammar
    assert grammar is not None
    assert "substring_words" in grammar.lark
    assert "not state" in engine.calls[0].messages[-1].content  # told to write null, not guess


def test_fill_grounded_reports_required_fields_the_sources_do_not_state() -> None:
    form = fill_grounded(_grounded_engine(_record(number=None)), INVOICE, PASSAGES)
    assert form.missing == ("number",)
    assert not form.complete


def test_fill_grounded_retries_an_invalid_record_with_the_reason() -> None:
    too_short = {"type": "object", "properties": {"v": {"type": "string", "minLength": 5}}}
    engine = _grounded_engine('{"v": "two"}', '{"v": "Subtotal"}')
    form = fill_grounded(engine, too_short, PASSAGES)
    assert form.values == {"v": "Subtotal"}
    assert form.attempts == 2
    assert "invalid" in engine.calls[1].messages[-1].content


def test_fill_grounded_refuses_an_engine_without_llguidance_and_a_non_object_schema() -> None:
    with pytest.raises(GrammarError, match="--free"):
        fill_grounded(ScriptedEngine(), INVOICE, PASSAGES)
    with pytest.raises(SchemaError, match="object schema"):
        fill_grounded(_grounded_engine(), {"type": "string"}, PASSAGES)
    with pytest.raises(GrammarError, match="no passages"):
        fill_grounded(_grounded_engine(), INVOICE, [])


def test_nested_objects_refs_and_unions_get_grammars_that_compile() -> None:
    schema = {
        "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "vendor": {"$ref": "#/$defs/person"},
            "contacts": {"type": "array", "items": {"$ref": "#/$defs/person"}},
            "when": {"type": "string", "format": "date-time"},  # kept by its own schema
            "code": {"type": "string", "pattern": "^[A-Z]{2}-"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        },
    }
    lark = form_grammar(schema, PASSAGES)
    text = '{"vendor": {"name": "Halden Aqua AS"}, "contacts": [], "when": null, "code": "HA-1", "either": null}'  # noqa: E501
    assert _accepts(lark, text)
    assert not _accepts(lark, text.replace('"Halden Aqua AS"', '"Someone Else"'))


def test_the_budget_follows_the_schema_bounds() -> None:
    small = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    large = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "maxItems": 40,
                      "items": {"type": "string", "maxLength": 120}},
        },
    }  # fmt: skip
    assert estimate_tokens(small) < 100
    assert estimate_tokens(large) > 40 * 40
    messages = build_messages("Fill it.", PASSAGES, target=large)
    engine = ScriptedEngine(context_size=4096)
    fitted = fit_budget(engine, load_schema(large), messages, DEFAULT_OPTIONS)
    assert fitted.max_tokens >= estimate_tokens(large)  # raised from 512 to what it needs
    with pytest.raises(ContextOverflowError, match="fewer passages"):
        fit_budget(ScriptedEngine(context_size=120), load_schema(large), messages, DEFAULT_OPTIONS)


def test_a_cut_off_answer_is_retried_with_a_larger_budget() -> None:
    class CutOnce(ScriptedEngine):
        def stream(self, messages, options, *, cancel=None, stats=None):  # type: ignore[no-untyped-def]
            tokens = super().stream(messages, options, cancel=cancel, stats=stats)
            if len(self.calls) == 1 and stats is not None:
                list(tokens)
                stats.finish_reason = stats.finish_reason.__class__("length")
                return iter(())
            return tokens

    engine = CutOnce(supports_llguidance=True).enqueue(_record(), _record())
    fill_grounded(engine, INVOICE, PASSAGES)
    first, second = (call.options.max_tokens for call in engine.calls)
    assert second == 2 * first
