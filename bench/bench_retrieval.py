"""Retrieval latency at 10k and 100k chunks: the app's hybrid search against brute-force numpy.

Run from the repository root (the real embedder, Chroma and SQLite FTS5 on disk, nothing
downloaded)::

    PYTHONPATH=. .venv/bin/python bench/bench_retrieval.py [--sizes 10000,100000] [--queries 100]
        [--workdir ~/.cache/enclave-bench/retrieval] [--json FILE]

For each size, a knowledge base of synthetic passages (``bench_ingest.fill_synthetic``: 100 per
document, the real ``KnowledgeBase`` with Chroma and FTS5) is built once and kept in
``--workdir``; so are the passages' MiniLM vectors, keyed by seed and text, because embedding
100k passages on two cores takes an hour on a busy machine. A cached index is keyed by what
decides its bytes (see :func:`index_key`) and copied to a temporary folder before each run, so
the cached copy is never opened for writing. Its build time is the one measured when it was
built (``from_cache`` says so); ``--no-index-cache`` builds afresh.

Each size is measured in a fresh child process (so its RSS is its own). For the same questions,
taken in turn with the order of the measurements rotated query by query, it times:

- ``KnowledgeBase.search`` end to end (query embedding, Chroma HNSW, FTS5 BM25, fusion,
  hydration), and its parts, timed inside one search by the app's own ``HybridSearcher`` over
  timing wrappers of its embedder, vector store and lexical index;
- the reference: brute-force numpy over the same normalized vectors (read back from Chroma, a
  matrix in RAM), ``M @ q`` then ``argpartition``, given the same query vector;
- Chroma's query alone (the app's candidate count of results), and Chroma's ``count()``, which
  ``DenseStore.query`` calls before every query.

Chroma's HNSW results are scored against numpy's exact top-k (recall@10 and recall at the app's
candidate count), then again for each ``--ef-search`` value (Chroma reads a changed
``ef_search`` only when the collection is opened again, so each value gets a fresh client).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

import assistant.offline  # noqa: F401, I001 - the benchmark runs behind the socket guard too
from assistant.knowledge import KnowledgeBase, MiniLMEmbedder
from assistant.knowledge import store as store_module
from assistant.knowledge.db import MIGRATIONS
from assistant.knowledge.embedder import Embedder
from assistant.knowledge.lexical import LexicalIndex, LexicalMatch, StoredChunk
from assistant.knowledge.search import HybridSearcher
from assistant.knowledge.store import DenseMatch, DenseStore
from assistant.knowledge.terms import TermWeights
from bench import bench_ingest
from bench.bench_ingest import QUESTIONS, fill_synthetic, percentile, sentence
from bench.common import add_json_option, load_averages, report, rss_mib

if TYPE_CHECKING:
    from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
TIMED = (
    "hybrid_search", "searcher", "query_embedding", "dense", "lexical", "rest", "hydration_fetch",
    "numpy_bruteforce", "chroma_query", "chroma_count", "embedding_plus_numpy",
)  # fmt: skip
COLLECTION = "default"  # where fill_synthetic writes
MIB = 1024 * 1024


def default_workdir() -> Path:
    return Path.home() / ".cache" / "enclave-bench" / "retrieval"


def folder_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MIB, 1)


def spread_ms(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max of durations in seconds, as milliseconds."""
    return {
        "p50": round(statistics.median(values) * 1000, 2),
        "p95": round(percentile(list(values), 0.95) * 1000, 2),
        "max": round(max(values) * 1000, 2),
    }


def questions(count: int, size: int) -> list[str]:
    """``count`` questions: the app-shaped ones, each naming an item code the corpus holds."""
    return [f"{QUESTIONS[i % len(QUESTIONS)]} item {(i * 7919) % size}" for i in range(count)]


# --- the vectors, cached between runs ---------------------------------------------------------


