"""The built-in structured tasks over documents: entities, form filling, classification.

Each task takes :class:`~assistant.grammar.extract.Passage` values (text, document, page), from
the knowledge base's search hits or from a file read by :func:`passages_from_text`, builds a
schema that makes the model cite its sources by number, and maps those numbers back to
documents and pages. The grammar guarantees the shape; the task checks the meaning it can check
(an entity's text really occurs in the passage it cites).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.engine.base import Engine
from assistant.errors import GrammarError, SchemaError
from assistant.grammar.extract import Passage, build_messages, generate_structured
from assistant.grammar.schema import load_schema

ENTITY_TYPES = ("person", "organization", "location", "date", "identifier")
_PAGE_BREAK = "\f"


@dataclass(frozen=True)
class Entity:
    """A named thing found in a passage.

    Attributes:
        text: as written in the source.
        type: one of :data:`ENTITY_TYPES`.
        document: the source document.
        page: its page, ``None`` when the format has none.
        grounded: whether ``text`` occurs verbatim in the cited passage.
    """

    text: str
    type: str
    document: str
    page: int | None
    grounded: bool


@dataclass(frozen=True)
class Citation:
    """The passage a form field was filled from."""

    source: int
    document: str
    page: int | None
    passage: str


@dataclass(frozen=True)
class FilledForm:
    """A form filled from passages: the values (valid against the user's schema) and citations."""

    values: dict[str, Any]
    citations: dict[str, Citation]


@dataclass(frozen=True)
class Classification:
    label: str
    justification: str


def passages_from_text(text: str, *, document: str = "", max_chars: int = 1200) -> list[Passage]:
    """Split a plain-text document into passages; form feeds (``\\f``) separate pages.

    Paragraphs are kept whole where they fit in ``max_chars``.
    """
    pages = text.split(_PAGE_BREAK)
    paged = len(pages) > 1
    passages: list[Passage] = []
    for number, page in enumerate(pages, 1):
        for chunk in _chunks(page, max_chars):
            passages.append(Passage(chunk, document, number if paged else None))
    return passages


def _chunks(text: str, max_chars: int) -> Iterator[str]:
    current = ""
    for paragraph in (p.strip() for p in text.split("\n\n")):
        while len(paragraph) > max_chars:
            if current:
                yield current
                current = ""
            yield paragraph[:max_chars]
            paragraph = paragraph[max_chars:]
        if current and len(current) + len(paragraph) + 2 > max_chars:
            yield current
            current = ""
        if paragraph:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        yield current


def batches(engine: Engine, passages: Sequence[Passage], *, budget: int) -> Iterator[list[Passage]]:
    """Group passages so each group's text takes at most ``budget`` tokens (at least one each)."""
    group: list[Passage] = []
    used = 0
    for passage in passages:
        cost = engine.count_tokens(passage.text) + 12
        if group and used + cost > budget:
            yield group
            group, used = [], 0
        group.append(passage)
        used += cost
    if group:
        yield group


def _budget(engine: Engine, max_tokens: int) -> int:
    # The schema, instructions and chat template take roughly a quarter of a small context.
    return max(256, engine.context_size - max_tokens - engine.context_size // 4)


def extract_entities(
    engine: Engine, passages: Sequence[Passage], *, max_per_batch: int = 12, **kwargs: Any
) -> list[Entity]:
    """People, organizations, locations, dates and identifiers, each with its page.

    Long inputs are processed in batches that fit the context; duplicates are merged.
    """
    found: dict[tuple[str, str, str, int | None], Entity] = {}
    options = kwargs.get("options")
    max_tokens = options.max_tokens if options is not None else 512
    for group in batches(engine, passages, budget=_budget(engine, max_tokens)):
        schema = _entity_schema(len(group), max_per_batch)
        messages = build_messages(
            "List the people, organizations, locations, dates and identifiers named in the "
            "sources, each with the number of the source it appears in.",
            group,
            target=schema,
        )
        data = generate_structured(engine, schema, messages, **kwargs).data
        for item in data["entities"]:
            passage = group[item["source"] - 1]
            text = item["text"].strip()
            grounded = bool(text) and text.lower() in passage.text.lower()
            entity = Entity(text, item["type"], passage.document, passage.page, grounded)
            found.setdefault((text.lower(), entity.type, entity.document, entity.page), entity)
    return list(found.values())


def _entity_schema(sources: int, max_items: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "maxItems": max_items,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": 80},
                        "type": {"enum": list(ENTITY_TYPES)},
                        "source": {"enum": list(range(1, sources + 1))},
                    },
                    "required": ["text", "type", "source"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["entities"],
        "additionalProperties": False,
    }


def fill_form(
    engine: Engine, schema: Any, passages: Sequence[Passage], *, question: str = "",
    **kwargs: Any,
) -> FilledForm:  # fmt: skip
    """Fill the user's object schema from passages, citing per field the passage used.

    The model answers ``{"values": <the form>, "citations": {field: source number}}``; the
    values are validated against the user's schema like any other result.

    Raises:
        SchemaError: the schema is not an object schema with ``properties``.
        OutputValidationError, UnsupportedSchemaError, GenerationError: as for ``extract``.
    """
    form = load_schema(schema).document
    fields = form.get("properties")
    if form.get("type") not in ("object", None) or not isinstance(fields, Mapping) or not fields:
        raise SchemaError("A form schema must be an object schema with 'properties'.")
    if not passages:
        raise GrammarError("There are no passages to fill the form from.")
    wrapped = _citing_schema(form, list(fields), len(passages))
    prompt = question or "Fill in the form from the sources."
    messages = build_messages(
        f"{prompt} For each field give the number of the source you took it from.",
        passages,
        target=wrapped,
    )
    data = generate_structured(engine, wrapped, messages, **kwargs).data
    citations = {}
    for name, number in data["citations"].items():
        passage = passages[number - 1]
        citations[name] = Citation(number, passage.document, passage.page, passage.text)
    return FilledForm(values=data["values"], citations=citations)


def _citing_schema(form: Mapping[str, Any], fields: list[str], sources: int) -> dict[str, Any]:
    values = _rebase_refs(copy.deepcopy(dict(form)), "#/properties/values")
    values.pop("$schema", None)
    # A form has exactly its fields; without this a small model invents extra keys.
    values.setdefault("additionalProperties", False)
    return {
        "type": "object",
        "properties": {
            "values": values,
            "citations": {
                "type": "object",
                "properties": {f: {"enum": list(range(1, sources + 1))} for f in fields},
                "required": [f for f in fields if f in form.get("required", ())],
                "additionalProperties": False,
            },
        },
        "required": ["values", "citations"],
        "additionalProperties": False,
    }


def _rebase_refs(node: Any, base: str) -> Any:
    """Point the form's local ``$ref`` values at its new place inside the wrapper."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                node[key] = base + value[1:]
            else:
                _rebase_refs(value, base)
    elif isinstance(node, list):
        for item in node:
            _rebase_refs(item, base)
    return node


def classify(
    engine: Engine, passages: Sequence[Passage], labels: Sequence[str], **kwargs: Any
) -> Classification:
    """Choose one of ``labels`` for the passages, with a short justification.

    Raises:
        SchemaError: fewer than two labels.
    """
    unique = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    if len(unique) < 2:
        raise SchemaError("Classification needs at least two distinct labels.")
    schema = {
        "type": "object",
        "properties": {
            "label": {"enum": unique},
            "justification": {"type": "string", "minLength": 1, "maxLength": 300},
        },
        "required": ["label", "justification"],
        "additionalProperties": False,
    }
    options = kwargs.get("options")
    max_tokens = options.max_tokens if options is not None else 512
    group = next(batches(engine, passages, budget=_budget(engine, max_tokens)), [])
    messages = build_messages(
        f"Classify the document as one of: {', '.join(unique)}. Justify briefly.",
        group,
        target=schema,
    )
    data = generate_structured(engine, schema, messages, **kwargs).data
    return Classification(data["label"], data["justification"])
