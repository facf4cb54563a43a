"""Benchmark: import throughput against a naive one-chunk-at-a-time loop, and search latency.

Run from the repository root (the real embedder, Chroma on disk, nothing downloaded)::

    PYTHONPATH=. .venv/bin/python bench/bench_ingest.py [--pages 200] [--chunks 10000]

1. Import: a generated corpus (PDFs of ``--pages`` pages in all, ~180 words a page) goes through
   ``KnowledgeBase.ingest`` (parsing in the sandbox process, batched embedding, batched writes).
   The reference, measured in the same run on the same files, is the plain loop people write
   first: parse, chunk, then for each chunk embed it alone and add it alone to Chroma and to the
   full-text index (one commit each). Both report pages/s and chunks/s; the ratio is the speed-up.
2. Search: ``--chunks`` synthetic passages are embedded and indexed, then ``--queries``
   questions are timed through ``KnowledgeBase.search`` (query embedding, vector search, BM25,
   fusion, hydration): median and p95, plus the split between the parts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - the benchmark runs behind the socket guard too
from assistant.knowledge import KnowledgeBase, KnowledgeSettings, MiniLMEmbedder
from assistant.knowledge.chunker import Chunker
from assistant.knowledge.db import Database
from assistant.knowledge.importer import embedding_text, file_sha256
from assistant.knowledge.ledger import Ledger, document_id
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.loaders import load_file
from assistant.knowledge.records import Chunk, DocumentStatus, ParsedDocument
from assistant.knowledge.store import DenseStore
from bench.common import load_averages

WORDS = (
    "radar station budget maintenance contract engineer valve depot convoy fjord harbour "
    "inspection schedule report antenna storm calibration generator fuel filter supply warehouse "
    "personnel training safety dosimeter reactor hall archive folder borrow winter spring summer "
    "northern coastal network replacement order lead time weeks months team technician officer "
    "extension route bridge mill river paint boots uniform regulation procedure access log guard "
    "post badge waste gloves disposal contractor signal frequency cable mast battery solar panel"
).split()

QUESTIONS = [
    "When is the antenna recalibrated after a storm?",
    "Who services the radar stations in spring?",
    "How long is the lead time for replacement valves?",
    "What does the maintenance contract cover?",
    "Where is the supply warehouse?",
    "Which team handles generator fuel filters?",
    "What must staff wear in the reactor hall?",
    "How are contaminated gloves disposed of?",
    "What is the convoy route along the fjord?",
    "Which officer signs the access log?",
]


def sentence(rng: random.Random, code: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16)))
    return f"{body.capitalize()} item {code}."


def make_corpus(folder: Path, pages: int, rng: random.Random) -> list[Path]:
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    per_file = 20
    code = 0
    for number in range(0, pages, per_file):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        for _ in range(min(per_file, pages - number)):
            pdf.add_page()
            paragraphs = []
            for _ in range(3):
                paragraphs.append(" ".join(sentence(rng, code + i) for i in range(4)))
                code += 4
            pdf.multi_cell(0, 5, "\n\n".join(paragraphs))
        path = folder / f"report-{number // per_file:03}.pdf"
        pdf.output(str(path))
        files.append(path)
    return files


def naive_import(files: list[Path], index: Path, embedder: MiniLMEmbedder) -> tuple[int, int]:
    """The reference: everything one chunk at a time."""
    settings = KnowledgeSettings(isolate_parsing=False)
    db = Database(index / "knowledge.sqlite3")
    ledger, lexical = Ledger(db), LexicalIndex(db)
    dense = DenseStore(index / "chroma", embedder)
    chunker = Chunker(max_tokens=settings.chunk_tokens, count_tokens=embedder.count_tokens)
    pages = chunks = 0
    for path in files:
        parsed = load_file(path, settings)
        assert isinstance(parsed, ParsedDocument)
        sha = file_sha256(path)
        with db.transaction() as conn:
            doc = ledger.begin(conn, collection="naive", path=path, sha256=sha, kind="pdf", size=0)
        for chunk in chunker.chunk(doc, sha, parsed.sections):
            vector = embedder.embed([embedding_text(chunk)])
            dense.add("naive", [chunk], vector)
            with db.transaction() as conn:
                lexical.add_chunks(conn, "naive", path.name, [chunk])
            chunks += 1
        with db.transaction() as conn:
            ledger.set_status(conn, doc, DocumentStatus.INDEXED, pages=parsed.pages)
        pages += parsed.pages
    db.close()
    return pages, chunks


def fill_synthetic(
    kb: KnowledgeBase, embedder: MiniLMEmbedder, total: int, rng: random.Random
) -> float:
    """Write ``total`` synthetic chunks (100 per document) straight into both indexes."""
    started = time.perf_counter()
    db = kb._db
    ledger, lexical = Ledger(db), LexicalIndex(db)
    dense = kb._dense_store()
    per_doc = 100
    for number in range(0, total, per_doc):
        path = Path(f"/synthetic/doc-{number // per_doc:04}.txt")
        doc = document_id("default", path)
        chunks = []
        for index in range(min(per_doc, total - number)):
            text = " ".join(sentence(rng, number + index) for _ in range(2))
            chunks.append(Chunk(f"{doc}-{index}", doc, index, text, None, "", 0, len(text)))
        vectors = embedder.embed([c.text for c in chunks])
        dense.add("default", chunks, vectors)
        with db.transaction() as conn:
            ledger.begin(conn, collection="default", path=path, sha256=doc, kind="text", size=0)
            lexical.replace_document(conn, "default", path.name, chunks)
            ledger.set_status(conn, doc, DocumentStatus.INDEXED, pages=1, chunks=len(chunks))
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time used so far by this process and its reaped children.

    Less disturbed than wall time when other work shares the machine.
    """
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values) * 1000, 1),
        "p95": round(percentile(values, 0.95) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3, help="import runs of each kind")
    parser.add_argument("--skip-search", action="store_true", help="only the import part")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rng = random.Random(20240304)
    results: dict[str, object] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}

    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp:
        root = Path(tmp)
        files = make_corpus(root / "corpus", args.pages, rng)
        embedder = MiniLMEmbedder()
        embedder.embed(["warm up the model before timing"])

        pipeline_runs: list[float] = []
        naive_runs: list[float] = []
        pipeline_cpu: list[float] = []
        naive_cpu: list[float] = []
        # Alternate the two, and keep each one's best run: on a shared machine the minimum is
        # the figure least disturbed by other processes.
        for run in range(args.repeat):
            started, cpu = time.perf_counter(), cpu_seconds()
            with KnowledgeBase.open(root / f"pipeline-{run}", embedder=embedder) as kb:
                report = kb.ingest(files)
                pipeline_runs.append(time.perf_counter() - started)
            pipeline_cpu.append(cpu_seconds() - cpu)  # after close: the parser child is reaped
            with KnowledgeBase.open(root / f"pipeline-{run}", embedder=embedder) as kb:
                assert not report.failed, report.failed
                texts = [
                    embedding_text(chunk)
                    for document in kb.documents()
                    for chunk in kb.chunks(document)
                ]
            started, cpu = time.perf_counter(), cpu_seconds()
            naive_pages, naive_chunks = naive_import(files, root / f"naive-{run}", embedder)
            naive_runs.append(time.perf_counter() - started)
            naive_cpu.append(cpu_seconds() - cpu)
            assert (naive_pages, naive_chunks) == (report.pages, report.chunks)
        started = time.perf_counter()
        embedder.embed(texts)
        embedding_only_s = time.perf_counter() - started
        pipeline_s, naive_s = min(pipeline_runs), min(naive_runs)

        results["import"] = {
            "files": len(files),
            "pages": report.pages,
            "chunks": report.chunks,
            "pipeline_s": round(pipeline_s, 2),
            "pipeline_pages_per_s": round(report.pages / pipeline_s, 2),
            "pipeline_chunks_per_s": round(report.chunks / pipeline_s, 2),
            "naive_s": round(naive_s, 2),
            "naive_pages_per_s": round(naive_pages / naive_s, 2),
            "naive_chunks_per_s": round(naive_chunks / naive_s, 2),
            "speedup": round(naive_s / pipeline_s, 2),
            "embedding_alone_s": round(embedding_only_s, 2),
            "all_runs_s": {
                "pipeline": [round(t, 2) for t in pipeline_runs],
                "naive": [round(t, 2) for t in naive_runs],
            },
            "cpu_s": {  # user + system, this process and its children
                "pipeline": [round(t, 2) for t in pipeline_cpu],
                "naive": [round(t, 2) for t in naive_cpu],
            },
            "load_average": load_averages(),
        }
        print(json.dumps({"import": results["import"]}, indent=2), flush=True)

        if args.skip_search:
            return 0
        with KnowledgeBase.open(root / "search", embedder=embedder) as kb:
            fill_s = fill_synthetic(kb, embedder, args.chunks, rng)
            for question in QUESTIONS[:3]:  # warm the caches once
                kb.search(question)
            total, embed, dense, lexical = [], [], [], []
            for number in range(args.queries):
                question = QUESTIONS[number % len(QUESTIONS)] + f" item {number * 37}"
                t0 = time.perf_counter()
                hits = kb.search(question, top_k=5)
                total.append(time.perf_counter() - t0)
                assert len(hits) == 5
                t0 = time.perf_counter()
                vector = embedder.embed([question])[0]
                t1 = time.perf_counter()
                kb._dense_store().query("default", vector, limit=20)
                t2 = time.perf_counter()
                kb._lexical.search(question, "default", limit=20)
                t3 = time.perf_counter()
                embed.append(t1 - t0)
                dense.append(t2 - t1)
                lexical.append(t3 - t2)
            results["search"] = {
                "chunks": kb._lexical.count(),
                "index_build_s": round(fill_s, 1),
                "queries": args.queries,
                "median_ms": round(statistics.median(total) * 1000, 1),
                "p95_ms": round(percentile(total, 0.95) * 1000, 1),
                "query_embedding_ms": _spread(embed),
                "dense_ms": _spread(dense),
                "lexical_ms": _spread(lexical),
                "slowest_ms": [round(t * 1000, 1) for t in sorted(total)[-5:]],
            }
    print(json.dumps({"search": results["search"]}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