class VectorCache:
    """An embedder for ``fill_synthetic`` that replays cached vectors and embeds only new texts.

    Keyed by the exact text, so a cache made for 100k passages serves 10k with the same seed
    (the first 10k texts are the same) and can never hand back another passage's vector.
    Saved as ``vectors-seed{S}-n{N}.npy`` with ``texts-seed{S}-n{N}.json`` beside it.
    """

    def __init__(self, folder: Path, *, seed: int, embedder: Embedder) -> None:
        self._folder = folder
        self._seed = seed
        self._embedder = embedder
        self.name, self.dimension = embedder.name, embedder.dimension
        self.max_tokens = embedder.max_tokens
        self._vectors: dict[str, NDArray[np.float32]] = {}  # rows of the loaded or new arrays
        self.loaded = 0
        self.embedded = 0  # texts embedded by this process
        self.embed_s = 0.0  # time spent embedding them
        self.save_s = 0.0  # time spent writing the cache
        self._unsaved = 0
        found = sorted(folder.glob(f"vectors-seed{seed}-n*.npy"), key=self._count)
        if found:
            texts = json.loads(self._texts_file(self._count(found[-1])).read_text("utf-8"))
            vectors = np.load(found[-1])
            if len(texts) == len(vectors) and vectors.shape[1] == self.dimension:
                self._vectors.update(zip(texts, vectors, strict=True))
                self.loaded = len(texts)

    @staticmethod
    def _count(path: Path) -> int:
        return int(path.stem.rsplit("-n", 1)[1])

    def _texts_file(self, count: int) -> Path:
        return self._folder / f"texts-seed{self._seed}-n{count}.json"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            started = time.perf_counter()
            vectors = self._embedder.embed(missing)
            self.embed_s += time.perf_counter() - started
            self.embedded += len(missing)
            self._vectors.update(zip(missing, vectors, strict=True))
            self._unsaved += len(missing)
            if self._unsaved >= 20_000:  # an interrupted 100k run keeps most of its work
                self.save()
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32, copy=False)

    def count_tokens(self, text: str) -> int:
        return self._embedder.count_tokens(text)

    def __len__(self) -> int:
        return len(self._vectors)

    def save(self) -> None:
        """Write every known vector (written whole, then renamed), replacing smaller files."""
        if not self._unsaved:
            return
        started = time.perf_counter()
        self._folder.mkdir(parents=True, exist_ok=True)
        count = len(self._vectors)
        target = self._folder / f"vectors-seed{self._seed}-n{count}.npy"
        with open(target.with_suffix(".partial"), "wb") as out:
            np.save(out, np.stack(list(self._vectors.values())))
        texts = self._texts_file(count)
        texts.with_suffix(".partial").write_text(json.dumps(list(self._vectors)), "utf-8")
        texts.with_suffix(".partial").replace(texts)
        target.with_suffix(".partial").replace(target)
        for old in self._folder.glob(f"vectors-seed{self._seed}-n*.npy"):
            if self._count(old) < count:
                old.unlink()
                self._texts_file(self._count(old)).unlink(missing_ok=True)
        self._unsaved = 0
        self.save_s += time.perf_counter() - started


# --- the index, cached between runs -----------------------------------------------------------


def index_key(seed: int, size: int, embedder: str) -> str:
    """The cache key of a built index: what decides the bytes ``fill_synthetic`` writes.

    Chroma's files depend on the chromadb version and on ``store.py`` (the collection's HNSW
    settings, what each row holds); the SQLite file on the schema, named by its migrations
    (an index from an older schema is migrated on open, as the app does); the content on the
    passage generator's source, the seed, the size and the embedder.
    """
    digest = hashlib.sha256(f"{version('chromadb')}|{embedder}|{seed}|{size}".encode())
    digest.update("|".join(name for name, _ in MIGRATIONS).encode())
    digest.update(inspect.getsource(store_module).encode())
    digest.update((inspect.getsource(fill_synthetic) + inspect.getsource(sentence)).encode())
    digest.update(" ".join(bench_ingest.WORDS).encode())
    return f"seed{seed}-n{size}-{digest.hexdigest()[:12]}"


