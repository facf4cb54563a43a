"""Importing with the fake embedder: incremental re-imports, replacement, removal, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.engine.base import CancelToken
from assistant.errors import CollectionNotFoundError, DocumentNotFoundError, KnowledgeError
from assistant.knowledge import (
    DocumentStatus,
    FailureKind,
    HashEmbedder,
    IngestStage,
    KnowledgeBase,
    ProgressEvent,
)
from assistant.knowledge.db import Database
from tests.knowledge.conftest import FAST
from tests.knowledge.corpus import write_encrypted_pdf, write_image_only_pdf


def texts(kb: KnowledgeBase, query: str, **kwargs: object) -> list[str]:
    return [hit.text for hit in kb.search(query, **kwargs)]  # type: ignore[arg-type]


def test_a_folder_imports_every_supported_file(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    report = kb.ingest([corpus["report"].parent])
    assert {d.name for d in report.imported} == {p.name for p in corpus.values()}
    assert not report.failed
    assert report.pages >= 4
    statuses = {d.name: d.status for d in kb.documents()}
    assert set(statuses.values()) == {DocumentStatus.INDEXED}
    report_doc = next(d for d in kb.documents() if d.name == "nightjar-report.pdf")
    assert report_doc.pages == 4
    assert report_doc.kind == "pdf"


def test_reimporting_unchanged_files_is_a_no_op(
    kb: KnowledgeBase, corpus: dict[str, Path], hash_embedder: HashEmbedder
) -> None:
    folder = corpus["report"].parent
    first = kb.ingest([folder])
    calls = hash_embedder.calls
    before = {d.id: d.imported_at for d in kb.documents()}
    second = kb.ingest([folder])
    assert not second.imported
    assert len(second.skipped) == len(first.imported)
    assert hash_embedder.calls == calls  # nothing re-embedded
    assert {d.id: d.imported_at for d in kb.documents()} == before


def test_a_changed_file_replaces_its_chunks(kb: KnowledgeBase, tmp_path: Path) -> None:
    note = tmp_path / "docs" / "note.txt"
    note.parent.mkdir()
    note.write_text("The courier password is pelican.", encoding="utf-8")
    kb.ingest([note.parent])
    assert "pelican" in texts(kb, "courier password")[0]
    note.write_text("The courier password is albatross.", encoding="utf-8")
    report = kb.ingest([note.parent])
    assert [d.name for d in report.imported] == ["note.txt"]
    found = texts(kb, "courier password pelican", top_k=10)
    assert all("pelican" not in t for t in found)
    assert "albatross" in found[0]
    assert kb.collections()[0].chunks == 1


def test_a_file_gone_from_the_folder_is_removed(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    folder = corpus["report"].parent
    kb.ingest([folder])
    corpus["note"].unlink()
    report = kb.ingest([folder])
    assert [d.name for d in report.removed] == ["note.txt"]
    assert "note.txt" not in {d.name for d in kb.documents()}
    assert all("hangar 7" not in t for t in texts(kb, "generator hangar fuel filters", top_k=20))


def test_remove_deletes_from_both_indexes(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    kb.ingest([corpus["report"].parent])
    assert any("hangar 7" in t for t in texts(kb, "generator hangar fuel filters"))
    removed = kb.remove("note.txt")
    assert removed.name == "note.txt"
    assert all("hangar 7" not in t for t in texts(kb, "generator hangar fuel filters", top_k=20))
    assert kb._dense_store().count("default") == sum(d.chunks for d in kb.documents())
    with pytest.raises(DocumentNotFoundError, match="docs list"):
        kb.remove("note.txt")


def test_bad_files_are_reported_and_the_rest_import(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("Useful words about lighthouses.", encoding="utf-8")
    write_encrypted_pdf(folder / "locked.pdf")
    write_image_only_pdf(folder / "scan.pdf")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4 truncated")
    (folder / "empty.md").write_bytes(b"")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    report = kb.ingest([folder, tmp_path / "missing.txt"])
    assert [d.name for d in report.imported] == ["good.txt"]
    kinds = {f.path.name: f.kind for f in report.failed}
    assert kinds == {
        "locked.pdf": FailureKind.ENCRYPTED,
        "scan.pdf": FailureKind.NO_TEXT,
        "corrupt.pdf": FailureKind.CORRUPT,
        "empty.md": FailureKind.EMPTY,
        "missing.txt": FailureKind.UNREADABLE,
    }
    # a picture in a folder is not a document: passed over, said once, not a failure
    assert [p.name for p in report.not_documents] == ["photo.jpg"]
    assert report.not_documents_summary == "skipped 1 picture (.jpg): not documents"
    ledger = {d.name: d for d in kb.documents()}
    assert ledger["locked.pdf"].status is DocumentStatus.FAILED
    assert "password" in ledger["locked.pdf"].error
    assert "photo.jpg" not in ledger
    again = kb.ingest([folder])  # same bytes: same verdict, without parsing again
    assert {f.path.name for f in again.failed} >= {"locked.pdf", "scan.pdf", "corrupt.pdf"}


def test_a_file_named_on_its_own_gets_its_reason(kb: KnowledgeBase, tmp_path: Path) -> None:
    picture = tmp_path / "photo.gif"  # (a PNG, JPEG or TIFF is read by OCR: test_ocr*.py)
    picture.write_bytes(b"GIF89a")
    report = kb.ingest([picture])
    (failed,) = report.failed
    assert failed.kind is FailureKind.UNSUPPORTED
    assert "unsupported type .gif" in failed.reason
    assert report.not_documents == ()


def test_pictures_archives_and_programs_are_summed_up_by_kind(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "desk"
    folder.mkdir()
    for n in range(10):
        (folder / f"shot-{n}.png").write_bytes(b"\x89PNG\r\n")
    (folder / "bundle.zip").write_bytes(b"PK\x03\x04")
    (folder / "noname").write_bytes(b"\x7fELF\x02\x01")  # a program, known by its bytes
    (folder / "notes.txt").write_text("The archive opens at nine.", encoding="utf-8")
    report = kb.ingest([folder])
    assert [d.name for d in report.imported] == ["notes.txt"]
    assert report.failed == ()
    assert report.not_documents_summary == (
        "skipped 10 pictures (.png), 1 archive (.zip), 1 program or library: not documents"
    )


def test_progress_reports_every_file(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    kb.ingest([corpus["report"].parent], on_progress=events.append)
    assert events[0].stage is IngestStage.SCANNING
    assert events[-1].stage is IngestStage.DONE
    assert events[-1].done == events[-1].total == len(corpus)
    assert events[-1].imported == len(corpus)
    done = [e.done for e in events]
    assert done == sorted(done)
    parsed = {
        e.current_file.name for e in events if e.stage is IngestStage.PARSING and e.current_file
    }
    assert parsed == {p.name for p in corpus.values()}


def test_chunks_are_embedded_in_batches_across_documents(
    tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"n{i:02}.txt").write_text(f"Note number {i} about topic {i}.", encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "index", embedder=hash_embedder, settings=FAST) as kb:
        report = kb.ingest([folder])
    assert len(report.imported) == 30
    assert hash_embedder.calls <= 2  # 30 one-chunk files, batch size 64: one call


def test_an_interrupted_import_is_invisible_then_redone(
    kb: KnowledgeBase, corpus: dict[str, Path]
) -> None:
    kb.ingest([corpus["note"]])
    note = kb.document("note.txt")
    # Simulate a crash between parsing and indexing: the row is left "parsed".
    with kb._db.transaction() as conn:
        conn.execute("UPDATE documents SET status = 'parsed' WHERE id = ?", (note.id,))
    assert all("hangar 7" not in t for t in texts(kb, "generator hangar fuel filters"))
    report = kb.ingest([corpus["note"]])
    assert [d.name for d in report.imported] == ["note.txt"]
    assert any("hangar 7" in t for t in texts(kb, "generator hangar fuel filters"))
    assert kb._dense_store().count("default") == kb.document("note.txt").chunks


def test_cancel_stops_before_the_next_file(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    cancel = CancelToken()
    cancel.cancel()
    report = kb.ingest([corpus["report"].parent], cancel=cancel)
    assert report.cancelled
    assert not report.imported


def test_collections_are_separate(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    kb.ingest([corpus["note"]], collection="ops")
    kb.ingest([corpus["manual"]], collection="field team")
    assert [c.name for c in kb.collections()] == ["field team", "ops"]
    assert all("hangar" not in t for t in texts(kb, "hangar generator", collection="field team"))
    with pytest.raises(CollectionNotFoundError, match="'field team', 'ops'"):
        kb.search("anything", collection="nope")
    with pytest.raises(KnowledgeError, match="collection name"):
        kb.ingest([corpus["note"]], collection="  ")


def test_search_can_be_limited_to_one_document(kb: KnowledgeBase, corpus: dict[str, Path]) -> None:
    kb.ingest([corpus["report"].parent])
    hits = kb.search("radar stations budget maintenance", document="nightjar-report.pdf", top_k=10)
    assert hits
    assert {h.document_name for h in hits} == {"nightjar-report.pdf"}


def test_the_index_survives_reopening(tmp_path: Path, corpus: dict[str, Path]) -> None:
    with KnowledgeBase.open(tmp_path / "idx", embedder=HashEmbedder(), settings=FAST) as kb:
        kb.ingest([corpus["note"]])
    with KnowledgeBase.open(tmp_path / "idx", embedder=HashEmbedder(), settings=FAST) as kb:
        assert "hangar 7" in kb.search("generator hangar")[0].text
        assert Database(tmp_path / "idx" / "knowledge.sqlite3").schema_version >= 1


def test_a_different_embedder_is_refused(tmp_path: Path, corpus: dict[str, Path]) -> None:
    with KnowledgeBase.open(tmp_path / "idx", embedder=HashEmbedder(), settings=FAST) as kb:
        kb.ingest([corpus["note"]])
    with KnowledgeBase.open(tmp_path / "idx", embedder=HashEmbedder(128), settings=FAST) as kb:
        assert kb.documents()  # listing needs no embedder
        with pytest.raises(KnowledgeError, match="built with the embedder 'hash-256'"):
            kb.search("generator")


def test_the_sample_library_imports_with_no_failures(kb: KnowledgeBase) -> None:
    """The first-run offer imports the project's docs/: its pictures are passed over, said once."""
    from assistant.config import source_root

    report = kb.ingest([source_root() / "docs"], collection="sample")
    assert report.failed == ()
    assert len(report.imported) >= 10
    pictures = [p for p in report.not_documents if p.suffix == ".png"]
    assert pictures
    assert report.not_documents_summary.startswith(f"skipped {len(pictures)} pictures (.png)")


@pytest.mark.embedder
def test_reimporting_a_changed_file_raises_no_chroma_warning(tmp_path: Path) -> None:
    """chromadb rebuilds a collection's embedding function from its saved config when a new
    process opens it; ours must be registered, or it warns "Could not reconstruct embedding
    function enclave" at the user."""
    from tests.conftest import run_cli

    folder = tmp_path / "notes"
    folder.mkdir()
    note = folder / "note.txt"
    note.write_text("The first version of the note.", encoding="utf-8")
    first = run_cli("ingest", str(folder))
    assert first.returncode == 0, first.stderr
    note.write_text("The second, changed version of the note.", encoding="utf-8")
    second = run_cli("ingest", str(folder))
    assert second.returncode == 0, second.stderr
    assert "imported 1" in second.stdout
    assert "Warning" not in second.stderr
    assert "reconstruct" not in second.stderr
