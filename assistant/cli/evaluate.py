"""``assistant eval``: score the model's answers and the retrieval on a gold set.

Registered through ``EXTENSIONS`` in :mod:`assistant.cli.main`. With no options it runs the
shipped answer gold set (:data:`~assistant.evaluation.gold.ANSWER_GOLD`: 50 questions over five
documents, one per format) against the ``evaluation`` collection, importing the shipped corpus
into it first when it is not there; it scores the expected answers (cross-entropy), generates
every answer as the app would and checks it (accuracy, quotes, abstention), scores retrieval,
prints a table, and saves the JSON report and a PNG comparing it with earlier runs under
``ASSISTANT_HOME/evaluations/``. ``--gold sample`` runs the older set over the project's own
``docs/`` (the ``sample`` collection the GUI imports). ``--compare`` compares saved reports
without running anything.

Progress goes to stderr, results to stdout, so ``--json`` output can be piped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.cli.common import print_json
from assistant.config import source_root
from assistant.errors import EvaluationError

SAMPLE_COLLECTION = "sample"  # the name the GUI gives the sample library
EVAL_COLLECTION = "evaluation"  # where the shipped evaluation corpus is imported


def register(subparsers: Any, build_app: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``eval`` to the ``assistant`` parser."""
    parser = subparsers.add_parser(
        "eval",
        help="score answers (cross-entropy) and retrieval (recall, MRR, nDCG) on a gold set",
        description="Score the model's answers and the retrieval on a gold set (JSONL of "
        "question, answer, fact, source). Without --gold: the shipped answer gold set over the "
        f"shipped evaluation corpus (imported into the collection {EVAL_COLLECTION!r} the "
        "first time). --gold sample: the older set over the sample library (import it first: "
        f"assistant ingest {source_root() / 'docs'} --collection {SAMPLE_COLLECTION}).",
    )
    parser.add_argument(
        "--gold", metavar="JSONL",
        help="gold set (default: the shipped answer set; 'sample': the set over docs/)",
    )  # fmt: skip
    parser.add_argument(
        "--collection",
        metavar="NAME",
        help=f"collection to search (default: {SAMPLE_COLLECTION!r} for the shipped set, "
        "else 'default')",
    )
    parser.add_argument("--label", help="this run's name in comparisons (default: model file)")
    parser.add_argument(
        "--context",
        choices=("retrieved", "none"),
        default="retrieved",
        help="condition answers on the app's retrieved sources (default) or on nothing",
    )
    parser.add_argument(
        "--top-k", type=int, dest="top_k", metavar="N",
        help="passages retrieved for answers (default: knowledge.top_k)",
    )  # fmt: skip
    parser.add_argument("--no-answers", action="store_true", dest="no_answers",
                        help="retrieval only; the model is not loaded")  # fmt: skip
    parser.add_argument("--no-retrieval", action="store_true", dest="no_retrieval",
                        help="answer scoring only")  # fmt: skip
    parser.add_argument("--no-accuracy", action="store_true", dest="no_accuracy",
                        help="do not generate and check answers (cross-entropy only)")  # fmt: skip
    parser.add_argument("--worst", type=int, default=5, metavar="N", help="worst items shown")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the JSON here")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="write the comparison plot here too")  # fmt: skip
    parser.add_argument("--no-save", action="store_true", dest="no_save",
                        help="do not keep the report under ASSISTANT_HOME/evaluations")  # fmt: skip
    parser.add_argument("--compare", type=Path, nargs="+", metavar="REPORT",
                        help="compare saved reports (JSON) instead of running")  # fmt: skip
    parser.set_defaults(handler=lambda args: cmd_eval(args, build_app))


def cmd_eval(args: argparse.Namespace, build_app: Callable[[argparse.Namespace], Any]) -> int:
    from assistant.evaluation.report import load_report, render_comparison

    if args.compare:
        from assistant.evaluation.plot import plot_reports

        reports = [load_report(path) for path in args.compare]
        if args.json:
            print_json([r.summary() | {"label": r.label} for r in reports])
        else:
            print(render_comparison(reports))
        if args.plot:
            print(f"Plot: {plot_reports(reports, args.plot)}", file=sys.stderr)
        return 0
    if args.no_answers and args.no_retrieval:
        raise EvaluationError("Nothing to do: --no-answers and --no-retrieval together.")
    app = build_app(args)
    try:
        return _run(app, args)
    finally:
        app.close()


