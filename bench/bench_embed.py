"""Benchmark: embedding throughput against sentence-transformers' batched encode, and backends.

Run from the repository root (the real all-MiniLM-L6-v2, on the CPU, nothing downloaded)::

    PYTHONPATH=. .venv/bin/python bench/bench_embed.py [--passages 600] [--repeat 3]

The text set is the project's own ``docs/*.md`` cut by the app's loader and chunker (the
passages the importer embeds, heading included), repeated to ``--passages``.

1. Throughput, in passages/s, every configuration once per round, the order rotated each round:
   ``app`` is :class:`~assistant.knowledge.MiniLMEmbedder` with the fp32 ``torch`` backend,
   called as the importer calls it (one ``embed`` per ``embed_batch_size`` passages, in document
   order); ``app_one_call`` hands it all passages at once (sentence-transformers then sorts all
   of them by length, not 64 at a time); ``encode_bsN`` is ``SentenceTransformer.encode`` on all
   passages with batch size N. The best ``encode_bsN`` is the embedding limit; ``app / limit``
   is the ratio asked for.
2. Backends, each called the importer's way and compared with ``app`` in the same rounds:
   ``onnx-int8`` is the app's default backend (the int8 file built by
   :func:`~assistant.knowledge.embedder.build_int8_model`, as set-up builds it), ``onnx`` the
   same ONNX Runtime path on the fp32 export, ``torch-int8`` torch's dynamic int8 quantization
   of the Linear layers (per-channel). Building the ONNX files needs the ``onnx`` package;
   without it those two are skipped (and say why).
3. Quality, per backend: cosine similarity with the fp32 torch vectors over the distinct
   passages and the gold questions (mean, min), and retrieval on the shipped gold set over a
   knowledge base of ``docs/`` built with that backend, scored by the code ``assistant eval``
   uses (dense and hybrid: R@k, MRR, nDCG@10), plus the share of the fp32 top 10 that each
   backend's top 10 keeps.

Figures are medians of alternating runs; the 1-minute load average is recorded before and after,
and CPU seconds beside wall seconds (less disturbed when others share the machine).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import assistant.offline  # noqa: F401, I001 - the benchmark runs behind the socket guard too
from assistant.config import source_root
from assistant.errors import EmbedderError
from assistant.evaluation.gold import SAMPLE_GOLD, GoldItem, load_gold
from assistant.evaluation.retrieval import DEPTH, RECALL_KS, score_retrieval
from assistant.knowledge import KnowledgeBase, KnowledgeSettings, MiniLMEmbedder
from assistant.knowledge.chunker import Chunker
from assistant.knowledge.embedder import (
    INT8_MODEL_FILE,
    MINILM_NAME,
    EmbeddingBackend,
    build_int8_model,
    export_onnx,
)
from assistant.knowledge.importer import embedding_text
from assistant.knowledge.loaders import load_file
from assistant.knowledge.records import ParsedDocument
from assistant.knowledge.search import SearchMode
from bench.common import add_json_option, load_averages, report

BACKENDS = ("onnx", "onnx-int8", "torch-int8")
COLLECTION = "sample"


# --- the text set ---------------------------------------------------------------------------


def library_files(pattern: str) -> list[Path]:
    """The sample library's files (``docs/`` matching ``pattern``), sorted."""
    return sorted((source_root() / "docs").glob(pattern))


def doc_passages(files: Sequence[Path], embedder: MiniLMEmbedder) -> list[str]:
    """What the importer embeds for ``files``: each chunk's heading and text, in document order."""
    settings = KnowledgeSettings(isolate_parsing=False)
    chunker = Chunker(
        max_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        count_tokens=embedder.count_tokens,
    )
    texts: list[str] = []
    for path in files:
        parsed = load_file(path, settings)
        assert isinstance(parsed, ParsedDocument), parsed
        texts += [embedding_text(c) for c in chunker.chunk(path.stem, "bench", parsed.sections)]
    return texts


def repeat_to(texts: Sequence[str], count: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(count)]


# --- the backends ---------------------------------------------------------------------------


@dataclass
class Backend:
    """One way to embed, with the :class:`~assistant.knowledge.Embedder` interface, so a
    knowledge base can be built with it. ``encode`` embeds one list in one go (sorted by
    length inside, like sentence-transformers); ``embed`` is what the knowledge base calls."""

    name: str
    encode: Callable[[list[str]], np.ndarray]
    count_tokens: Callable[[str], int]
    dimension: int = 384
    max_tokens: int = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.encode(list(texts)), dtype=np.float32)


