"""The extraction gold set: records filled from documents, checked field by field.

``assistant/evaluation/data/extraction_gold.json`` (written with its documents by
``scripts/make_extraction_gold.py``) lists, per document, the schema to fill and each field's
expected value and page; ``null`` marks a field the document does not state. :func:`run_gold`
fills every record as ``assistant extract --doc`` does, grounded (values copied from the passages)
or free (values written by the model, cited by source number), and :func:`check_record` scores it:

- a field is **right** when its value equals the expected one (strings compared without case,
  surrounding punctuation and titles such as "Dr"; numbers by value) and its evidence is on the
  expected page;
- its **evidence** is right when the passage it points at holds the value, on that page;
- a value given for a field the document does not state is **invented**;
- every evidence span shown must be an exact substring of its passage (**verified**).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.engine.base import Engine, GenerationOptions
from assistant.errors import AssistantError, EvaluationError
from assistant.grammar.documents import document_passages
from assistant.grammar.extract import DEFAULT_OPTIONS, Passage
from assistant.grammar.grounding import NUMBER_WORDS, fill_grounded
from assistant.grammar.schema import load_schema
from assistant.grammar.tasks import fill_form

DATA = Path(__file__).resolve().parent / "data"
GOLD_FILE = DATA / "extraction_gold.json"
DOCUMENTS = DATA / "extraction"
GROUNDED = "grounded"
FREE = "free"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TITLES = re.compile(r"^(?:dr|mr|mrs|ms|prof|captain|capt|officer)\.?\s+", re.IGNORECASE)


@dataclass(frozen=True)
class FieldCheck:
    """One field of one record, checked.

    Attributes:
        document: the document's file name.
        field: the field's name.
        expected: the expected value, ``None`` when the document does not state it.
        expected_page: the page it is on (``None`` for formats without pages).
        value: what the extraction gave (``None``: left empty).
        page: the page its evidence points at.
        span: the evidence text shown for it ("" without evidence).
        value_right: the value equals the expected one.
        page_right: its evidence is on the expected page.
        evidence_right: the cited passage holds the value, on the expected page.
        verified: the span shown is an exact substring of its passage (``True`` without a span).
    """

    document: str
    field: str
    expected: Any
    expected_page: int | None
    value: Any
    page: int | None
    span: str
    value_right: bool
    page_right: bool
    evidence_right: bool
    verified: bool

    @property
    def absent(self) -> bool:
        return self.expected is None

    @property
    def invented(self) -> bool:
        return self.absent and self.value is not None

    @property
    def right(self) -> bool:
        """Right value with the right page, or correctly left empty."""
        if self.absent:
            return self.value is None
        return self.value_right and self.page_right


@dataclass
class GoldRun:
    """The checks of one mode over the whole gold set, with failures and timings."""

    mode: str
    checks: list[FieldCheck] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # document -> what went wrong
    seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        present = [c for c in self.checks if not c.absent]
        absent = [c for c in self.checks if c.absent]
        given = [c for c in present if c.value is not None]
        spans = [c for c in self.checks if c.span]
        return {
            "mode": self.mode,
            "documents": len({c.document for c in self.checks}) + len(self.failures),
            "fields": len(self.checks),
            "expected_values": len(present),
            "absent_fields": len(absent),
            "field_accuracy": _share(sum(c.right for c in present), len(present)),
            "value_accuracy": _share(sum(c.value_right for c in present), len(present)),
            "evidence_accuracy": _share(sum(c.evidence_right for c in given), len(given)),
            "invented": sum(c.invented for c in absent),
            "absent_left_empty": _share(sum(c.value is None for c in absent), len(absent)),
            "spans_shown": len(spans),
            "spans_verified": _share(sum(c.verified for c in spans), len(spans)),
            "failed_documents": dict(self.failures),
            "seconds_per_document": round(sum(self.seconds) / len(self.seconds), 1)
            if self.seconds
            else None,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def load_gold(path: Path = GOLD_FILE) -> list[dict[str, Any]]:
    """The gold records: ``[{"document", "schema", "fields": {name: {value, page}}}]``.

    Raises:
        EvaluationError: the file is missing or malformed.
    """
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"Could not read the extraction gold set {path}: {exc}") from exc
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and {"document", "schema", "fields"} <= r.keys() for r in records
    ):
        raise EvaluationError(
            f"{path} must be a list of {{document, schema, fields}} records."
        )  # fmt: skip
    return records


def same_value(expected: Any, value: Any) -> bool:
    """Whether an extracted value is the expected one (see the module docstring)."""
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and math.isclose(expected, value, rel_tol=1e-9)
    return normalize(str(expected)) == normalize(str(value))


def normalize(text: str) -> str:
    """A string value as compared: no case, titles, surrounding punctuation or extra spaces."""
    text = " ".join(text.split()).strip(" .,;:\"'()[]").casefold()
    return _TITLES.sub("", text)


def holds(passage: str, value: Any) -> bool:
    """Whether a passage states ``value`` (a number in any of its usual writings)."""
    flat = " ".join(passage.split()).casefold()
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        writings = {f"{value:,.2f}", f"{value:,.0f}", f"{value:.2f}", f"{value:g}", f"{value:,}"}
        words = [w for w, n in NUMBER_WORDS.items() if n == value]
        return any(w.casefold() in flat for w in writings if w) or any(
            re.search(rf"\b{w}\b", flat) for w in words
        )
    text = str(value)
    if _ISO_DATE.fullmatch(text):  # a date is written in words as often as in ISO form
        day = _dt.date.fromisoformat(text)
        month = day.strftime("%B").casefold()
        writings = {text, f"{day.day} {month} {day.year}", f"{month} {day.day}, {day.year}"}
        return any(w in flat for w in writings)
    return normalize(text) in flat


def check_record(
    document: str,
    gold: dict[str, Any],
    values: dict[str, Any],
    evidence: dict[str, tuple[int | None, str, str]],
) -> list[FieldCheck]:
    """Check one record.

    Args:
        document: the document's file name.
        gold: the gold ``fields`` of the record.
        values: the extracted record.
        evidence: per field, ``(page, span shown, passage text)``; a free extraction shows
            no span, only the cited passage.
    """
    checks = []
    for name, expected in gold.items():
        value = values.get(name)
        page, span, passage = evidence.get(name, (None, "", ""))
        value_right = same_value(expected["value"], value)
        page_right = name in evidence and page == expected["page"]
        held = value is not None and name in evidence and holds(passage, value)
        checks.append(
            FieldCheck(
                document=document,
                field=name,
                expected=expected["value"],
                expected_page=expected["page"],
                value=value,
                page=page,
                span=span,
                value_right=value_right,
                page_right=page_right,
                evidence_right=held and page == expected["page"],
                verified=not span or span in passage,
            )
        )
    return checks


Progress = Callable[[int, int, str], None]


def run_gold(
    engine: Engine,
    settings: Any,
    *,
    mode: str = GROUNDED,
    gold: Sequence[dict[str, Any]] | None = None,
    documents: Path = DOCUMENTS,
    options: GenerationOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
) -> GoldRun:
    """Fill every gold record from its document and check it.

    Args:
        engine: the loaded model.
        settings: the knowledge settings the parser child runs with.
        mode: :data:`GROUNDED` or :data:`FREE`.
        gold: the records (default: the bundled gold set).
        documents: the folder holding the documents and ``schemas/``.
        options: decoding options.
        progress: called with ``(done, total, document)`` after each record.
    """
    records = list(gold if gold is not None else load_gold())
    run = GoldRun(mode)
    for done, record in enumerate(records, 1):
        name = record["document"]
        schema = load_schema(documents / "schemas" / f"{record['schema']}.json")
        started = time.perf_counter()
        try:
            passages = document_passages(documents / name, settings)
            values, evidence = _fill(engine, schema, passages, mode, options)
        except AssistantError as exc:
            run.failures[name] = str(exc)
            values, evidence = {}, {}
        run.seconds.append(time.perf_counter() - started)
        run.checks.extend(check_record(name, record["fields"], values, evidence))
        if progress is not None:
            progress(done, len(records), name)
    return run


def _fill(
    engine: Engine, schema: Any, passages: list[Passage], mode: str, options: GenerationOptions
) -> tuple[dict[str, Any], dict[str, tuple[int | None, str, str]]]:
    if mode == GROUNDED:
        form = fill_grounded(engine, schema, passages, options=options)
        evidence = {
            path: (e.page, e.span, passages[e.source - 1].text) for path, e in form.evidence.items()
        }
        return form.values, evidence
    filled = fill_form(engine, schema, passages, options=options)
    cited = {
        name: (c.page, "", c.passage) for name, c in filled.citations.items()
        if filled.values.get(name) is not None
    }  # fmt: skip
    return filled.values, cited
