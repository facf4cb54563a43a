"""The ``extract`` command: structured output from the command line.

``assistant extract --schema schema.json [--doc FILE | --collection NAME] [--question TEXT]
[--out result.json] [--free]`` fills the schema. From a document or collection it is grounded
by default: every string value is copied from a passage and reported with its evidence
(source, document, page, span), and a field the passages do not state is left empty rather than
made up (``--free`` lets the model write values, each cited by source number). ``--gbnf
grammar.gbnf`` constrains to a raw grammar, ``--entities`` and ``--classify LABEL,...`` run the
built-in tasks. The result is validated before it is written; when it cannot be made valid, or
the documents do not state a required field, the command says so (with ``--json``, as a JSON
error holding the model's last output) and exits 5.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, MissingEvidenceError, OutputValidationError

if TYPE_CHECKING:
    from assistant.grammar import Passage

#: The constraint engines (``assistant.grammar.Backend`` values), listed here so that building
#: the parser does not import the grammar package and jsonschema (over a second at start-up).
BACKENDS = ("llguidance", "gbnf")

_MAX_DOC_BYTES = 20 * 1024 * 1024


def register(subparsers: Any, build_app: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``extract`` to the ``assistant`` parser."""
    sub = subparsers.add_parser(
        "extract", help="structured output: JSON that validates against a schema or a grammar"
    )
    what = sub.add_mutually_exclusive_group(required=True)
    what.add_argument("--schema", metavar="FILE", help="JSON Schema to fill (draft 2020-12/07)")
    what.add_argument("--gbnf", metavar="FILE", help="raw GBNF grammar (start rule 'root')")
    what.add_argument("--entities", action="store_true", help="people, places, dates ... by page")
    what.add_argument("--classify", metavar="LABELS", help="comma-separated labels to choose from")
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--doc", metavar="FILE", help="a plain-text or Markdown document")
    source.add_argument("--collection", metavar="NAME", help="search this imported collection")
    sub.add_argument("--question", metavar="TEXT", help="what to extract, or the request itself")
    sub.add_argument("--out", metavar="FILE", help="write the validated result here")
    sub.add_argument("--json", action="store_true", help="print a report with the evidence")
    sub.add_argument(
        "--free",
        action="store_true",
        help="let the model write values instead of copying them from the documents",
    )
    sub.add_argument("--backend", choices=BACKENDS, help="constraint engine")
    sub.add_argument("--top-k", type=int, default=4, dest="top_k", help="passages to retrieve")
    sub.add_argument("--max-tokens", type=int, dest="max_tokens")
    sub.add_argument("--seed", type=int)
    sub.set_defaults(handler=lambda args: cmd_extract(args, build_app))


def cmd_extract(args: argparse.Namespace, build_app: Callable[[argparse.Namespace], Any]) -> int:
    try:
        return _extract(args, build_app)
    except (OutputValidationError, MissingEvidenceError) as exc:
        if args.json:  # a script reading stdout gets the failure as JSON too
            failure: dict[str, Any] = {"valid": False, "error": str(exc), "output": exc.output}
            if isinstance(exc, MissingEvidenceError):
                failure["missing"] = list(exc.fields)
                failure["partial"] = exc.partial
            json.dump(failure, sys.stdout, indent=2, ensure_ascii=False, default=str)
            sys.stdout.write("\n")
        raise


