"""What the structured-output panel does, without Qt: run a schema on a source, export results.

:func:`run` is the panel's worker job: it checks the schema (so a bad one is refused before any
passage is read or token generated), gathers passages from the chosen source, fills the schema
(grounded by default when there are passages: each value copied from a passage, with its
evidence, and a field the passages do not state left empty; as a free form with per-field
citations when the user turns grounding off; else from the request alone) and validates the
result once more against the user's own schema. :func:`evidence_source` turns a value's evidence
into the citation and quote the document viewer opens. :func:`write_json` and
:func:`write_csv` export a result. The example schemas ship as JSON files in ``schemas/``.

``assistant.grammar`` (jsonschema, llguidance) takes seconds to import, so it is imported inside
the functions that run in the worker, never when the window is built.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.chat.citations import SavedCitation, SavedQuote
from assistant.engine.base import CancelToken, Engine
from assistant.errors import AssistantError, SchemaError
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.records import DocumentRecord

if TYPE_CHECKING:
    from assistant.grammar import Evidence, GrammarCompiler, Passage, Schema
    from assistant.grammar.tasks import Citation

SCHEMAS_DIR = Path(__file__).with_name("schemas")
#: The search query when a collection is the source and the user typed no question.
DEFAULT_QUERY = "names, dates, places, organizations, amounts, identifiers"
_MAX_TOKENS = 512  # the grammar package's default answer length, used for the context budget


class SourceMode(enum.Enum):
    """Where the passages come from."""

    DOCUMENTS = "documents"  # the documents selected in the library
    COLLECTION = "collection"  # a search of a collection with the question
    NONE = "none"  # no passages: the request itself holds the facts


@dataclass(frozen=True)
class Example:
    """A built-in schema to start from: its title and its JSON text."""

    title: str
    text: str


@dataclass(frozen=True)
class Request:
    """One run of the panel.

    Attributes:
        schema_text: the JSON Schema as typed or chosen.
        mode: where the passages come from.
        question: what to extract, or (with no source) the request itself.
        collection: the collection to search (``COLLECTION`` mode).
        documents: the documents to read (``DOCUMENTS`` mode).
        top_k: how many passages a search returns.
        grounded: copy values from the passages (``False``: the model writes them).
    """

    schema_text: str
    mode: SourceMode
    question: str = ""
    collection: str = ""
    documents: tuple[DocumentRecord, ...] = ()
    top_k: int = 4
    grounded: bool = True


@dataclass(frozen=True)
class SourceRef:
    """Where a passage given to the model comes from, so evidence can open it in the viewer."""

    document_id: str
    document_name: str
    path: str
    page: int | None
    text: str


@dataclass(frozen=True)
class Outcome:
    """A finished run.

    Attributes:
        data: the result, as JSON data.
        errors: how ``data`` fails the user's schema; empty means valid.
        citations: per top-level field, the passage it was filled from (form fill only).
        passages: how many passages the model was given.
        attempts: generations it took (``None`` when the form-fill task does not say).
        notes: keywords left to validation and similar remarks.
        evidence: per value path, where a grounded value was read (grounded fill only).
        absent: fields the passages do not state, left empty (grounded fill only).
        sources: the passages given to the model, by source number - 1.
    """

    data: Any
    errors: tuple[str, ...] = ()
    citations: Mapping[str, Citation] = field(default_factory=dict)
    passages: int = 0
    attempts: int | None = None
    notes: tuple[str, ...] = ()
    evidence: Mapping[str, Evidence] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    sources: tuple[SourceRef, ...] = ()

    @property
    def grounded(self) -> bool:
        return bool(self.evidence) or bool(self.absent)

    @property
    def valid(self) -> bool:
        return not self.errors


def examples(folder: Path = SCHEMAS_DIR) -> list[Example]:
    """The example schemas, titled by their ``title`` (else the file name), in file order."""
    found: list[Example] = []
    for path in sorted(folder.glob("*.json")):
        try:
            text = path.read_text(encoding="utf-8")
            title = json.loads(text).get("title") or path.stem
        except (OSError, ValueError, AttributeError):
            continue  # a damaged example must not keep the window from opening
        found.append(Example(str(title), text))
    return found


def parse_schema_text(text: str) -> dict[str, Any]:
    """The schema text as a JSON object; quick enough for the GUI thread.

    Raises:
        SchemaError: the text is empty, not JSON, or not a JSON object.
    """
    if not text.strip():
        raise SchemaError("Choose an example schema or paste a JSON Schema first.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"The schema is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    if not isinstance(document, dict):
        raise SchemaError("A JSON Schema must be a JSON object at the top level.")
    return document


def check(request: Request, *, library: bool) -> None:
    """Refuse at once what needs no model and no library: quick enough for the GUI thread.

    Args:
        request: the run to check.
        library: whether the document library is available.

    Raises:
        SchemaError: the schema text is not a JSON object.
        AssistantError: the source is missing (no request, no selection, no library).
    """
    parse_schema_text(request.schema_text)  # a typo is reported now, not after a worker starts
    mode = request.mode
    if mode is SourceMode.NONE and not request.question:
        raise AssistantError("With no source, type the request (the facts) in the question box.")
    if mode is not SourceMode.NONE and not library:
        raise AssistantError("The document library is unavailable; choose the source None.")
    if mode is SourceMode.DOCUMENTS and not request.documents:
        raise AssistantError("Select one or more documents in the Library tab first.")
    if mode is SourceMode.COLLECTION and not request.collection:
        raise AssistantError("There is no collection to search; import documents first.")


def run(
    engine: Engine,
    request: Request,
    *,
    knowledge: KnowledgeBase | None,
    compiler: GrammarCompiler,
    cancel: CancelToken | None = None,
) -> Outcome | None:
    """Check the schema, gather passages, generate, validate; ``None`` when cancelled early.

    Raises:
        SchemaError, UnsupportedSchemaError: the schema is refused (nothing was generated).
        OutputValidationError: the output failed validation after the retry.
        AssistantError: no source to read, or the engine or the search failed.
    """
    from assistant.grammar import (
        Backend,
        audit,
        fill_form,
        fill_grounded,
        generate_structured,
        load_schema,
    )
    from assistant.grammar.extract import build_messages

    schema = load_schema(parse_schema_text(request.schema_text), name="The schema")
    backend = compiler.backend
    if backend is Backend.LLGUIDANCE and not getattr(engine, "supports_llguidance", False):
        backend = Backend.GBNF  # what generate_structured would fall back to
    # Refuses an unsupported keyword before anything runs; its notes name what validation checks.
    notes = audit(schema.document, backend).notes
    sources = _passages(engine, request, knowledge, schema)
    passages = [passage for passage, _ in sources]
    refs = tuple(ref for _, ref in sources)
    if cancel is not None and cancel.cancelled:
        return None
    common: dict[str, Any] = {"backend": backend, "compiler": compiler, "cancel": cancel}
    can_copy = getattr(engine, "supports_llguidance", False)
    if passages and _is_form(schema.document) and request.grounded and can_copy:
        grounded = fill_grounded(engine, schema, passages, question=request.question, **common)
        errors = tuple(schema.validation_errors(grounded.values))
        if grounded.missing:
            names = ", ".join(grounded.missing)
            errors = (f"the documents do not state the required field(s) {names}; turn off "
                      "'Copy values from the documents' to let the model write them",)  # fmt: skip
        return Outcome(
            grounded.values, errors, {}, len(passages), grounded.attempts, notes,
            evidence=grounded.evidence, absent=grounded.absent, sources=refs,
        )  # fmt: skip
    if passages and _is_form(schema.document):
        form = fill_form(engine, schema, passages, question=request.question, **common)
        data: Any = form.values
        citations: Mapping[str, Citation] = form.citations
        attempts: int | None = None
    else:
        prompt = request.question or "Fill in the schema from the sources."
        messages = build_messages(prompt, passages, target=schema)
        result = generate_structured(engine, schema, messages, **common)
        data, citations, attempts = result.data, {}, result.attempts
    # The grammar package validated already; checking against the user's own text here means
    # the panel's green mark never rests on anything but that schema.
    errors = tuple(schema.validation_errors(data))
    return Outcome(data, errors, citations, len(passages), attempts, notes, sources=refs)


def evidence_source(outcome: Outcome, evidence: Evidence) -> tuple[SavedCitation, SavedQuote]:
    """The citation (the passage) and the quote (the span) a value's evidence opens."""
    ref = outcome.sources[evidence.source - 1]
    citation = SavedCitation(
        number=evidence.source, document_id=ref.document_id, document_name=ref.document_name,
        path=ref.path, page=ref.page, heading="", quote=ref.text,
    )  # fmt: skip
    quote = SavedQuote(
        source=evidence.source, document_id=ref.document_id, document_name=ref.document_name,
        page=ref.page, text=evidence.span, start=evidence.start, end=evidence.end,
        verified=ref.text[evidence.start : evidence.end] == evidence.span,
    )  # fmt: skip
    return citation, quote


