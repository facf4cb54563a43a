"""``assistant eval``: the command, with the scripted engine and the hash embedder."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.cli.common import add_global_options, run_command
from assistant.cli.evaluate import register
from assistant.config import Paths, Settings
from assistant.engine.fake import ScriptedEngine
from assistant.knowledge import KnowledgeBase


@dataclass
class FakeApp:
    paths: Paths
    knowledge: KnowledgeBase
    engine: ScriptedEngine
    settings: Settings
    closed: bool = False

    def close(self) -> None:
        self.closed = True


def _run(app: FakeApp, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="assistant")
    add_global_options(parser)
    register(parser.add_subparsers(dest="command"), lambda args: app)
    args = parser.parse_args(["eval", *argv])
    return run_command(args.handler, args)


@pytest.fixture
def app(paths: Paths, kb: KnowledgeBase) -> FakeApp:
    return FakeApp(paths=paths, knowledge=kb, engine=ScriptedEngine(), settings=Settings())


def test_eval_prints_a_table_and_keeps_the_report(
    app: FakeApp, gold_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the two items with a fact or marked unanswerable are answered as the app would
    app.engine.enqueue("The seal kit is replaced every 2000 hours [1].", "120 euros [1].")
    assert _run(app, "--gold", str(gold_file), "--collection", "lib", "--label", "t1") == 0
    out, err = capsys.readouterr()
    assert "Answer scoring: scripted" in out
    assert "hybrid" in out
    assert "answer holds the fact        100%" in out
    assert "abstained when unanswerable  100%" in out  # "2019" is in no passage
    # progress went to stderr, with the items done: a long run is never silent
    assert "answers: 5/5" in err
    assert "accuracy: 2/2" in err
    saved = sorted((app.paths.home / "evaluations").glob("eval-*"))
    assert [p.suffix for p in saved] == [".json", ".png"]
    assert f"Report: {saved[0]}" in err
    assert app.closed


def test_json_output_and_compare(
    app: FakeApp, gold_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "r.json"
    _run(app, "--gold", str(gold_file), "--collection", "lib", "--json", "--no-save",
         "--no-answers", "--output", str(out_file))  # fmt: skip
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert printed["answers"] == []
    assert set(printed["retrieval"]) == {"dense", "lexical", "hybrid"}
    assert json.loads(out_file.read_text())["summary"] == printed["summary"]
    assert not (app.paths.home / "evaluations").exists()
    plot = tmp_path / "cmp.png"
    assert _run(app, "--compare", str(out_file), str(out_file), "--plot", str(plot)) == 0
    assert "hybrid MRR" in capsys.readouterr().out
    assert plot.stat().st_size > 1000


def test_a_missing_collection_says_how_to_import_it(
    app: FakeApp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(app, "--gold", "sample") == 2  # the docs/ gold set, over "sample"
    err = capsys.readouterr().err
    assert "There is no collection 'sample'" in err
    assert "assistant ingest" in err
    assert "--collection sample" in err
