"""Compiling schemas and raw GBNF into engine constraints, with a cache keyed by schema hash.

:class:`GrammarCompiler` turns a :class:`~assistant.grammar.schema.Schema` (after the keyword
:func:`~assistant.grammar.keywords.audit`) or a GBNF text into a
:class:`~assistant.engine.base.GrammarConstraint` for one of the two constraint engines:

- ``llguidance`` (the default; see docs/structured-output.md for the measurements): the schema
  becomes an llguidance grammar here, and the engine turns it into token masks;
- ``gbnf``: llama-cpp-python's converter writes GBNF (through
  :mod:`assistant.engine.llama_grammar`, the engine boundary), and llama.cpp's GBNF sampler
  enforces it.

The constraint's ``cache_key`` is the schema digest, so the engine compiles each grammar once
per model too. This module imports ``llguidance`` (pure, no model) but never ``llama_cpp``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import llguidance

from assistant.engine.base import GrammarConstraint
from assistant.errors import GrammarError
from assistant.grammar.keywords import GRAMMAR, Audit, Backend, audit
from assistant.grammar.schema import Schema

DEFAULT_BACKEND = Backend.LLGUIDANCE

# Compact JSON with the usual ", " and ": " separators: no free whitespace, so a small model
# cannot wander into endless blank lines, and the separators tokenize the way models learnt them.
_LLG_JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": True,  # keywords it lacks were classified by our audit before we got here
}
_UNIMPLEMENTED = re.compile(r"Unimplemented keys: \[(.*?)\]")


@dataclass(frozen=True)
class CompiledGrammar:
    """A constraint ready for :class:`~assistant.engine.base.GenerationOptions`.

    Attributes:
        backend: the constraint engine it was compiled for.
        constraint: what the engine receives.
        schema: the schema it enforces, ``None`` for raw GBNF.
        audit: the keyword classification, ``None`` for raw GBNF.
        seconds: how long compilation took here (the engine's own compile is extra, once).
    """

    backend: Backend
    constraint: GrammarConstraint
    schema: Schema | None = None
    audit: Audit | None = None
    seconds: float = 0.0

    @property
    def notes(self) -> tuple[str, ...]:
        return self.audit.notes if self.audit is not None else ()


class GrammarCompiler:
    """Compiles schemas and GBNF into constraints and keeps the results by hash.

    Thread-safe; one per application (the composition root owns it) so every caller shares the
    cache.
    """

    def __init__(self, *, backend: Backend = DEFAULT_BACKEND, max_entries: int = 256) -> None:
        self.backend = backend
        self._max = max_entries
        self._cache: OrderedDict[tuple[str, Backend], CompiledGrammar] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def compile_schema(self, schema: Schema, *, backend: Backend | None = None) -> CompiledGrammar:
        """The constraint enforcing ``schema`` with ``backend`` (default: the compiler's).

        Raises:
            UnsupportedSchemaError: a keyword the backend can neither enforce nor validate.
            GrammarError: the backend's compiler refused the schema.
        """
        backend = backend or self.backend
        key = (schema.digest, backend)
        cached = self._get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        found = audit(schema.document, backend)
        if backend is Backend.LLGUIDANCE:
            constraint = _llguidance_schema(schema)
        else:
            constraint = _gbnf_schema(schema)
        compiled = CompiledGrammar(
            backend, constraint, schema, found, time.perf_counter() - started
        )
        return self._put(key, compiled)

    def compile_gbnf(self, gbnf: str, *, backend: Backend | None = None) -> CompiledGrammar:
        """The constraint for a raw GBNF grammar (its start rule is ``root``).

        Raises:
            GrammarError: the grammar cannot be parsed.
        """
        backend = backend or self.backend
        digest = hashlib.sha256(gbnf.encode("utf-8")).hexdigest()
        key = ("gbnf:" + digest, backend)
        cached = self._get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        if backend is Backend.LLGUIDANCE:
            try:
                grammar = llguidance.grammar_from("gbnf", gbnf)
            except ValueError as exc:
                raise GrammarError(f"The GBNF grammar could not be read: {exc}") from exc
            _check_llguidance(grammar, "GBNF grammar")
            constraint = GrammarConstraint(gbnf=gbnf, cache_key=digest, llguidance=grammar)
        else:
            constraint = GrammarConstraint(gbnf=gbnf, cache_key=digest)
        compiled = CompiledGrammar(backend, constraint, seconds=time.perf_counter() - started)
        return self._put(key, compiled)

    def _get(self, key: tuple[str, Backend]) -> CompiledGrammar | None:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self.hits += 1
            return found

    def _put(self, key: tuple[str, Backend], compiled: CompiledGrammar) -> CompiledGrammar:
        with self._lock:
            self.misses += 1
            self._cache[key] = compiled
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return compiled


def _llguidance_schema(schema: Schema) -> GrammarConstraint:
    try:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema.document), defaults=cast(Any, _LLG_JSON_OPTIONS)
        )
    except ValueError as exc:
        raise GrammarError(f"llguidance could not read the schema {schema.name}: {exc}") from exc
    warnings = _check_llguidance(grammar, schema.name)
    # The audit promised these keywords are enforced; if llguidance skipped one, say so.
    for warning in warnings:
        match = _UNIMPLEMENTED.search(warning)
        skipped = set(json.loads(f"[{match.group(1)}]")) if match else set()
        claimed = skipped & GRAMMAR[Backend.LLGUIDANCE]
        if claimed:
            raise GrammarError(
                f"llguidance cannot enforce {', '.join(sorted(claimed))} in {schema.name} as "
                "used there; try the gbnf backend."
            )
    return GrammarConstraint(gbnf="", cache_key=schema.digest, llguidance=grammar)


def _check_llguidance(grammar: str, name: str) -> list[str]:
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise GrammarError(f"llguidance could not compile {name}: {messages[0]}")
    return list(messages)


def _gbnf_schema(schema: Schema) -> GrammarConstraint:
    from assistant.engine.llama_grammar import json_schema_to_gbnf  # the engine boundary

    return GrammarConstraint(gbnf=json_schema_to_gbnf(schema.document), cache_key=schema.digest)