def build_index(
    folder: Path, size: int, *, seed: int, cache: VectorCache, embedder: Embedder
) -> dict[str, Any]:
    """Write ``size`` synthetic passages into a new knowledge base at ``folder / "kb"``.

    Returns:
        The build's figures; ``build_s`` leaves out the time spent embedding and saving vectors
        (when they were not cached yet), so it is the cost of writing Chroma and the FTS5
        index.
    """
    embed_before, embedded_before, save_before = cache.embed_s, cache.embedded, cache.save_s
    load = load_averages()
    try:
        with KnowledgeBase.open(folder / "kb", embedder=embedder) as kb:
            fill_s = fill_synthetic(kb, cast(MiniLMEmbedder, cache), size, random.Random(seed))
            chunks = kb._lexical.count(COLLECTION)
        saving_s = cache.save_s - save_before  # saved while building (every 20k new vectors)
    finally:
        cache.save()
    embed_s = cache.embed_s - embed_before
    build_s = fill_s - embed_s - saving_s
    embedded = cache.embedded - embedded_before
    return {
        "chunks": chunks,
        "build_s": round(build_s, 1),
        "build_chunks_per_s": round(chunks / build_s, 1),
        "embedded_now": embedded,
        "embed_s": round(embed_s, 1),
        "embed_texts_per_s": round(embedded / embed_s, 1) if embedded else None,
        "disk_mib": {
            "total": folder_mib(folder / "kb"),
            "sqlite_fts5": round((folder / "kb" / "knowledge.sqlite3").stat().st_size / MIB, 1),
            "chroma": folder_mib(folder / "kb" / "chroma"),
        },
        "load_average": load + load_averages(),
    }


def cached_index(
    workdir: Path, size: int, *, seed: int, cache: VectorCache, embedder: Embedder
) -> tuple[Path, dict[str, Any]]:
    """The built index for ``size`` in ``workdir`` (building it first when missing)."""
    folder = workdir / "index" / index_key(seed, size, embedder.name)
    if (folder / "build.json").is_file():
        build = json.loads((folder / "build.json").read_text(encoding="utf-8"))
        return folder / "kb", {**build, "from_cache": True}
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build = build_index(partial, size, seed=seed, cache=cache, embedder=embedder)
    (partial / "build.json").write_text(json.dumps(build, indent=2), encoding="utf-8")
    partial.replace(folder)
    return folder / "kb", {**build, "from_cache": False}


# --- timing one search's parts -----------------------------------------------------------------


class _Laps:
    """Durations recorded by the wrappers below during one search."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, part: str, started: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - started


class _TimedEmbedder:
    def __init__(self, inner: Embedder, laps: _Laps) -> None:
        self._inner, self._laps = inner, laps
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        started = time.perf_counter()
        try:
            return self._inner.embed(texts)
        finally:
            self._laps.time("query_embedding", started)

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)


class _TimedDense:
    def __init__(self, inner: DenseStore, laps: _Laps) -> None:
        self._inner, self._laps = inner, laps

    def query(
        self, collection: str, vector: NDArray[np.float32], **options: Any
    ) -> list[DenseMatch]:
        started = time.perf_counter()
        try:
            return self._inner.query(collection, vector, **options)
        finally:
            self._laps.time("dense", started)


class _TimedLexical:
    def __init__(self, inner: LexicalIndex, laps: _Laps) -> None:
        self._inner, self._laps = inner, laps

    def search(self, query: str, collection: str, **options: Any) -> list[LexicalMatch]:
        started = time.perf_counter()
        try:
            return self._inner.search(query, collection, **options)
        finally:
            self._laps.time("lexical", started)

    def fetch(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        started = time.perf_counter()
        try:
            return self._inner.fetch(chunk_ids)
        finally:
            self._laps.time("hydration_fetch", started)

    def term_weights(self, terms: Sequence[str], collection: str) -> TermWeights:
        started = time.perf_counter()
        try:
            return self._inner.term_weights(terms, collection)
        finally:
            self._laps.time("term_weights", started)


# --- the child process: one size --------------------------------------------------------------


def exact_top(matrix: NDArray[np.float32], vector: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """The reference: the rows of ``matrix`` with the ``k`` largest dot products, best first."""
    scores = matrix @ vector
    k = min(k, len(scores))
    top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
    return top[np.argsort(-scores[top])]


def stored_vectors(handle: Any, count: int) -> tuple[list[str], NDArray[np.float32]]:
    """Every id and vector Chroma holds, read in slices (one float32 matrix in RAM)."""
    ids: list[str] = []
    matrix = np.empty((count, 0), dtype=np.float32)
    for offset in range(0, count, 5000):
        got = handle.get(include=["embeddings"], limit=5000, offset=offset)
        block = np.asarray(got["embeddings"], dtype=np.float32)
        if matrix.shape[1] == 0:
            matrix = np.empty((count, block.shape[1]), dtype=np.float32)
        matrix[len(ids) : len(ids) + len(block)] = block
        ids.extend(got["ids"])
    return ids, matrix[: len(ids)]


@dataclass(frozen=True)
class Ranking:
    """Nearest chunks to a query, best first, with their cosine similarities."""

    ids: list[str]
    similarities: list[float]

    @classmethod
    def from_chroma(cls, result: dict[str, Any]) -> Ranking:
        # Chroma's cosine distance is 1 - cosine similarity.
        return cls(list(result["ids"][0]), [1.0 - float(d) for d in result["distances"][0]])


def agreement(found: Ranking, exact: Ranking, pool: int) -> dict[str, float]:
    """How close an approximate ranking is to the exact one, for one query.

    ``recall`` is the share of the exact top-k ids found; ``shortfall`` is how much lower the
    mean similarity of the found top 10 is than the exact top 10's (0 when the misses were
    exact ties, as happens when near-duplicate passages swap places).
    """
    top = min(10, len(exact.ids))
    return {
        "recall_at_10": len(set(found.ids[:10]) & set(exact.ids[:10])) / top,
        f"recall_at_{pool}": len(set(found.ids[:pool]) & set(exact.ids[:pool])) / len(exact.ids),
        "similarity_shortfall_at_10": float(
            np.mean(exact.similarities[:10]) - np.mean(found.similarities[:10])
        ),
    }


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each agreement figure over the queries, and the worst query's."""
    summary: dict[str, float] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        worst = max(values) if name.startswith("similarity") else min(values)
        summary[name] = round(statistics.mean(values), 4)
        summary[f"worst_{name}"] = round(worst, 4)
    return summary


