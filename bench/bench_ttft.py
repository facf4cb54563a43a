"""Time to first token: with the KV-cache prefix reused, against cold (cache cleared).

Two situations, both through the app's engine (``LlamaEngine.stream``):

1. **follow-up**: a conversation of several turns; the previous answer was just generated, and
   the user asks the next question. Warm: the engine still holds the previous prompt and answer,
   so only the new turn is evaluated. Cold: the same prompt after ``reset()``.
2. **rag**: the app's RAG prompt (instructions and numbered sources in the system prompt, as
   ``build_messages`` makes it) with a fixed system prompt and a new question. Warm: the
   previous question over the same sources was just answered. Also **rag-new-sources**: the next
   question retrieves other passages, so only the instructions can be reused.

Runs alternate warm and cold; each figure is a median. Target: warm / cold <= 0.2.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_ttft.py [--model GGUF] [--runs 5] [--threads 2]
       [--sources 5] [--answer-tokens 96] [--json FILE]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.base import ChatMessage, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine
from bench.common import add_json_option, doc_passages, load_average, median, rag_messages, report

FIRST = GenerationOptions(temperature=0.0, max_tokens=1, top_logprobs=5)
ANSWER = GenerationOptions(temperature=0.0, max_tokens=96, top_logprobs=5)  # --answer-tokens
SYSTEM = "You are Enclave, a careful assistant. Answer clearly and concisely."
TURNS = [
    "Explain how a lighthouse keeper maintained the lamp in the nineteenth century.",
    "What were the main dangers of the job, and how did keepers deal with storms?",
    "How did automation change the work of lighthouse keepers after 1950?",
    "Describe a typical day for a keeper on a remote rock station.",
]
QUESTIONS = [
    "What happens when I import the same folder twice?",
    "How are the two rankings combined?",
    "Which formats can be imported?",
    "What does a red token mean?",
    "How can an edited audit log line be detected?",
    "Can two windows use the same data folder?",
]


def ttft(engine: LlamaEngine, messages: list[ChatMessage]) -> tuple[float, int, int]:
    stats = GenerationStats()
    for _ in engine.stream(messages, FIRST, stats=stats):
        pass
    assert stats.time_to_first_token is not None
    return stats.time_to_first_token, stats.prompt_tokens, stats.cached_prompt_tokens


def follow_up(engine: LlamaEngine, runs: int, answer: GenerationOptions) -> dict[str, object]:
    """A conversation that has grown through TURNS; the next question arrives."""
    history = [ChatMessage(Role.SYSTEM, SYSTEM)]
    for turn in TURNS[:-1]:
        history.append(ChatMessage(Role.USER, turn))
        engine._llm.reset()
        text = "".join(t.text for t in engine.stream(history, answer)).strip()
        history.append(ChatMessage(Role.ASSISTANT, text))
    previous, question = history, ChatMessage(Role.USER, TURNS[-1])
    warm, cold, cached, total = [], [], 0, 0
    for _ in range(runs):
        # warm: the previous turn was just answered, as in a live conversation
        engine._llm.reset()
        last_prompt = previous[:-1]
        for _ in engine.stream(last_prompt, answer):
            pass
        seconds, total, cached = ttft(engine, [*previous, question])
        warm.append(seconds)
        engine._llm.reset()
        cold.append(ttft(engine, [*previous, question])[0])
    return _result(warm, cold, total, cached)


def rag(
    engine: LlamaEngine,
    runs: int,
    answer: GenerationOptions,
    *,
    same_sources: bool,
    sources: int = 5,
) -> dict[str, object]:
    passages = doc_passages(limit=2 * sources)
    first, second = passages[:sources], passages[sources : 2 * sources]
    warm, cold, cached, total = [], [], 0, 0
    for run in range(runs):
        q1, q2 = QUESTIONS[run % len(QUESTIONS)], QUESTIONS[(run + 1) % len(QUESTIONS)]
        before = rag_messages(q1, first, engine, max_tokens=512)
        after = rag_messages(q2, first if same_sources else second, engine, max_tokens=512)
        engine._llm.reset()
        for _ in engine.stream(before, answer):  # the previous question, answered
            pass
        seconds, total, cached = ttft(engine, after)
        warm.append(seconds)
        engine._llm.reset()
        cold.append(ttft(engine, after)[0])
    return _result(warm, cold, total, cached)


def _result(warm: list[float], cold: list[float], total: int, cached: int) -> dict[str, object]:
    return {
        "prompt_tokens": total,
        "cached_prompt_tokens": cached,
        "warm_ttft_s": median(warm),
        "cold_ttft_s": median(cold),
        "ratio_warm_over_cold": round(median(warm) / median(cold), 3),
        "warm_all_s": [round(w, 3) for w in warm],
        "cold_all_s": [round(c, 3) for c in cold],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sources", type=int, default=5, help="passages in the RAG prompt")
    parser.add_argument("--answer-tokens", type=int, default=96, help="length of earlier answers")
    add_json_option(parser)
    args = parser.parse_args()
    engine = LlamaEngine.load(args.model, context_size=4096, threads=args.threads)
    answer = replace(ANSWER, max_tokens=args.answer_tokens)
    load_before = load_average()
    result = {
        "model": args.model.name,
        "threads": args.threads,
        "runs": args.runs,
        "sources": args.sources,
        "follow_up": follow_up(engine, args.runs, answer),
        "rag_same_sources": rag(engine, args.runs, answer, same_sources=True, sources=args.sources),
        "rag_new_sources": rag(engine, args.runs, answer, same_sources=False, sources=args.sources),
        "load_average": [load_before, load_average()],
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
