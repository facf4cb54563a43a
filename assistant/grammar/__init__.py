"""Structured output: JSON Schema, pydantic and GBNF constraints that always validate.

Owns schema loading and hashing (:mod:`.schema`), the keyword policy per constraint engine
(:mod:`.keywords`), compilation to engine constraints with a cache (:mod:`.compile`), generation
with validation and one retry (:mod:`.extract`), the token budget a schema needs (:mod:`.budget`),
grounded extraction that copies values from the sources (:mod:`.grounding`), and the document
tasks (:mod:`.tasks`).

It must not import ``llama_cpp`` (the GBNF converter is reached through
:mod:`assistant.engine.llama_grammar`) nor any GUI code.
"""

from __future__ import annotations

from assistant.grammar.compile import DEFAULT_BACKEND, CompiledGrammar, GrammarCompiler
from assistant.grammar.extract import (
    Gbnf,
    Passage,
    StructuredResult,
    build_messages,
    extract,
    generate_structured,
)
from assistant.grammar.grounding import (
    Evidence,
    GroundedForm,
    evidence_report,
    fill_grounded,
    form_grammar,
)
from assistant.grammar.keywords import Audit, Backend, audit
from assistant.grammar.schema import Schema, load_schema
from assistant.grammar.tasks import (
    Classification,
    Entity,
    FilledForm,
    classify,
    extract_entities,
    fill_form,
    passages_from_text,
)

__all__ = [
    "DEFAULT_BACKEND",
    "Audit",
    "Backend",
    "Classification",
    "CompiledGrammar",
    "Entity",
    "Evidence",
    "FilledForm",
    "Gbnf",
    "GroundedForm",
    "GrammarCompiler",
    "Passage",
    "Schema",
    "StructuredResult",
    "audit",
    "build_messages",
    "evidence_report",
    "classify",
    "extract",
    "extract_entities",
    "fill_form",
    "fill_grounded",
    "form_grammar",
    "generate_structured",
    "load_schema",
    "passages_from_text",
]