def st_encoder(model: Any, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )

    return encode


def torch_int8(st_model: Any) -> Any:
    """A copy of the model with torch's dynamic int8 quantization of every Linear layer, with
    per-channel weight scales (per-tensor ones: cosine with fp32 about 0.92 on ``docs/``)."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # quantized tensor creation is deprecated (pytorch/pytorch#184982); still works in 2.13
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            copy.deepcopy(st_model),
            {torch.nn.Linear: per_channel_dynamic_qconfig},
            dtype=torch.qint8,
        )


def build_backends(
    names: Sequence[str], st_model: Any, folder: Path, *, batch_size: int
) -> tuple[dict[str, Backend], dict[str, str]]:
    """The requested backends, and why any of them was skipped.

    ``onnx`` and ``onnx-int8`` run through the app's own ONNX path
    (:class:`~assistant.knowledge.MiniLMEmbedder` with ``backend="onnx-int8"``), handed the
    fp32 export or the int8 file that set-up builds (:func:`build_int8_model`).
    """
    count = MiniLMEmbedder(backend="torch").count_tokens  # one tokenizer for everyone's chunks
    backends: dict[str, Backend] = {}
    skipped: dict[str, str] = {}
    files = {"onnx": folder / "model-fp32.onnx", "onnx-int8": folder / INT8_MODEL_FILE}
    for name in names:
        if name == "torch-int8":
            encode = st_encoder(torch_int8(st_model), batch_size)
            backends[name] = Backend(f"{MINILM_NAME}+{name}", encode, count)
            continue
        try:
            if name == "onnx":
                export_onnx(files[name])
            else:
                build_int8_model(files[name])
        except EmbedderError as exc:
            skipped[name] = str(exc)
            continue
        embedder = MiniLMEmbedder(batch_size=batch_size, int8_path=files[name])
        if embedder.backend is not EmbeddingBackend.ONNX_INT8:
            skipped[name] = embedder.note
            continue
        backends[name] = Backend(f"{MINILM_NAME}+{name}", embedder.embed, count)
    return backends, skipped


# --- timing ---------------------------------------------------------------------------------


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def in_slices(embed: Callable[[list[str]], np.ndarray], batch: int) -> Callable[[list[str]], Any]:
    """Call ``embed`` the importer's way: one call per ``batch`` passages, in order."""

    def run(texts: list[str]) -> np.ndarray:
        return np.concatenate([embed(texts[i : i + batch]) for i in range(0, len(texts), batch)])

    return run


def time_rounds(
    configs: dict[str, Callable[[list[str]], Any]], texts: list[str], rounds: int
) -> dict[str, dict[str, Any]]:
    """Run every configuration once per round, rotating the order, and keep every run."""
    names = list(configs)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            started, used = time.perf_counter(), cpu_seconds()
            configs[name](texts)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(cpu_seconds() - used)
            print(f"  {name}: {len(texts) / wall[name][-1]:.1f} passages/s", file=sys.stderr)
    return {
        n: {
            "passages_per_s": round(len(texts) / statistics.median(wall[n]), 2),
            "cpu_s_per_passage": round(statistics.median(cpu[n]) / len(texts), 4),
            "runs_s": [round(t, 2) for t in wall[n]],
        }
        for n in names
    }


# --- quality --------------------------------------------------------------------------------


