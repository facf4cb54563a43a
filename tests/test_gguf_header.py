"""The bounded GGUF header check: real models pass, everything else gets a clear refusal."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from assistant.engine.gguf_header import read_header
from assistant.errors import ModelFormatError, ModelNotFoundError


def write_tiny_gguf(path: Path, *, template: str | None = "{{ messages }}") -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test")
    writer.add_context_length(128)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_real_default_model_passes(smol_path: Path) -> None:
    info = read_header(smol_path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.chat_template
    assert "<|im_start|>" in info.chat_template
    assert info.tensor_count > 100


def test_second_architecture_passes(gemma_path: Path) -> None:
    info = read_header(gemma_path)
    assert info.architecture == "gemma3"
    assert info.quantization == "Q4_K_M"
    assert info.chat_template is None


def test_tiny_written_model_is_read(tmp_path: Path) -> None:
    info = read_header(write_tiny_gguf(tmp_path / "tiny.gguf"))
    assert info.name == "tiny-test"
    assert info.context_length == 128
    assert info.chat_template == "{{ messages }}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="No model file"):
        read_header(tmp_path / "absent.gguf")


def test_not_a_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("PK this is a zip file pretending to be a model" * 10)
    with pytest.raises(ModelFormatError, match="is not a GGUF model"):
        read_header(fake)


def test_tiny_file(tmp_path: Path) -> None:
    fake = tmp_path / "empty.gguf"
    fake.write_bytes(b"GGUF")
    with pytest.raises(ModelFormatError, match="only 4 bytes"):
        read_header(fake)


def test_truncated_real_model(tmp_path: Path, smol_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smol_path.open("rb") as source:
        cut.write_bytes(source.read(5_000_000))
    with pytest.raises(ModelFormatError, match="truncated"):
        read_header(cut)


def test_truncated_in_the_header(tmp_path: Path, smol_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smol_path.open("rb") as source:
        cut.write_bytes(source.read(4000))
    with pytest.raises(ModelFormatError, match="file ends first"):
        read_header(cut)


def _header(version: int = 3, tensors: int = 0, kvs: int = 1) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_header(version=99) + b"\0" * 64, "version 99"),
        (_header(tensors=2**40) + b"\0" * 64, "tensors, over the limit"),
        (_header(kvs=2**33) + b"\0" * 64, "metadata keys, over the limit"),
        # a key whose length claims 2^62 bytes
        (_header() + struct.pack("<Q", 2**62) + b"\0" * 64, "over the limit"),
        # a string value whose length runs past the end of the file
        (
            _header() + struct.pack("<Q", 1) + b"k" + struct.pack("<IQ", 8, 10_000) + b"abc",
            "file ends first",
        ),
        # an array claiming billions of items
        (
            _header() + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 4, 2**40),
            "items, over the limit",
        ),
        (
            _header() + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 77) + b"\0" * 16,
            "unknown value type",
        ),
    ],
)
def test_hostile_headers_are_refused(tmp_path: Path, payload: bytes, message: str) -> None:
    crafted = tmp_path / "crafted.gguf"
    crafted.write_bytes(payload)
    with pytest.raises(ModelFormatError, match=message):
        read_header(crafted)