def chroma_handle(store: DenseStore) -> Any:
    handle = store._collection(COLLECTION, create=False)  # the benchmark reads Chroma directly
    assert handle is not None, "the index has no vectors"
    return handle


def ef_search_sweep(
    chroma_dir: Path,
    embedder: Embedder,
    vectors: list[NDArray[np.float32]],
    exact: list[Ranking],
    *,
    pool: int,
    values: Sequence[int],
) -> list[dict[str, Any]]:
    """Chroma's recall and latency for each ``ef_search``, set on the collection and reopened.

    chromadb 1.5.9 stores a modified ``ef_search`` at once, but it hands ``ef_search`` to the
    HNSW index when it loads it (chroma-core/chroma#4097), so a loaded index keeps the old value
    (measured: recall unchanged in the same client, changed after reopening). Hence the close
    and reopen for each value.
    """
    rows = []
    for ef in values:
        store = DenseStore(chroma_dir, embedder)
        try:
            chroma_handle(store).modify(configuration={"hnsw": {"ef_search": ef}})
        except ValueError as exc:
            # The change is stored; chromadb then fails to rebuild its client-side copy of the
            # configuration because our embedding function is not registered with
            # @register_embedding_function. The reopened collection's value is checked below.
            if "Embedding function" not in str(exc):
                raise
        store.close()
        store = DenseStore(chroma_dir, embedder)
        handle = chroma_handle(store)
        handle.query(query_embeddings=[vectors[0]], n_results=pool, include=[])  # loads HNSW
        took, quality = [], []
        for vector, truth in zip(vectors, exact, strict=True):
            started = time.perf_counter()
            found = handle.query(query_embeddings=[vector], n_results=pool, include=["distances"])
            took.append(time.perf_counter() - started)
            quality.append(agreement(Ranking.from_chroma(found), truth, pool))
        applied = handle.configuration_json["hnsw"]["ef_search"]
        assert applied == ef, f"ef_search {ef} was not applied (the collection has {applied})"
        rows.append({"ef_search": ef, "chroma_query_ms": spread_ms(took), **summarize(quality)})
        store.close()
    return rows


