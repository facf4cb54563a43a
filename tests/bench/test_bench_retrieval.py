"""bench/bench_retrieval.py runs end to end at a tiny size (real MiniLM, real Chroma on disk),
and its caches replay what they stored instead of embedding or building again.

The checks are on consistency (every side measured, ratios that follow from the figures, exact
search agreeing with HNSW on a tiny index, counts that match), never on speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.knowledge.embedder import HashEmbedder
from bench.bench_retrieval import MIB, VectorCache, cached_index, exact_top, questions
from tests.bench.runner import run_bench


@pytest.mark.embedder
@pytest.mark.slow
def test_tiny_run_reports_consistent_figures(tmp_path: Path) -> None:
    target, workdir = tmp_path / "retrieval.json", tmp_path / "work"
    result = run_bench(
        "bench_retrieval", target, "--sizes", "300", "--queries", "10",
        "--ef-search", "100,200", "--workdir", str(workdir),
    )  # fmt: skip

    (size,) = result["sizes"]
    assert size["chunks"] == size["index"]["chunks"] == 300
    assert size["embedder"] == result["embedder"]
    assert size["index"]["embedded_now"] == 300
    assert not size["index"]["from_cache"]
    assert size["index"]["build_s"] > 0
    assert size["index"]["disk_mib"]["chroma"] > 0
    assert size["queries"] == 10
    assert size["candidates"] == 20
    latency = size["latency_ms"]
    for name, spread in latency.items():
        assert 0 < spread["p50"] <= spread["p95"] <= spread["max"], name
    # Per query, each part lies inside the search that contains it, so the medians keep order.
    assert latency["hydration_fetch"]["p50"] <= latency["rest"]["p50"]
    assert latency["query_embedding"]["p50"] <= latency["searcher"]["p50"]
    assert latency["query_embedding"]["p50"] <= latency["embedding_plus_numpy"]["p50"]
    ratios = size["ratios"]
    assert ratios["chroma_over_numpy_p50"] == pytest.approx(
        latency["chroma_query"]["p50"] / latency["numpy_bruteforce"]["p50"], rel=0.01, abs=0.01
    )
    assert ratios["hybrid_over_embedding_plus_numpy_p50"] == pytest.approx(
        latency["hybrid_search"]["p50"] / latency["embedding_plus_numpy"]["p50"], abs=0.01
    )
    # HNSW over 300 vectors is all but exact.
    for quality in (size["recall"], *size["ef_search_sweep"]):
        assert 0.9 <= quality["recall_at_10"] <= 1
        assert 0.9 <= quality["recall_at_20"] <= 1
        assert quality["worst_recall_at_10"] <= quality["recall_at_10"]
        assert -1e-4 <= quality["similarity_shortfall_at_10"] < 0.01
    assert [row["ef_search"] for row in size["ef_search_sweep"]] == [100, 200]
    assert size["vector_norms"] == pytest.approx([1.0, 1.0], abs=1e-3)
    memory = size["memory_mib"]
    assert memory["numpy_matrix"] == round(300 * 384 * 4 / MIB, 1)
    assert 0 < memory["rss_embedder_loaded"] <= memory["peak_rss"]
    assert len(result["load_average_start"]) == len(size["load_average"]["start"]) == 3
    # The vectors and the built index were kept for the next run.
    assert list((workdir / "vectors").rglob("vectors-seed*-n300.npy"))
    assert len(list((workdir / "index").glob("*/build.json"))) == 1


def test_vector_cache_embeds_only_texts_it_has_not_seen(tmp_path: Path) -> None:
    embedder = HashEmbedder(dimension=16)
    first = VectorCache(tmp_path, seed=7, embedder=embedder)
    texts = [f"passage number {i}" for i in range(5)]
    vectors = first.embed(texts)
    assert first.embedded == 5
    assert embedder.calls == 1
    assert np.array_equal(first.embed(texts[::-1]), vectors[::-1])  # replayed, not embedded
    assert embedder.calls == 1
    first.save()

    again = VectorCache(tmp_path, seed=7, embedder=embedder)
    assert again.loaded == 5
    assert np.array_equal(again.embed(texts[2:]), vectors[2:])
    assert again.embedded == 0
    again.embed(["a new passage"])
    assert again.embedded == 1
    again.save()  # the larger file replaces the smaller one
    assert sorted(p.name for p in tmp_path.glob("vectors-*")) == ["vectors-seed7-n6.npy"]
    assert VectorCache(tmp_path, seed=8, embedder=embedder).loaded == 0  # another seed


def test_index_is_built_once_then_served_from_the_cache(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    cache = VectorCache(tmp_path / "vectors", seed=3, embedder=embedder)
    index, build = cached_index(tmp_path, 200, seed=3, cache=cache, embedder=embedder)
    assert build["chunks"] == 200
    assert not build["from_cache"]
    assert cache.embedded == 200
    assert (index / "knowledge.sqlite3").is_file()
    assert (index / "chroma").is_dir()
    calls = embedder.calls
    again, replayed = cached_index(tmp_path, 200, seed=3, cache=cache, embedder=embedder)
    assert again == index
    assert replayed == {**build, "from_cache": True}
    assert embedder.calls == calls
    # Another size is another index; its first 200 passages reuse the cached vectors.
    _, bigger = cached_index(tmp_path, 300, seed=3, cache=cache, embedder=embedder)
    assert bigger["chunks"] == 300
    assert bigger["embedded_now"] == 100


def test_exact_top_matches_a_full_sort() -> None:
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((500, 32)).astype(np.float32)
    vector = rng.standard_normal(32).astype(np.float32)
    assert list(exact_top(matrix, vector, 20)) == list(np.argsort(-(matrix @ vector))[:20])


def test_questions_name_items_the_corpus_holds() -> None:
    asked = questions(12, 300)
    assert len(set(asked)) == 12
    assert all(0 <= int(q.rsplit(" ", 1)[1]) < 300 for q in asked)