def _is_form(document: Mapping[str, Any]) -> bool:
    props = document.get("properties")
    return document.get("type") in ("object", None) and isinstance(props, Mapping) and bool(props)


def _passages(
    engine: Engine, request: Request, knowledge: KnowledgeBase | None, schema: Schema
) -> list[tuple[Passage, SourceRef]]:
    from assistant.grammar import Passage
    from assistant.grammar.tasks import batches

    if request.mode is SourceMode.NONE:
        return []
    if knowledge is None:
        raise AssistantError("The document library is unavailable; choose the source 'None'.")
    if request.mode is SourceMode.COLLECTION:
        hits = knowledge.search(
            request.question or DEFAULT_QUERY, collection=request.collection, top_k=request.top_k
        )
        found = [_hit(h) for h in hits]
    else:
        docs = list(request.documents)
        if not docs:
            raise AssistantError("Select one or more documents in the Library tab first.")
        if request.question:
            hits = knowledge.search(
                request.question, collection=docs[0].collection, top_k=request.top_k, document=docs
            )
            found = [_hit(h) for h in hits]
        else:  # no question to rank by: the documents from their beginning
            found = [
                (Passage(c.text, d.name, c.page), SourceRef(d.id, d.name, str(d.path), c.page,
                                                            c.text))
                for d in docs
                for c in knowledge.chunks(d)
            ]  # fmt: skip
    if not found:
        raise AssistantError("The source has no passages to read; import documents first.")
    # Only what fits the context next to the schema, the instructions and the answer.
    context = engine.context_size
    schema_cost = engine.count_tokens(json.dumps(schema.document))
    budget = max(128, context - _MAX_TOKENS - context // 4 - schema_cost)
    refs = {id(passage): ref for passage, ref in found}
    fitted = next(batches(engine, [passage for passage, _ in found], budget=budget))
    return [(passage, refs[id(passage)]) for passage in fitted]


def _hit(hit: Any) -> tuple[Passage, SourceRef]:
    from assistant.grammar import Passage

    ref = SourceRef(hit.document_id, hit.document_name, str(hit.path), hit.page, hit.text)
    return Passage(hit.text, hit.document_name, hit.page), ref


# --- export ---------------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """One row's cells: nested objects as dotted keys, arrays as JSON text in one cell."""
    if isinstance(value, Mapping) and (value or not prefix):
        cells: dict[str, str] = {}
        for key, item in value.items():
            cells.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return cells
    return {prefix or "value": _cell(value)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)  # numbers, booleans, arrays, {}


def csv_table(data: Any) -> tuple[list[str], list[list[str]]]:
    """The header and rows of ``data`` as CSV: an array of objects is one row per object."""
    records: Sequence[Any]
    if isinstance(data, list) and data and all(isinstance(i, Mapping) for i in data):
        records = data
    else:
        records = [data]
    flat = [flatten(record) for record in records]
    header = list(dict.fromkeys(key for row in flat for key in row))
    return header, [[row.get(key, "") for key in header] for row in flat]


def evidence_columns(
    header: list[str], rows: list[list[str]], evidence: Mapping[str, Evidence]
) -> tuple[list[str], list[list[str]]]:
    """A one-record table with, after each column that has evidence, its document, page and
    span: ``total``, ``total.document``, ``total.page``, ``total.span``."""
    if len(rows) != 1:
        return header, rows
    out_header: list[str] = []
    out_row: list[str] = []
    for name, cell in zip(header, rows[0], strict=True):
        out_header.append(name)
        out_row.append(cell)
        found = evidence.get(name)
        if found is not None:
            out_header += [f"{name}.document", f"{name}.page", f"{name}.span"]
            page = str(found.page) if found.page is not None else ""
            out_row += [found.document, page, " ".join(found.span.split())]
    return out_header, [out_row]


def write_csv(path: Path, data: Any, evidence: Mapping[str, Evidence] | None = None) -> None:
    """Write ``data`` as a CSV file (UTF-8, header row first), with evidence columns when the
    record has evidence (:func:`evidence_columns`)."""
    header, rows = csv_table(data)
    if evidence:
        header, rows = evidence_columns(header, rows, evidence)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_json(path: Path, data: Any, evidence: Mapping[str, Evidence] | None = None) -> None:
    """Write ``data`` as indented UTF-8 JSON; with ``evidence``, as ``{"record": data,
    "evidence": {...}}`` (:func:`~assistant.grammar.grounding.evidence_report`)."""
    from assistant.grammar.grounding import evidence_report

    body = {"record": data, "evidence": evidence_report(evidence)} if evidence else data
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