class _Trial:
    """The measurements of one question; each records its time and what it found."""

    def __init__(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        *,
        top_k: int,
        pool: int,
        matrix: NDArray[np.float32],
        ids: list[str],
    ) -> None:
        self.kb, self.top_k, self.pool = kb, top_k, pool
        self.matrix, self.ids = matrix, ids
        dense = kb._dense_store()
        self.handle = chroma_handle(dense)
        self.laps = _Laps()
        self.searcher = HybridSearcher(  # what KnowledgeBase.search builds, over timed parts
            dense=cast(DenseStore, _TimedDense(dense, self.laps)),
            lexical=cast(LexicalIndex, _TimedLexical(kb._lexical, self.laps)),
            embedder=_TimedEmbedder(embedder, self.laps),
        )
        self.times: dict[str, list[float]] = {name: [] for name in TIMED}
        self.found: dict[str, Ranking] = {}

    def hybrid(self, question: str, vector: NDArray[np.float32]) -> None:
        started = time.perf_counter()
        hits = self.kb.search(question, top_k=self.top_k)
        self.times["hybrid_search"].append(time.perf_counter() - started)
        assert len(hits) == min(self.top_k, len(self.ids)), len(hits)

    def parts(self, question: str, vector: NDArray[np.float32]) -> None:
        self.laps.seconds.clear()
        started = time.perf_counter()
        self.searcher.search(question, collection=COLLECTION, top_k=self.top_k)
        total = time.perf_counter() - started
        split = dict(self.laps.seconds)
        self.times["searcher"].append(total)
        for part in ("query_embedding", "dense", "lexical", "hydration_fetch"):
            self.times[part].append(split[part])
        # Fusion, hydration (fetch included) and building the hits.
        self.times["rest"].append(
            total - split["query_embedding"] - split["dense"] - split["lexical"]
        )

    def brute_force(self, question: str, vector: NDArray[np.float32]) -> None:
        started = time.perf_counter()
        top = exact_top(self.matrix, vector, self.pool)
        self.times["numpy_bruteforce"].append(time.perf_counter() - started)
        scores = self.matrix[top] @ vector
        self.found["exact"] = Ranking([self.ids[i] for i in top], [float(x) for x in scores])

    def chroma(self, question: str, vector: NDArray[np.float32]) -> None:
        started = time.perf_counter()
        result = self.handle.query(
            query_embeddings=[vector], n_results=self.pool, include=["distances"]
        )
        self.times["chroma_query"].append(time.perf_counter() - started)
        self.found["chroma"] = Ranking.from_chroma(result)

    def count(self, question: str, vector: NDArray[np.float32]) -> None:
        # DenseStore.query asks Chroma for the collection's size before every query.
        started = time.perf_counter()
        self.handle.count()
        self.times["chroma_count"].append(time.perf_counter() - started)

    def run(self, number: int, question: str, vector: NDArray[np.float32]) -> None:
        """All of them, starting with a different one for each question, so the machine's noise
        falls on every side."""
        steps = [self.hybrid, self.parts, self.brute_force, self.chroma, self.count]
        turn = number % len(steps)
        for step in steps[turn:] + steps[:turn]:
            step(question, vector)
        self.times["embedding_plus_numpy"].append(
            self.times["query_embedding"][-1] + self.times["numpy_bruteforce"][-1]
        )


def measure(
    index_dir: Path, *, chunks: int, queries: int, top_k: int, ef_values: Sequence[int]
) -> dict[str, Any]:
    """Time the searches on the knowledge base at ``index_dir`` (run in a fresh process)."""
    load_start = load_averages()
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up the model before timing"])
    memory = {"rss_embedder_loaded": rss_mib()}
    pool = max(4 * top_k, 20)  # HybridSearcher's default candidate count
    quality: list[dict[str, float]] = []
    vectors: list[NDArray[np.float32]] = []
    exact: list[Ranking] = []
    with KnowledgeBase.open(index_dir, embedder=embedder) as kb:
        kb.open_index()
        for question in QUESTIONS[:3]:  # load the HNSW index, warm SQLite's page cache
            kb.search(question, top_k=top_k)
        memory["rss_index_open"] = rss_mib()
        handle = chroma_handle(kb._dense_store())
        ef_as_built = handle.configuration_json["hnsw"]["ef_search"]
        ids, matrix = stored_vectors(handle, handle.count())
        norms = np.linalg.norm(matrix, axis=1)
        memory["rss_with_numpy_matrix"] = rss_mib()
        memory["numpy_matrix"] = round(matrix.nbytes / MIB, 1)
        trial = _Trial(kb, embedder, top_k=top_k, pool=pool, matrix=matrix, ids=ids)
        exact_top(matrix, embedder.embed(["warm up numpy"])[0], pool)
        for number, question in enumerate(questions(queries, chunks)):
            vector = embedder.embed([question])[0]  # the same query vector for both searches
            trial.run(number, question, vector)
            vectors.append(vector)
            exact.append(trial.found["exact"])
            quality.append(agreement(trial.found["chroma"], trial.found["exact"], pool))
        memory["rss_after_queries"] = rss_mib()
        memory["peak_rss"] = rss_mib("VmHWM")
        load_timed = load_averages()
    latency = {name: spread_ms(values) for name, values in trial.times.items()}
    sweep = ef_search_sweep(
        index_dir / "chroma", embedder, vectors, exact, pool=pool, values=ef_values
    )

    def ratio(top: str, bottom: str, at: str = "p50") -> float:
        return round(latency[top][at] / latency[bottom][at], 2)

    return {
        "chunks": len(ids),
        "embedder": embedder.name,
        "vector_norms": [round(float(norms.min()), 4), round(float(norms.max()), 4)],
        "queries": queries,
        "top_k": top_k,
        "candidates": pool,
        "latency_ms": latency,
        "ratios": {
            "chroma_over_numpy_p50": ratio("chroma_query", "numpy_bruteforce"),
            "chroma_over_numpy_p95": ratio("chroma_query", "numpy_bruteforce", "p95"),
            "hybrid_over_embedding_plus_numpy_p50": ratio("hybrid_search", "embedding_plus_numpy"),
            "hybrid_over_embedding_plus_numpy_p95": ratio(
                "hybrid_search", "embedding_plus_numpy", "p95"
            ),
        },
        "recall": {"ef_search": ef_as_built, **summarize(quality)},
        "ef_search_sweep": sweep,
        "memory_mib": memory,
        "load_average": {"start": load_start, "after_timing": load_timed},
    }


