"""Grounded extraction: a form filled with values copied from the sources, each with its evidence.

The default when a form is filled from documents. :func:`form_grammar` turns the user's object
schema into an llguidance (Lark) grammar in which a value can only come from the passages:

- a plain string is a verbatim run of whole words of one passage (``substring_words``, one
  alternative per stretch of passage between characters JSON would have to escape);
- a number or integer is one of the numbers the passages write ("26,312.50", "two", "nobody"),
  within the schema's bounds;
- a ``format: date`` string is one of the dates the passages write, as ISO ``YYYY-MM-DD``;
- an ``enum``, ``const`` or boolean keeps its own choices, and any other kind of value keeps its
  schema (llguidance's ``%json``); their evidence is looked up afterwards;
- every field may also be ``null``: the model says the sources do not state it instead of
  making a value up.

:func:`fill_grounded` generates under that grammar, then settles the record against the schema:
a field left ``null`` that the schema does not allow null is left out when optional and listed
in :attr:`GroundedForm.missing` when required (such a record is incomplete and never reported
as a valid result). Each value's :class:`Evidence` names the source, document, page and span;
every span is checked to be an exact substring of its passage before it is returned.

Imports ``llguidance`` through the engine only (the grammar is text); no ``llama_cpp``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    GrammarConstraint,
    Role,
)
from assistant.errors import GrammarError, OutputValidationError, SchemaError
from assistant.grammar.budget import fit_budget
from assistant.grammar.extract import DEFAULT_OPTIONS, Passage, _retry_options, build_messages
from assistant.grammar.schema import Schema, load_schema

#: The longest copied string, in characters, when the schema sets no ``maxLength``: a name, an
#: address, a title or a sentence, not a whole passage.
MAX_SPAN_CHARS = 160
#: The most items of an array the schema leaves unbounded: the grammar must end.
MAX_ITEMS = 10
#: The most alternatives offered for a number or date field.
MAX_CHOICES = 200
GROUNDED_PROMPT = (
    "Copy every value exactly as the sources write it: only the value itself (the name, the "
    'number, the date, the code), not the words around it; from "Signed by: Jane Doe, head '
    'nurse, on 2 May" the signer is "Jane Doe". Write null for a field the sources do not '
    "state; never guess."
)
_JSON_OPTIONS = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": True,
}
# What a JSON string cannot hold unescaped: a span never crosses one.
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]+')
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
NUMBER_WORDS = {
    "nobody": 0, "none": 0, "no one": 0, "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}  # fmt: skip
_WORD_NUMBER = re.compile(
    r"\b(" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")],
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(\d{4})\b", re.I),
     ("d", "M", "y")),
    (re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I),
     ("M", "d", "y")),
)  # fmt: skip


@dataclass(frozen=True)
class Evidence:
    """Where a value of the record was read.

    Attributes:
        path: the value's place in the record (``total``, ``people[1]``, ``address.city``).
        source: the 1-based number of the passage.
        document: the passage's document.
        page: its page, ``None`` when the format has none.
        span: the passage's text the value comes from, exactly as in the passage.
        start: where ``span`` starts in the passage text.
        end: where it ends (exclusive).
        copied: the grammar made the value a copy of ``span`` (``False``: the value, an enum
            label for example, was found in the passage afterwards).
    """

    path: str
    source: int
    document: str
    page: int | None
    span: str
    start: int
    end: int
    copied: bool = True


@dataclass(frozen=True)
class GroundedForm:
    """A form filled from passages, each value with its evidence.

    Attributes:
        values: the record; valid against the schema when :attr:`complete`.
        evidence: per value path, where it was read.
        missing: required fields the sources do not state (the record is then incomplete).
        absent: optional fields the sources do not state (left out, or null where allowed).
        unsupported: values with no evidence in any passage (booleans, and values from an
            engine that could not be constrained).
        text: what the model wrote.
        attempts: 1, or more when an output failed validation.
        notes: what a user may want to know about how it was produced.
        stats: decoding statistics of the last attempt.
    """

    values: dict[str, Any]
    evidence: dict[str, Evidence]
    missing: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    text: str = ""
    attempts: int = 1
    notes: tuple[str, ...] = ()
    stats: GenerationStats = field(default_factory=GenerationStats)

    @property
    def complete(self) -> bool:
        """Every required field has a value from the sources."""
        return not self.missing


@dataclass(frozen=True)
class _Occurrence:
    source: int  # 0-based index into the passages
    start: int
    end: int


@dataclass
class _Sources:
    """What the passages offer: text stretches, numbers and dates, with where they occur."""

    passages: Sequence[Passage]
    segments: list[str] = field(default_factory=list)
    numbers: dict[float, _Occurrence] = field(default_factory=dict)
    dates: dict[str, _Occurrence] = field(default_factory=dict)

    @classmethod
    def read(cls, passages: Sequence[Passage]) -> _Sources:
        found = cls(passages)
        for index, passage in enumerate(passages):
            text = passage.text
            for piece in _UNSAFE.split(" ".join(text.split())):
                if piece.strip() and piece not in found.segments:
                    found.segments.append(piece.strip())
            for match in _NUMBER.finditer(text):
                value = float(match.group().replace(",", ""))
                found.numbers.setdefault(value, _Occurrence(index, *match.span()))
            for match in _WORD_NUMBER.finditer(text):
                value = float(NUMBER_WORDS[match.group(1).lower()])
                found.numbers.setdefault(value, _Occurrence(index, *match.span()))
            for iso, span in _dates_in(text):
                found.dates.setdefault(iso, _Occurrence(index, *span))
        return found


def _dates_in(text: str) -> Iterator[tuple[str, tuple[int, int]]]:
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups(), strict=True))
            month = int(parts["m"]) if "m" in parts else _MONTHS[parts["M"].lower()]
            try:
                day = _dt.date(int(parts["y"]), month, int(parts["d"]))
            except ValueError:
                continue
            yield day.isoformat(), match.span()


class _Builder:
    """Writes the Lark rules of one schema over one set of sources."""

    def __init__(self, root: Mapping[str, Any], sources: _Sources) -> None:
        self.root = root
        self.sources = sources
        self.rules: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def rule(self, body: str) -> str:
        """The name of a rule with ``body`` (rules with the same body are shared)."""
        name = self._names.get(body)
        if name is None:
            name = f"r{len(self._names)}"
            self._names[body] = name
            self.rules[name] = body
        return name

    def value(self, node: Any, depth: int = 0) -> str:
        """The rule for one value of ``node`` (not yet allowing null)."""
        node = _resolve(self.root, node)
        if depth > 12:
            raise GrammarError("The schema nests too deeply to be filled from documents.")
        kind = _kind(node)
        if kind == "object":
            return self.rule(self._object(node, depth))
        if kind == "array":
            return self.rule(self._array(node, depth))
        if kind == "span":
            return self.rule(self._span(node))
        if kind in ("number", "integer"):
            return self.rule(self._number(node, integer=kind == "integer"))
        if kind == "date":
            return self.rule(self._date())
        if kind == "choice":
            choices = node["enum"] if "enum" in node else [node["const"]]
            return self.rule(" | ".join(_lit(json.dumps(c, ensure_ascii=False)) for c in choices))
        if kind == "boolean":
            return self.rule('"true" | "false"')
        return self.rule(self._json(node))

    def nullable(self, node: Any, depth: int) -> str:
        return self.rule(f'{self.value(node, depth)} | "null"')

    def _object(self, node: Mapping[str, Any], depth: int) -> str:
        properties = node.get("properties") or {}
        if not properties:
            return '"{}"'
        parts = []
        for index, (name, child) in enumerate(properties.items()):
            opening = "{" if index == 0 else ", "
            parts.append(_lit(opening + json.dumps(name, ensure_ascii=False) + ": "))
            parts.append(self.nullable(child, depth + 1))
        parts.append(_lit("}"))
        return " ".join(parts)

    def _array(self, node: Mapping[str, Any], depth: int) -> str:
        items = node.get("items")
        item = self.value(items if isinstance(items, Mapping) else {}, depth + 1)
        low = int(node.get("minItems", 0))
        high = min(int(node.get("maxItems", MAX_ITEMS)), max(MAX_ITEMS, low))
        if high <= 0:
            return '"[]"'
        more = f"({_lit(', ')} {item}){{{max(low - 1, 0)},{high - 1}}}"
        body = f"{_lit('[')} {item} {more} {_lit(']')}"
        return body if low >= 1 else f"{body} | {_lit('[]')}"

    def _span(self, node: Mapping[str, Any]) -> str:
        if not self.sources.segments:
            return '"null"'  # nothing to copy from: the field can only be left out
        low = max(int(node.get("minLength", 1)), 1)
        high = min(int(node.get("maxLength", MAX_SPAN_CHARS)), MAX_SPAN_CHARS)
        high = max(high, low)
        alternatives = []
        for segment in self.sources.segments:
            body = json.dumps({"substring_words": segment}, ensure_ascii=False)
            alternatives.append(f"%regex {body} & /(?s:.{{{low},{high}}})/")
        terminal = f"SPAN_{low}_{high}"
        self.rules[terminal] = " | ".join(alternatives)
        return f'"\\"" {terminal} "\\""'

    def _number(self, node: Mapping[str, Any], *, integer: bool) -> str:
        literals = []
        for value in self.sources.numbers:
            if integer and not value.is_integer():
                continue
            if not _in_bounds(value, node):
                continue
            literals.append(str(int(value)) if integer or value.is_integer() else repr(value))
        literals = list(dict.fromkeys(literals))[:MAX_CHOICES]
        if not literals:
            return '"null"'
        return " | ".join(_lit(text) for text in literals)

    def _date(self) -> str:
        dates = list(self.sources.dates)[:MAX_CHOICES]
        if not dates:
            return '"null"'
        return " | ".join(_lit(json.dumps(iso)) for iso in dates)

    def _json(self, node: Mapping[str, Any]) -> str:
        schema = dict(node)
        for defs in ("$defs", "definitions"):
            if defs in self.root and defs not in schema:
                schema[defs] = self.root[defs]
        schema["x-guidance"] = _JSON_OPTIONS
        return "%json " + json.dumps(schema, ensure_ascii=False)


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _in_bounds(value: float, node: Mapping[str, Any]) -> bool:
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = node.get(keyword)
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            continue
        inside = {
            "minimum": value >= bound,
            "maximum": value <= bound,
            "exclusiveMinimum": value > bound,
            "exclusiveMaximum": value < bound,
        }[keyword]
        if not inside:
            return False
    step = node.get("multipleOf")
    return not (isinstance(step, int | float) and step and (value / step) % 1)


def _resolve(root: Mapping[str, Any], node: Any, seen: int = 0) -> Any:
    """``node`` with a local ``$ref`` followed, and ``[T, "null"]`` read as ``T``."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and seen < 16:
        target: Any = root
        reference = node["$ref"]
        if not reference.startswith("#"):
            return node
        for part in reference[1:].split("/"):
            if part:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
        if target is None:
            raise SchemaError(f"The schema's reference {reference} points at nothing.")
        node, seen = target, seen + 1
    return node


