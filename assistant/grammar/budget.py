"""The token budget of a structured answer, estimated from its schema.

A fixed ``max_tokens`` is wrong both ways: a schema with twenty required fields and long strings
is cut off at 512 tokens and fails, however often it is retried with the same budget, while a
one-field schema never needs more than a few dozen. :func:`estimate_tokens` reads the bounds a
schema gives (``maxItems``, ``maxLength``, its required properties, enum labels) and
:func:`fit_budget` raises the budget to fit the estimate, as far as the context window allows,
or says before generating that the answer cannot fit.

The estimate is deliberately generous (about three characters per token, a margin for keys and
punctuation): being cut off costs a whole retry, and a budget larger than needed costs nothing,
since generation ends where the grammar does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from assistant.engine.base import ChatMessage, Engine, GenerationOptions
from assistant.errors import ContextOverflowError
from assistant.grammar.schema import Schema

CHARS_PER_TOKEN = 3
#: A string with no ``maxLength``: what a field of a form usually holds.
STRING_TOKENS = 48
#: An array with no ``maxItems`` is counted as this many items.
ARRAY_ITEMS = 8
#: Values nested deeper than this are counted as a plain string.
MAX_DEPTH = 8
#: A schema whose size cannot be bounded gets this many tokens (the engine's answer may be long).
UNBOUNDED = 2048
#: Never ask for fewer than this: a tiny schema still needs room to close its brackets.
MIN_TOKENS = 64
#: Room kept for the prompt's chat template and the answer's end-of-turn tokens.
TEMPLATE_MARGIN = 16


def estimate_tokens(schema: Schema | Mapping[str, Any], *, grounded: bool = False) -> int:
    """Roughly how many tokens a valid answer of ``schema`` can take, at most.

    Args:
        schema: the schema.
        grounded: strings are copied spans (:mod:`.grounding`), at most
            :data:`~assistant.grammar.grounding.MAX_SPAN_CHARS` characters each.
    """
    document = schema.document if isinstance(schema, Schema) else dict(schema)
    return max(MIN_TOKENS, _tokens(document, document, 0, grounded))


def _tokens(root: Mapping[str, Any], node: Any, depth: int, grounded: bool) -> int:
    if not isinstance(node, Mapping) or depth > MAX_DEPTH:
        return STRING_TOKENS
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return _tokens(root, target, depth + 1, grounded)
    if "enum" in node and isinstance(node["enum"], list) and node["enum"]:
        return 2 + max(len(json.dumps(v)) for v in node["enum"]) // CHARS_PER_TOKEN
    if "const" in node:
        return 2 + len(json.dumps(node["const"])) // CHARS_PER_TOKEN
    for union in ("anyOf", "oneOf"):
        options = node.get(union)
        if isinstance(options, list) and options:
            return max(_tokens(root, option, depth + 1, grounded) for option in options)
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind == "object" or "properties" in node:
        properties = node.get("properties") or {}
        total = 2
        for name, child in properties.items():
            total += 3 + len(name) // CHARS_PER_TOKEN + _tokens(root, child, depth + 1, grounded)
        if not properties and node.get("additionalProperties", True) is not False:
            total += STRING_TOKENS * 2  # free-form keys: a few of them
        return total
    if kind == "array":
        count = int(node.get("maxItems", max(ARRAY_ITEMS, int(node.get("minItems", 0)))))
        item = _tokens(root, node.get("items", {}), depth + 1, grounded)
        return 2 + count * (item + 1)
    if kind in ("number", "integer"):
        return 8
    if kind == "boolean" or kind == "null":
        return 2
    if kind == "string":
        if node.get("format") in ("date", "time", "date-time", "uuid", "email"):
            return 16
        longest = node.get("maxLength")
        if isinstance(longest, int):
            return 2 + longest // CHARS_PER_TOKEN + 1
        if grounded:
            from assistant.grammar.grounding import MAX_SPAN_CHARS

            return 2 + MAX_SPAN_CHARS // CHARS_PER_TOKEN
        return STRING_TOKENS
    return STRING_TOKENS


def fit_budget(
    engine: Engine,
    schema: Schema,
    messages: Sequence[ChatMessage],
    options: GenerationOptions,
    *,
    grounded: bool = False,
) -> GenerationOptions:
    """``options`` with ``max_tokens`` raised to what ``schema`` needs, within the context.

    The budget is never lowered: a caller's larger ``max_tokens`` stands.

    Raises:
        ContextOverflowError: the prompt and the smallest answer the schema needs do not fit
            the context window together (said before generating anything).
    """
    needed = estimate_tokens(schema, grounded=grounded)
    prompt = _prompt_tokens(engine, messages)
    room = engine.context_size - prompt - TEMPLATE_MARGIN
    if room < min(needed, options.max_tokens, MIN_TOKENS * 2):
        raise ContextOverflowError(
            f"The request takes {prompt} tokens of the model's {engine.context_size}-token "
            f"context, leaving {max(room, 0)} for an answer that needs about {needed}; give "
            "fewer passages (--top-k) or a shorter schema."
        )
    return replace(options, max_tokens=max(options.max_tokens, min(needed, room)))


def _prompt_tokens(engine: Engine, messages: Sequence[ChatMessage]) -> int:
    return engine.count_tokens(engine.render_chat(messages))
