"""The knowledge-base commands, driven through argparse with a knowledge base injected."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from assistant.cli.common import add_global_options, run_command
from assistant.cli.knowledge import register
from assistant.config import Paths
from assistant.knowledge import HashEmbedder, KnowledgeBase
from tests.knowledge.conftest import FAST


@dataclass
class FakeApp:
    paths: Paths
    knowledge: KnowledgeBase

    def close(self) -> None:
        """The fixture owns the knowledge base and closes it after the test."""


@pytest.fixture
def cli(paths: Paths) -> Iterator[callable]:  # type: ignore[valid-type]
    kb = KnowledgeBase.open(paths.index_dir, embedder=HashEmbedder(), settings=FAST)
    parser = argparse.ArgumentParser(prog="assistant")
    add_global_options(parser)
    register(parser.add_subparsers(dest="command"), lambda args: FakeApp(paths, kb))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return run_command(args.handler, args)

    yield run
    kb.close()


def test_ingest_prints_a_summary_with_reasons(cli, corpus, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (corpus["report"].parent / "locked.pdf").write_bytes(b"%PDF-1.4 nope")
    assert cli("ingest", str(corpus["report"].parent), "--collection", "ops") == 0
    out = capsys.readouterr().out
    assert f"imported {len(corpus)}, skipped 0 (unchanged), failed 1" in out
    assert "locked.pdf: could not be read as pdf" in out
    assert cli("ingest", str(corpus["report"].parent), "--collection", "ops") == 0
    assert f"imported 0, skipped {len(corpus)}" in capsys.readouterr().out


def test_ingest_of_nothing_usable_exits_non_zero(cli, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("ingest", str(tmp_path / "nope.pdf")) == 1
    assert "does not exist" in capsys.readouterr().out


def test_docs_list_show_remove(cli, corpus, capsys) -> None:  # type: ignore[no-untyped-def]
    cli("ingest", str(corpus["report"]), str(corpus["note"]))
    capsys.readouterr()
    assert cli("docs", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in listed} == {"nightjar-report.pdf", "note.txt"}
    assert cli("docs", "show", "nightjar-report.pdf", "--chunks") == 0
    shown = capsys.readouterr().out
    assert "status     indexed" in shown
    assert "page 4" in shown
    assert "AB-1234/X" in shown
    assert cli("docs", "remove", "note.txt") == 0
    assert "Removed" in capsys.readouterr().out
    assert cli("docs", "remove", "note.txt") == 4
    err = capsys.readouterr().err
    assert err.startswith("error: No imported document matches 'note.txt'")
    assert cli("docs", "collections") == 0
    assert "default: 1 documents searchable" in capsys.readouterr().out


def test_search_prints_passages_with_their_location(cli, corpus, capsys) -> None:  # type: ignore[no-untyped-def]
    cli("ingest", str(corpus["report"].parent))
    capsys.readouterr()
    assert cli("search", "AB-1234/X", "--top-k", "2") == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] nightjar-report.pdf, page 4")
    assert cli("search", "AB-1234/X", "--json", "--top-k", "1") == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["page"] == 4
    assert data[0]["lexical_rank"] == 1
    assert cli("search", "x", "--collection", "missing") == 4
    assert "no collection named 'missing'" in capsys.readouterr().err
