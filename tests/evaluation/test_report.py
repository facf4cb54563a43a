"""Reports: table, JSON round trip, the comparison plot, and where they are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from assistant.engine.fake import ScriptedEngine
from assistant.errors import EvaluationError
from assistant.evaluation.gold import load_gold
from assistant.evaluation.plot import plot_reports
from assistant.evaluation.report import EvalReport, load_report, render, render_comparison
from assistant.evaluation.runner import EvalPlan, evaluate, last_report, save_with_plot
from assistant.knowledge import KnowledgeBase


def _report(kb: KnowledgeBase, gold_file: Path, label: str, engine: ScriptedEngine) -> EvalReport:
    return evaluate(
        load_gold(gold_file), EvalPlan(collection="lib", top_k=3, max_tokens=64, label=label),
        knowledge=kb, engine=lambda: engine, embedder="hash-256",
    )  # fmt: skip


def test_a_run_renders_and_survives_json(kb: KnowledgeBase, gold_file: Path) -> None:
    report = _report(kb, gold_file, "scripted", ScriptedEngine())
    assert len(report.answers) == 5
    assert len(report.retrieval) == 3
    summary = report.summary()
    assert summary["retrieval"]["hybrid"]["mrr"] == 1.0
    assert summary["answers"]["items"] == 5
    assert [c.id for c in report.accuracy] == ["seal", "hotel-2019"]  # fact or unanswerable
    assert summary["accuracy"]["holds_fact"] == 0.0  # "I have no scripted answer."
    text = render(report, worst=2)
    assert "cross-entropy (nats/tok)" in text
    assert "nDCG@10" in text
    assert "worst 2 items:" in text
    assert "no-source" in text
    again = EvalReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again == report
    assert report.setup["embedder"] == "hash-256"
    assert report.setup["items"] == 5
    assert "Answer accuracy: scripted" in text


def test_saved_runs_are_compared_in_a_png(
    kb: KnowledgeBase, gold_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "evaluations"
    first = save_with_plot(_report(kb, gold_file, "first", ScriptedEngine()), folder)
    second_report = _report(kb, gold_file, "second/run", ScriptedEngine())
    second = save_with_plot(second_report.__class__(**{**second_report.__dict__,
                            "created": "2999-01-01T00:00:00+00:00"}), folder)  # fmt: skip
    assert last_report(folder) == second
    assert first != second
    assert second.name == "eval-29990101T000000-second-run.json"
    with Image.open(second.with_suffix(".png")) as image:
        assert image.format == "PNG"
        assert image.width == 1000
        assert image.height > 300
    table = render_comparison([load_report(first), load_report(second)])
    assert "first" in table.splitlines()[1]
    assert "second/run" in table.splitlines()[2]


def test_plotting_nothing_or_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="No evaluation reports"):
        plot_reports([], tmp_path / "x.png")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(EvaluationError, match="Not an Enclave evaluation report"):
        load_report(tmp_path / "other.json")
