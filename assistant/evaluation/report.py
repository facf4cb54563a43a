"""An evaluation's results: the terminal table, the JSON file, and where reports are kept.

Reports are saved under ``ASSISTANT_HOME/evaluations/`` as ``eval-<UTC time>-<label>.json``
with a PNG beside each one (:mod:`.plot`) comparing it with the runs before it; the newest file
is "the last report" the GUI opens. The JSON holds every item's figures and a ``summary`` block
computed from them, for machines; :meth:`EvalReport.from_json` reads it back for comparisons.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Paths
from assistant.errors import EvaluationError
from assistant.evaluation.accuracy import AnswerCheck, summarize
from assistant.evaluation.answers import AnswerScore
from assistant.evaluation.metrics import Distribution
from assistant.evaluation.retrieval import RECALL_KS, RankedItem, RetrievalScores

FORMAT = "enclave-eval/1"
REPORTS_DIR = "evaluations"


def reports_dir(paths: Paths) -> Path:
    """Where evaluation reports are saved."""
    return paths.home / REPORTS_DIR


@dataclass(frozen=True)
class EvalReport:
    """One evaluation run.

    Attributes:
        label: the run's name in comparisons (default: the model file's name).
        created: when it ran (ISO 8601, UTC).
        model: the model file's name, ``""`` when answers were not scored.
        setup: how it ran: collection, context, top_k, max_tokens, context size, embedder,
            gold set path and SHA-256, seconds taken.
        answers: each item's answer score (empty when answers were not scored).
        retrieval: each mode's ranks (empty when retrieval was not scored).
        accuracy: each generated answer, checked (empty when answers were not generated).
    """

    label: str
    created: str
    model: str
    setup: dict[str, Any] = field(default_factory=dict)
    answers: tuple[AnswerScore, ...] = ()
    retrieval: tuple[RetrievalScores, ...] = ()
    accuracy: tuple[AnswerCheck, ...] = ()

    # --- summaries ------------------------------------------------------------------------

    @property
    def cross_entropy(self) -> Distribution:
        """Per-item cross-entropy (nats per token)."""
        return Distribution.of([a.cross_entropy for a in self.answers])

    @property
    def token_perplexity(self) -> float:
        """exp(total NLL / total tokens) over all answers: every token weighs the same."""
        tokens = sum(a.tokens for a in self.answers)
        return math.exp(sum(a.total_nll for a in self.answers) / tokens) if tokens else 0.0

    def worst(self, count: int = 5) -> list[AnswerScore]:
        """The items whose expected answer the model found least likely."""
        return sorted(self.answers, key=lambda a: a.cross_entropy, reverse=True)[:count]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.answers:
            d = self.cross_entropy
            out["answers"] = {
                "items": d.count,
                "cross_entropy_mean": d.mean,
                "cross_entropy_median": d.median,
                "cross_entropy_p90": d.p90,
                "cross_entropy_min": d.minimum,
                "cross_entropy_max": d.maximum,
                "perplexity_of_mean": math.exp(d.mean),
                "token_perplexity": self.token_perplexity,
                "nats_per_char_mean": Distribution.of([a.nats_per_char for a in self.answers]).mean,
                "source_in_context": _share([a.source_in_context for a in self.answers]),
                "refused": sum(a.refused for a in self.answers),
            }
        if self.accuracy:
            out["accuracy"] = summarize(self.accuracy)
        if self.retrieval:
            out["retrieval"] = {
                r.mode: {
                    "items": len(r.items),
                    **{f"recall@{k}": v for k, v in r.recall.items()},
                    "mrr": r.mrr,
                    "ndcg@10": r.ndcg10,
                }
                for r in self.retrieval
            }
        return out

    # --- JSON -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "label": self.label,
            "created": self.created,
            "model": self.model,
            "setup": self.setup,
            "summary": self.summary(),
            "answers": [asdict(a) for a in self.answers],
            "retrieval": {r.mode: [asdict(i) for i in r.items] for r in self.retrieval},
            "accuracy": [asdict(c) for c in self.accuracy],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalReport:
        """Rebuild a report from :meth:`to_json`'s output.

        Raises:
            EvaluationError: it is not an Enclave evaluation report.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EvaluationError("Not an Enclave evaluation report (no 'enclave-eval/1' format).")
        try:
            answers = tuple(
                AnswerScore(
                    **{
                        **a,
                        "sources": tuple(a.get("sources", ())),
                        "worst": tuple((str(t), float(p)) for t, p in a.get("worst", ())),
                    }
                )
                for a in data.get("answers", [])
            )
            retrieval = tuple(
                RetrievalScores(mode, tuple(RankedItem(**i) for i in items))
                for mode, items in data.get("retrieval", {}).items()
            )
            accuracy = tuple(AnswerCheck(**c) for c in data.get("accuracy", []))
            return cls(
                label=str(data["label"]),
                created=str(data["created"]),
                model=str(data.get("model", "")),
                setup=dict(data.get("setup", {})),
                answers=answers,
                retrieval=retrieval,
                accuracy=accuracy,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvaluationError(f"The evaluation report is damaged ({exc}).") from exc

    def save(self, folder: Path) -> Path:
        """Write the report as ``eval-<time>-<label>.json`` in ``folder``; returns the path.

        Raises:
            EvaluationError: the file cannot be written.
        """
        stamp = re.sub(r"[^0-9T]", "", self.created.split(".")[0].replace("+00:00", ""))
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.label).strip("-")[:60] or "run"
        target = folder / f"eval-{stamp}-{slug}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise EvaluationError(
                f"Cannot save the report to {target}: {exc.strerror or exc}."
            ) from exc
        return target