def run_child(index_dir: Path, *, chunks: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = {
        "index": str(index_dir),
        "chunks": chunks,
        "queries": args.queries,
        "top_k": args.top_k,
        "ef_search": args.ef_search,
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process for {chunks} chunks failed ({done.returncode})")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts, comma-separated")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--top-k", type=int, default=5, help="passages per search (app: 5)")
    parser.add_argument("--seed", type=int, default=20240304)
    parser.add_argument(
        "--ef-search", default="50,100,200,400", help="HNSW ef_search values to sweep"
    )
    parser.add_argument(
        "--workdir", type=Path, default=default_workdir(), help="vector and index cache"
    )
    parser.add_argument("--no-index-cache", action="store_true", help="build each index afresh")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    args.ef_search = [int(v) for v in args.ef_search.split(",") if v.strip()]
    if args.child:
        spec = json.loads(args.child)
        figures = measure(
            Path(spec["index"]), chunks=spec["chunks"], queries=spec["queries"],
            top_k=spec["top_k"], ef_values=spec["ef_search"],
        )  # fmt: skip
        print(json.dumps(figures), flush=True)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir.expanduser()
    results: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "chromadb": version("chromadb"),
        "numpy": np.__version__,
        "seed": args.seed,
        "workdir": str(workdir),
        "load_average_start": load_averages(),
        "sizes": [],
    }
    embedder = MiniLMEmbedder()  # the app's default; the child process makes the same one
    results["embedder"] = embedder.name
    cache = VectorCache(workdir / "vectors" / embedder.name, seed=args.seed, embedder=embedder)
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="enclave-retrieval-") as tmp:
            print(
                f"{size} chunks: index ({len(cache)} vectors cached) ...",
                file=sys.stderr,
                flush=True,
            )
            if args.no_index_cache:
                build = build_index(Path(tmp), size, seed=args.seed, cache=cache, embedder=embedder)
                index_dir, build = Path(tmp) / "kb", {**build, "from_cache": False}
            else:
                cached, build = cached_index(
                    workdir, size, seed=args.seed, cache=cache, embedder=embedder
                )
                started = time.perf_counter()
                index_dir = Path(tmp) / "kb"
                shutil.copytree(cached, index_dir)
                build["copy_s"] = round(time.perf_counter() - started, 1)
            print(f"{size} chunks: measuring ...", file=sys.stderr, flush=True)
            figures = run_child(index_dir, chunks=size, args=args)
        assert figures["chunks"] == build["chunks"] == size, (figures["chunks"], build["chunks"])
        assert figures["embedder"] == embedder.name, figures["embedder"]
        results["sizes"].append(
            {"chunks": size, "index": build, **{k: v for k, v in figures.items() if k != "chunks"}}
        )
    results["load_average_end"] = load_averages()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
