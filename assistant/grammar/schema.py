"""Schemas as Enclave holds them: loading, hashing and validating JSON Schema documents.

A :class:`Schema` is an immutable JSON Schema (draft 2020-12 or draft-07) with its digest, which
keys every cache of compiled grammars. It comes from a dict, JSON text, a file or a pydantic model
class (:func:`load_schema`). :meth:`Schema.validate` checks a value with ``jsonschema`` under a
registry that holds only the schema itself, so a ``$ref`` can never reach for the network.

Imports no engine and no ``llama_cpp``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]
from jsonschema.protocols import Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from assistant.errors import SchemaError

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")


def _format_checker() -> jsonschema.FormatChecker:
    """The stock checker plus the formats whose checkers need optional packages we do not ship."""
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        _dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        return True

    @checker.checks("time", raises=ValueError)  # type: ignore[untyped-decorator]
    def _time(value: object) -> bool:
        # RFC 3339 full-time; without the optional rfc3339 package jsonschema only knows
        # draft-3's "HH:MM:SS" and rejects "09:30:00Z". A missing offset is accepted too.
        if not isinstance(value, str):
            return True
        if not _TIME.match(value):
            return False
        _dt.time.fromisoformat(value[:8])
        return True

    @checker.checks("uri")  # type: ignore[untyped-decorator]
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and " " not in value

    return checker


FORMAT_CHECKER = _format_checker()


@dataclass(frozen=True)
class Schema:
    """A JSON Schema and what was derived from it.

    Attributes:
        document: the schema as plain JSON data.
        digest: SHA-256 of its canonical JSON; the key of compiled-grammar caches.
        model: the pydantic model class it came from, if any; results are parsed into it.
        name: a short label for messages (the file or model name).
    """

    document: Mapping[str, Any]
    digest: str
    model: type[Any] | None = None
    name: str = "schema"
    _validator: Validator | None = field(default=None, compare=False, repr=False)

    def validation_errors(self, value: Any) -> list[str]:
        """Every way ``value`` fails the schema, as ``"at PATH: message"`` lines (empty: valid)."""
        assert self._validator is not None
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"at {_pointer(e.absolute_path)}: {e.message}" for e in errors]

    def coerce(self, value: Any) -> Any:
        """The validated value as the caller wants it: a pydantic instance when built from one."""
        if self.model is None:
            return value
        return self.model.model_validate(value)


def canonical_digest(document: Any) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``document``."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_schema(source: Any, *, name: str | None = None) -> Schema:
    """Build a :class:`Schema` from a dict, JSON text, a ``.json`` file or a pydantic model class.

    Args:
        source: the schema.
        name: a label for messages; defaults to the file or model name.

    Raises:
        SchemaError: the source cannot be read or parsed, or is not a valid JSON Schema.
    """
    if isinstance(source, Schema):
        return source
    model: type[Any] | None = None
    if isinstance(source, type) and hasattr(source, "model_json_schema"):
        model = source
        document: Any = source.model_json_schema()
        name = name or source.__name__
    elif isinstance(source, Path):
        try:
            document = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SchemaError(f"Could not read the schema file {source}: {exc}") from exc
        name = name or source.name
    elif isinstance(source, str):
        try:
            document = json.loads(source)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}") from exc
    elif isinstance(source, Mapping):
        document = json.loads(json.dumps(source))  # a private deep copy of plain JSON data
    else:
        raise SchemaError(
            f"A schema must be a dict, JSON text, a file path or a pydantic model class, "
            f"not {type(source).__name__}."
        )
    if not isinstance(document, dict):
        raise SchemaError("A JSON Schema must be a JSON object at the top level.")
    validator = _validator_for(document, name or "schema")
    return Schema(
        document=document,
        digest=canonical_digest(document),
        model=model,
        name=name or "schema",
        _validator=validator,
    )


def _validator_for(document: dict[str, Any], name: str) -> Validator:
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(document)
    except jsonschema.SchemaError as exc:
        where = _pointer(exc.absolute_path)
        raise SchemaError(
            f"{name} is not a valid JSON Schema: {exc.message} (at {where})."
        ) from exc
    # Only the schema itself is resolvable: no retrieval of remote references, ever.
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(document.get("$id", ""), resource)
    return cls(document, registry=registry, format_checker=FORMAT_CHECKER)


def _pointer(path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "#/" + "/".join(parts) if parts else "#"
