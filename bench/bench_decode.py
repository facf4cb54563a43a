"""Decode speed: the app's engine path against raw llama-cpp-python, same GGUF, same threads.

Two references, measured in the same process on the same context:

* the **C API loop**: ``llama_decode`` one token at a time through llama-cpp-python's ctypes
  bindings, the next token picked by ``argmax`` over the last logits row (what ``llama-bench``'s
  ``tg`` test does, plus the argmax). This is the floor: llama.cpp's own speed.
* llama-cpp-python's bare ``Llama.generate`` loop (its sampler chain, no log-probabilities, no
  stop-string handling, no UTF-8 decoding), which the app's engine is built on.

Every side decodes ``--tokens`` tokens greedily after the same prompt. Runs alternate between
the sides to spread the machine's noise, and medians are compared. Target: app / C loop >= 0.95.

By default the app runs with its own default settings (``--threads 0``: one thread per physical
core, :mod:`assistant.engine.cpu`) and the two references with every CPU this process may use
(``--raw-threads 0``), so the figure also checks the app's thread default against llama.cpp on
all cores; give both the same number to compare the code paths alone.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_decode.py [--model GGUF] [--tokens 128] [--runs 5]
       [--threads 0] [--raw-threads 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import llama_cpp
import numpy as np

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.base import ChatMessage, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine
from bench.common import add_json_option, report

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


def c_loop_tokens_per_second(engine: LlamaEngine, prompt: list[int], n_tokens: int) -> float:
    """llama.cpp itself: decode one token per call, greedy by argmax, no sampler, no Python
    bookkeeping beyond the loop."""
    llm = engine._llm
    ctx = llm._ctx.ctx
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llm.model))
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    llm.reset()  # llama-cpp-python's own record of the cache is stale from here on
    batch = (llama_cpp.llama_token * len(prompt))(*prompt)
    if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(batch, len(prompt))) != 0:
        raise RuntimeError("llama_decode failed on the prompt")
    one = (llama_cpp.llama_token * 1)()
    first = time.perf_counter()
    for produced in range(n_tokens):
        if produced == 1:  # like the other sides: time from the first token on
            first = time.perf_counter()
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        one[0] = int(row.argmax())
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) != 0:
            raise RuntimeError("llama_decode failed")
    elapsed = time.perf_counter() - first
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    return (n_tokens - 1) / elapsed


def app_tokens_per_second(engine: LlamaEngine, n_tokens: int, top_logprobs: int) -> float:
    engine._llm.reset()
    stats = GenerationStats()
    options = GenerationOptions(temperature=0.0, max_tokens=n_tokens, top_logprobs=top_logprobs)
    for _ in engine.stream(PROMPT, options, stats=stats):
        pass
    return stats.tokens_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="the app's threads (0: one per physical core)"
    )
    parser.add_argument(
        "--raw-threads", type=int, default=0, dest="raw_threads",
        help="the references' threads (0: every CPU this process may use)",
    )  # fmt: skip
    add_json_option(parser)
    args = parser.parse_args()
    engine = LlamaEngine.load(args.model, context_size=2048, threads=args.threads)
    app_threads = engine.info.threads
    raw_threads = args.raw_threads or len(os.sched_getaffinity(0))
    ctx = engine._llm._ctx.ctx
    prompt = engine.prompt_tokens(PROMPT)
    loop, raw, app, app_top = [], [], [], []
    loads = [os.getloadavg()[0]]
    for _ in range(args.runs):
        llama_cpp.llama_set_n_threads(ctx, raw_threads, raw_threads)
        loop.append(c_loop_tokens_per_second(engine, prompt, args.tokens))
        raw.append(raw_tokens_per_second(engine, prompt, args.tokens))
        llama_cpp.llama_set_n_threads(ctx, app_threads, app_threads)
        app.append(app_tokens_per_second(engine, args.tokens, top_logprobs=0))
        app_top.append(app_tokens_per_second(engine, args.tokens, top_logprobs=5))
        loads.append(os.getloadavg()[0])
    engine.close()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    result = {
        "model": args.model.name,
        "threads": app_threads,
        "raw_threads": raw_threads,
        "tokens": args.tokens,
        "runs": args.runs,
        "load_average": [round(x, 2) for x in loads],
        "c_loop_tok_s": round(med(loop), 1),
        "generate_tok_s": round(med(raw), 1),
        "app_tok_s": round(med(app), 1),
        "app_with_top5_tok_s": round(med(app_top), 1),
        "ratio_app_over_c_loop": round(med(app) / med(loop), 3),
        "ratio_app_top5_over_c_loop": round(med(app_top) / med(loop), 3),
        "ratio_app_over_generate": round(med(app) / med(raw), 3),
        "ratio_generate_over_c_loop": round(med(raw) / med(loop), 3),
        "all_runs_tok_s": {
            "c_loop": [round(x, 1) for x in loop],
            "generate": [round(x, 1) for x in raw],
            "app": [round(x, 1) for x in app],
            "app_top5": [round(x, 1) for x in app_top],
        },
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
