"""Schemas, the keyword policy and the compiler cache: no model needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from assistant.errors import GrammarError, SchemaError, UnsupportedSchemaError
from assistant.grammar import Backend, GrammarCompiler, audit, load_schema
from tests.grammar.conftest import SCHEMAS, corpus


class Invoice(BaseModel):
    number: str
    total: float


def test_schema_sources_agree(tmp_path: Path) -> None:
    document = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    file = tmp_path / "s.json"
    file.write_text(json.dumps(document))
    reordered = {"required": ["a"], "properties": {"a": {"type": "string"}}, "type": "object"}
    digests = {load_schema(s).digest for s in (document, json.dumps(document), file, reordered)}
    assert len(digests) == 1
    assert load_schema(file).name == "s.json"


def test_pydantic_model_is_a_schema() -> None:
    schema = load_schema(Invoice)
    assert schema.model is Invoice
    assert schema.name == "Invoice"
    assert schema.validation_errors({"number": "A1", "total": 3.5}) == []
    assert isinstance(schema.coerce({"number": "A1", "total": 3.5}), Invoice)


def test_validation_errors_name_the_path() -> None:
    schema = load_schema(
        {
            "type": "object",
            "properties": {
                "day": {"type": "string", "format": "date"},
                "n": {"type": "integer", "maximum": 3},
            },
        }
    )
    errors = schema.validation_errors({"day": "May 1st", "n": 7})
    assert errors == [
        "at #/day: 'May 1st' is not a 'date'",
        "at #/n: 7 is greater than the maximum of 3",
    ]


def test_date_time_and_uri_formats_are_checked() -> None:
    schema = load_schema({"properties": {"t": {"format": "date-time"}, "u": {"format": "uri"}}})
    assert schema.validation_errors({"t": "2024-05-01T09:30:00Z", "u": "https://x.org/a"}) == []
    assert len(schema.validation_errors({"t": "yesterday", "u": "not a uri"})) == 2


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '{"type": "strnig"}'])
def test_invalid_schemas_are_refused(bad: str) -> None:
    with pytest.raises(SchemaError):
        load_schema(bad)


def test_refused_keyword_names_keyword_and_path() -> None:
    document = json.loads((SCHEMAS / "keywords" / "unsupported.json").read_text())
    for backend in Backend:
        with pytest.raises(UnsupportedSchemaError) as info:
            audit(document, backend)
        assert info.value.keyword == "if"
        assert info.value.path == "#/properties/detail/if"
        assert "'if' at #/properties/detail/if" in str(info.value)


def test_remote_ref_is_refused_never_fetched() -> None:
    with pytest.raises(UnsupportedSchemaError, match="never fetches"):
        audit({"properties": {"a": {"$ref": "https://example.com/a.json"}}}, Backend.LLGUIDANCE)


def test_pattern_properties_depend_on_the_backend() -> None:
    document = {"type": "object", "patternProperties": {"^x": {"type": "string"}}}
    audit(document, Backend.LLGUIDANCE)
    with pytest.raises(UnsupportedSchemaError, match="patternProperties"):
        audit(document, Backend.GBNF)


def test_unenforced_keywords_are_left_to_validation_and_reported() -> None:
    document = {"type": "array", "uniqueItems": True, "items": {"type": "integer", "minimum": 0}}
    gbnf = audit(document, Backend.GBNF)
    assert {u.keyword for u in gbnf.validation_only} == {"uniqueItems", "minimum"}
    assert "uniqueItems at #/uniqueItems" in gbnf.notes[0]
    llg = audit(document, Backend.LLGUIDANCE)
    assert [u.keyword for u in llg.validation_only] == ["uniqueItems"]


def test_compiled_grammars_are_cached_by_schema_hash() -> None:
    compiler = GrammarCompiler()
    first = compiler.compile_schema(
        load_schema({"type": "object", "required": [], "properties": {}})
    )
    again = compiler.compile_schema(
        load_schema({"properties": {}, "required": [], "type": "object"})
    )
    assert again is first
    assert (compiler.hits, compiler.misses) == (1, 1)
    assert (
        first.constraint.cache_key
        == load_schema({"type": "object", "required": [], "properties": {}}).digest
    )
    other = compiler.compile_schema(first.schema, backend=Backend.GBNF)  # type: ignore[arg-type]
    assert other is not first
    assert other.constraint.gbnf
    assert not other.constraint.llguidance


def test_compile_rate_on_the_corpus_does_not_fall() -> None:
    """Baseline measured when the corpus was vendored: llguidance 20/22, gbnf 18/22."""
    compiler = GrammarCompiler()
    compiled = {backend: 0 for backend in Backend}
    for _, document in corpus():
        for backend in Backend:
            try:
                compiler.compile_schema(load_schema(document), backend=backend)
                compiled[backend] += 1
            except GrammarError:
                pass
    assert len(corpus()) == 22
    assert compiled[Backend.LLGUIDANCE] >= 20
    assert compiled[Backend.GBNF] >= 18
