"""A bounded reader for GGUF headers: check a model file before llama.cpp sees a byte of it.

llama.cpp's GGUF parser has had heap overflows on crafted headers, so every file is read here
first, in pure Python, with every count and length checked against hard limits and against the
bytes actually left in the file. A file that passes has a well-formed header whose tensors all lie
inside the file; it is not yet proof that llama.cpp can run it.

The reader also returns what the rest of the app wants to know without loading the model: the
architecture, the name, the trained context length, the quantization and the chat template.

Format reference: ggml's ``docs/gguf.md`` (little-endian; version 2 and 3 use 64-bit counts).
This module imports only the standard library and :mod:`assistant.errors`.
"""

from __future__ import annotations

import enum
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelFormatError, ModelNotFoundError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)


@dataclass(frozen=True)
class Limits:
    """Hard bounds on a header. Generous for real models, tight enough to stop hostile ones."""

    max_tensors: int = 100_000
    max_kv: int = 10_000
    max_key_bytes: int = 1 << 16
    max_string_bytes: int = 16 << 20  # a chat template is a few KB; 16 MiB is absurd already
    max_array_items: int = 4 << 20  # vocabularies reach ~260k tokens
    max_dims: int = 4  # GGML_MAX_DIMS
    max_dim_size: int = 1 << 40
    max_alignment: int = 1 << 16


class ValueType(enum.IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALARS: dict[int, struct.Struct] = {
    ValueType.UINT8: struct.Struct("<B"),
    ValueType.INT8: struct.Struct("<b"),
    ValueType.UINT16: struct.Struct("<H"),
    ValueType.INT16: struct.Struct("<h"),
    ValueType.UINT32: struct.Struct("<I"),
    ValueType.INT32: struct.Struct("<i"),
    ValueType.FLOAT32: struct.Struct("<f"),
    ValueType.BOOL: struct.Struct("<?"),
    ValueType.UINT64: struct.Struct("<Q"),
    ValueType.INT64: struct.Struct("<q"),
    ValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# llama.cpp's LLAMA_FTYPE values for the quantizations a site is likely to meet.
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 28: "IQ4_XS", 32: "BF16",
}  # fmt: skip

# Bytes per block and elements per block of ggml tensor types (ggml.c's type traits), used to
# check that every tensor's data lies inside the file. Unknown types are refused.
_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32),
    9: (36, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256),
    15: (292, 256), 16: (66, 256), 17: (74, 256), 18: (98, 256), 19: (50, 256), 20: (36, 32),
    21: (110, 256), 22: (82, 256), 23: (136, 256), 24: (1, 1), 25: (2, 1), 26: (4, 1),
    27: (8, 1), 28: (8, 1), 29: (56, 256), 30: (2, 1), 34: (54, 256), 35: (34, 256),
    39: (17, 32),
}  # fmt: skip