def _extract(args: argparse.Namespace, build_app: Callable[[argparse.Namespace], Any]) -> int:
    from assistant.grammar import (
        Backend,
        Gbnf,
        build_messages,
        classify,
        evidence_report,
        extract_entities,
        fill_form,
        fill_grounded,
        generate_structured,
        load_schema,
    )
    from assistant.grammar.extract import DEFAULT_OPTIONS

    app = build_app(args)
    options = replace(
        DEFAULT_OPTIONS,
        **{k: getattr(args, k) for k in ("max_tokens", "seed") if getattr(args, k) is not None},
    )
    backend = Backend(args.backend) if args.backend else None
    compiler = app.grammar_compiler
    common: dict[str, Any] = {"options": options, "backend": backend, "compiler": compiler}
    schema = load_schema(Path(args.schema)) if args.schema else None  # fail before loading a model
    question = args.question or ""
    passages = _passages(args, app, question)
    engine = app.engine
    report: dict[str, Any]
    if args.entities:
        entities = extract_entities(engine, _need(passages, "--entities"), **common)
        result: Any = [asdict(e) for e in entities]
        report = {"result": result}
    elif args.classify:
        labels = args.classify.split(",")
        found = classify(engine, _need(passages, "--classify"), labels, **common)
        result = asdict(found)
        report = {"result": result}
    elif schema is not None and passages and not args.free:
        grounded = fill_grounded(engine, schema, passages, question=question, **common)
        if not grounded.complete:
            raise MissingEvidenceError(grounded.missing, grounded.values, grounded.text)
        result = grounded.values
        report = {"result": result, "evidence": evidence_report(grounded.evidence),
                  "absent": list(grounded.absent),
                  "unsupported": list(grounded.unsupported)}  # fmt: skip
    elif schema is not None and passages:
        form = fill_form(engine, schema, passages, question=question, **common)
        result = form.values
        report = {"result": result,
                  "citations": {k: asdict(c) for k, c in form.citations.items()}}  # fmt: skip
    else:
        target: Any = schema if schema is not None else Gbnf(_read(Path(args.gbnf), "grammar"))
        if not question:
            raise AssistantError("Give --question TEXT, or a source with --doc or --collection.")
        messages = build_messages(question, target=target)
        structured = generate_structured(engine, target, messages, **common)
        result = structured.value
        report = {"result": result, "attempts": structured.attempts,
                  "backend": structured.backend, "notes": list(structured.notes)}  # fmt: skip
    # Everything but a raw GBNF grammar's output is JSON, a string root included ("..."), so a
    # file written here parses and validates when read back.
    is_json = schema is not None or args.entities or args.classify
    text = json.dumps(result, indent=2, ensure_ascii=False) if is_json else str(result)
    if args.out:
        _write_checked(Path(args.out), text, schema if is_json else None, as_json=bool(is_json))
        print(f"valid: wrote {args.out}", file=sys.stderr)
    if args.json:
        report["valid"] = True
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    elif not args.out:
        print(text)
    for name, cite in report.get("citations", {}).items():
        page = f", page {cite['page']}" if cite["page"] is not None else ""
        print(f"  {name}: source [{cite['source']}] {cite['document']}{page}", file=sys.stderr)
    for name, found in report.get("evidence", {}).items():
        page = f", page {found['page']}" if found["page"] is not None else ""
        print(f'  {name}: "{found["span"]}" ({found["document"]}{page})', file=sys.stderr)
    for name in report.get("absent", []):
        print(f"  {name}: not in the documents (left empty)", file=sys.stderr)
    for name in report.get("unsupported", []):
        print(f"  {name}: no passage shows this value; check it", file=sys.stderr)
    return 0


def _write_checked(path: Path, text: str, schema: Any, *, as_json: bool) -> None:
    """Write the result, read it back, and check it parses and validates from disk.

    Raises:
        AssistantError: it cannot be written, or does not read back valid (the file is removed).
    """
    try:
        path.write_text(text + "\n", encoding="utf-8")
        back = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AssistantError(f"Could not write {path}: {exc.strerror or exc}.") from exc
    if not as_json:
        return
    try:
        errors = schema.validation_errors(json.loads(back)) if schema is not None else []
    except ValueError as exc:
        errors = [f"not JSON ({exc})"]
    if errors:
        path.unlink(missing_ok=True)
        raise AssistantError(
            f"The result written to {path} did not read back valid ({'; '.join(errors[:3])}); "
            "the file was removed."
        )


def _passages(args: argparse.Namespace, app: Any, question: str) -> list[Passage]:
    from assistant.grammar import Passage

    if args.doc:
        return _document_passages(Path(args.doc), app)
    if args.collection:
        query = question or "names, dates, organizations, identifiers"
        hits = app.knowledge.search(query, collection=args.collection, top_k=args.top_k)
        return [Passage(h.text, h.document_name, h.page) for h in hits]
    return []


def _document_passages(path: Path, app: Any) -> list[Passage]:
    from assistant.grammar.documents import document_passages

    return document_passages(path, app.knowledge.settings)


def _need(passages: list[Passage], option: str) -> list[Passage]:
    if not passages:
        raise AssistantError(f"{option} needs a source: --doc FILE or --collection NAME.")
    return passages


def _read(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > _MAX_DOC_BYTES:
            raise AssistantError(f"The {what} {path} is larger than 20 MB; split it first.")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AssistantError(f"Could not read the {what} {path}: {exc}") from exc
