"""Decode speed: the app's engine path against raw llama-cpp-python, same GGUF, same threads.

Both sides decode greedily from the same prompt tokens, so they produce the same tokens; the
reference is llama-cpp-python's bare ``Llama.generate`` loop (no log-probabilities, no stop-string
handling, no UTF-8 decoding). Runs alternate between the two to spread the machine's noise, and
the median of each is compared. Target: app / raw >= 0.95.

Usage: .venv/bin/python bench/bench_decode.py [--model GGUF] [--tokens 128] [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import DEFAULT_MODEL_FILE, default_models_dir
from assistant.engine.base import ChatMessage, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine

PROMPT = [ChatMessage(Role.USER, "Write a long, detailed story about a lighthouse keeper.")]


def raw_tokens_per_second(engine: LlamaEngine, prompt: list[int], n_tokens: int) -> float:
    llm = engine._llm  # the reference deliberately bypasses our code path
    llm.reset()
    produced = 0
    first = time.perf_counter()
    for _ in llm.generate(prompt, temp=0.0, top_k=40, top_p=0.95, min_p=0.0, repeat_penalty=1.1):
        produced += 1
        if produced == 1:
            first = time.perf_counter()
        if produced >= n_tokens:
            break
    return (produced - 1) / (time.perf_counter() - first) if produced > 1 else 0.0


def app_tokens_per_second(engine: LlamaEngine, n_tokens: int, top_logprobs: int) -> float:
    engine._llm.reset()
    stats = GenerationStats()
    options = GenerationOptions(temperature=0.0, max_tokens=n_tokens, top_logprobs=top_logprobs)
    for _ in engine.stream(PROMPT, options, stats=stats):
        pass
    return stats.tokens_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_models_dir() / DEFAULT_MODEL_FILE)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    engine = LlamaEngine.load(args.model, context_size=2048, threads=args.threads)
    prompt = engine.prompt_tokens(PROMPT)
    raw, app, app_top = [], [], []
    for _ in range(args.runs):
        raw.append(raw_tokens_per_second(engine, prompt, args.tokens))
        app.append(app_tokens_per_second(engine, args.tokens, top_logprobs=0))
        app_top.append(app_tokens_per_second(engine, args.tokens, top_logprobs=5))
    result = {
        "model": args.model.name,
        "threads": args.threads,
        "tokens": args.tokens,
        "raw_llama_cpp_tok_s": round(statistics.median(raw), 1),
        "app_tok_s": round(statistics.median(app), 1),
        "app_with_top5_tok_s": round(statistics.median(app_top), 1),
        "ratio_app_over_raw": round(statistics.median(app) / statistics.median(raw), 3),
        "ratio_app_top5_over_raw": round(statistics.median(app_top) / statistics.median(raw), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
