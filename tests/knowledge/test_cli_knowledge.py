"""The knowledge-base commands, driven through argparse with a knowledge base injected."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    assert f"imported {len(corpus)}, unchanged 0, failed 1, not documents 0, removed 0" in out
    assert "locked.pdf: could not be read as pdf" in out
    assert cli("ingest", str(corpus["report"].parent), "--collection", "ops") == 0
    assert f"imported 0, unchanged {len(corpus)}, failed 1" in capsys.readouterr().out


def test_ingest_of_nothing_usable_exits_non_zero(cli, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("ingest", str(tmp_path / "nope.pdf")) == 1
    out = capsys.readouterr().out
    assert "failed 0, not documents 0, not found 1, removed 0" in out
    assert f"not found  {tmp_path / 'nope.pdf'}: does not exist" in out


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
    assert "default: 1 document searchable, 0 failed, " in capsys.readouterr().out


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


def _ingest_json(cli, capsys, *argv: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    status = cli("ingest", "--json", *argv)
    return status, json.loads(capsys.readouterr().out)


def test_ingest_docs_list_and_collections_give_one_account(cli, corpus, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: a named file of no document type is "not a document" in every command; a
    document that cannot be read is "failed" in ingest, listed by docs list, counted by docs
    collections; a path that is not there is "not found" and nowhere recorded."""
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "photo.bin").write_bytes(b"\x7fELF\x02\x01")  # in a folder: passed over
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 cut off")
    (folder / "notes.txt").write_text("The archive opens at nine.", encoding="utf-8")
    named = tmp_path / "tool.exe"
    named.write_bytes(b"MZ\x90\x00")
    status, report = _ingest_json(cli, capsys, str(folder), str(named), str(tmp_path / "gone.txt"))
    assert status == 0  # notes.txt was imported
    assert [d["name"] for d in report["imported"]] == ["notes.txt"]
    assert [Path(f["path"]).name for f in report["failed"]] == ["broken.pdf"]
    assert sorted(Path(f["path"]).name for f in report["not_documents"]) == [
        "photo.bin", "tool.exe"
    ]  # fmt: skip
    assert [Path(f["path"]).name for f in report["not_found"]] == ["gone.txt"]

    assert cli("docs", "list", "--json") == 0
    listed = {d["name"]: d["status"] for d in json.loads(capsys.readouterr().out)}
    assert listed == {"notes.txt": "indexed", "broken.pdf": "failed"}
    assert cli("docs", "collections", "--json") == 0
    (default,) = json.loads(capsys.readouterr().out)
    assert (default["indexed"], default["failed"]) == (1, len(report["failed"]))
    assert cli("docs", "collections") == 0
    assert capsys.readouterr().out.startswith("default: 1 document searchable, 1 failed, ")

    # the same import again: the same account, with the imported file now unchanged
    assert cli("ingest", str(folder), str(named)) == 0
    out = capsys.readouterr().out
    assert "imported 0, unchanged 1, failed 1, not documents 2, removed 0" in out
    assert f"not a document  {named}: has an unsupported type .exe" in out


def test_ingest_of_only_non_documents_exits_1(cli, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    named = tmp_path / "tool.exe"
    named.write_bytes(b"MZ\x90\x00")
    assert cli("ingest", str(named)) == 1
    out = capsys.readouterr().out
    assert "imported 0, unchanged 0, failed 0, not documents 1, removed 0" in out
    assert cli("docs", "list") == 0
    assert "No documents yet" in capsys.readouterr().out


def test_the_ingest_time_counts_start_up(paths, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: the summary's time is the command's, opening the index included."""
    import time

    from assistant.cli.knowledge import cmd_ingest

    note = tmp_path / "note.txt"
    note.write_text("The archive opens at nine.", encoding="utf-8")

    class SlowStart:
        def __init__(self) -> None:
            time.sleep(0.6)  # what opening Chroma and the embedder costs a real start
            self.paths = paths
            self.knowledge = KnowledgeBase.open(
                paths.index_dir, embedder=HashEmbedder(), settings=FAST
            )

        def close(self) -> None:
            self.knowledge.close()

    args = argparse.Namespace(paths=[str(note)], collection="default", json=True)
    assert cmd_ingest(args, lambda _: SlowStart()) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["elapsed_s"] >= 0.6 > report["import_s"]


def test_docs_list_columns_align_whatever_the_names(cli, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: a long name or collection shifts no column."""
    short = tmp_path / "a.txt"
    short.write_text("Short.", encoding="utf-8")
    long = tmp_path / ("a-very-long-file-name-that-goes-on-" * 2 + ".md")
    long.write_text("# Long\n\nA longer note.", encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 cut off")
    cli("ingest", str(short), str(long))
    cli("ingest", str(broken), "--collection", "a-long-collection-name")
    capsys.readouterr()
    assert cli("docs", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "COLLECTION", "PAGES", "PASSAGES", "NAME"]
    assert len(lines) == 4
    header = lines[0]
    for heading in ("STATUS", "COLLECTION", "NAME"):  # left-aligned: every cell starts there
        at = header.index(heading)
        assert all(line[at - 2 : at] == "  " and line[at] != " " for line in lines), lines
    for heading in ("PAGES", "PASSAGES"):  # right-aligned: every cell ends there
        at = header.index(heading) + len(heading)
        assert all(line[at - 1] != " " and line[at : at + 2] == "  " for line in lines), lines
    assert any("broken.pdf  (corrupt: could not be read as pdf" in line for line in lines)