@dataclass(frozen=True)
class GGUFInfo:
    """What a checked header says."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int):
            return _FILE_TYPES.get(file_type, f"type {file_type}")
        return "unknown"

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


class _Reader:
    """Reads little-endian values from a buffer, refusing any read past its end."""

    def __init__(self, buffer: memoryview, limits: Limits, path: Path) -> None:
        self.buffer = buffer
        self.limits = limits
        self.path = path
        self.offset = 0

    def fail(self, problem: str) -> ModelFormatError:
        return ModelFormatError(
            f"{self.path.name} is not a usable GGUF model: {problem} (at byte {self.offset}). "
            "The file may be truncated, corrupt or crafted; get a fresh copy from its source."
        )

    def take(self, size: int) -> memoryview:
        if size < 0 or self.offset + size > len(self.buffer):
            raise self.fail(f"needs {size} more bytes but the file ends first")
        chunk = self.buffer[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: struct.Struct) -> Any:
        return fmt.unpack(self.take(fmt.size))[0]

    def u64(self) -> int:
        return int(self.unpack(_U64))

    def string(self, limit: int) -> str:
        length = self.u64()
        if length > limit:
            raise self.fail(f"a string claims {length} bytes, over the limit of {limit}")
        return bytes(self.take(length)).decode("utf-8", errors="replace")

    def value(self, value_type: int, depth: int = 0) -> Any:
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])
        if value_type == ValueType.STRING:
            return self.string(self.limits.max_string_bytes)
        if value_type == ValueType.ARRAY:
            if depth > 0:
                raise self.fail("nested arrays are not allowed in a model header")
            item_type = int(self.unpack(_U32))
            count = self.u64()
            if count > self.limits.max_array_items:
                raise self.fail(f"an array claims {count} items, over the limit")
            if item_type in _SCALARS:
                size = _SCALARS[item_type].size
                self.take(count * size)  # bounds-checked skip; large numeric arrays stay unread
                return _ArraySummary(item_type, count)
            if item_type == ValueType.STRING:
                items = [self.string(self.limits.max_string_bytes) for _ in range(count)]
                return items if count <= 64 else _ArraySummary(item_type, count)
            raise self.fail(f"unknown array item type {item_type}")
        raise self.fail(f"unknown value type {value_type}")


@dataclass(frozen=True)
class _ArraySummary:
    item_type: int
    count: int


def read_header(path: Path, *, limits: Limits | None = None) -> GGUFInfo:
    """Check and read a GGUF file's header with bounded reads.

    Args:
        path: the model file.
        limits: bounds to enforce (defaults suit every real model we know).

    Returns:
        The header's facts and metadata (large arrays summarised, not loaded).

    Raises:
        ModelNotFoundError: no such file.
        ModelFormatError: not a GGUF, an unsupported version, truncated, or outside the limits.
    """
    limits = limits or Limits()
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"No model file at {path}. Run the set-up command again, or point "
            "[model] path in settings.toml at a GGUF file."
        )
    size = path.stat().st_size
    if size < 24:
        raise ModelFormatError(
            f"{path.name} is not a GGUF model: it is only {size} bytes long. "
            "Get a fresh copy of the model file."
        )
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            return _parse(_Reader(view, limits, path), size)
        finally:
            view.release()


def _parse(reader: _Reader, size: int) -> GGUFInfo:
    path, limits = reader.path, reader.limits
    if bytes(reader.take(4)) != MAGIC:
        raise ModelFormatError(
            f"{path.name} is not a GGUF model (it does not start with the GGUF signature). "
            "Enclave runs llama.cpp GGUF files; convert or download the model in GGUF format."
        )
    version = int(reader.unpack(_U32))
    if version not in SUPPORTED_VERSIONS:
        raise reader.fail(f"GGUF version {version} is not supported (only 2 and 3)")
    tensor_count, kv_count = reader.u64(), reader.u64()
    if tensor_count > limits.max_tensors:
        raise reader.fail(
            f"it claims {tensor_count} tensors, over the limit of {limits.max_tensors}"
        )
    if kv_count > limits.max_kv:
        raise reader.fail(f"it claims {kv_count} metadata keys, over the limit of {limits.max_kv}")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = reader.string(limits.max_key_bytes)
        metadata[key] = reader.value(int(reader.unpack(_U32)))
    tensors = [_read_tensor_info(reader) for _ in range(tensor_count)]
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or not 0 < alignment <= limits.max_alignment:
        raise reader.fail(f"alignment {alignment!r} is invalid")
    data_start = -(-reader.offset // alignment) * alignment
    for name, offset, nbytes in tensors:
        if offset % alignment or data_start + offset + nbytes > size:
            raise reader.fail(f"tensor {name!r} lies outside the file; the file is truncated")
    return GGUFInfo(path=path, version=version, tensor_count=tensor_count, metadata=metadata,
                    file_size=size)  # fmt: skip


def _read_tensor_info(reader: _Reader) -> tuple[str, int, int]:
    limits = reader.limits
    name = reader.string(limits.max_key_bytes)
    n_dims = int(reader.unpack(_U32))
    if not 0 < n_dims <= limits.max_dims:
        raise reader.fail(f"tensor {name!r} has {n_dims} dimensions")
    elements = 1
    for _ in range(n_dims):
        dim = reader.u64()
        if not 0 < dim <= limits.max_dim_size:
            raise reader.fail(f"tensor {name!r} has an absurd dimension {dim}")
        elements *= dim
    tensor_type = int(reader.unpack(_U32))
    if tensor_type not in _TYPE_SIZES:
        raise reader.fail(f"tensor {name!r} has unknown type {tensor_type}")
    block_bytes, block_elements = _TYPE_SIZES[tensor_type]
    offset = reader.u64()
    return name, offset, -(-elements // block_elements) * block_bytes
