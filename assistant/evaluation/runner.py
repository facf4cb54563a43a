"""One evaluation run from start to saved report: what ``assistant eval`` and the GUI call.

:func:`evaluate` scores retrieval (no model needed) and answers (the model is loaded only
then) and returns an :class:`~.report.EvalReport`; :func:`save_with_plot` saves it and draws the
comparison PNG beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.engine.base import GenerationOptions
from assistant.errors import EvaluationError
from assistant.evaluation.accuracy import AnswerCheck, check_answers
from assistant.evaluation.answers import AnswerScore, Context, Retriever, Scorer, score_answers
from assistant.evaluation.gold import GoldSet
from assistant.evaluation.plot import MAX_RUNS, plot_reports
from assistant.evaluation.report import EvalReport, load_report, saved_reports
from assistant.evaluation.retrieval import RetrievalScores, Searchable, score_retrieval
from assistant.knowledge.prompt import AnswerSettings
from assistant.knowledge.search import SearchMode

Progress = Callable[[str, int, int], None]  # (stage, done, total)
#: Tokens an answer may take in the accuracy check: a factoid answer needs far fewer.
ACCURACY_MAX_TOKENS = 160


@dataclass(frozen=True)
class EvalPlan:
    """What to run.

    Attributes:
        collection: the collection searched.
        answers: score the expected answers (needs the model).
        retrieval: score retrieval in each of ``modes``.
        context: what answers are conditioned on.
        top_k: passages retrieved for the answer prompt (``knowledge.top_k``).
        max_tokens: the answer budget the prompt is fitted around (``generation.max_tokens``).
        system_prompt: the plain-chat system prompt (``context=none``).
        label: the run's name in comparisons.
        accuracy: also generate each answer as the app would and check it (needs the model and
            gold items with a ``fact`` or ``unanswerable``).
        settings: how answers are written (the app's defaults when ``None``).
    """

    collection: str
    answers: bool = True
    retrieval: bool = True
    modes: tuple[SearchMode, ...] = (SearchMode.DENSE, SearchMode.LEXICAL, SearchMode.HYBRID)
    context: Context = Context.RETRIEVED
    top_k: int = 5
    max_tokens: int = 512
    system_prompt: str = ""
    label: str = ""
    accuracy: bool = True
    settings: AnswerSettings | None = None


def evaluate(
    gold: GoldSet,
    plan: EvalPlan,
    *,
    knowledge: Searchable | Retriever | None,
    engine: Callable[[], Scorer] | None,
    embedder: str = "",
    on_progress: Progress | None = None,
) -> EvalReport:
    """Run the plan over the gold set.

    Args:
        gold: the loaded gold set.
        plan: what to score and how.
        knowledge: the knowledge base (needed for retrieval and for retrieved context).
        engine: returns the model when answers are scored (called once, so loading waits
            until retrieval is done).
        embedder: the embedder's name, recorded in the report.
        on_progress: called with (stage, done, total).

    Raises:
        AssistantError: retrieval or scoring failed (see :func:`score_answers`).
    """
    started = time.perf_counter()
    created = datetime.now(UTC).isoformat()

    def progress(stage: str) -> Callable[[int, int], None] | None:
        if on_progress is None:
            return None
        return lambda done, total: on_progress(stage, done, total)

    retrieval: list[RetrievalScores] = []
    if plan.retrieval and knowledge is not None:
        retrieval = score_retrieval(
            gold.items, knowledge, collection=plan.collection, modes=plan.modes,
            on_item=progress("retrieval"),
        )  # fmt: skip
    answers: list[AnswerScore] = []
    model = ""
    context_size = 0
    if plan.answers and engine is not None:
        scorer = engine()
        if not callable(getattr(scorer, "score", None)):
            raise EvaluationError(
                f"The engine {scorer.info.name!r} cannot score answers token by token (an "
                "on-prem server returns no teacher-forced log-probabilities). Score with the "
                "local model (leave [server] url empty), or pass --no-answers."
            )
        on_disk = bool(scorer.info.path) and Path(scorer.info.path).is_file()
        model = Path(scorer.info.path).name if on_disk else scorer.info.name
        context_size = scorer.context_size
        answers = score_answers(
            gold.items, scorer, knowledge if plan.context is Context.RETRIEVED else None,
            context=plan.context, collection=plan.collection, top_k=plan.top_k,
            max_tokens=plan.max_tokens, settings=plan.settings or AnswerSettings(),
            system_prompt=plan.system_prompt, on_item=progress("answers"),
        )  # fmt: skip
    checks: list[AnswerCheck] = []
    if plan.accuracy and engine is not None and knowledge is not None:
        generator = engine()
        checks = check_answers(
            gold.items, generator, knowledge, collection=plan.collection, top_k=plan.top_k,
            options=GenerationOptions(max_tokens=min(plan.max_tokens, ACCURACY_MAX_TOKENS)),
            settings=plan.settings, on_item=progress("accuracy"),
        )  # fmt: skip
        if not model:
            on_disk = bool(generator.info.path) and Path(generator.info.path).is_file()
            model = Path(generator.info.path).name if on_disk else generator.info.name
    return EvalReport(
        label=plan.label or model or "retrieval",
        created=created,
        model=model,
        setup={
            "gold": str(gold.path),
            "gold_sha256": gold.sha256,
            "items": len(gold.items),
            "collection": plan.collection,
            "context": plan.context.value if plan.answers else None,
            "top_k": plan.top_k,
            "max_tokens": plan.max_tokens,
            "context_size": context_size,
            "embedder": embedder,
            "seconds": round(time.perf_counter() - started, 2),
        },
        answers=tuple(answers),
        retrieval=tuple(retrieval),
        accuracy=tuple(checks),
    )


def save_with_plot(report: EvalReport, folder: Path, *, previous: Sequence[Path] = ()) -> Path:
    """Save ``report`` in ``folder`` and draw a PNG beside it comparing it with the runs saved
    there before (or with ``previous`` reports when given). Returns the JSON's path.

    Raises:
        EvaluationError: a file cannot be written.
    """
    earlier = list(previous) or saved_reports(folder)[-(MAX_RUNS - 1) :]
    path = report.save(folder)
    runs = [load_report(p) for p in earlier if p != path] + [report]
    plot_reports(runs, path.with_suffix(".png"))
    return path


def last_report(folder: Path) -> Path | None:
    """The newest saved report's JSON, or ``None``."""
    found = saved_reports(folder)
    return found[-1] if found else None