def _types(node: Mapping[str, Any]) -> list[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    for union in ("anyOf", "oneOf"):
        options = node.get(union)
        if isinstance(options, list):
            kinds = [o.get("type") for o in options if isinstance(o, Mapping)]
            if len(kinds) == len(options) and all(isinstance(k, str) for k in kinds):
                return [str(k) for k in kinds] if len(options) <= 2 else []
    return []


def _kind(node: Any) -> str:
    """How a value of ``node`` is produced: span, date, number, integer, choice, boolean,
    object, array, or json (its own schema)."""
    if not isinstance(node, Mapping):
        return "json"
    if "enum" in node or "const" in node:
        return "choice"
    types = [t for t in _types(node) if t != "null"]
    if len(types) != 1 or any(k in node for k in ("allOf", "not", "if", "$ref")):
        return "json"
    if any(k in node for k in ("anyOf", "oneOf")) and not _types(node):
        return "json"
    kind = types[0]
    if kind == "string":
        if node.get("format") == "date":
            return "date"
        if "format" in node or "pattern" in node:
            return "json"
        return "span"
    if kind == "object":
        extra = node.get("additionalProperties")
        if node.get("properties") and (extra is None or extra is False or extra == {}):
            return "object"
        return "json"
    if kind in ("array", "number", "integer", "boolean"):
        return kind
    return "json"


def form_grammar(schema: Any, passages: Sequence[Passage]) -> str:
    """The llguidance (Lark) grammar of a record of ``schema`` copied from ``passages``.

    Raises:
        SchemaError: the schema is not an object schema with ``properties``.
        GrammarError: it nests too deeply.
    """
    document = _form_document(schema)
    builder = _Builder(document, _Sources.read(passages))
    start = builder.value(document)
    lines = [f"start: {start}"]
    lines.extend(f"{name}: {body}" for name, body in builder.rules.items())
    return "\n".join(lines) + "\n"


def grounded_request(
    engine: Engine,
    schema: Schema,
    passages: Sequence[Passage],
    question: str = "",
    options: GenerationOptions | None = None,
) -> tuple[list[ChatMessage], GenerationOptions]:
    """The messages and options of a grounded fill: the prompt, the budget the schema needs and
    the grammar of :func:`form_grammar` (what :func:`fill_grounded` sends, and the benchmark
    times)."""
    lark = form_grammar(schema, passages)
    key = "form:" + hashlib.sha256(lark.encode("utf-8")).hexdigest()
    prompt = f"{question.strip() or 'Fill in the form from the sources.'} {GROUNDED_PROMPT}"
    messages = build_messages(prompt, passages, target=schema)
    options = fit_budget(engine, schema, messages, options or DEFAULT_OPTIONS, grounded=True)
    return messages, replace(options, grammar=GrammarConstraint(gbnf="", cache_key=key, lark=lark))


def _form_document(schema: Any) -> dict[str, Any]:
    document = dict(load_schema(schema).document)
    if _kind(_resolve(document, document)) != "object":
        raise SchemaError(
            "Grounded extraction fills an object schema with 'properties' (and no "
            "additionalProperties); use --free for other schemas."
        )
    return document


def fill_grounded(
    engine: Engine,
    schema: Any,
    passages: Sequence[Passage],
    *,
    question: str = "",
    options: GenerationOptions | None = None,
    cancel: CancelToken | None = None,
    retries: int = 1,
    **_: Any,
) -> GroundedForm:
    """Fill the object ``schema`` from ``passages`` with values copied from them.

    Args:
        engine: the loaded model; it must enforce llguidance grammars.
        schema: the form: an object schema with ``properties``.
        passages: the sources, numbered in the prompt.
        question: what to extract (default: fill in the form).
        options: decoding options; the grammar is set here and the token budget raised to
            what the schema needs.
        cancel: stops generation.
        retries: further attempts after an output that does not validate.

    Raises:
        SchemaError: not an object schema.
        GrammarError: no passages, or an engine without llguidance.
        OutputValidationError: the output did not validate after the retries.
    """
    loaded = load_schema(schema)
    _form_document(loaded)  # an object form, or a SchemaError now
    if not passages:
        raise GrammarError("There are no passages to fill the form from.")
    if not getattr(engine, "supports_llguidance", False):
        raise GrammarError(
            "This engine cannot copy values from the documents (it has no llguidance "
            "grammars); use --free, and check each value against its citation."
        )
    messages, options = grounded_request(engine, loaded, passages, question, options)
    conversation = list(messages)
    problem = ""
    text = ""
    for attempt in range(1, retries + 2):
        stats = GenerationStats()
        run = options if attempt == 1 else _retry_options(options, attempt, problem)
        text = "".join(t.text for t in engine.stream(conversation, run, cancel=cancel,
                                                      stats=stats)).strip()  # fmt: skip
        if stats.finish_reason is FinishReason.CANCELLED:
            raise OutputValidationError("generation was cancelled", text, attempt)
        if stats.finish_reason is FinishReason.LENGTH:
            problem = f"the output was cut off at {stats.completion_tokens} tokens"
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at character {exc.pos}"
            continue
        form = settle(loaded, data, passages)
        errors = [] if form.missing else loaded.validation_errors(form.values)
        if not errors:
            return replace(form, text=text, attempts=attempt, stats=stats)
        problem = errors[0]
        conversation = [
            *messages,
            ChatMessage(Role.ASSISTANT, text),
            ChatMessage(Role.USER, f"That record is invalid ({problem}). Answer again."),
        ]
    raise OutputValidationError(problem, text, retries + 1)


def settle(schema: Schema, data: Any, passages: Sequence[Passage]) -> GroundedForm:
    """Fit a generated record to ``schema`` and find each value's evidence.

    ``null`` where the schema does not allow it is left out of an optional field and listed as
    missing for a required one; every string's span is checked against its passage.
    """
    document = schema.document
    sources = _Sources.read(passages)
    evidence: dict[str, Evidence] = {}
    missing: list[str] = []
    absent: list[str] = []
    unsupported: list[str] = []

    def walk(node: Any, value: Any, path: str) -> Any:
        node = _resolve(document, node)
        if isinstance(value, dict) and isinstance(node, Mapping):
            properties = node.get("properties") or {}
            required = set(node.get("required") or ())
            out: dict[str, Any] = {}
            for name, item in value.items():
                child = properties.get(name, {})
                where = f"{path}.{name}" if path else name
                if item is None and not _allows_null(_resolve(document, child)):
                    (missing if name in required else absent).append(where)
                    continue
                if item is None:
                    absent.append(where)
                out[name] = walk(child, item, where)
            return out
        if isinstance(value, list):
            items = node.get("items", {}) if isinstance(node, Mapping) else {}
            return [walk(items, item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, str) and _kind(node) == "span":
            value = value.strip()  # a copied run of words may end on the space after it
        if value is not None:
            found = _evidence(path, value, _kind(node), sources)
            if found is None:
                unsupported.append(path)
            else:
                evidence[path] = found
        return value

    values = walk(document, data, "")
    return GroundedForm(
        values=values if isinstance(values, dict) else {},
        evidence=evidence,
        missing=tuple(missing),
        absent=tuple(absent),
        unsupported=tuple(unsupported),
    )


def _allows_null(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return True
    if "enum" in node:
        return None in node["enum"]
    if "null" in _types(node):
        return True
    return (
        not node.get("type")
        and not node.get("anyOf")
        and not node.get("oneOf")
        and ("const" not in node)
    )


def _evidence(path: str, value: Any, kind: str, sources: _Sources) -> Evidence | None:
    passages = sources.passages
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        where = sources.numbers.get(float(value))
        return _make(path, passages, where, copied=kind in ("number", "integer"))
    if not isinstance(value, str):
        return None
    if kind == "date":
        return _make(path, passages, sources.dates.get(value), copied=True)
    copied = kind == "span"
    for index, passage in enumerate(passages):
        located = _locate(value, passage.text, exact=True)
        if located is not None:
            return _make(path, passages, _Occurrence(index, *located), copied=copied)
    if copied:
        return None
    for index, passage in enumerate(passages):  # an enum label written in another case
        located = _locate(value, passage.text, exact=False)
        if located is not None:
            return _make(path, passages, _Occurrence(index, *located), copied=False)
    return None


def _locate(value: str, text: str, *, exact: bool) -> tuple[int, int] | None:
    """Where ``value`` is in ``text``, whitespace runs matching any whitespace."""
    words = value.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(word) for word in words)
    if not exact:
        pattern = r"\b" + pattern + r"\b"
    match = re.search(pattern, text, 0 if exact else re.IGNORECASE)
    return match.span() if match else None


def _make(
    path: str, passages: Sequence[Passage], where: _Occurrence | None, *, copied: bool
) -> Evidence | None:
    if where is None:
        return None
    passage = passages[where.source]
    span = passage.text[where.start : where.end]
    return Evidence(
        path=path,
        source=where.source + 1,
        document=passage.document,
        page=passage.page,
        span=span,
        start=where.start,
        end=where.end,
        copied=copied,
    )


def evidence_report(evidence: Mapping[str, Evidence]) -> dict[str, Any]:
    """The evidence as JSON data: per value path, source, document, page and span."""
    return {
        path: {
            "source": e.source,
            "document": e.document,
            "page": e.page,
            "span": e.span,
            "copied": e.copied,
        }  # fmt: skip
        for path, e in evidence.items()
    }
