"""Draw the figures of docs/benchmarks.md from the benchmarks' JSON results.

Each benchmark writes its figures with ``--json bench/results/<name>.json``; this script reads
whichever of those files exist and draws one PNG per benchmark into ``docs/benchmarks/``.
Nothing is measured here, so the pictures always match the tables' numbers.

Usage: PYTHONPATH=. .venv/bin/python bench/plots.py [--results bench/results]
       [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no Qt

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

HERE = Path(__file__).resolve().parent
APP, REFERENCE, OTHER = "#2b6cb0", "#a0aec0", "#dd6b20"

Result = Mapping[str, Any]


def _bars(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str],
    *,
    unit: str,
    fmt: str = "{:.1f}",
) -> None:
    """Horizontal bars, each labelled with its value: easier to read than a y axis."""
    positions = range(len(labels))
    ax.barh(list(positions), values, color=list(colors))
    ax.set_yticks(list(positions), labels=list(labels))
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    peak = max(values) if values else 1.0
    for y, value in zip(positions, values, strict=True):
        ax.text(value + peak * 0.01, y, fmt.format(value), va="center", fontsize=9)
    ax.set_xlim(0, peak * 1.18)
    ax.spines[["top", "right"]].set_visible(False)


def _figure(title: str, subtitle: str, rows: int = 1, height: float = 2.6) -> tuple[Figure, Any]:
    fig, axes = plt.subplots(rows, 1, figsize=(8, height * rows), squeeze=False)
    fig.suptitle(title, fontsize=12, x=0.02, ha="left")
    fig.text(0.02, 0.005, subtitle, fontsize=8, color="#4a5568")
    return fig, axes[:, 0]


def _load_note(result: Result) -> str:
    load = result.get("load_average")
    if isinstance(load, dict):  # {"before": [1, 5, 15 min], "after": [...]}: the 1-minute ones
        load = [values[0] for values in load.values() if values]
    if isinstance(load, list) and load:
        return f"load average {min(load):.1f}-{max(load):.1f}"
    if isinstance(load, int | float):
        return f"load average {load:.1f}"
    return ""


def decode(result: Result) -> Figure:
    fig, (ax,) = _figure(
        "Decode speed: the app's engine path against llama.cpp",
        f"{result['model']}, {result['threads']} threads, {result['tokens']} tokens, "
        f"median of {result['runs']} runs, {_load_note(result)}",
    )
    _bars(
        ax,
        ["llama.cpp C API loop", "llama-cpp-python generate", "app", "app + top-5 alternatives"],
        [
            result["c_loop_tok_s"],
            result["generate_tok_s"],
            result["app_tok_s"],
            result["app_with_top5_tok_s"],
        ],
        [REFERENCE, REFERENCE, APP, APP],
        unit="tokens/s",
    )
    return fig


def ttft(result: Result) -> Figure:
    fig, (ax,) = _figure(
        "Time to first token: KV-cache prefix reused (warm) against cold",
        f"{result['model']}, {result['threads']} threads, median of {result['runs']} runs, "
        f"{_load_note(result)}",
        height=3.2,
    )
    cases = [
        ("follow-up question", result["follow_up"]),
        ("RAG, same sources", result["rag_same_sources"]),
        ("RAG, new sources", result["rag_new_sources"]),
    ]
    labels, values, colors = [], [], []
    for name, case in cases:
        labels += [f"{name}: cold", f"{name}: warm"]
        values += [case["cold_ttft_s"], case["warm_ttft_s"]]
        colors += [REFERENCE, APP]
    _bars(ax, labels, values, colors, unit="seconds", fmt="{:.2f}")
    return fig


def lookup(result: Result) -> Figure:
    fig, (ax,) = _figure(
        "Prompt-lookup decoding: tokens/s on and off",
        f"{result['model']}, {result['draft_tokens']} draft tokens, {_load_note(result)}",
    )
    labels, values, colors = [], [], []
    for name, key in (("extractive RAG", "extractive_rag"), ("open prompts", "open_prompts")):
        case = result[key]
        labels += [f"{name}: off", f"{name}: on"]
        values += [case["tok_s_off"], case["tok_s_on"]]
        colors += [REFERENCE, APP]
    _bars(ax, labels, values, colors, unit="tokens/s")
    return fig


def memory(result: Result) -> Figure:
    fig, (ax,) = _figure(
        "Memory: peak RSS against the model file plus KV cache",
        f"{result['model']}, context {result['context']}",
    )
    plain = result["plain"]
    _bars(
        ax,
        ["model file + KV cache", "RSS loaded", "peak RSS (plain)", "peak RSS (prompt lookup)"],
        [
            plain["model_plus_kv_mib"],
            plain["rss_loaded_mib"],
            plain["peak_rss_mib"],
            result["prompt_lookup_10"]["peak_rss_mib"],
        ],
        [REFERENCE, APP, APP, OTHER],
        unit="MiB",
        fmt="{:.0f}",
    )
    return fig


def synthetic_7b(result: Result) -> Figure:
    decode, prefill = result["decode"], result["prefill"]
    one = decode.get("one_thread") or {}
    fig, (top, bottom) = _figure(
        "Synthetic 7B (Q4_K_M): decode against the memory-bandwidth bound, and prefill",
        f"{result['file']['gib']} GiB Q4_K_M, {result['threads']} threads, "
        f"median of {result['runs']} runs, {_load_note(result)}",
        rows=2,
        height=2.2,
    )
    labels = [f"bound ({result['threads']} threads)", f"decode ({result['threads']} threads)"]
    values = [decode["bound_tok_s"], decode["tok_s"]]
    colors = [REFERENCE, APP]
    if one:
        labels += ["bound (1 thread)", "decode (1 thread)"]
        values += [one["bound_tok_s"], one["tok_s"]]
        colors += [REFERENCE, APP]
    _bars(top, labels, values, colors, unit="tokens/s", fmt="{:.2f}")
    _bars(
        bottom,
        ["numpy sgemm (float32)", "llama.cpp prefill, 512 tokens"],
        [prefill["sgemm_gflop_s"], prefill["gflop_s"]],
        [REFERENCE, APP],
        unit="GFLOP/s",
        fmt="{:.0f}",
    )
    return fig


def retrieval(result: Result) -> Figure:
    sizes = result["sizes"]
    fig, axes = _figure(
        "Retrieval latency (p50): the app's hybrid search against brute-force numpy",
        f"median of {sizes[0]['queries']} queries per size; "
        f"load average {result['load_average_start'][0]:.1f} at start",
        rows=len(sizes),
        height=2.4,
    )
    for ax, size in zip(axes, sizes, strict=True):
        latency = size["latency_ms"]
        _bars(
            ax,
            [
                f"{size['chunks']:,}: numpy brute force",
                f"{size['chunks']:,}: Chroma HNSW",
                f"{size['chunks']:,}: FTS5 BM25",
                f"{size['chunks']:,}: query embedding",
                f"{size['chunks']:,}: hybrid search, all",
            ],
            [
                latency["numpy_bruteforce"]["p50"],
                latency["chroma_query"]["p50"],
                latency["lexical"]["p50"],
                latency["query_embedding"]["p50"],
                latency["hybrid_search"]["p50"],
            ],
            [REFERENCE, APP, APP, APP, APP],
            unit="milliseconds",
        )
    return fig


def startup(result: Result) -> Figure:
    gui, cli = result["gui"], result["cli"]
    window, raw = result["window_reference"], result["answer_reference"]
    fig, (ax,) = _figure(
        "Start-up: seconds from launch",
        f"{result['model']}, {result['threads']} thread(s), median of {result['runs']} runs, "
        f"{_load_note(result)}",
        height=3.6,
    )
    _bars(
        ax,
        [
            "bare PySide6 window: interactive",
            "GUI: window interactive",
            "GUI: model ready",
            "bare llama-cpp-python: first token",
            "assistant ask: first token",
            "GUI: first token",
            "bare llama-cpp-python: answer complete",
            "assistant ask: answer complete",
        ],
        [
            window["interactive_s"],
            gui["interactive_s"],
            gui["ready_s"],
            raw["first_token_s"],
            cli["first_token_s"],
            gui["first_token_s"],
            raw["complete_s"],
            cli["complete_s"],
        ],
        [REFERENCE, APP, APP, REFERENCE, APP, APP, REFERENCE, APP],
        unit="seconds",
        fmt="{:.2f}",
    )
    return fig


# name of the results file (without .json) -> the function that draws it
PLOTS: dict[str, Callable[[Result], Figure]] = {
    "decode": decode,
    "ttft": ttft,
    "lookup": lookup,
    "memory": memory,
    "7b": synthetic_7b,
    "retrieval": retrieval,
    "startup": startup,
}


def draw(results: Path, out: Path) -> list[Path]:
    """Draw every figure whose results file exists; return the PNGs written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in PLOTS.items():
        source = results / f"{name}.json"
        if not source.is_file():
            continue
        fig = plot(json.loads(source.read_text(encoding="utf-8")))
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        target = out / f"{name}.png"
        fig.savefig(target, dpi=110)
        plt.close(fig)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks")
    args = parser.parse_args(argv)
    written = draw(args.results, args.out)
    for path in written:
        print(path)
    if not written:
        print(f"No results in {args.results}: run the benchmarks with --json first.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
