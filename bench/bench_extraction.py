"""Extraction accuracy, grounded against free, on the shipped extraction gold set.

Twelve documents (invoices, incident reports, letters, access-request forms; PDF, DOCX and text)
are read by the import loaders and filled into their schema by the model, as ``assistant extract
--doc`` does: grounded (values copied from the passages under the grammar) and free (values
written by the model, each cited by source number). For each mode: field accuracy (right value
on the right page), value accuracy, evidence accuracy, values invented for fields the document
does not state, and the share of shown spans that are exact substrings of their passage
(:mod:`assistant.evaluation.extraction`).

The speed check decodes the same grounded prompts with and without the grammar (greedy, same
budget) and reports constrained tokens/s over unconstrained tokens/s, both measured in this run.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_extraction.py [--model GGUF] [--mode grounded
       free] [--limit N] [--threads 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.app import knowledge_settings
from assistant.config import Settings, default_model_path
from assistant.engine.base import GenerationOptions, GenerationStats
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.extraction import DOCUMENTS, FREE, GROUNDED, load_gold, run_gold
from assistant.grammar.documents import document_passages
from assistant.grammar.extract import DEFAULT_OPTIONS
from assistant.grammar.grounding import grounded_request
from assistant.grammar.schema import load_schema
from bench.common import add_json_option, load_averages, median, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the default model")
    parser.add_argument("--mode", nargs="+", default=[GROUNDED, FREE], choices=[GROUNDED, FREE])
    parser.add_argument("--threads", type=int, default=0, help="0: one per physical core")
    parser.add_argument("--limit", type=int, default=0, help="first N documents only")
    parser.add_argument("--speed", type=int, default=4, help="documents in the speed check")
    parser.add_argument("--items", action="store_true", help="keep every field's check")
    add_json_option(parser)
    args = parser.parse_args()

    model = args.model or default_model_path()
    gold = load_gold()
    records = gold[: args.limit] if args.limit else gold
    settings = knowledge_settings(Settings())
    engine = LlamaEngine.load(model, context_size=4096, threads=args.threads)
    options = replace(DEFAULT_OPTIONS, temperature=0.0)
    runs: list[dict[str, Any]] = []
    for mode in args.mode:
        started = time.perf_counter()
        run = run_gold(engine, settings, mode=mode, gold=records, options=options,
                       progress=_progress(mode))  # fmt: skip
        summary = {**run.summary(), "seconds": round(time.perf_counter() - started, 1)}
        if args.items:
            summary["checks"] = [asdict(c) for c in run.checks]
        runs.append(summary)
        print(_line(summary), file=sys.stderr, flush=True)
    speed = speed_check(engine, settings, records[: args.speed], options)
    print(f"speed: constrained/unconstrained tokens/s = {speed['ratio']}", file=sys.stderr)
    result = {
        "model": model.name,
        "model_name": engine.info.name,
        "threads": engine.info.threads,
        "documents": len(records),
        "runs": runs,
        "speed": speed,
        "load": load_averages(),
    }
    engine.close()
    report(result, args.json)


def speed_check(
    engine: LlamaEngine, settings: Any, records: list[dict[str, Any]], options: GenerationOptions
) -> dict[str, Any]:
    """Decode tokens/s with the grounded grammar and without it, on the same prompts."""
    constrained: list[float] = []
    free: list[float] = []
    for record in records:
        schema = load_schema(DOCUMENTS / "schemas" / f"{record['schema']}.json")
        passages = document_passages(DOCUMENTS / record["document"], settings)
        messages, run = grounded_request(engine, schema, passages, options=options)
        tokens, rate = _decode(engine, messages, run)
        constrained.append(rate)
        # the same number of tokens without the grammar: the free run stops where it ended
        _, rate = _decode(engine, messages, replace(run, grammar=None, max_tokens=tokens))
        free.append(rate)
    ratio = round(median(constrained) / median(free), 3) if free and median(free) else None
    return {
        "documents": len(records),
        "constrained_tokens_per_second_median": median(constrained),
        "unconstrained_tokens_per_second_median": median(free),
        "ratio": ratio,
    }


def _decode(engine: LlamaEngine, messages: Any, options: GenerationOptions) -> tuple[int, float]:
    stats = GenerationStats()
    for _ in engine.stream(messages, options, stats=stats):
        pass
    return stats.completion_tokens, stats.tokens_per_second


def _progress(label: str) -> Any:
    def show(done: int, total: int, document: str) -> None:
        print(f"  {label}: {done}/{total} {document}", file=sys.stderr, flush=True)

    return show


def _line(run: dict[str, Any]) -> str:
    return (
        f"{run['mode']:9} fields {run['field_accuracy']}  values {run['value_accuracy']}  "
        f"evidence {run['evidence_accuracy']}  invented {run['invented']}/"
        f"{run['absent_fields']}  spans verified {run['spans_verified']}  "
        f"{run['seconds_per_document']} s/document"
    )


if __name__ == "__main__":
    main()