def load_report(path: Path) -> EvalReport:
    """Read a saved report.

    Raises:
        EvaluationError: the file cannot be read or is not a report.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"Cannot read the evaluation report {path}: {exc}.") from exc
    return EvalReport.from_json(data)


def saved_reports(folder: Path) -> list[Path]:
    """Saved report files, oldest first (names sort by time)."""
    return sorted(folder.glob("eval-*.json")) if folder.is_dir() else []


def _share(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return sum(known) / len(known) if known else None


# --- the terminal table --------------------------------------------------------------------


def render(report: EvalReport, *, worst: int = 5) -> str:
    """The report as text for a terminal."""
    lines = [f"Evaluation {report.label!r} ({report.created[:19]}Z)"]
    setup = report.setup
    lines.append(
        "  gold set: {gold} ({items} items); collection {collection!r}; context {context}; "
        "top_k {top_k}".format(
            gold=Path(str(setup.get("gold", "?"))).name,
            items=setup.get("items", "?"),
            collection=setup.get("collection", "?"),
            context=setup.get("context", "?"),
            top_k=setup.get("top_k", "?"),
        )  # fmt: skip
    )
    if report.answers:
        d = report.cross_entropy
        s = report.summary()["answers"]
        lines += [
            "",
            f"Answer scoring: {report.model} (lower is better)",
            f"  {'':24}{'mean':>8}{'median':>8}{'p90':>8}{'min':>8}{'max':>8}",
            f"  {'cross-entropy (nats/tok)':24}{d.mean:8.3f}{d.median:8.3f}{d.p90:8.3f}"
            f"{d.minimum:8.3f}{d.maximum:8.3f}",
            f"  {'perplexity':24}{math.exp(d.mean):8.2f}{math.exp(d.median):8.2f}"
            f"{math.exp(d.p90):8.2f}{math.exp(d.minimum):8.2f}{math.exp(d.maximum):8.2f}",
            f"  token perplexity {report.token_perplexity:.2f}; "
            f"{s['nats_per_char_mean']:.3f} nats/char"
            + (
                f"; expected source in the prompt for {s['source_in_context']:.0%} of items"
                if s["source_in_context"] is not None
                else ""
            )
            + (f"; the app would refuse {s['refused']}" if s["refused"] else ""),
            "",
            f"  worst {min(worst, len(report.answers))} items:",
        ]
        for a in report.worst(worst):
            tokens = ", ".join(f"{t.strip() or repr(t)!s} {p:.1f}" for t, p in a.worst)
            where = "" if a.source_in_context is not False else "  [source not in prompt]"
            lines.append(
                f"    {a.id:<22} CE {a.cross_entropy:6.3f}  PPL {a.perplexity:8.2f}  "
                f"least likely: {tokens}{where}"
            )
    if report.accuracy:
        lines += ["", *_render_accuracy(report)]
    if report.retrieval:
        header = "".join(f"{'R@' + str(k):>7}" for k in RECALL_KS)
        lines += ["", "Retrieval scoring (higher is better)"]
        lines.append(f"  {'mode':<9}{header}{'MRR':>7}{'nDCG@10':>9}")
        for r in report.retrieval:
            recall = "".join(f"{v:7.2f}" for v in r.recall.values())
            lines.append(f"  {r.mode:<9}{recall}{r.mrr:7.3f}{r.ndcg10:9.3f}")
        lines.append(f"  ({len(report.retrieval[0].items)} items with an expected source)")
    return "\n".join(lines)


def _render_accuracy(report: EvalReport) -> list[str]:
    s = summarize(report.accuracy)

    def pct(value: float | None) -> str:
        return f"{value:.0%}" if value is not None else "-"

    lines = [
        f"Answer accuracy: {report.model} ({s['answerable']} answerable, {s['unanswerable']} "
        "unanswerable; greedy decoding)",
        f"  answer holds the fact        {pct(s['holds_fact'])}",
        f"  shown quote holds it         {pct(s['source_holds_fact'])}",
        f"  abstained when unanswerable  {pct(s['abstention'])}",
        f"  quotes verbatim in passage   {pct(s['quotes_verified'])}",
        f"  time to first token (median) {s['first_token_s_median']} s; "
        f"{s['tokens_per_second_median']} tokens/s; prompt {s['prompt_tokens_median']} tokens",
    ]
    wrong = [c for c in report.accuracy if not c.correct]
    if wrong:
        lines.append(f"  not right ({len(wrong)}):")
        for check in wrong:
            answer = " ".join(check.answer.split())
            answer = answer if len(answer) <= 70 else answer[:67] + "..."
            why = "answered" if check.unanswerable else ("abstained" if check.abstained else "")
            lines.append(f"    {check.id:<22} {why:<10} {answer}")
    return lines


def render_comparison(reports: list[EvalReport]) -> str:
    """Several runs side by side, one line each."""
    header = f"{'run':<28}{'items':>6}{'CE mean':>9}{'PPL':>8}"
    modes = sorted({r.mode for rep in reports for r in rep.retrieval})
    header += "".join(f"{m + ' MRR':>13}" for m in modes)
    lines = [header]
    for rep in reports:
        s = rep.summary()
        a = s.get("answers")
        row = f"{rep.label[:27]:<28}{len(rep.answers) or '-':>6}"
        row += (
            f"{a['cross_entropy_mean']:9.3f}{a['perplexity_of_mean']:8.2f}"
            if a
            else f"{'-':>9}{'-':>8}"
        )
        for m in modes:
            value = s.get("retrieval", {}).get(m, {}).get("mrr")
            row += f"{value:13.3f}" if value is not None else f"{'-':>13}"
        lines.append(row)
    return "\n".join(lines)
