"""Structured output with the real SmolLM2 model, both constraint engines, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from assistant.engine.llama import LlamaEngine
from assistant.errors import UnsupportedSchemaError
from assistant.grammar import (
    Backend,
    Gbnf,
    GrammarCompiler,
    build_messages,
    extract,
    extract_entities,
    generate_structured,
    load_schema,
    passages_from_text,
)
from tests.conftest import run_cli
from tests.grammar.conftest import SCHEMAS, keyword_cases

pytestmark = pytest.mark.model

CASES = keyword_cases()
# llama.cpp's GBNF sampler costs seconds per answer on this CPU (bench/bench_structured.py runs the
# whole corpus on both); the tests run every case on the default engine and two on the baseline.
GBNF_CASES = {"enum_const", "ref_defs"}
PAIRS = [(c, Backend.LLGUIDANCE) for c in CASES] + [
    (c, Backend.GBNF) for c in CASES if c["name"] in GBNF_CASES
]


@pytest.fixture(scope="module")
def compiler() -> GrammarCompiler:
    return GrammarCompiler()


@pytest.mark.parametrize(("case", "backend"), PAIRS, ids=[f"{c['name']}-{b}" for c, b in PAIRS])
def test_every_keyword_family_validates(smol_engine: LlamaEngine, compiler: GrammarCompiler,
                                        case: dict, backend: Backend) -> None:  # fmt: skip
    schema = load_schema(case["schema"])
    messages = build_messages(case["prompt"], target=schema)
    result = generate_structured(smol_engine, schema, messages, backend=backend, compiler=compiler)
    assert schema.validation_errors(result.data) == []
    assert result.backend is backend


def test_unsupported_keyword_is_a_clear_error(smol_engine: LlamaEngine) -> None:
    schema = json.loads((SCHEMAS / "keywords" / "unsupported.json").read_text())
    with pytest.raises(UnsupportedSchemaError, match=r"'if' at #/properties/detail/if"):
        extract(smol_engine, schema, "Describe a cat.")


class Item(BaseModel):
    name: str = Field(max_length=30)
    quantity: int = Field(ge=1, le=99)


def test_pydantic_path(smol_engine: LlamaEngine) -> None:
    item = extract(smol_engine, Item, "Three apples.")
    assert isinstance(item, Item)
    assert 1 <= item.quantity <= 99


@pytest.mark.parametrize("backend", list(Backend))
def test_raw_gbnf_path(smol_engine: LlamaEngine, backend: Backend) -> None:
    grammar = Gbnf('root ::= ("yes" | "no") "." ')
    assert extract(smol_engine, grammar, "Is Paris in France?", backend=backend) in ("yes.", "no.")


def test_entities_from_a_paged_document(smol_engine: LlamaEngine) -> None:
    passages = passages_from_text(
        "Report by John Smith of Acme Corp.\fThe meeting took place in Berlin.", document="r.txt"
    )
    entities = extract_entities(smol_engine, passages)
    assert entities, "the model found nothing"
    assert all(e.document == "r.txt" and e.page in (1, 2) for e in entities)


def test_extract_cli_round_trips_to_a_file(tmp_path: Path, smol_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {
        "payer": {"type": "string", "maxLength": 40},
        "paid_on": {"type": "string", "format": "date"}},
        "required": ["payer", "paid_on"]}))  # fmt: skip
    doc = tmp_path / "doc.txt"
    doc.write_text("Invoice INV-2291 was paid by Mary Jones on 2024-03-01.\n")
    out = tmp_path / "result.json"
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema), "--doc", str(doc),
                   "--out", str(out), "--free")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "valid: wrote" in done.stderr
    assert "source [1] doc.txt" in done.stderr
    assert load_schema(schema).validation_errors(json.loads(out.read_text())) == []


def test_extract_cli_copies_values_from_the_document_by_default(
    tmp_path: Path, smol_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {
        "payer": {"type": "string", "maxLength": 40},
        "invoice": {"type": "string", "maxLength": 20},
        "paid_on": {"type": "string", "format": "date"},
        "amount": {"type": "number"}}}))  # fmt: skip
    doc = tmp_path / "doc.txt"
    text = "Invoice INV-2291 for 310.50 euros was paid by Mary Jones on 1 March 2024.\n"
    doc.write_text(text)
    out = tmp_path / "result.json"
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema), "--doc", str(doc),
                   "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    record = json.loads(out.read_text())
    assert load_schema(schema).validation_errors(record) == []
    assert record == report["result"]
    for name, value in record.items():  # every value comes from the document, with its span
        if value is None:
            continue
        span = report["evidence"][name]["span"]
        assert span in text
        if name in ("payer", "invoice"):
            assert value == span
    assert record.get("paid_on") in (None, "2024-03-01")  # the only date the document writes
    assert record.get("amount") in (None, 2291, 310.5, 1, 2024)  # only numbers it writes


def test_extract_cli_says_which_required_field_the_document_lacks(
    tmp_path: Path, smol_path: Path
) -> None:
    schema = tmp_path / "schema.json"  # the document writes no number: the grammar allows null only
    schema.write_text(json.dumps({"type": "object", "properties": {
        "staff": {"type": "integer"}}, "required": ["staff"]}))  # fmt: skip
    doc = tmp_path / "doc.txt"
    doc.write_text("The office is closed on public holidays.\n")
    out = tmp_path / "result.json"
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema), "--doc", str(doc),
                   "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 5
    assert "do not state the required field staff" in done.stderr
    failure = json.loads(done.stdout)  # a script reading stdout gets the failure too
    assert failure["valid"] is False
    assert failure["missing"] == ["staff"]
    assert not out.exists()


def test_extract_cli_refuses_an_unsupported_schema(smol_path: Path) -> None:
    done = run_cli("--model", str(smol_path), "extract", "--schema",
                   str(SCHEMAS / "keywords" / "unsupported.json"), "--question", "x")  # fmt: skip
    assert done.returncode == 2
    assert "error: The schema keyword 'if' at #/properties/detail/if" in done.stderr


@pytest.mark.parametrize(
    "root",
    [
        {"type": "string", "maxLength": 30},
        {"type": "integer", "minimum": 0, "maximum": 1000},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
        {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}},
         "required": ["a"]},
        {"enum": ["red", "green", None]},
    ],
    ids=["string", "integer", "number", "boolean", "array", "object", "enum-with-null"],
)  # fmt: skip
def test_every_json_type_at_the_root_is_written_as_json_that_validates(
    tmp_path: Path, smol_path: Path, root: dict[str, object]
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(root))
    out = tmp_path / "result.json"
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema), "--question",
                   "Give one value for the invoice INV-2291.", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    value = json.loads(out.read_text())  # a string root is "...", never bare text
    assert load_schema(schema).validation_errors(value) == []


def test_extract_doc_reads_a_pdf_through_the_loaders(tmp_path: Path, smol_path: Path) -> None:
    from tests.knowledge.corpus import REPORT_PAGES, write_pdf

    pdf = write_pdf(tmp_path / "report.pdf", REPORT_PAGES)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {
        "valve": {"type": "string", "maxLength": 20}}}))  # fmt: skip
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema),
                   "--doc", str(pdf), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    pages = {e["page"] for e in report["evidence"].values()}
    assert pages <= {1, 2, 3, 4}  # cited by the PDF's pages, not the bytes of the file
    assert "%PDF" not in json.dumps(report["result"])


def test_extract_doc_refuses_what_no_loader_reads(tmp_path: Path, smol_path: Path) -> None:
    picture = tmp_path / "archive.zip"  # pictures are read through OCR; an archive is not read
    picture.write_bytes(b"PK\x03\x04" + bytes(100))
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    done = run_cli("--model", str(smol_path), "extract", "--schema", str(schema),
                   "--doc", str(picture))  # fmt: skip
    assert done.returncode != 0
    assert "unsupported type .zip" in done.stderr
