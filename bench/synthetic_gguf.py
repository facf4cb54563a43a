"""A llama-architecture GGUF with chosen dimensions and random weights, for speed benchmarks.

llama.cpp's speed on a model depends on its shapes and tensor types, never on the weights'
values, so a file with Llama-2-7B's dimensions and random F16 weights, quantized like a real one,
decodes and reads prompts exactly as fast as the real model would. The file is written tensor by
tensor (header and tensor table first, then each tensor's data), so a 13.5 GB F16 file never sits
in memory: the largest buffer is one tensor (the 32000 x 4096 output matrix, 262 MB in F16).

The tokenizer block is a minimal valid SentencePiece ("llama") vocabulary: ``<unk>``, ``<s>``,
``</s>``, the 256 byte-fallback tokens and made-up filler pieces, so llama.cpp loads the file and
can tokenize any text (byte by byte, if need be). Its answers are noise.

This module imports ``gguf`` and numpy only (no llama.cpp): ``bench/bench_7b.py`` quantizes and
runs the file. Use :func:`write_f16`::

    from bench.synthetic_gguf import LlamaDims, write_f16
    write_f16(Path("/tmp/x.gguf"), LlamaDims(vocab=1000, n_embd=256, n_ff=512, n_layer=2, n_head=4))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

# K-quants pack 256 values per super-block: a row must be a multiple of it to be quantized as one.
QK_K = 256
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
BYTE_TOKENS = 256
WEIGHT_STD = 0.02  # the usual initialisation scale; RMS norms keep activations finite anyway
CHUNK_ROWS = 4096  # rows generated per step, so a tensor's float32 scratch stays small


@dataclass(frozen=True)
class LlamaDims:
    """The shape of a llama-architecture model. The defaults are Llama-2-7B's."""

    vocab: int = 32000
    n_embd: int = 4096
    n_ff: int = 11008
    n_layer: int = 32
    n_head: int = 32
    n_head_kv: int = 32
    context: int = 4096
    rope_freq_base: float = 10000.0
    rms_eps: float = 1e-5

    def __post_init__(self) -> None:
        min_vocab = len(SPECIAL_TOKENS) + BYTE_TOKENS + 1
        if self.vocab < min_vocab:
            raise ValueError(f"vocab must be at least {min_vocab} (specials, bytes, one piece)")
        if self.n_head <= 0 or self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if self.n_head_kv <= 0 or self.n_head % self.n_head_kv:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_head_kv")
        if self.head_dim % 2:
            raise ValueError(f"head size {self.head_dim} must be even for rope")
        if min(self.n_ff, self.n_layer, self.context) <= 0:
            raise ValueError("n_ff, n_layer and context must be positive")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_embd_kv(self) -> int:
        """Width of the K (and V) projection: fewer KV heads than heads means grouped queries."""
        return self.head_dim * self.n_head_kv

    @property
    def slug(self) -> str:
        """A file-name part that changes whenever any dimension does."""
        return (
            f"llama-v{self.vocab}-e{self.n_embd}-f{self.n_ff}-l{self.n_layer}"
            f"-h{self.n_head}-kv{self.n_head_kv}-c{self.context}"
        )

    def tensors(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """Each tensor's GGUF name and numpy shape (rows, columns), in file order.

        A ggml shape is the reverse of the numpy one: ``attn_k.weight`` is ggml
        ``[n_embd, n_embd_kv]`` and numpy ``(n_embd_kv, n_embd)``, one row per output.
        """
        yield "token_embd.weight", (self.vocab, self.n_embd)
        for i in range(self.n_layer):
            blk = f"blk.{i}"
            yield f"{blk}.attn_norm.weight", (self.n_embd,)
            yield f"{blk}.attn_q.weight", (self.n_embd, self.n_embd)
            yield f"{blk}.attn_k.weight", (self.n_embd_kv, self.n_embd)
            yield f"{blk}.attn_v.weight", (self.n_embd_kv, self.n_embd)
            yield f"{blk}.attn_output.weight", (self.n_embd, self.n_embd)
            yield f"{blk}.ffn_norm.weight", (self.n_embd,)
            yield f"{blk}.ffn_gate.weight", (self.n_ff, self.n_embd)
            yield f"{blk}.ffn_up.weight", (self.n_ff, self.n_embd)
            yield f"{blk}.ffn_down.weight", (self.n_embd, self.n_ff)
        yield "output_norm.weight", (self.n_embd,)
        yield "output.weight", (self.vocab, self.n_embd)

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for _, shape in self.tensors())


