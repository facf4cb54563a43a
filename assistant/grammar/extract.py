"""Constrained generation that always validates: the one call the rest of Enclave uses.

:func:`extract` takes an engine, a schema (dict, JSON text, file or pydantic class) and a prompt
or passages, and returns a validated object. :func:`generate_structured` does the same work and
returns a :class:`StructuredResult` with the raw text, attempts, backend and timings, for the CLI
and the GUI. Every result is checked with ``jsonschema``; an invalid one is retried once, with
the validation message shown to the model, and then :class:`~assistant.errors.OutputValidationError`
is raised. Invalid output is never returned as success.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    Role,
)
from assistant.errors import OutputValidationError
from assistant.grammar.budget import fit_budget
from assistant.grammar.compile import CompiledGrammar, GrammarCompiler
from assistant.grammar.keywords import Backend
from assistant.grammar.schema import Schema, load_schema

DEFAULT_OPTIONS = GenerationOptions(max_tokens=512, temperature=0.2, seed=42, top_logprobs=0)
SYSTEM_PROMPT = (
    "You extract information and answer only with JSON that follows the given JSON Schema. "
    "Use only facts stated in the sources or the request."
)
_SCHEMA_IN_PROMPT = 1500  # characters; a longer schema is summarised (the grammar has it all)


@dataclass(frozen=True)
class Gbnf:
    """A raw GBNF grammar as an extraction target (start rule ``root``)."""

    text: str


@dataclass(frozen=True)
class Passage:
    """A piece of a document given to a task: its text and where it comes from.

    Attributes:
        text: the passage.
        document: the document's name.
        page: its 1-based page, ``None`` when the format has none.
    """

    text: str
    document: str = ""
    page: int | None = None

    @property
    def label(self) -> str:
        where = f", page {self.page}" if self.page is not None else ""
        return f"{self.document or 'document'}{where}"


@dataclass(frozen=True)
class StructuredResult:
    """A validated result and how it was obtained.

    Attributes:
        value: the result: a pydantic instance when a model was given, else JSON data; for raw
            GBNF, the generated text.
        data: the JSON data (for raw GBNF, the parsed JSON if the text is JSON, else the text).
        text: what the model wrote.
        attempts: 1, or 2 when the first output failed validation.
        backend: the constraint engine used, ``None`` when the engine has no grammar support.
        notes: keywords left to validation, and similar things a user may want to know.
        stats: decoding statistics of the successful attempt.
    """

    value: Any
    data: Any
    text: str
    attempts: int
    backend: Backend | None
    notes: tuple[str, ...] = ()
    stats: GenerationStats = field(default_factory=GenerationStats)


def extract(
    engine: Engine,
    target: Any,
    prompt: str = "",
    *,
    passages: Sequence[Passage] = (),
    **kwargs: Any,
) -> Any:
    """Generate an object that validates against ``target`` and return it.

    Args:
        engine: the loaded model.
        target: a JSON Schema (dict, JSON text, ``Path``), a pydantic model class, a
            :class:`~assistant.grammar.schema.Schema` or a :class:`Gbnf`.
        prompt: what to extract or answer.
        passages: sources to extract from, numbered in the prompt.
        **kwargs: passed to :func:`generate_structured` (``options``, ``backend``, ``compiler``,
            ``system``, ``cancel``, ``retries``).

    Returns:
        The validated value: a pydantic instance for a model class, JSON data for a schema, the
        generated text for a GBNF grammar.

    Raises:
        SchemaError: the schema is not valid JSON Schema.
        UnsupportedSchemaError: a keyword that cannot be enforced (names keyword and path).
        OutputValidationError: the output failed validation twice.
        GenerationError: the engine failed.
    """
    messages = build_messages(prompt, passages, target=target, system=kwargs.pop("system", None))
    return generate_structured(engine, target, messages, **kwargs).value


def build_messages(
    prompt: str,
    passages: Sequence[Passage] = (),
    *,
    target: Any = None,
    system: str | None = None,
) -> list[ChatMessage]:
    """The chat messages for a structured request: the schema, the numbered sources, the task."""
    parts: list[str] = []
    if passages:
        sources = "\n\n".join(f"[{i}] ({p.label})\n{p.text.strip()}" for i, p in
                              enumerate(passages, 1))  # fmt: skip
        parts.append(f"Sources:\n{sources}")
    if prompt:
        parts.append(prompt.strip())
    schema_text = _schema_hint(target)
    if schema_text:
        parts.append(f"Answer with JSON matching this schema:\n{schema_text}")
    return [
        ChatMessage(Role.SYSTEM, system or SYSTEM_PROMPT),
        ChatMessage(Role.USER, "\n\n".join(parts)),
    ]


def generate_structured(
    engine: Engine,
    target: Any,
    messages: Sequence[ChatMessage],
    *,
    options: GenerationOptions | None = None,
    backend: Backend | None = None,
    compiler: GrammarCompiler | None = None,
    cancel: CancelToken | None = None,
    retries: int = 1,
) -> StructuredResult:
    """Generate under a constraint, validate, retry once, and return the result.

    Args:
        engine: the loaded model.
        target: as for :func:`extract`.
        messages: the conversation to answer (see :func:`build_messages`).
        options: decoding options; the grammar field is set here.
        backend: the constraint engine; default the compiler's, falling back to ``gbnf`` for
            engines without llguidance support.
        compiler: a shared :class:`GrammarCompiler` (its cache); a private one otherwise.
        cancel: stops generation.
        retries: further attempts after an invalid output (default 1).

    Raises:
        as :func:`extract`.
    """
    compiler = compiler or GrammarCompiler()
    options = options or DEFAULT_OPTIONS
    compiled = _compile(engine, target, compiler, backend)
    schema = compiled.schema if compiled is not None else _schema_or_none(target)
    if schema is not None:  # the budget the schema needs, or a clear error before generating
        options = fit_budget(engine, schema, messages, options)
    if compiled is not None:
        options = replace(options, grammar=compiled.constraint)
    conversation = list(messages)
    attempts = retries + 1
    problem = ""
    text = ""
    for attempt in range(1, attempts + 1):
        stats = GenerationStats()
        run_options = options if attempt == 1 else _retry_options(options, attempt, problem)
        tokens = engine.stream(conversation, run_options, cancel=cancel, stats=stats)
        text = "".join(token.text for token in tokens).strip()
        if stats.finish_reason is FinishReason.CANCELLED:
            raise OutputValidationError("generation was cancelled", text, attempt)
        data, problem = _check(text, schema, stats, raw_gbnf=isinstance(target, Gbnf))
        if not problem:
            value = text if isinstance(target, Gbnf) else schema.coerce(data) if schema else data
            return StructuredResult(
                value=value,
                data=data,
                text=text,
                attempts=attempt,
                backend=compiled.backend if compiled else None,
                notes=compiled.notes if compiled else (),
                stats=stats,
            )
        # Show the model its mistake: small models often fix a field when told which one.
        conversation = [
            *messages,
            ChatMessage(Role.ASSISTANT, text),
            ChatMessage(
                Role.USER,
                f"That answer is invalid ({problem}). Answer again with corrected JSON only.",
            ),  # fmt: skip
        ]
    raise OutputValidationError(problem, text, attempts)


def _compile(
    engine: Engine, target: Any, compiler: GrammarCompiler, backend: Backend | None
) -> CompiledGrammar | None:
    if isinstance(target, Gbnf):
        if not engine.supports_grammar:
            return None
        return compiler.compile_gbnf(target.text, backend=_backend_for(engine, backend, compiler))
    schema = load_schema(target)
    if not engine.supports_grammar:
        return None
    return compiler.compile_schema(schema, backend=_backend_for(engine, backend, compiler))


def _backend_for(engine: Engine, wanted: Backend | None, compiler: GrammarCompiler) -> Backend:
    backend = wanted or compiler.backend
    if backend is Backend.LLGUIDANCE and not getattr(engine, "supports_llguidance", False):
        return Backend.GBNF
    return backend


def _schema_or_none(target: Any) -> Schema | None:
    return None if isinstance(target, Gbnf) else load_schema(target)


def _retry_options(options: GenerationOptions, attempt: int, problem: str) -> GenerationOptions:
    # A different seed and a little more temperature, so the retry is not the same mistake; an
    # answer cut off gets twice the budget, not the same one again.
    seed = options.seed + attempt if options.seed >= 0 else -1
    retry = replace(options, seed=seed, temperature=max(options.temperature, 0.5))
    if problem.startswith("the output was cut off"):
        retry = replace(retry, max_tokens=options.max_tokens * 2 ** (attempt - 1))
    return retry


def _check(
    text: str, schema: Schema | None, stats: GenerationStats, *, raw_gbnf: bool
) -> tuple[Any, str]:
    """The parsed data and the problem with it ("" when valid)."""
    if stats.finish_reason is FinishReason.LENGTH:
        return None, f"the output was cut off at {stats.completion_tokens} tokens"
    if raw_gbnf and schema is None:
        try:
            return json.loads(text), ""
        except json.JSONDecodeError:
            return text, ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at character {exc.pos}"
    if schema is None:
        return data, ""
    errors = schema.validation_errors(data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return data, errors[0] + more
    return data, ""


def _schema_hint(target: Any) -> str:
    if target is None or isinstance(target, Gbnf):
        return ""
    schema = load_schema(target)
    text = json.dumps(schema.document, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= _SCHEMA_IN_PROMPT:
        return text
    props = schema.document.get("properties")
    if isinstance(props, dict):
        return "an object with the fields " + ", ".join(props)
    return ""
