"""RAG time to first token for questions whose sources were not seen before, against raw prefill.

Each question goes through the app's path (hybrid search, the relevance gate, the prompt with
its numbered sources, the grammar, :func:`~assistant.knowledge.answer.stream_answer`), one
after another as an analyst would ask them: the engine keeps the previous prompt in its KV
cache, so only the fixed instructions before the sources can be reused. The reference, in the
same run, is raw llama-cpp-python prefill of exactly the same prompt tokens from an empty cache
(``Llama.reset()`` then ``Llama.eval``), plus the one decode step that yields a first token.

Two corpora: the shipped evaluation corpus (short passages; the answer gold set's questions)
and the project's own ``docs/`` (180-token passages; the docs gold set's questions), each with
the sources shown whole and as windows of ``--window`` words around their best sentences.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_rag_ttft.py [--model GGUF] [--questions 12]
       [--window 60] [--threads 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path, source_root
from assistant.engine.base import GenerationOptions
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.gold import ANSWER_GOLD, EVAL_CORPUS, SAMPLE_GOLD, load_gold
from assistant.knowledge.answer import stream_answer
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.prompt import AnswerSettings, build_messages, is_relevant
from bench.common import add_json_option, load_averages, report

OPTIONS = GenerationOptions(max_tokens=1, temperature=0.0, top_logprobs=5)


def raw_prefill_s(engine: LlamaEngine, tokens: list[int]) -> float:
    """Seconds for raw llama-cpp-python to evaluate ``tokens`` from an empty cache and sample one
    token (greedy), as a first token needs."""
    llm = engine._llm
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    llm.sample(temp=0.0)
    return time.perf_counter() - started


def run_corpus(
    engine: LlamaEngine,
    knowledge: KnowledgeBase,
    collection: str,
    questions: list[str],
    settings: AnswerSettings,
) -> dict[str, Any]:
    app, engine_only, raw, prompts, cached = [], [], [], [], []
    for question in questions:
        started = time.perf_counter()
        hits = knowledge.search(question, collection=collection, top_k=5)
        if not any(is_relevant(hit, settings) for hit in hits):
            continue
        stream = stream_answer(question, hits, engine, options=OPTIONS, settings=settings)
        first: float | None = None
        for _ in stream:
            first = first or time.perf_counter() - started
        result = stream.result
        stats = result.stats
        assert stats is not None
        assert stats.time_to_first_token is not None
        assert first is not None
        messages, _ = build_messages(
            question, [h for h in hits if is_relevant(h, settings)], engine,
            max_tokens=OPTIONS.max_tokens, settings=settings,
        )  # fmt: skip
        tokens = engine.prompt_tokens(messages)
        app.append(first)  # question to first token: retrieval, prompt, grammar, prefill
        engine_only.append(stats.time_to_first_token)
        prompts.append(stats.prompt_tokens)
        cached.append(stats.cached_prompt_tokens)
        raw.append(raw_prefill_s(engine, tokens))
    ratios = [a / r for a, r in zip(app, raw, strict=True)]
    return {
        "questions": len(app),
        "app_ttft_median_s": round(statistics.median(app), 3),
        "engine_ttft_median_s": round(statistics.median(engine_only), 3),
        "raw_prefill_median_s": round(statistics.median(raw), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "prompt_tokens_median": statistics.median(prompts),
        "cached_prompt_tokens_median": statistics.median(cached),
        "app_all_s": [round(x, 3) for x in app],
        "raw_all_s": [round(x, 3) for x in raw],
        "prompt_tokens_all": prompts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--questions", type=int, default=12, help="questions per corpus")
    parser.add_argument("--window", type=int, default=60, help="window size in words")
    parser.add_argument("--threads", type=int, default=0, help="0: one per physical core")
    parser.add_argument("--corpus", nargs="+", default=["eval", "docs"], choices=["eval", "docs"])
    add_json_option(parser)
    args = parser.parse_args()

    engine = LlamaEngine.load(args.model, context_size=4096, threads=args.threads)
    result: dict[str, Any] = {
        "model": args.model.name,
        "threads": engine.info.threads,
        "load_before": load_averages(),
    }
    with tempfile.TemporaryDirectory(prefix="enclave-bench-rag-") as folder:
        knowledge = KnowledgeBase.open(Path(folder) / "index")
        corpora = {
            "eval": (EVAL_CORPUS, ANSWER_GOLD),
            "docs": (source_root() / "docs", SAMPLE_GOLD),
        }
        # warm up: the first grammar builds llguidance's view of the vocabulary (once per model)
        knowledge.ingest([EVAL_CORPUS], collection="eval")
        warm = knowledge.search("What was the operating budget?", collection="eval", top_k=5)
        for _ in stream_answer("What was the operating budget?", warm, engine, options=OPTIONS):
            pass
        for name in args.corpus:
            path, gold = corpora[name]
            knowledge.ingest([path], collection=name)
            items = [i for i in load_gold(gold).items if not i.unanswerable]
            questions = [i.question for i in items[: args.questions]]
            for window in (0, args.window):
                settings = AnswerSettings(window_words=window)
                key = f"{name}_window_{window}" if window else f"{name}_whole"
                result[key] = run_corpus(engine, knowledge, name, questions, settings)
                print(f"{key}: {result[key]['app_ttft_median_s']} s vs raw "
                      f"{result[key]['raw_prefill_median_s']} s, prompt "
                      f"{result[key]['prompt_tokens_median']}", file=sys.stderr,
                      flush=True)  # fmt: skip
        knowledge.close()
    result["load_after"] = load_averages()
    engine.close()
    report(result, args.json)


if __name__ == "__main__":
    main()
