"""Synthetic 7B: what a 7B-class Q4_K_M model does on this machine, against its bandwidth bound.

Run from the repository root (nothing downloaded; the first run writes ~13.5 GB and quantizes it,
about 20 minutes on 2 busy cores; later runs reuse the 3.8 GiB quantized file; one measuring run
takes 5-15 minutes)::

    PYTHONPATH=. .venv/bin/python bench/bench_7b.py [--workdir ~/.cache/enclave-bench]
        [--runs 3] [--threads 2] [--json FILE]

1. Build (skipped when the quantized file is already in ``--workdir``): write a llama GGUF with
   Llama-2-7B's dimensions and random F16 weights (:mod:`bench.synthetic_gguf`), quantize it to
   Q4_K_M with llama.cpp's own ``llama_model_quantize`` (``nthread`` = ``--threads``), then
   delete the F16 file unless ``--keep-f16``. Speed does not depend on the weights' values.
   ``--model FILE`` measures any GGUF instead (a site's real model) and builds nothing.
2. Measure, alternating, ``--runs`` times, all runs kept and medians reported:
   - memory read bandwidth: numpy summing a ``--bandwidth-mib`` float64 buffer, split across
     ``--threads`` Python threads (numpy releases the GIL) and on one thread, best of 3 each;
   - a compute reference: numpy float32 matrix product (OpenBLAS, ``--threads`` threads);
   - decode (llama-bench's ``tg``): after a ``--prompt-tokens`` prompt, ``llama_decode`` one
     token at a time for ``--decode-tokens`` tokens, each the greedy argmax of the last logits;
     then again on one thread (when ``--threads`` > 1): on a busy machine, threads that wait for
     each other at every operation's barrier can make more threads much slower;
   - prefill (llama-bench's ``pp512``): one ``--prefill-tokens`` prompt in batches of
     ``--batch``, logits for the last token only, from an empty KV cache.
3. Derive: the decode bound is bandwidth / bytes read per token, where bytes per token = every
   tensor in the quantized file except the token-embedding table, plus one row of that table
   (the whole table if the output matrix is tied to it), plus the F16 KV cache the attention
   reads (all earlier positions, averaged over the decoded tokens). Prefill GFLOP/s counts
   2 x each matrix in the blocks x prompt tokens, the output matrix once (logits only for the
   last token) and attention (QK^T and AV over the causal triangle); norms, rope and softmax are
   left out. Finally the seconds a user waits for a RAG answer (``--rag-prompt`` tokens in,
   ``--rag-answer`` out), with the prompt timed as its FLOPs at the measured GFLOP/s and each
   answer token as its bytes (weights + the deeper KV cache) at the measured decode rate.

This benchmark calls llama.cpp's C API through llama-cpp-python's low-level bindings directly, as
llama-bench does, rather than the app's engine: it measures the machine and the model, not our code
(``bench/bench_decode.py`` measures our code against this kind of loop).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from gguf import GGUFReader

import assistant.offline  # noqa: F401 - benchmarks obey the air gap too (hook before any run)
from bench.common import add_json_option, load_averages, median, report
from bench.synthetic_gguf import LlamaDims, f16_path, write_f16

GB = 1e9
MIB = 1024 * 1024
DEFAULT_WORKDIR = Path.home() / ".cache" / "enclave-bench"
KV_BYTES = 2  # llama.cpp's default KV cache type is F16


def quantized_path(workdir: Path, dims: LlamaDims, seed: int) -> Path:
    return workdir / f"synthetic-{dims.slug}-s{seed}.Q4_K_M.gguf"


def quantize(source: Path, target: Path, *, threads: int) -> None:
    """Quantize ``source`` to Q4_K_M at ``target`` with llama.cpp's ``llama_model_quantize``.

    Written to ``target`` + ``.part`` and renamed on success, so a killed run is not reused.

    Raises:
        RuntimeError: llama.cpp reported a failure.
    """
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    part = target.with_name(target.name + ".part")
    code = llama_cpp.llama_model_quantize(
        os.fsencode(source), os.fsencode(part), ctypes.byref(params)
    )
    if code != 0 or not part.is_file():
        part.unlink(missing_ok=True)
        raise RuntimeError(f"llama_model_quantize failed ({code}) on {source}")
    os.replace(part, target)


@dataclass(frozen=True)
class Build:
    path: Path
    reused: bool
    f16_bytes: int | None
    write_s: float | None
    quantize_s: float | None
    f16_kept: bool


def build(
    workdir: Path,
    dims: LlamaDims,
    *,
    seed: int,
    threads: int,
    keep_f16: bool,
    say: Callable[[str], None],
) -> Build:
    """The Q4_K_M synthetic model in ``workdir``: reused if there, else written and quantized."""
    target = quantized_path(workdir, dims, seed)
    if target.is_file():
        say(f"reusing {target}")
        return Build(target, True, None, None, None, f16_kept=False)
    source = f16_path(workdir, dims, seed)
    write_s = None
    if not source.is_file():
        say(f"writing {source} ({dims.n_params / 1e9:.2f} B parameters)")
        started = time.perf_counter()
        write_f16(source, dims, seed=seed)
        write_s = round(time.perf_counter() - started, 1)
    f16_bytes = source.stat().st_size
    say(f"quantizing to {target} with {threads} threads")
    started = time.perf_counter()
    quantize(source, target, threads=threads)
    quantize_s = round(time.perf_counter() - started, 1)
    if not keep_f16:
        source.unlink()
    return Build(target, False, f16_bytes, write_s, quantize_s, f16_kept=keep_f16)


@dataclass(frozen=True)
class ModelFacts:
    """What the benchmark needs from a GGUF's header: shape, tensor sizes and types."""

    name: str
    file_bytes: int
    n_layer: int
    n_embd: int
    n_head: int
    n_embd_kv: int
    vocab: int
    tensor_bytes: dict[str, int]
    tensor_elements: dict[str, int]
    tensor_types: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> ModelFacts:
        reader = GGUFReader(path)

        def field(key: str, default: int | None = None) -> int:
            if key in reader.fields:
                return int(reader.fields[key].contents())
            if default is None:
                raise KeyError(f"{path.name} has no {key}")
            return default

        arch = str(reader.fields["general.architecture"].contents())
        n_embd = field(f"{arch}.embedding_length")
        n_head = field(f"{arch}.attention.head_count")
        n_head_kv = field(f"{arch}.attention.head_count_kv", n_head)
        head_dim = field(f"{arch}.attention.key_length", n_embd // n_head)
        tensors = {t.name: t for t in reader.tensors}
        return cls(
            name=path.name,
            file_bytes=path.stat().st_size,
            n_layer=field(f"{arch}.block_count"),
            n_embd=n_embd,
            n_head=n_head,
            n_embd_kv=n_head_kv * head_dim,
            vocab=int(tensors["token_embd.weight"].shape[1]),
            tensor_bytes={name: int(t.n_bytes) for name, t in tensors.items()},
            tensor_elements={name: int(t.n_elements) for name, t in tensors.items()},
            tensor_types={name: t.tensor_type.name for name, t in tensors.items()},
        )

    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind in self.tensor_types.values():
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))

    def weight_bytes_per_token(self) -> int:
        """Weights one decoded token reads: all tensors, but only one row of the embedding table.

        A model without ``output.weight`` (tied embeddings) reads the whole table for its logits.
        """
        if "output.weight" not in self.tensor_bytes:
            return sum(self.tensor_bytes.values())
        embedding = self.tensor_bytes["token_embd.weight"]
        return sum(self.tensor_bytes.values()) - embedding + embedding // self.vocab

    def kv_bytes_per_position(self) -> int:
        """K and V of one position in every layer, which attention reads for each later token."""
        return 2 * self.n_layer * self.n_embd_kv * KV_BYTES

    def prefill_flops(self, tokens: int) -> float:
        """Multiply-adds x 2 for a ``tokens`` prompt from an empty cache (see the docstring)."""
        blocks = sum(
            n for name, n in self.tensor_elements.items()
            if name.startswith("blk.") and n > self.n_embd  # matrices, not the 1-D norms
        )  # fmt: skip
        output = self.tensor_elements.get(
            "output.weight", self.tensor_elements["token_embd.weight"]
        )
        attention = 2 * 2 * self.n_layer * self.n_embd * tokens * (tokens + 1) / 2
        return 2.0 * blocks * tokens + 2.0 * output + attention