def vocabulary(size: int) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary of ``size`` tokens: pieces, scores and token types.

    Ids 0-2 are ``<unk>``, ``<s>``, ``</s>`` (the llama convention), then the byte-fallback
    tokens ``<0x00>``..``<0xFF>`` (llama.cpp looks up ``<0x0A>`` for the newline token), then
    distinct filler pieces ``▁a``, ``▁b``, ... with falling scores.
    """
    tokens = list(SPECIAL_TOKENS)
    types = [int(TokenType.UNKNOWN), int(TokenType.CONTROL), int(TokenType.CONTROL)]
    tokens += [f"<0x{b:02X}>" for b in range(BYTE_TOKENS)]
    types += [int(TokenType.BYTE)] * BYTE_TOKENS
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = 0
    while len(tokens) < size:
        word, k = "", n
        while True:  # bijective base 26: a..z, aa..zz, aaa..
            word = letters[k % 26] + word
            k = k // 26 - 1
            if k < 0:
                break
        tokens.append("\u2581" + word)
        types.append(int(TokenType.NORMAL))
        n += 1
    scores = [0.0] * (len(SPECIAL_TOKENS) + BYTE_TOKENS) + [-float(i) for i in range(n)]
    return tokens, scores, types


def random_tensor(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random weights for one tensor: F32 norms near 1, F16 matrices with std ``WEIGHT_STD``.

    1-D tensors stay F32, as llama.cpp's converters write them (and the quantizer keeps them).
    """
    if len(shape) == 1:
        return (1.0 + 0.05 * rng.standard_normal(shape[0], dtype=np.float32)).astype(np.float32)
    out = np.empty(shape, dtype=np.float16)
    for start in range(0, shape[0], CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, shape[0])
        block = rng.standard_normal((stop - start, *shape[1:]), dtype=np.float32)
        block *= WEIGHT_STD
        out[start:stop] = block
    return out


def f16_path(workdir: Path, dims: LlamaDims, seed: int) -> Path:
    return workdir / f"synthetic-{dims.slug}-s{seed}.F16.gguf"


def write_f16(
    path: Path,
    dims: LlamaDims,
    *,
    seed: int = 0,
    on_tensor: Callable[[str, int], None] | None = None,
) -> Path:
    """Write a random-weight llama GGUF with F16 matrices to ``path``.

    The data goes to ``path`` + ``.part`` and is renamed at the end, so an interrupted run never
    leaves a file that looks complete.

    Args:
        path: the file to write.
        dims: the model's dimensions.
        seed: seeds the random weights (speed does not depend on them; the file is reproducible).
        on_tensor: called with each tensor's name and byte size after it is written (progress).

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    writer = GGUFWriter(part, "llama")
    writer.add_name(f"synthetic {dims.slug}")
    writer.add_description("Random weights, for speed benchmarks only: its output is noise.")
    writer.add_file_type(int(LlamaFileType.MOSTLY_F16))
    writer.add_vocab_size(dims.vocab)
    writer.add_context_length(dims.context)
    writer.add_embedding_length(dims.n_embd)
    writer.add_feed_forward_length(dims.n_ff)
    writer.add_block_count(dims.n_layer)
    writer.add_head_count(dims.n_head)
    writer.add_head_count_kv(dims.n_head_kv)
    writer.add_rope_dimension_count(dims.head_dim)
    writer.add_rope_freq_base(dims.rope_freq_base)
    writer.add_layer_norm_rms_eps(dims.rms_eps)
    tokens, scores, types = vocabulary(dims.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    layout = list(dims.tensors())
    for name, shape in layout:
        dtype = np.dtype(np.float32 if len(shape) == 1 else np.float16)
        writer.add_tensor_info(name, shape, dtype, math.prod(shape) * dtype.itemsize)
    rng = np.random.default_rng(seed)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for name, shape in layout:
            tensor = random_tensor(shape, rng)
            writer.write_tensor_data(tensor)
            if on_tensor is not None:
                on_tensor(name, tensor.nbytes)
            del tensor
        writer.close()
        os.replace(part, path)
    except BaseException:
        writer.close()
        part.unlink(missing_ok=True)
        raise
    return path
