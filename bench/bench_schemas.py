"""Benchmark: how many real-world schemas produce a valid record, the way ``extract`` runs them.

Runs a fixed sample of 100 SchemaStore schemas (``tests/grammar/schemas/schemastore-sample``;
the sample rule and the upstream commit are in that folder's ATTRIBUTION.md) through the
product's own path: the keyword audit, the llguidance grammar, the token budget fitted to the
schema, generation with one retry, and validation with ``jsonschema``. For each schema the
outcome is **valid** (a record that validates), **refused** before generating (a keyword the
engine can neither enforce nor validate, named with its path), or **failed** (the output did not
validate after the retry, or the schema's answer cannot fit the context). The reference is the
same prompt decoded without a grammar, in the same run, for the speed ratio.

Usage: ``PYTHONPATH=. .venv/bin/python bench/bench_schemas.py [--model GGUF] [--limit N]
[--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.base import GenerationStats
from assistant.engine.llama import LlamaEngine
from assistant.errors import (
    AssistantError,
    OutputValidationError,
    SchemaError,
    UnsupportedSchemaError,
)
from assistant.grammar import GrammarCompiler, build_messages, generate_structured, load_schema
from assistant.grammar.extract import DEFAULT_OPTIONS
from bench.common import add_json_option, load_averages, median, report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "grammar" / "schemas" / "schemastore-sample"
PROMPT = "Write a short example of this configuration file as JSON."


def run(engine: LlamaEngine, files: list[Path]) -> dict[str, Any]:
    compiler = GrammarCompiler()
    options = replace(DEFAULT_OPTIONS, temperature=0.0)
    outcomes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    seconds: list[float] = []
    constrained: list[float] = []
    free: list[float] = []
    for done, path in enumerate(files, 1):
        name = path.stem
        print(f"  {done}/{len(files)} {name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            schema = load_schema(json.loads(path.read_text(encoding="utf-8")), name=name)
            messages = build_messages(PROMPT, target=schema)
            result = generate_structured(engine, schema, messages, options=options,
                                         compiler=compiler)  # fmt: skip
        except (SchemaError, UnsupportedSchemaError) as exc:
            outcomes[name], reasons[name] = "refused", str(exc)[:200]
            continue
        except OutputValidationError as exc:
            outcomes[name], reasons[name] = "failed", exc.message[:200]
            continue
        except AssistantError as exc:
            outcomes[name], reasons[name] = "failed", str(exc)[:200]
            continue
        finally:
            seconds.append(time.perf_counter() - started)
        outcomes[name] = "valid"
        if result.stats.completion_tokens >= 8:
            stats = GenerationStats()
            plain = replace(options, max_tokens=result.stats.completion_tokens)
            for _ in engine.stream(messages, plain, stats=stats):
                pass
            constrained.append(result.stats.tokens_per_second)
            free.append(stats.tokens_per_second)
    counts = {kind: sum(1 for o in outcomes.values() if o == kind)
              for kind in ("valid", "refused", "failed")}  # fmt: skip
    return {
        "model": engine.info.name,
        "schemas": len(files),
        **counts,
        "valid_rate": round(counts["valid"] / len(files), 3) if files else None,
        "valid_of_accepted": round(counts["valid"] / (len(files) - counts["refused"]), 3)
        if len(files) > counts["refused"]
        else None,
        "seconds_median": round(median(seconds), 2),
        "speed_ratio": round(median(constrained) / median(free), 3) if free else None,
        "not_valid": {name: f"{outcomes[name]}: {reasons[name]}" for name in reasons},
        "load": load_averages(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--threads", type=int, default=0, help="0: one per physical core")
    parser.add_argument("--limit", type=int, default=0, help="first N schemas only")
    add_json_option(parser)
    args = parser.parse_args()
    files = sorted(SAMPLE.glob("*.json"))
    files = files[: args.limit] if args.limit else files
    engine = LlamaEngine.load(args.model, context_size=4096, threads=args.threads)
    try:
        result = run(engine, files)
    finally:
        engine.close()
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
