"""Hostile and broken documents: each ends within its limits with a recorded reason (issue 8).

One import, parsing in the sandboxed child process with a time and a memory limit, takes a
folder of hostile files mixed with good ones. Every hostile file is refused with a reason a
person can act on (or imported harmlessly, where that is the right outcome), every good file
is imported, progress keeps coming, and the report prints.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli.knowledge import ImportAccount, format_report, report_to_dict
from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings
from assistant.knowledge.records import FailureKind, ProgressEvent
from tests.knowledge.corpus import build_corpus, write_encrypted_pdf, write_image_only_pdf
from tests.robustness import hostile

pytestmark = pytest.mark.slow

TIMEOUT_S = 20.0
SANDBOXED = KnowledgeSettings(
    parse_timeout_s=TIMEOUT_S, parse_memory_bytes=1 << 30, chunk_tokens=60, chunk_overlap_tokens=10
)
SECRET = "TOPSECRET-7f3a"

#: file name -> (expected failure kind, words its reason must hold); a None kind means the file
#: is imported (harmlessly).
EXPECTED: dict[str, tuple[FailureKind | None, str]] = {
    "bomb.pdf": (FailureKind.TOO_LARGE, "decompression bomb"),
    "inline-image.pdf": (FailureKind.CORRUPT, "could not be read as pdf"),
    "nested.pdf": (FailureKind.CORRUPT, "nested too deeply"),
    "truncated.pdf": (FailureKind.CORRUPT, "could not be read as pdf"),
    "locked.pdf": (FailureKind.ENCRYPTED, "password"),
    "scan.pdf": (FailureKind.NO_TEXT, "OCR"),
    "ten-thousand-pages.pdf": (FailureKind.TOO_LARGE, "10,000 pages"),
    "external-entity.docx": (None, ""),
    "laughs.docx": (FailureKind.CORRUPT, "could not be read as docx"),
    "lying-zip.docx": (FailureKind.CORRUPT, "damaged"),
    "laughs.html": (None, ""),
    "hangs.html": (FailureKind.TIMEOUT, "longer than 20 s"),
    "program.txt": (FailureKind.CORRUPT, "binary data"),
    "empty.txt": (FailureKind.EMPTY, "empty"),
    "blob.txt": (None, ""),
    "one-long-line.txt": (None, ""),
    "vanishes.txt": (FailureKind.UNREADABLE, "cannot be read"),
    "caf\ufffd.txt": (FailureKind.UNREADABLE, "not valid UTF-8"),
    "line\nbreak.txt": (None, ""),
    "-dash 'quote' \u2603 \U0001f600.md": (None, ""),
}


def build_hostile_folder(folder: Path, secret: Path) -> None:
    folder.mkdir(parents=True)
    builders: list[Callable[[], Path]] = [
        lambda: hostile.pdf_decompression_bomb(folder / "bomb.pdf"),
        lambda: hostile.pdf_inline_image_without_end(folder / "inline-image.pdf"),
        lambda: hostile.pdf_deeply_nested(folder / "nested.pdf"),
        lambda: hostile.pdf_truncated(folder / "truncated.pdf"),
        lambda: write_encrypted_pdf(folder / "locked.pdf"),
        lambda: write_image_only_pdf(folder / "scan.pdf"),
        lambda: hostile.pdf_many_pages(folder / "ten-thousand-pages.pdf"),
        lambda: hostile.docx_external_entity(folder / "external-entity.docx", secret),
        lambda: hostile.docx_billion_laughs(folder / "laughs.docx"),
        lambda: hostile.docx_lying_zip_bomb(folder / "lying-zip.docx"),
        lambda: hostile.html_billion_laughs(folder / "laughs.html"),
        lambda: hostile.html_that_hangs_the_parser(folder / "hangs.html"),
        lambda: hostile.binary_named_txt(folder / "program.txt"),
        lambda: hostile.giant_single_line(folder / "blob.txt", mib=2),
        lambda: hostile.giant_line_of_words(folder / "one-long-line.txt", words=100_000),
    ]
    for build in builders:
        build()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "vanishes.txt").write_text("Here now, gone soon.", encoding="utf-8")
    (folder / "line\nbreak.txt").write_text("The gate code changes weekly.", encoding="utf-8")
    (folder / "-dash 'quote' \u2603 \U0001f600.md").write_text(
        "# Rations\n\nThe depot holds ninety days of rations.", encoding="utf-8"
    )
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"A Latin-1 file name from an old share.")


def test_hostile_files_are_refused_with_reasons_and_the_rest_import(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    folder = tmp_path / "docs"
    build_hostile_folder(folder, secret)
    good = build_corpus(folder / "good")
    events: list[tuple[float, ProgressEvent]] = []

    def progress(event: ProgressEvent) -> None:
        events.append((time.monotonic(), event))
        vanishing = folder / "vanishes.txt"
        if event.current_file is not None and vanishing.exists():
            vanishing.unlink()  # scanned, then gone before it is read

    started = time.monotonic()
    with KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(), settings=SANDBOXED) as kb:
        report = kb.ingest([folder], on_progress=progress)
        elapsed = time.monotonic() - started
        failed = {f.path.name: f for f in report.failed}
        imported = {d.name: d for d in report.imported}

        for name, (kind, words) in EXPECTED.items():
            if kind is None:
                assert name in imported, (name, failed.get(name))
            else:
                assert name in failed, (name, imported.get(name))
                assert failed[name].kind is kind, (name, failed[name])
                assert words in failed[name].reason, (name, failed[name].reason)
        assert {p.name for p in good.values()} <= set(imported)
        assert len(report.failed) == sum(1 for k, _ in EXPECTED.values() if k is not None)

        # The ledger keeps each refusal and its reason (what `docs list` shows later).
        documents = kb.documents()
        recorded = {d.name: d for d in documents if d.status.value == "failed"}
        for name in ("bomb.pdf", "hangs.html", "program.txt", "lying-zip.docx"):
            assert recorded[name].error == failed[name].reason

        # Imported harmlessly: no entity was expanded or resolved, no chunk is oversized.
        texts = [c.text for d in imported.values() for c in kb.chunks(d)]
        assert not any(SECRET in t for t in texts)
        assert not any("lollol" in t for t in texts)
        assert "Quarterly figures" in kb.chunks(imported["external-entity.docx"])[0].text
        assert max(len(t) for t in texts) <= 60 * 12  # the chunker's character cap
        hits = kb.search("ninety days of rations", top_k=5)
        assert any(hit.path.suffix == ".md" for hit in hits)

    # Bounded: the hanging file costs its time limit, everything else a few seconds.
    assert elapsed < TIMEOUT_S + 90, elapsed
    gaps = [b - a for (a, _), (b, _) in zip(events, events[1:], strict=False)]
    assert max(gaps) < TIMEOUT_S + 30  # progress kept coming: a GUI stays responsive
    account = ImportAccount.of(report, documents, elapsed_s=elapsed)
    text = format_report(account)  # every odd name prints (no encoding error)
    assert "caf\ufffd.txt" in text
    text.encode("utf-8")
    json.dumps(report_to_dict(account), ensure_ascii=False).encode("utf-8")
    print(f"hostile import: {elapsed:.1f} s, {len(report.failed)} refused, "
          f"{len(report.imported)} imported")  # fmt: skip
