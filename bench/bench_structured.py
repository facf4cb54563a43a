"""Benchmark: the two constraint engines on the schema corpus of tests/grammar/schemas.

For each engine (llguidance, llama.cpp GBNF) it reports:

- compile rate: the share of schemas that compile (our audit, the schema conversion, and the
  engine's own grammar build: llguidance's matcher, llama.cpp's GBNF parser);
- compile time: schema to engine-ready grammar, median and max, cache cold;
- validity rate: the share of generated outputs that validate with ``jsonschema`` on the first
  attempt (no retry), and how many were cut off by the token limit;
- speed: constrained tokens/s divided by unconstrained tokens/s on the same prompts, with the
  unconstrained reference measured in the same run.

Usage: ``.venv/bin/python bench/bench_structured.py [--max-tokens 160] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - offline before any library import

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import default_model_path  # noqa: E402
from assistant.engine.base import GenerationOptions, GenerationStats  # noqa: E402
from assistant.engine.llama import LlamaEngine  # noqa: E402
from assistant.errors import GrammarError  # noqa: E402
from assistant.grammar import Backend, GrammarCompiler, build_messages, load_schema  # noqa: E402
from assistant.grammar.extract import _check  # noqa: E402

SCHEMAS = ROOT / "tests" / "grammar" / "schemas"
CONFIG_PROMPT = "Write a short example of this configuration file as JSON."


@dataclass
class Tally:
    compiled: int = 0
    refused: list[str] = field(default_factory=list)
    compile_ms: list[float] = field(default_factory=list)
    valid: int = 0
    generated: int = 0
    cut_off: int = 0
    invalid: list[str] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    reference_tps: list[float] = field(default_factory=list)


def corpus() -> list[tuple[str, dict[str, Any], str]]:
    found = [(p.stem, json.loads(p.read_text()), CONFIG_PROMPT)
             for p in sorted((SCHEMAS / "schemastore").glob("*.json"))]  # fmt: skip
    cases = json.loads((SCHEMAS / "keywords" / "cases.json").read_text())
    found += [(c["name"], c["schema"], c["prompt"]) for c in cases]
    return found


def run(engine: LlamaEngine, max_tokens: int) -> dict[str, Any]:
    base = GenerationOptions(max_tokens=max_tokens, temperature=0.0, top_logprobs=0)
    tallies = {backend: Tally() for backend in Backend}
    reference: dict[str, float] = {}
    for name, document, prompt in corpus():
        try:
            schema = load_schema(document, name=name)
        except GrammarError as exc:
            for tally in tallies.values():
                tally.refused.append(f"{name}: {exc}")
            continue
        messages = build_messages(prompt, target=schema)
        stats = GenerationStats()
        list(engine.stream(messages, base, stats=stats))
        reference[name] = stats.tokens_per_second
        for backend, tally in tallies.items():
            compiler = GrammarCompiler(backend=backend)
            started = time.perf_counter()
            try:
                compiled = compiler.compile_schema(schema)
                options = replace(base, grammar=compiled.constraint)
                engine._compile_grammar(options)  # the engine's own build, timed with ours
            except GrammarError as exc:
                tally.refused.append(f"{name}: {str(exc)[:120]}")
                continue
            tally.compiled += 1
            tally.compile_ms.append((time.perf_counter() - started) * 1000)
            stats = GenerationStats()
            text = "".join(t.text for t in engine.stream(messages, options, stats=stats)).strip()
            tally.generated += 1
            _, problem = _check(text, schema, stats, raw_gbnf=False)
            if not problem:
                tally.valid += 1
            elif "cut off" in problem:
                tally.cut_off += 1
            else:
                tally.invalid.append(f"{name}: {problem[:120]}")
            if stats.completion_tokens >= 8 and reference[name] > 0:
                tally.tps.append(stats.tokens_per_second)
                tally.reference_tps.append(reference[name])
    total = len(corpus())
    return {
        "model": engine.info.name,
        "schemas": total,
        "max_tokens": max_tokens,
        "engines": {b.value: _summary(t, total) for b, t in tallies.items()},
    }


def _summary(tally: Tally, total: int) -> dict[str, Any]:
    constrained = statistics.mean(tally.tps) if tally.tps else 0.0
    unconstrained = statistics.mean(tally.reference_tps) if tally.reference_tps else 0.0
    return {
        "compile_rate": round(tally.compiled / total, 3),
        "compiled": tally.compiled,
        "compile_ms_median": round(statistics.median(tally.compile_ms), 2) if tally.compile_ms
        else None,
        "compile_ms_max": round(max(tally.compile_ms), 2) if tally.compile_ms else None,
        "validity_rate": round(tally.valid / tally.generated, 3) if tally.generated else None,
        "valid": tally.valid,
        "generated": tally.generated,
        "cut_off": tally.cut_off,
        "constrained_tps": round(constrained, 1),
        "unconstrained_tps": round(unconstrained, 1),
        "speed_ratio": round(constrained / unconstrained, 3) if unconstrained else None,
        "refused": tally.refused,
        "invalid": tally.invalid,
    }  # fmt: skip


def render(result: dict[str, Any]) -> str:
    lines = [
        f"model {result['model']}, {result['schemas']} schemas, max_tokens {result['max_tokens']}",
        "",
        "| engine | compile rate | compile ms (median / max) | validity (1st try) | cut off "
        "| tok/s constrained / unconstrained | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in result["engines"].items():
        lines.append(
            f"| {name} | {s['compiled']}/{result['schemas']} ({s['compile_rate']:.0%}) "
            f"| {s['compile_ms_median']} / {s['compile_ms_max']} "
            f"| {s['valid']}/{s['generated']} | {s['cut_off']} "
            f"| {s['constrained_tps']} / {s['unconstrained_tps']} | {s['speed_ratio']} |"
        )
    for name, s in result["engines"].items():
        for line in s["refused"]:
            lines.append(f"- {name} refused {line}")
        for line in s["invalid"]:
            lines.append(f"- {name} invalid {line}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    engine = LlamaEngine.load(args.model, context_size=2048, threads=args.threads)
    try:
        result = run(engine, args.max_tokens)
    finally:
        engine.close()
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
