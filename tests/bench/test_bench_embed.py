"""bench/bench_embed.py at a tiny size with the real parts: its figures must make sense."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_embed

pytestmark = [pytest.mark.embedder, pytest.mark.slow]


def test_tiny_run_reports_sane_figures(tmp_path: Path) -> None:
    out = tmp_path / "embed.json"
    code = bench_embed.main(
        ["--passages", "12", "--repeat", "1", "--batch-sizes", "4,8", "--library", "knowledge.md",
         "--backends", "onnx-int8", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))

    assert result["passages"] == 12
    assert result["distinct_passages"] > 1
    assert 10 < result["mean_tokens"] <= 256
    assert result["torch_threads"] >= 1
    assert len(result["load_average_before"]) == 3
    assert set(result["throughput"]) == {"app", "app_one_call", "encode_bs4", "encode_bs8",
                                         "onnx-int8"}  # fmt: skip
    for figures in result["throughput"].values():
        assert figures["passages_per_s"] > 0
        assert len(figures["runs_s"]) == 1
    assert result["limit"]["config"] in {"encode_bs4", "encode_bs8"}
    assert result["app_over_limit"] > 0
    assert result["backend_over_app"]["onnx-int8"] > 0
    assert result["skipped"] == {}
    assert 5 < result["file_mib"]["all-MiniLM-L6-v2-int8.onnx"] < 60  # int8: ~22 MiB

    int8 = result["quality"]["onnx-int8"]
    for key in ("cosine_passages", "cosine_questions"):
        assert 0.95 < int8[key]["min"] <= int8[key]["mean"] <= 1.0001
    assert result["gold_items"] > 0
    for backend in ("torch-fp32", "onnx-int8"):
        for mode in ("dense", "hybrid"):
            scores = result["quality"][backend]["retrieval"][mode]
            assert set(scores) == {"R@1", "R@3", "R@5", "R@10", "MRR", "nDCG@10"}
            assert all(0.0 <= v <= 1.0 for v in scores.values())
            assert scores["R@1"] <= scores["R@3"] <= scores["R@5"] <= scores["R@10"]
    # The fp32 index finds at least one expected passage in its top 10 over knowledge.md.
    assert result["quality"]["torch-fp32"]["retrieval"]["dense"]["R@10"] > 0
    assert 0.0 <= int8["top10_kept"]["dense"] <= 1.0


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown backend"):
        bench_embed.main(["--passages", "2", "--backends", "onnx-fp16", "--skip-retrieval",
                          "--library", "knowledge.md"])  # fmt: skip
