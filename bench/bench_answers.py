"""Answer accuracy by model and answer format, on the shipped answer gold set.

The shipped evaluation corpus (a PDF, a DOCX, an HTML page, a Markdown and a text file) is
imported into a fresh knowledge base with the real embedder and Chroma; each model then answers
all 50 gold questions through the app's own path (:mod:`assistant.evaluation.accuracy`: hybrid
search, the relevance gate, the prompt, greedy decoding, quotes and support checks). For every
model and format: the share of answers that hold the fact, whose shown quote (or cited source)
holds it, the abstention on the 10 unanswerable questions, and the engine's median time to
first token, decode speed and prompt size.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_answers.py [--model GGUF ...]
       [--format attributed quote-first] [--window 0] [--threads 0] [--limit N] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_models_dir
from assistant.engine.base import GenerationOptions
from assistant.engine.llama import LlamaEngine
from assistant.evaluation.accuracy import check_answers, summarize
from assistant.evaluation.gold import ANSWER_GOLD, EVAL_CORPUS, load_gold
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.grounded import QuoteUnit
from assistant.knowledge.prompt import AnswerFormat, AnswerSettings
from bench.common import add_json_option, load_averages, report

MODELS = (
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma-3-270m-q4_k_m.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", type=Path, help="GGUF files (default: all four)")
    parser.add_argument(
        "--format", nargs="+", default=[f.value for f in AnswerFormat],
        choices=[f.value for f in AnswerFormat], help="answer formats to compare",
    )  # fmt: skip
    parser.add_argument("--window", type=int, nargs="+", default=[0],
                        help="source window sizes in words (0: whole passages)")  # fmt: skip
    parser.add_argument(
        "--quote-unit", default="clause", choices=["clause", "word"], dest="quote_unit",
        help="quote-first: clauses or any run of words",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="0: one per physical core")
    parser.add_argument("--top-k", type=int, default=5, dest="top_k")
    parser.add_argument("--limit", type=int, default=0, help="first N gold items only")
    parser.add_argument("--items", action="store_true", help="keep every item's check")
    parser.add_argument(
        "--confirm",
        type=int,
        nargs="+",
        default=[0],
        choices=[0, 1],
        help="1: the model confirms the quoted sentence answers (yes/no)",
    )
    add_json_option(parser)
    args = parser.parse_args()

    models = args.model or [default_models_dir() / name for name in MODELS]
    gold = load_gold(ANSWER_GOLD)
    items = gold.items[: args.limit] if args.limit else gold.items
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="enclave-bench-answers-") as folder:
        knowledge = KnowledgeBase.open(Path(folder) / "index")
        imported = knowledge.ingest([EVAL_CORPUS], collection="eval")
        if imported.failed:
            raise SystemExit(f"the evaluation corpus did not import: {imported.failed}")
        for model in models:
            engine = LlamaEngine.load(model, context_size=4096, threads=args.threads)
            for answer_format in args.format:
                for window, confirm in [(w, c) for w in args.window for c in args.confirm]:
                    settings = AnswerSettings(
                        answer_format=AnswerFormat(answer_format), window_words=window,
                        quote_unit=QuoteUnit(args.quote_unit), confirm_support=bool(confirm),
                    )  # fmt: skip
                    started = time.perf_counter()
                    checks = check_answers(
                        items, engine, knowledge, collection="eval", top_k=args.top_k,
                        options=GenerationOptions(max_tokens=160), settings=settings,
                        on_item=_progress(f"{model.name} {answer_format} w{window} c{confirm}"),
                    )  # fmt: skip
                    run: dict[str, object] = {
                        "model": model.name,
                        "model_name": engine.info.name,
                        "format": answer_format,
                        "window_words": window,
                        "quote_unit": args.quote_unit,
                        "confirm_support": bool(confirm),
                        "threads": engine.info.threads,
                        "seconds": round(time.perf_counter() - started, 1),
                        **summarize(checks),
                        "load": load_averages(),
                    }
                    if args.items:
                        run["checks"] = [asdict(c) for c in checks]
                    runs.append(run)
                    print(_line(run), file=sys.stderr, flush=True)
            engine.close()
        knowledge.close()
    report({"gold": str(ANSWER_GOLD.name), "gold_sha256": gold.sha256, "runs": runs}, args.json)


def _progress(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"  {label}: {done}/{total}", end="\r", file=sys.stderr, flush=True)

    return show


def _line(run: dict[str, object]) -> str:
    return (
        f"{run['model']:44} {run['format']:12} w{run['window_words']:<3} "
        f"fact {run['holds_fact']}  source {run['source_holds_fact']}  "
        f"abstain {run['abstention']}  ttft {run['first_token_s_median']} s  "
        f"{run['tokens_per_second_median']} tok/s  prompt {run['prompt_tokens_median']}"
    )


if __name__ == "__main__":
    main()
