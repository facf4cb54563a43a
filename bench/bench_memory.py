"""Memory: peak RSS with the model loaded and answering, against the model file plus KV cache.

Each configuration runs in a fresh child process (so peaks do not mix): the process imports the
engine, records its RSS, loads the GGUF, answers the app's RAG prompt (about 1,000 tokens of
sources), and reports its RSS after loading and its peak. The reference is what the model must
hold: the file's size (weights are memory-mapped) plus the KV cache
(2 x layers x context x KV heads x head size x 2 bytes for f16). Prompt lookup also keeps
logits for every context position (context x vocabulary x 4 bytes, reserved, touched as used).

Usage: PYTHONPATH=. .venv/bin/python bench/bench_memory.py [--model GGUF] [--context 4096]
       [--sources 6] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.gguf_header import read_header
from bench.common import add_json_option, load_average, report, rss_mib

MIB = 1024 * 1024


def child(model: Path, context: int, lookup: int, sources: int) -> None:
    """Run in the child: load, answer, print the figures as JSON."""
    from assistant.engine.base import GenerationOptions
    from assistant.engine.llama import LlamaEngine
    from bench.common import doc_passages, rag_messages

    before = rss_mib()
    engine = LlamaEngine.load(model, context_size=context, threads=2, prompt_lookup=lookup)
    loaded = rss_mib()
    passages = doc_passages(sources)
    messages = rag_messages("What does source [1] say?", passages, engine, max_tokens=64)
    for _ in engine.stream(messages, GenerationOptions(temperature=0.0, max_tokens=64)):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_before_load_mib": round(before, 1), "rss_loaded_mib": round(loaded, 1),
                      "peak_rss_mib": round(peak, 1), "n_vocab": engine._n_vocab,
                      "prompt_tokens": len(engine.prompt_tokens(messages))}))  # fmt: skip


def expected(model: Path, context: int) -> dict[str, float]:
    meta = read_header(model).metadata
    arch = meta["general.architecture"]
    layers = int(meta[f"{arch}.block_count"])
    heads = int(meta[f"{arch}.attention.head_count"])
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    head_size = int(
        meta.get(f"{arch}.attention.key_length", meta[f"{arch}.embedding_length"] // heads)
    )
    kv = 2 * layers * context * kv_heads * head_size * 2
    return {
        "model_file_mib": round(model.stat().st_size / MIB, 1),
        "kv_cache_mib": round(kv / MIB, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--sources", type=int, default=6, help="passages in the RAG prompt")
    parser.add_argument("--child", type=int, default=-1, help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    if args.child >= 0:
        child(args.model, args.context, args.child, args.sources)
        return
    reference = expected(args.model, args.context)
    result: dict[str, object] = {"model": args.model.name, "context": args.context, **reference}
    for name, lookup in (("plain", 0), ("prompt_lookup_10", 10)):
        out = subprocess.run(
            [sys.executable, __file__, "--model", str(args.model), "--context",
             str(args.context), "--sources", str(args.sources), "--child", str(lookup)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        bound = reference["model_file_mib"] + reference["kv_cache_mib"]
        figures["model_plus_kv_mib"] = round(bound, 1)
        figures["peak_over_model_plus_kv"] = round(figures["peak_rss_mib"] / bound, 2)
        figures["all_logits_reserved_mib"] = round(args.context * figures["n_vocab"] * 4 / MIB, 1)
        result[name] = figures
    result["load_average"] = load_average()
    report(result, args.json)


if __name__ == "__main__":
    main()
