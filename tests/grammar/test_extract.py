"""Validation, retry and the document tasks, against the scripted engine (no model)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from assistant.engine.base import GenerationOptions, Role
from assistant.engine.fake import ScriptedEngine
from assistant.errors import (
    ContextOverflowError,
    OutputValidationError,
    SchemaError,
    UnsupportedSchemaError,
)
from assistant.grammar import (
    Backend,
    Gbnf,
    Passage,
    classify,
    extract,
    extract_entities,
    fill_form,
    passages_from_text,
)

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


class Person(BaseModel):
    name: str
    age: int


def test_valid_output_is_returned_with_the_grammar_attached(engine: ScriptedEngine) -> None:
    engine.enqueue('{"name": "Alice", "age": 30}')
    assert extract(engine, PERSON, "Alice is 30.") == {"name": "Alice", "age": 30}
    (call,) = engine.calls
    assert call.options.grammar is not None
    assert "root" in call.options.grammar.gbnf
    assert '"required":["name","age"]' in call.messages[1].content  # the schema is in the prompt


def test_invalid_output_is_retried_once_with_the_reason(engine: ScriptedEngine) -> None:
    engine.enqueue('{"name": "Alice", "age": -3}', '{"name": "Alice", "age": 3}')
    assert extract(engine, PERSON, "Alice is 3.") == {"name": "Alice", "age": 3}
    retry = engine.calls[1]
    assert retry.messages[-2].role is Role.ASSISTANT
    assert "at #/age: -3 is less than the minimum of 0" in retry.messages[-1].content
    assert retry.options.seed != engine.calls[0].options.seed


def test_invalid_twice_is_a_clear_error_never_a_result(engine: ScriptedEngine) -> None:
    engine.enqueue('{"name": "Alice"}', "not json at all")
    with pytest.raises(OutputValidationError) as info:
        extract(engine, PERSON, "Alice.")
    assert info.value.attempts == 2
    assert "not valid JSON" in str(info.value)
    assert info.value.output == "not json at all"


def test_cut_off_output_is_not_accepted_and_the_retry_gets_twice_the_budget(
    engine: ScriptedEngine,
) -> None:
    rambling = '{"name": "' + " ".join(["Alice"] * 1500) + '", "age": 30}'
    engine.enqueue(rambling, rambling)
    with pytest.raises(OutputValidationError, match="cut off at"):
        extract(engine, PERSON, "x", options=GenerationOptions(max_tokens=3))
    first, second = (call.options.max_tokens for call in engine.calls)
    assert first >= 64  # raised from 3 to what the schema needs
    assert second == 2 * first  # a larger budget, not the same one


def test_the_budget_is_fitted_before_generating(engine: ScriptedEngine) -> None:
    many = {"type": "object", "properties": {"notes": {"type": "array", "maxItems": 50,
            "items": {"type": "string", "maxLength": 200}}}}  # fmt: skip
    small = ScriptedEngine(context_size=140).enqueue('{"notes": []}')
    with pytest.raises(ContextOverflowError, match="needs about"):
        extract(small, many, "x")
    assert small.calls == []  # said before generating anything


def test_pydantic_class_gives_an_instance(engine: ScriptedEngine) -> None:
    engine.enqueue('{"name": "Bob", "age": 41}')
    assert extract(engine, Person, "Bob is 41.") == Person(name="Bob", age=41)


def test_raw_gbnf_returns_the_text(engine: ScriptedEngine) -> None:
    engine.enqueue("yes")
    assert extract(engine, Gbnf('root ::= "yes" | "no"'), "Is it?") == "yes"
    assert engine.calls[0].options.grammar.gbnf == 'root ::= "yes" | "no"'  # type: ignore[union-attr]


def test_unsupported_keyword_fails_before_generating(engine: ScriptedEngine) -> None:
    with pytest.raises(UnsupportedSchemaError, match="'not' at #/properties/a/not"):
        extract(engine, {"properties": {"a": {"not": {"type": "null"}}}}, "x",
                backend=Backend.GBNF)  # fmt: skip
    assert engine.calls == []


def test_engine_without_grammar_still_validates() -> None:
    plain = ScriptedEngine(supports_grammar=False).enqueue('{"name": "A", "age": 1}')
    assert extract(plain, PERSON, "x") == {"name": "A", "age": 1}
    assert plain.calls[0].options.grammar is None


def test_passages_keep_pages_from_form_feeds() -> None:
    passages = passages_from_text("Page one text.\fPage two text.", document="memo.txt")
    assert [(p.text, p.page, p.document) for p in passages] == [
        ("Page one text.", 1, "memo.txt"), ("Page two text.", 2, "memo.txt")]  # fmt: skip
    assert passages_from_text("no pages")[0].page is None


SOURCES = [
    Passage("John Smith met Acme Corp.", "a.pdf", 3),
    Passage("Paid on 2024-03-01.", "b.pdf", 7),
]


def test_entities_carry_their_page_and_grounding(engine: ScriptedEngine) -> None:
    engine.enqueue(json.dumps({"entities": [
        {"text": "John Smith", "type": "person", "source": 1},
        {"text": "2024-03-01", "type": "date", "source": 2},
        {"text": "Jane Doe", "type": "person", "source": 2}]}))  # fmt: skip
    found = extract_entities(engine, SOURCES)
    assert [(e.text, e.type, e.document, e.page, e.grounded) for e in found] == [
        ("John Smith", "person", "a.pdf", 3, True),
        ("2024-03-01", "date", "b.pdf", 7, True),
        ("Jane Doe", "person", "b.pdf", 7, False),
    ]
    assert "[2] (b.pdf, page 7)" in engine.calls[0].messages[1].content


def test_form_fill_cites_a_passage_per_field(engine: ScriptedEngine) -> None:
    form = {"type": "object", "properties": {"who": {"type": "string"}, "when": {"type": "string",
            "format": "date"}}, "required": ["who", "when"]}  # fmt: skip
    engine.enqueue(json.dumps({"values": {"who": "John Smith", "when": "2024-03-01"},
                               "citations": {"who": 1, "when": 2}}))  # fmt: skip
    filled = fill_form(engine, form, SOURCES)
    assert filled.values == {"who": "John Smith", "when": "2024-03-01"}
    assert (filled.citations["when"].document, filled.citations["when"].page) == ("b.pdf", 7)


def test_form_fill_validates_against_the_users_schema(engine: ScriptedEngine) -> None:
    form = {"type": "object", "properties": {"when": {"type": "string", "format": "date"}}}
    bad = json.dumps({"values": {"when": "soon"}, "citations": {"when": 1}})
    engine.enqueue(bad, bad)
    with pytest.raises(OutputValidationError, match="at #/values/when: 'soon' is not a 'date'"):
        fill_form(engine, form, SOURCES)


def test_form_fill_keeps_refs_working(engine: ScriptedEngine) -> None:
    form = {"$defs": {"d": {"type": "string", "format": "date"}}, "type": "object",
            "properties": {"when": {"$ref": "#/$defs/d"}}, "required": ["when"]}  # fmt: skip
    engine.enqueue(
        json.dumps({"values": {"when": "x"}, "citations": {"when": 1}}),
        json.dumps({"values": {"when": "2024-01-02"}, "citations": {"when": 1}}),
    )
    assert fill_form(engine, form, SOURCES).values == {"when": "2024-01-02"}


def test_form_needs_an_object_schema(engine: ScriptedEngine) -> None:
    with pytest.raises(SchemaError, match="object schema"):
        fill_form(engine, {"type": "string"}, SOURCES)


def test_classify_picks_a_label_with_a_reason(engine: ScriptedEngine) -> None:
    engine.enqueue('{"label": "finance", "justification": "It is about a payment."}')
    found = classify(engine, SOURCES, ["finance", "sports"])
    assert (found.label, found.justification) == ("finance", "It is about a payment.")
    engine.enqueue(
        '{"label": "cooking", "justification": "x"}', '{"label": "cooking", "justification": "x"}'
    )
    with pytest.raises(OutputValidationError, match="is not one of"):
        classify(engine, SOURCES, ["finance", "sports"])
