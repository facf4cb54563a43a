"""The synthetic-7B benchmark, end to end at a tiny size: write, quantize, load, decode, report.

Real parts throughout (the gguf writer, llama.cpp's quantizer and decoder); the dimensions are
tiny but keep every row a multiple of 256, as K-quants need. Nothing asserts a speed: the checks
are that the file is what the benchmark says it is and that the report's figures follow from one
another.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGUFReader

from bench.bench_7b import Runner, build, quantize, quantized_path
from bench.synthetic_gguf import LlamaDims, f16_path, vocabulary, write_f16
from tests.bench import runner

pytestmark = pytest.mark.slow

TINY = LlamaDims(vocab=1000, n_embd=256, n_ff=512, n_layer=2, n_head=4, n_head_kv=2, context=512)
TINY_ARGS = ("--vocab", "1000", "--embd", "256", "--ff", "512", "--layers", "2", "--heads", "4",
             "--kv-heads", "2", "--context", "512")  # fmt: skip


def tensor_types(path: Path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


def test_writer_lays_out_a_llama_model_with_the_given_dims(tmp_path: Path) -> None:
    path = write_f16(tmp_path / "tiny.gguf", TINY, seed=3)
    reader = GGUFReader(path)
    assert not list(tmp_path.glob("*.part"))
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "llama"
    assert fields["llama.embedding_length"] == 256
    assert fields["llama.attention.head_count_kv"] == 2
    assert fields["llama.rope.dimension_count"] == 64
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 1 + 9 * TINY.n_layer + 2  # embeddings, blocks, norm + output
    assert sum(int(t.n_elements) for t in tensors.values()) == TINY.n_params
    # ggml order: columns first. K has n_embd columns and n_head_kv * head_dim rows.
    assert [int(n) for n in tensors["blk.1.attn_k.weight"].shape] == [256, 128]
    assert [int(n) for n in tensors["blk.0.ffn_down.weight"].shape] == [512, 256]
    assert {t.tensor_type.name for t in tensors.values() if len(t.shape) == 1} == {"F32"}
    assert {t.tensor_type.name for t in tensors.values() if len(t.shape) == 2} == {"F16"}
    weights = np.asarray(tensors["blk.0.attn_q.weight"].data, dtype=np.float32)
    assert 0.015 < float(weights.std()) < 0.025
    assert np.isfinite(weights).all()
    tokens = fields["tokenizer.ggml.tokens"]
    assert len(tokens) == len(set(tokens)) == TINY.vocab
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert "<0x0A>" in tokens


def test_vocabulary_refuses_dims_llama_cpp_cannot_use() -> None:
    assert len(vocabulary(300)[0]) == 300
    with pytest.raises(ValueError, match="vocab"):
        LlamaDims(vocab=100)
    with pytest.raises(ValueError, match="n_head"):
        LlamaDims(n_embd=256, n_head=3, n_head_kv=3)


def test_quantized_file_is_q4_k_m_and_decodes(tmp_path: Path) -> None:
    source = write_f16(f16_path(tmp_path, TINY, 0), TINY)
    target = quantized_path(tmp_path, TINY, 0)
    quantize(source, target, threads=2)
    reader = GGUFReader(target)
    assert int(reader.fields["general.file_type"].contents()) == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    types = tensor_types(target)
    matrices = [kind for name, kind in types.items() if not name.endswith("norm.weight")]
    assert set(matrices) == {"Q4_K", "Q6_K"}  # the _M mix: Q6_K for output and some V/down
    assert matrices.count("Q4_K") > matrices.count("Q6_K")
    assert types["output.weight"] == "Q6_K"
    assert target.stat().st_size < 0.4 * source.stat().st_size

    again = build(tmp_path, TINY, seed=0, threads=2, keep_f16=False, say=lambda _: None)
    assert again.reused
    assert again.path == target
    assert again.quantize_s is None

    runner = Runner(target, n_ctx=64, n_batch=16, threads=2)
    try:
        assert runner.n_vocab == TINY.vocab
        rate, produced = runner.decode_rate([1, 300, 301, 302], 5)
        assert rate > 0
        assert len(produced) == 5
        assert all(0 <= token < TINY.vocab for token in produced)
        assert np.isfinite(runner.last_logits()).all()
        # Greedy decoding from the same prompt is deterministic: the runner really feeds tokens.
        assert runner.decode_rate([1, 300, 301, 302], 5)[1] == produced
    finally:
        runner.close()


def run_bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    return runner.run_bench("bench_7b", tmp_path / "bench_7b.json", *args, timeout=120)


def test_bench_reports_figures_that_follow_from_each_other(tmp_path: Path) -> None:
    prompt, decoded, prefill, runs = 8, 6, 48, 2
    result = run_bench(
        tmp_path, *TINY_ARGS, "--workdir", str(tmp_path / "work"), "--runs", str(runs),
        "--prompt-tokens", str(prompt), "--decode-tokens", str(decoded),
        "--prefill-tokens", str(prefill), "--batch", "32", "--bandwidth-mib", "16",
        "--gemm-size", "128", "--rag-prompt", "100", "--rag-answer", "10",
    )  # fmt: skip
    assert result["build"]["reused"] is False
    assert result["build"]["quantize_s"] >= 0
    assert not list((tmp_path / "work").glob("*F16*"))  # deleted without --keep-f16
    assert result["parameters"] == TINY.n_params
    assert {"Q4_K", "Q6_K", "F32"} == set(result["file"]["tensor_types"])
    assert len(result["load_average"]) == 3

    bandwidth, decode, pre = result["bandwidth"], result["decode"], result["prefill"]
    for figures in (bandwidth["all_runs_gb_s"], decode["all_runs_tok_s"], pre["all_runs_tok_s"]):
        assert len(figures) == runs
        assert min(figures) > 0
    assert decode["tok_s"] == pytest.approx(statistics.median(decode["all_runs_tok_s"]))
    assert decode["logits_finite"] is True
    single = decode["one_thread"]  # the same decode on one thread, to expose thread contention
    assert len(single["all_runs_tok_s"]) == runs
    assert min(single["all_runs_tok_s"]) > 0

    # Bytes per decoded token: all weights but the embedding table (one row of it), plus the KV
    # cache at the mean depth: 2 (K, V) x layers x KV width x 2 bytes x positions.
    file_bytes = result["file"]["bytes"]
    assert 0.5 * file_bytes < decode["weight_bytes_per_token"] < file_bytes
    kv_width = TINY.n_head_kv * TINY.head_dim
    depth = prompt + (decoded + 1) / 2
    assert decode["kv_bytes_per_token"] == round(2 * TINY.n_layer * kv_width * 2 * depth)
    per_token = decode["weight_bytes_per_token"] + decode["kv_bytes_per_token"]
    assert decode["bytes_per_token"] == per_token
    assert decode["bound_tok_s"] == pytest.approx(bandwidth["gb_s"] * 1e9 / per_token, rel=1e-3)
    assert decode["ratio_to_bound"] == pytest.approx(
        decode["tok_s"] / decode["bound_tok_s"], rel=1e-2, abs=1e-3
    )

    # Prefill FLOPs from the dims: block matrices per token, the output matrix once, attention.
    e, f, n = TINY.n_embd, TINY.n_ff, TINY.n_layer
    blocks = n * (2 * e * e + 2 * e * kv_width + 3 * e * f)
    flops = 2 * blocks * prefill + 2 * TINY.vocab * e + 4 * n * e * prefill * (prefill + 1) / 2
    assert pre["gflop_per_prompt"] == pytest.approx(flops / 1e9, abs=1e-3)
    assert pre["gflop_s"] == pytest.approx(flops / 1e9 * pre["tok_s"] / prefill, rel=2e-2)
    assert pre["sgemm_gflop_s"] > 0
    assert pre["ratio_to_sgemm"] == pytest.approx(pre["gflop_s"] / pre["sgemm_gflop_s"], rel=2e-2)

    rag = result["rag_answer"]
    assert rag["total_s"] == pytest.approx(rag["prompt_s"] + rag["answer_s"], abs=0.011)
    # The answer reads a deeper KV cache than the measured decode, so it cannot be faster.
    assert rag["answer_s"] >= 10 / decode["tok_s"] - 0.05
    speed_up = decode["tok_s"] / single["tok_s"]  # figures are rounded to 0.01 s
    assert rag["total_s_decoding_on_1_thread"] == pytest.approx(
        rag["prompt_s"] + rag["answer_s"] * speed_up, abs=0.011 + 0.005 * speed_up
    )
