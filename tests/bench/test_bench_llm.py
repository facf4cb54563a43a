"""The language-model benchmarks run end to end at a tiny size with the real SmolLM2 model.

They check what each benchmark reports is consistent (every side measured, ratios that follow
from the figures, the structural facts the benchmark relies on), never how fast anything was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import plots
from tests.bench import runner

pytestmark = [pytest.mark.model, pytest.mark.slow]


def run_bench(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run ``bench/bench_<name>.py``; its JSON goes to ``tmp_path/results/<name>.json``."""
    target = tmp_path / "results" / f"{script.removeprefix('bench_')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    return runner.run_bench(script, target, *args)


def test_decode_measures_every_side_and_derives_the_ratios(smol_path: Path, tmp_path: Path) -> None:
    result = run_bench("bench_decode", tmp_path, "--runs", "2", "--tokens", "12")
    runs = result["all_runs_tok_s"]
    assert set(runs) == {"c_loop", "generate", "app", "app_top5"}
    assert all(len(values) == 2 and min(values) > 0 for values in runs.values())
    assert result["ratio_app_over_c_loop"] == pytest.approx(
        result["app_tok_s"] / result["c_loop_tok_s"], rel=0.02
    )
    assert len(result["load_average"]) == 3
    # the app runs its default (one thread per physical core), the references every CPU
    from assistant.engine.cpu import allowed_cpus, physical_cores

    assert result["threads"] == physical_cores()
    assert result["raw_threads"] == len(allowed_cpus())
    # The documentation's picture is drawn from exactly this file.
    (png,) = plots.draw(tmp_path / "results", tmp_path / "png")
    assert png.name == "decode.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_size > 5_000


def test_ttft_reuses_the_prefix_it_claims(smol_path: Path, tmp_path: Path) -> None:
    result = run_bench(
        "bench_ttft", tmp_path, "--runs", "1", "--sources", "2", "--answer-tokens", "8"
    )
    follow_up, same, new = (
        result["follow_up"],
        result["rag_same_sources"],
        result["rag_new_sources"],
    )
    # Warm runs reuse almost the whole prompt when the sources stay, little when they change.
    assert 0.8 * follow_up["prompt_tokens"] < follow_up["cached_prompt_tokens"]
    assert follow_up["cached_prompt_tokens"] < follow_up["prompt_tokens"]
    assert same["cached_prompt_tokens"] > 0.9 * same["prompt_tokens"]
    assert new["cached_prompt_tokens"] < 0.5 * new["prompt_tokens"]
    for case in (follow_up, same, new):
        assert case["warm_ttft_s"] > 0
        assert case["cold_ttft_s"] > 0


def test_memory_compares_peak_rss_with_model_and_kv_cache(smol_path: Path, tmp_path: Path) -> None:
    result = run_bench("bench_memory", tmp_path, "--context", "1024", "--sources", "1")
    assert result["model_file_mib"] == pytest.approx(smol_path.stat().st_size / 2**20, abs=0.1)
    for name in ("plain", "prompt_lookup_10"):
        figures = result[name]
        assert figures["rss_before_load_mib"] < figures["rss_loaded_mib"] <= figures["peak_rss_mib"]
        assert figures["peak_over_model_plus_kv"] == pytest.approx(
            figures["peak_rss_mib"] / figures["model_plus_kv_mib"], abs=0.01
        )


def test_answers_bench_reports_accuracy_and_speed_per_model_and_format(
    smol_path: Path, tmp_path: Path
) -> None:
    result = run_bench(
        "bench_answers", tmp_path, "--model", str(smol_path), "--format", "attributed",
        "quote-first", "--limit", "4", "--items",
    )  # fmt: skip
    runs = result["runs"]
    assert [r["format"] for r in runs] == ["attributed", "quote-first"]
    for run in runs:
        assert run["items"] == 4
        assert run["quotes_verified"] == 1.0
        assert 0.0 <= run["holds_fact"] <= 1.0
        assert run["first_token_s_median"] > 0
        assert len(run["checks"]) == 4
    assert result["gold_sha256"]


def test_rag_ttft_bench_compares_the_app_with_raw_prefill(smol_path: Path, tmp_path: Path) -> None:
    result = run_bench(
        "bench_rag_ttft", tmp_path, "--model", str(smol_path), "--questions", "2",
        "--corpus", "eval", "--window", "30",
    )  # fmt: skip
    for key in ("eval_whole", "eval_window_30"):
        figures = result[key]
        assert figures["questions"] == 2
        assert figures["app_ttft_median_s"] > 0
        assert figures["raw_prefill_median_s"] > 0
        assert figures["ratio_median"] > 0
    # a window is never longer than the whole passage
    assert (
        result["eval_window_30"]["prompt_tokens_median"]
        <= result["eval_whole"]["prompt_tokens_median"]
    )


def test_extraction_bench_scores_both_modes_and_the_grammar_speed(
    smol_path: Path, tmp_path: Path
) -> None:
    result = run_bench(
        "bench_extraction", tmp_path, "--model", str(smol_path), "--limit", "2", "--speed", "1",
        "--items",
    )  # fmt: skip
    grounded, free = result["runs"]
    assert (grounded["mode"], free["mode"]) == ("grounded", "free")
    assert grounded["documents"] == 2
    assert grounded["fields"] == len(grounded["checks"]) == 12  # two invoices, six fields each
    assert grounded["spans_verified"] in (None, 1.0)  # every span shown is its passage's
    assert result["speed"]["ratio"] == pytest.approx(
        result["speed"]["constrained_tokens_per_second_median"]
        / result["speed"]["unconstrained_tokens_per_second_median"],
        rel=0.01,
    )


def test_schema_sample_bench_counts_every_schema_once(smol_path: Path, tmp_path: Path) -> None:
    result = run_bench("bench_schemas", tmp_path, "--model", str(smol_path), "--limit", "3")
    assert result["schemas"] == 3
    assert result["valid"] + result["refused"] + result["failed"] == 3
    assert len(result["not_valid"]) == result["refused"] + result["failed"]  # each with a reason
