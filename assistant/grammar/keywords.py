"""Which schema keywords each constraint engine enforces, and the audit that walks a schema.

Every keyword in a schema ends up in exactly one of four places, so none is silently ignored:

- **grammar**: the constraint engine enforces it token by token;
- **validation**: the grammar cannot express it, but it only narrows a value whose shape the
  grammar already fixes (a number's bounds, unique items, a format), so ``jsonschema`` checks it
  after generation and a failure is retried once;
- **annotation**: it constrains nothing (``title``, ``description``, ``examples``, unknown
  ``x-`` keywords, which JSON Schema itself ignores, and ``format`` values no one can check,
  which draft 2020-12 treats as annotations);
- **refused**: it changes which shapes are valid in a way the grammar cannot follow (``not``,
  ``if``/``then``/``else``, ``unevaluatedProperties``, a remote ``$ref`` ...): a grammar would
  steer the model to output the schema rejects, so :func:`audit` raises
  :class:`~assistant.errors.UnsupportedSchemaError` naming the keyword and its JSON path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from assistant.errors import UnsupportedSchemaError
from assistant.grammar.schema import FORMAT_CHECKER


class Backend(enum.StrEnum):
    """A constraint engine."""

    LLGUIDANCE = "llguidance"  # token masks computed by llguidance (Rust), a logits processor
    GBNF = "gbnf"  # llama.cpp's GBNF sampler, from llama-cpp-python's schema converter


ANNOTATIONS = frozenset(
    "$schema $id $comment $anchor $dynamicAnchor $vocabulary title description default examples "
    "deprecated readOnly writeOnly contentMediaType contentEncoding contentSchema "
    "discriminator nullable".split()
)
# Containers walked into; $defs themselves constrain nothing until referenced.
_DEFINITIONS = frozenset({"$defs", "definitions"})

_COMMON_GRAMMAR = frozenset(
    "type properties required additionalProperties items prefixItems minItems maxItems enum "
    "const $ref anyOf oneOf allOf pattern minLength maxLength".split()
)
GRAMMAR: Mapping[Backend, frozenset[str]] = {
    Backend.GBNF: _COMMON_GRAMMAR | {"additionalItems"},
    Backend.LLGUIDANCE: _COMMON_GRAMMAR
    | frozenset(
        "additionalItems minimum maximum exclusiveMinimum exclusiveMaximum multipleOf "
        "minProperties maxProperties patternProperties".split()
    ),
}
FORMATS: Mapping[Backend, frozenset[str]] = {
    Backend.GBNF: frozenset("date time date-time uuid".split()),
    Backend.LLGUIDANCE: frozenset(
        "date time date-time uuid email hostname ipv4 ipv6 uri duration".split()
    ),
}
VALIDATION = frozenset(
    "minimum maximum exclusiveMinimum exclusiveMaximum multipleOf uniqueItems minProperties "
    "maxProperties dependentRequired dependencies contains minContains maxContains".split()
)
REFUSED: Mapping[str, str] = {
    "not": "a grammar cannot exclude the shapes a 'not' schema describes.",
    "if": "conditional schemas (if/then/else) cannot be enforced by a grammar.",
    "then": "conditional schemas (if/then/else) cannot be enforced by a grammar.",
    "else": "conditional schemas (if/then/else) cannot be enforced by a grammar.",
    "dependentSchemas": "schemas that depend on a property's presence cannot be enforced.",
    "unevaluatedProperties": "it depends on what other subschemas evaluated, which a grammar "
    "cannot track.",
    "unevaluatedItems": "it depends on what other subschemas evaluated, which a grammar "
    "cannot track.",
    "propertyNames": "a grammar cannot constrain property names by a schema.",
    "patternProperties": "this constraint engine cannot generate properties by name pattern; "
    "the llguidance engine can.",
    "$dynamicRef": "dynamic references are not supported.",
    "$recursiveRef": "dynamic references are not supported.",
}
_SUBSCHEMA = ("additionalProperties", "items", "additionalItems", "contains", "not", "if",
              "then", "else", "propertyNames", "unevaluatedProperties",
              "unevaluatedItems")  # fmt: skip
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


@dataclass(frozen=True)
class KeywordUse:
    """One keyword at one place in a schema."""

    keyword: str
    path: str

    def __str__(self) -> str:
        return f"{self.keyword} at {self.path}"


@dataclass(frozen=True)
class Audit:
    """What :func:`audit` found: keywords left to validation and keywords that are annotations."""

    backend: Backend
    validation_only: tuple[KeywordUse, ...] = ()
    annotations: tuple[KeywordUse, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        if not self.validation_only:
            return ()
        listed = ", ".join(str(u) for u in self.validation_only[:8])
        more = len(self.validation_only) - 8
        tail = f" and {more} more" if more > 0 else ""
        return (f"Checked by validation after generation, not by the grammar: {listed}{tail}.",)


def audit(document: Mapping[str, Any], backend: Backend) -> Audit:
    """Classify every keyword of ``document`` for ``backend``.

    Raises:
        UnsupportedSchemaError: a refused keyword or an unresolvable ``$ref``, with its path.
    """
    enforced = GRAMMAR[backend]
    formats = FORMATS[backend]
    validation: list[KeywordUse] = []
    annotations: list[KeywordUse] = []
    for node, path in _walk(document, "#"):
        for keyword, value in node.items():
            where = f"{path}/{_escape(keyword)}"
            if keyword == "$ref":
                _check_ref(value, where)
            elif keyword == "format":
                if value in formats:
                    continue
                bucket = validation if value in FORMAT_CHECKER.checkers else annotations
                bucket.append(KeywordUse(f"format: {value}", where))
            elif keyword in enforced or keyword in _DEFINITIONS:
                continue
            elif keyword in REFUSED:
                raise UnsupportedSchemaError(keyword, where, REFUSED[keyword])
            elif keyword in VALIDATION:
                validation.append(KeywordUse(keyword, where))
            else:
                annotations.append(KeywordUse(keyword, where))
    return Audit(backend, tuple(validation), tuple(annotations))


def _check_ref(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.startswith("#"):
        raise UnsupportedSchemaError(
            "$ref",
            where,
            f"{value!r} is not a reference inside this schema, and Enclave never fetches "
            "schemas (it runs offline); inline the referenced schema under $defs.",
        )


def _walk(node: Any, path: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every schema object under ``node`` (booleans are schemas too, but hold no keywords)."""
    if not isinstance(node, Mapping):
        return
    yield node, path
    for key in _SUBSCHEMA:
        if key in node:
            child = node[key]
            if isinstance(child, list):  # draft-07 tuple form of items
                for i, item in enumerate(child):
                    yield from _walk(item, f"{path}/{key}/{i}")
            else:
                yield from _walk(child, f"{path}/{key}")
    for key in _SUBSCHEMA_LISTS:
        for i, item in enumerate(node.get(key) or ()):
            yield from _walk(item, f"{path}/{key}/{i}")
    for key in _SUBSCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, Mapping):
            for name, child in children.items():
                yield from _walk(child, f"{path}/{key}/{_escape(name)}")


def _escape(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")
