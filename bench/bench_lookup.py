"""Prompt-lookup decoding: tokens/s with llama-cpp-python's ``LlamaPromptLookupDecoding`` on and
off, through the app's engine, and whether the outputs are identical at temperature 0.

Workloads: **extractive** RAG answers (the app's prompt over the project's docs, questions whose
answer copies a source sentence, as document Q&A mostly does) and **open** prompts (stories,
explanations: nothing to copy). The two engines load the same GGUF with the same threads; runs
alternate between them prompt by prompt, and medians are compared. Decode tokens/s excludes the
time to first token, which is reported separately (drafting needs logits at every verified
position, so it changes the prompt's cost too).

Usage: PYTHONPATH=. .venv/bin/python bench/bench_lookup.py [--model GGUF] [--draft 10]
       [--tokens 128] [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.base import ChatMessage, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine
from bench.common import add_json_option, doc_passages, load_average, median, rag_messages, report

EXTRACTIVE = [
    "Quote the sentence of source [1] that answers: what is it about? Copy it exactly.",
    "What does source [2] say? Quote it word for word.",
    "Repeat the first two sentences of source [3] exactly as written.",
    "Copy the passage of source [1] that mentions the most specific detail, verbatim.",
]
OPEN = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain to a child why the sky is blue.",
    "List five ideas for a weekend in the mountains, with a sentence on each.",
    "Write a poem about autumn in a quiet town.",
]


def run(engine: LlamaEngine, messages: list[ChatMessage], tokens: int) -> dict[str, object]:
    llm = engine._llm
    llm.reset()  # each prompt starts cold on both engines
    stats = GenerationStats()
    options = GenerationOptions(temperature=0.0, max_tokens=tokens, top_logprobs=5)
    passes = 0
    evaluate = llm.eval

    def counting_eval(batch: list[int]) -> None:  # forward passes after the prompt's
        nonlocal passes
        passes += 1
        evaluate(batch)

    llm.eval = counting_eval  # an instance attribute, removed below: the bench measures inside
    try:
        text = "".join(t.text for t in engine.stream(messages, options, stats=stats))
    finally:
        del llm.eval
    return {
        "text": text,
        "tok_s": stats.tokens_per_second,
        "ttft": stats.time_to_first_token or 0.0,
        "tokens": stats.completion_tokens,
        "tokens_per_pass": stats.completion_tokens / max(1, passes - 1),
    }


def workload(
    plain: LlamaEngine, lookup: LlamaEngine, prompts: list[list[ChatMessage]], tokens: int,
    rounds: int,
) -> dict[str, object]:  # fmt: skip
    off, on, ttft_off, ttft_on, per_pass = [], [], [], [], []
    identical, first_diff = 0, []
    for _ in range(rounds):
        for messages in prompts:
            a = run(plain, messages, tokens)
            b = run(lookup, messages, tokens)
            off.append(float(a["tok_s"]))  # type: ignore[arg-type]
            on.append(float(b["tok_s"]))  # type: ignore[arg-type]
            ttft_off.append(float(a["ttft"]))  # type: ignore[arg-type]
            ttft_on.append(float(b["ttft"]))  # type: ignore[arg-type]
            per_pass.append(float(b["tokens_per_pass"]))  # type: ignore[arg-type]
            same = a["text"] == b["text"]
            identical += same
            if not same:
                ta, tb = str(a["text"]), str(b["text"])
                pairs = zip(ta + "\0", tb + "\1", strict=False)
                first_diff.append(next(i for i, (x, y) in enumerate(pairs) if x != y))
    return {
        "runs": len(off),
        "tok_s_off": median(off),
        "tok_s_on": median(on),
        "ratio_on_over_off": round(median(on) / median(off), 3) if median(off) else None,
        "ttft_off_s": median(ttft_off),
        "ttft_on_s": median(ttft_on),
        "tokens_per_forward_pass_on": median(per_pass),
        "identical_outputs": f"{identical}/{len(off)}",
        "first_difference_at_char": first_diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--draft", type=int, default=10, help="draft tokens per step")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    add_json_option(parser)
    args = parser.parse_args()
    plain = LlamaEngine.load(args.model, context_size=4096, threads=args.threads)
    lookup = LlamaEngine.load(
        args.model, context_size=4096, threads=args.threads, prompt_lookup=args.draft
    )
    passages = doc_passages(limit=12)
    extractive = [
        rag_messages(q, passages[i * 3 : i * 3 + 3], plain, max_tokens=args.tokens)
        for i, q in enumerate(EXTRACTIVE)
    ]
    open_prompts = [[ChatMessage(Role.USER, q)] for q in OPEN]
    load_before = load_average()
    result = {
        "model": args.model.name,
        "threads": args.threads,
        "draft_tokens": args.draft,
        "max_tokens": args.tokens,
        "extractive_rag": workload(plain, lookup, extractive, args.tokens, args.rounds),
        "open_prompts": workload(plain, lookup, open_prompts, args.tokens, args.rounds),
        "load_average": [load_before, load_average()],
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