class Runner:
    """One model and context through llama.cpp's C API, timed the way llama-bench times them."""

    def __init__(self, path: Path, *, n_ctx: int, n_batch: int, threads: int) -> None:
        llama_cpp.llama_backend_init()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        self._model = llama_cpp.llama_model_load_from_file(os.fsencode(path), model_params)
        if not self._model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = n_batch
        ctx_params.n_ubatch = n_batch
        ctx_params.n_threads = threads
        ctx_params.n_threads_batch = threads
        self._ctx = llama_cpp.llama_init_from_model(self._model, ctx_params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise RuntimeError(f"llama.cpp could not create a {n_ctx}-token context")
        self.n_batch = n_batch
        self.n_vocab = int(
            llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self._model))
        )
        self.n_params = int(llama_cpp.llama_model_n_params(self._model))
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)

    def close(self) -> None:
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self._ctx)
        llama_cpp.llama_model_free(self._model)

    def set_threads(self, threads: int) -> None:
        llama_cpp.llama_set_n_threads(self._ctx, threads, threads)

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self._ctx), True)

    def evaluate(self, tokens: Sequence[int], start: int) -> None:
        """Decode ``tokens`` at positions ``start``..., in batches; logits for the last only."""
        batch = self._batch
        for offset in range(0, len(tokens), self.n_batch):
            chunk = tokens[offset : offset + self.n_batch]
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = start + offset + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = False
            batch.logits[len(chunk) - 1] = offset + len(chunk) == len(tokens)
            batch.n_tokens = len(chunk)
            code = llama_cpp.llama_decode(self._ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode returned {code}")
        llama_cpp.llama_synchronize(self._ctx)

    def last_logits(self) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def decode_rate(self, prompt: Sequence[int], n_tokens: int) -> tuple[float, list[int]]:
        """Tokens/s decoding ``n_tokens`` greedily, one at a time, after ``prompt``; the tokens."""
        self.clear()
        self.evaluate(prompt, 0)
        produced: list[int] = []
        started = time.perf_counter()
        for position in range(len(prompt), len(prompt) + n_tokens):
            token = int(np.argmax(self.last_logits()))
            self.evaluate([token], position)
            produced.append(token)
        return n_tokens / (time.perf_counter() - started), produced

    def prefill_rate(self, prompt: Sequence[int]) -> float:
        """Tokens/s evaluating ``prompt`` from an empty KV cache."""
        self.clear()
        started = time.perf_counter()
        self.evaluate(prompt, 0)
        return len(prompt) / (time.perf_counter() - started)


def read_bandwidth(buffer: np.ndarray, threads: int, repeats: int = 3) -> float:
    """GB/s reading ``buffer`` (summing it) on ``threads`` threads, best of ``repeats``."""
    parts = np.array_split(buffer, threads)
    best = math.inf
    for _ in range(repeats):
        workers = [threading.Thread(target=np.sum, args=(part,)) for part in parts]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = min(best, time.perf_counter() - started)
    return buffer.nbytes / best / GB


def sgemm_gflops(size: int, repeats: int = 3) -> float:
    """float32 GFLOP/s of one ``size`` x ``size`` matrix product in numpy's BLAS, best of 3."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / GB


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def blas_threads(threads: int) -> tuple[Any, int | None]:
    """Limit numpy's BLAS to ``threads`` threads (if threadpoolctl is there): limiter, count."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return None, None
    limiter = threadpool_limits(limits=threads, user_api="blas")
    counts = [int(info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]
    return limiter, (max(counts) if counts else None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--model", type=Path, help="measure this GGUF instead of building one")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--embd", type=int, default=4096)
    parser.add_argument("--ff", type=int, default=11008)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, help="default: --heads (no grouped queries)")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-f16", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--prefill-tokens", type=int, default=512)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--bandwidth-mib", type=int, default=2048)
    parser.add_argument("--gemm-size", type=int, default=2048)
    parser.add_argument("--rag-prompt", type=int, default=1500)
    parser.add_argument("--rag-answer", type=int, default=250)
    add_json_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's load chatter

    def say(message: str) -> None:
        print(f"[bench_7b] {message}", flush=True)

    load_start = load_averages()
    dims: LlamaDims | None = None
    if args.model is not None:
        made = Build(args.model, True, None, None, None, f16_kept=False)
    else:
        dims = LlamaDims(
            vocab=args.vocab, n_embd=args.embd, n_ff=args.ff, n_layer=args.layers,
            n_head=args.heads, n_head_kv=args.kv_heads or args.heads, context=args.context,
        )  # fmt: skip
        made = build(
            args.workdir.expanduser(), dims, seed=args.seed, threads=args.threads,
            keep_f16=args.keep_f16, say=say,
        )  # fmt: skip
    facts = ModelFacts.read(made.path)

    limiter, n_blas = blas_threads(args.threads)
    buffer = np.ones(args.bandwidth_mib * MIB // 8, dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    first_piece = 3 + 256  # after the specials and byte tokens of the synthetic vocabulary
    low = first_piece if facts.vocab > first_piece + 1 else 0
    prompt = [1, *rng.integers(low, facts.vocab, args.prompt_tokens - 1).tolist()]
    long_prompt = [1, *rng.integers(low, facts.vocab, args.prefill_tokens - 1).tolist()]
    n_ctx = max(args.prompt_tokens + args.decode_tokens, args.prefill_tokens)
    runner = Runner(made.path, n_ctx=n_ctx, n_batch=args.batch, threads=args.threads)
    say(f"loaded {made.path.name}; warming up")
    runner.decode_rate(prompt, 2)  # faults the weights in; not counted
    runner.prefill_rate(long_prompt[: min(32, len(long_prompt))])
    bw_n: list[float] = []
    bw_1: list[float] = []
    gemm: list[float] = []
    decode: list[float] = []
    decode_1: list[float] = []
    prefill: list[float] = []
    finite = True
    for run in range(args.runs):
        bw_n.append(round(read_bandwidth(buffer, args.threads), 2))
        bw_1.append(round(read_bandwidth(buffer, 1), 2))
        gemm.append(round(sgemm_gflops(args.gemm_size), 1))
        rate, _ = runner.decode_rate(prompt, args.decode_tokens)
        finite = finite and bool(np.isfinite(runner.last_logits()).all())
        decode.append(round(rate, 3))
        if args.threads > 1:
            runner.set_threads(1)
            decode_1.append(round(runner.decode_rate(prompt, args.decode_tokens)[0], 3))
            runner.set_threads(args.threads)
        prefill.append(round(runner.prefill_rate(long_prompt), 3))
        say(
            f"run {run + 1}/{args.runs}: decode {decode[-1]} tok/s (1 thread: {decode_1[-1:]}), "
            f"prefill {prefill[-1]} tok/s"
        )
    n_params = runner.n_params
    runner.close()
    del buffer
    if limiter is not None:
        limiter.restore_original_limits()

    bandwidth = median(bw_n)
    tg, pp = median(decode), median(prefill)
    weight_bytes = facts.weight_bytes_per_token()
    kv_position = facts.kv_bytes_per_position()
    mean_depth = args.prompt_tokens + (args.decode_tokens + 1) / 2
    kv_bytes = round(kv_position * mean_depth)
    per_token = weight_bytes + kv_bytes
    bound = bandwidth * GB / per_token
    flops = facts.prefill_flops(args.prefill_tokens)
    gflops = flops / (args.prefill_tokens / pp) / GB
    # The RAG answer, scaled from what was measured: the prompt by its FLOPs, each answer token
    # by the bytes it reads (its KV cache is deeper than in the decode runs).
    prompt_s = facts.prefill_flops(args.rag_prompt) / (gflops * GB)
    rag_depth = args.rag_prompt + (args.rag_answer + 1) / 2
    answer_s = args.rag_answer / tg * (weight_bytes + kv_position * rag_depth) / per_token
    one_thread = None
    if decode_1:
        bound_1 = median(bw_1) * GB / per_token
        one_thread = {
            "tok_s": median(decode_1),
            "all_runs_tok_s": decode_1,
            "bound_tok_s": round(bound_1, 3),
            "ratio_to_bound": round(median(decode_1) / bound_1, 3),
        }
    result: dict[str, Any] = {
        "model": facts.name,
        "synthetic_dims": asdict(dims) if dims is not None else None,
        "parameters": n_params,
        "file": {
            "path": str(made.path),
            "bytes": facts.file_bytes,
            "gib": round(facts.file_bytes / 2**30, 2),
            "tensor_types": facts.type_counts(),
        },
        "build": {
            "reused": made.reused,
            "f16_bytes": made.f16_bytes,
            "write_s": made.write_s,
            "quantize_s": made.quantize_s,
            "quantize_threads": None if made.reused else args.threads,
            "f16_kept": made.f16_kept,
        },
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "blas_threads": n_blas,
        },
        "threads": args.threads,
        "runs": args.runs,
        "load_average": load_start,
        "load_average_end": load_averages(),
        "bandwidth": {
            "method": f"numpy float64 sum of a {args.bandwidth_mib} MiB buffer, best of 3 per run",
            "gb_s": bandwidth,
            "gb_s_1_thread": median(bw_1),
            "all_runs_gb_s": bw_n,
            "all_runs_gb_s_1_thread": bw_1,
        },
        "decode": {
            "prompt_tokens": args.prompt_tokens,
            "tokens": args.decode_tokens,
            "tok_s": tg,
            "all_runs_tok_s": decode,
            "logits_finite": finite,
            "weight_bytes_per_token": weight_bytes,
            "kv_bytes_per_token": kv_bytes,
            "bytes_per_token": per_token,
            "bound_tok_s": round(bound, 3),
            "ratio_to_bound": round(tg / bound, 3),
            "achieved_gb_s": round(tg * per_token / GB, 2),
            "one_thread": one_thread,
        },
        "prefill": {
            "tokens": args.prefill_tokens,
            "batch": args.batch,
            "tok_s": pp,
            "all_runs_tok_s": prefill,
            "gflop_per_prompt": round(flops / GB, 3),
            "gflop_s": round(gflops, 2),
            "sgemm_reference": f"numpy float32 {args.gemm_size}^3 matmul, BLAS threads {n_blas}",
            "sgemm_gflop_s": median(gemm),
            "all_runs_sgemm_gflop_s": gemm,
            "ratio_to_sgemm": round(gflops / median(gemm), 3),
        },
        "rag_answer": {
            "prompt_tokens": args.rag_prompt,
            "answer_tokens": args.rag_answer,
            "prompt_s": round(prompt_s, 2),
            "answer_s": round(answer_s, 2),
            "total_s": round(prompt_s + answer_s, 2),
            "unscaled_total_s": round(args.rag_prompt / pp + args.rag_answer / tg, 2),
            # llama.cpp takes separate thread counts for prompts and for decoding
            "total_s_decoding_on_1_thread": (
                round(prompt_s + answer_s * tg / median(decode_1), 2) if decode_1 else None
            ),
        },
    }
    report(result, args.json)
    return result


if __name__ == "__main__":
    main()