def cosines(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    values = (reference * other).sum(axis=1)
    return {"mean": round(float(values.mean()), 5), "min": round(float(values.min()), 5)}


def retrieval(
    backend: Backend | MiniLMEmbedder,
    files: Sequence[Path],
    items: Sequence[GoldItem],
    folder: Path,
) -> tuple[dict[str, dict[str, float]], dict[str, list[list[str]]]]:
    """Import ``files`` with ``backend`` and score the gold items as ``assistant eval`` does.

    Returns the scores per mode and, per mode, each item's top-:data:`DEPTH` chunk ids.
    """
    settings = KnowledgeSettings(isolate_parsing=False)  # parsing does not touch the vectors
    modes = (SearchMode.DENSE, SearchMode.HYBRID)
    scores: dict[str, dict[str, float]] = {}
    tops: dict[str, list[list[str]]] = {}
    with KnowledgeBase.open(folder, embedder=backend, settings=settings) as kb:  # type: ignore[arg-type]
        report = kb.ingest(files, collection=COLLECTION)
        assert not report.failed, report.failed
        for result in score_retrieval(items, kb, collection=COLLECTION, modes=modes):
            scores[result.mode] = {f"R@{k}": round(v, 3) for k, v in result.recall.items()}
            scores[result.mode] |= {"MRR": round(result.mrr, 3), "nDCG@10": round(result.ndcg10, 3)}
        for mode in modes:
            tops[mode.value] = []
            for item in items:
                hits = kb.search(item.question, collection=COLLECTION, top_k=DEPTH, mode=mode)
                tops[mode.value].append([h.chunk_id for h in hits])
    return scores, tops


def overlap(reference: list[list[str]], other: list[list[str]]) -> float:
    """Mean share of the reference's top ids that ``other``'s top ids keep."""
    shares = [len(set(a) & set(b)) / len(a) for a, b in zip(reference, other, strict=True) if a]
    return round(sum(shares) / len(shares), 3) if shares else 0.0


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600, help="size of the timed text set")
    parser.add_argument("--repeat", type=int, default=3, help="timing rounds (alternating)")
    parser.add_argument(
        "--batch-sizes", default="16,32,64,128", help="encode batch sizes tried for the limit"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma list of {', '.join(BACKENDS)}"
    )
    parser.add_argument("--library", default="*.md", help="which docs/ files (glob)")
    parser.add_argument("--skip-retrieval", action="store_true", help="no knowledge bases")
    add_json_option(parser)
    args = parser.parse_args(argv)
    names = [n for n in args.backends.split(",") if n]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")

    import torch

    batch = KnowledgeSettings().embed_batch_size
    files = library_files(args.library)
    if not files:
        raise SystemExit(f"no docs/ file matches {args.library!r}")
    app = MiniLMEmbedder(batch_size=batch, backend="torch")  # the fp32 reference path
    unique = doc_passages(files, app)
    texts = repeat_to(unique, args.passages)
    st_model = app._load()  # the very model the torch path embeds with
    results: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "passages": len(texts),
        "distinct_passages": len(unique),
        "mean_tokens": round(statistics.mean(app.count_tokens(t) for t in unique), 1),
        "embed_batch_size": batch,
        "load_average_before": load_averages(),
    }

    with tempfile.TemporaryDirectory(prefix="enclave-bench-embed-") as tmp:
        root = Path(tmp)
        backends, skipped = build_backends(names, st_model, root, batch_size=batch)
        results["skipped"] = skipped
        results["file_mib"] = {
            p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(root.glob("*.onnx"))
        }

        configs: dict[str, Callable[[list[str]], Any]] = {
            "app": in_slices(app.embed, batch),
            "app_one_call": app.embed,
        }
        sizes = [int(s) for s in args.batch_sizes.split(",") if s]
        for size in sizes:
            configs[f"encode_bs{size}"] = st_encoder(st_model, size)
        for name, backend in backends.items():
            configs[name] = in_slices(backend.embed, batch)
        for config in configs.values():  # warm up every path once before timing
            config(unique[:8])

        rates = time_rounds(configs, texts, args.repeat)
        rate = {n: float(r["passages_per_s"]) for n, r in rates.items()}
        limit = max((f"encode_bs{s}" for s in sizes), key=lambda n: rate[n])
        results["throughput"] = rates
        results["limit"] = {"config": limit, "passages_per_s": rate[limit]}
        results["app_over_limit"] = round(rate["app"] / rate[limit], 3)
        results["app_one_call_over_app"] = round(rate["app_one_call"] / rate["app"], 3)
        results["backend_over_app"] = {n: round(rate[n] / rate["app"], 3) for n in backends}
        results["backend_over_limit"] = {n: round(rate[n] / rate[limit], 3) for n in backends}

        gold = [i for i in load_gold(SAMPLE_GOLD).items if i.source in {f.name for f in files}]
        questions = [i.question for i in gold]
        reference_passages, reference_questions = app.embed(unique), app.embed(questions)
        quality: dict[str, Any] = {}
        for name, backend in backends.items():
            quality[name] = {
                "cosine_passages": cosines(reference_passages, backend.embed(unique)),
                "cosine_questions": cosines(reference_questions, backend.embed(questions)),
            }
        if not args.skip_retrieval:
            base_scores, base_tops = retrieval(app, files, gold, root / "kb-fp32")
            quality["torch-fp32"] = {"retrieval": base_scores}
            for name, backend in backends.items():
                scores, tops = retrieval(backend, files, gold, root / f"kb-{name}")
                quality[name]["retrieval"] = scores
                quality[name]["top10_kept"] = {m: overlap(base_tops[m], tops[m]) for m in tops}
        results["gold_items"] = len(gold)
        results["recall_ks"] = list(RECALL_KS)
        results["quality"] = quality
    results["load_average_after"] = load_averages()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