def _progress_printer() -> Callable[[str, int, int], None]:
    """Progress on stderr (so ``--json`` stays clean): items done and the time left, on one
    rewritten line in a terminal, else a line at every tenth of a stage."""
    import time

    started: dict[str, float] = {}
    shown: dict[str, int] = {}

    def show(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        begun = started.setdefault(stage, now)
        left = (now - begun) / done * (total - done) if done else 0.0
        text = f"{stage}: {done}/{total}" + (f", about {left:.0f} s left" if done < total else "")
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{text:<60}" + ("\n" if done == total else ""))
        else:
            tenth = done * 10 // max(total, 1)
            if tenth == shown.get(stage, -1):
                return
            shown[stage] = tenth
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return show


def _run(app: Any, args: argparse.Namespace) -> int:
    import shutil

    from assistant.evaluation.answers import Context
    from assistant.evaluation.gold import ANSWER_GOLD, EVAL_CORPUS, SAMPLE_GOLD, load_gold
    from assistant.evaluation.report import render, reports_dir
    from assistant.evaluation.runner import EvalPlan, evaluate, save_with_plot

    shipped = args.gold is None
    if shipped:
        gold = load_gold(ANSWER_GOLD)
        default_collection = EVAL_COLLECTION
    elif args.gold == "sample":
        gold = load_gold(SAMPLE_GOLD)
        default_collection = SAMPLE_COLLECTION
    else:
        gold = load_gold(Path(args.gold))
        default_collection = "default"
    collection = args.collection or default_collection
    context = Context(args.context)
    accuracy = not args.no_accuracy and not args.no_answers
    needs_index = not args.no_retrieval or context is Context.RETRIEVED or accuracy
    knowledge = app.knowledge if needs_index else None
    if knowledge is not None:
        known = [c.name for c in knowledge.collections()]
        if shipped and collection == EVAL_COLLECTION and collection not in known:
            print(f"Importing the evaluation corpus ({EVAL_CORPUS}) into the collection "
                  f"{EVAL_COLLECTION!r} ...", file=sys.stderr)  # fmt: skip
            knowledge.ingest([EVAL_CORPUS], collection=EVAL_COLLECTION)
            known.append(EVAL_COLLECTION)
        if collection not in known:
            listed = ", ".join(repr(k) for k in known) or "none yet"
            hint = (
                f"import the sample library first: assistant ingest {source_root() / 'docs'} "
                f"--collection {SAMPLE_COLLECTION}"
                if collection == SAMPLE_COLLECTION
                else f"import documents with: assistant ingest PATH --collection {collection}, "
                "or name another collection with --collection"
            )
            raise EvaluationError(
                f"There is no collection {collection!r} to evaluate (collections: {listed}); "
                + hint
                + "."
            )
    settings = app.settings
    plan = EvalPlan(
        collection=collection,
        answers=not args.no_answers,
        retrieval=not args.no_retrieval,
        context=context,
        top_k=args.top_k or settings.knowledge.top_k,
        max_tokens=settings.generation.max_tokens,
        system_prompt=settings.generation.system_prompt,
        label=args.label or "",
        accuracy=accuracy,
    )

    on_progress = _progress_printer()

    embedder = getattr(getattr(knowledge, "_embedder", None), "name", "")  # for the record only
    report = evaluate(
        gold, plan, knowledge=knowledge, engine=(lambda: app.engine) if plan.answers else None,
        embedder=embedder, on_progress=on_progress,
    )  # fmt: skip
    if args.json:
        print_json(report.to_json())
    else:
        print(render(report, worst=args.worst))
    if args.output:
        args.output.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    if not args.no_save:
        saved = save_with_plot(report, reports_dir(app.paths))
        print(f"Report: {saved}\nPlot:   {saved.with_suffix('.png')}", file=sys.stderr)
        if args.plot:
            shutil.copyfile(saved.with_suffix(".png"), args.plot)
    elif args.plot:
        from assistant.evaluation.plot import plot_reports

        plot_reports([report], args.plot)
    return 0
