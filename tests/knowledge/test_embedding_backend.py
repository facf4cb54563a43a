"""The embedder's backends: the int8 ONNX model against the fp32 torch one, fallback, setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.app import knowledge_settings
from assistant.config import Settings, settings_from_mapping
from assistant.errors import ConfigError, EmbedderMismatchError
from assistant.knowledge import KnowledgeBase, KnowledgeSettings, MiniLMEmbedder
from assistant.knowledge.embedder import (
    INT8_MODEL_FILE,
    MINILM_NAME,
    EmbeddingBackend,
    build_int8_model,
    default_int8_path,
)

FAST = KnowledgeSettings(isolate_parsing=False)

TEXTS = [
    "Unchanged files (same SHA-256) are skipped when a folder is imported again.",
    "How are the dense and lexical rankings combined in retrieval?",
    "Der Wartungsvertrag deckt die Radarstationen im Norden ab.",
    "x",
    "An overlong passage about calibration after storms. " * 60,  # past the 256-token window
]


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The int8 model, built from the installed weights as set-up builds it."""
    return build_int8_model(tmp_path_factory.mktemp("int8") / INT8_MODEL_FILE)


@pytest.fixture(scope="module")
def torch_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(backend="torch")


@pytest.mark.embedder
@pytest.mark.slow
class TestInt8Backend:
    def test_vectors_are_close_to_fp32_and_named_apart(
        self, int8_file: Path, torch_embedder: MiniLMEmbedder
    ) -> None:
        int8 = MiniLMEmbedder(int8_path=int8_file)
        assert int8.backend is EmbeddingBackend.ONNX_INT8
        assert int8.note == ""
        vectors = int8.embed(TEXTS)
        reference = torch_embedder.embed(TEXTS)
        assert vectors.shape == reference.shape == (len(TEXTS), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        cosine = (vectors * reference).sum(axis=1)
        assert cosine.min() > 0.97, cosine
        assert cosine.mean() > 0.985, cosine
        # Different vectors, different names: an index remembers the name.
        assert int8.name == f"{MINILM_NAME}-int8"
        assert torch_embedder.name == MINILM_NAME

    def test_tokens_match_sentence_transformers(
        self, int8_file: Path, torch_embedder: MiniLMEmbedder
    ) -> None:
        int8 = MiniLMEmbedder(int8_path=int8_file)
        model = torch_embedder._load()
        for text in TEXTS:
            assert int8.count_tokens(text) == torch_embedder.count_tokens(text)
            expected = model.preprocess([text])["input_ids"][0].tolist()  # truncated at 256
            encoded = int8._onnx._tokenizer.encode_batch([text])[0]  # type: ignore[union-attr]
            assert encoded.ids == expected

    def test_a_vector_does_not_depend_on_its_batch_mates(self, int8_file: Path) -> None:
        # Dynamic quantization scales activations per run: batched, a text's vector would
        # move with its neighbours (cosine ~0.99). The embedder runs one text at a time.
        int8 = MiniLMEmbedder(int8_path=int8_file)
        together = int8.embed(TEXTS)
        alone = np.concatenate([int8.embed([t]) for t in reversed(TEXTS)])[::-1]
        assert np.array_equal(together, alone)

    def test_an_index_built_with_int8_refuses_torch(
        self, tmp_path: Path, int8_file: Path, torch_embedder: MiniLMEmbedder
    ) -> None:
        doc = tmp_path / "note.txt"
        doc.write_text("The radar station is serviced every spring.", encoding="utf-8")
        int8 = MiniLMEmbedder(int8_path=int8_file)
        with KnowledgeBase.open(tmp_path / "index", embedder=int8, settings=FAST) as kb:
            assert not kb.ingest([doc]).failed
            assert kb.search("When is the radar serviced?")[0].document_name == "note.txt"
        with (
            KnowledgeBase.open(tmp_path / "index", embedder=torch_embedder, settings=FAST) as kb,
            pytest.raises(EmbedderMismatchError, match="-int8"),
        ):
            kb.search("radar")


@pytest.mark.embedder
class TestFallback:
    def test_a_missing_file_falls_back_to_torch_with_a_note(self, tmp_path: Path) -> None:
        missing = tmp_path / INT8_MODEL_FILE
        embedder = MiniLMEmbedder(int8_path=missing)
        assert embedder.requested is EmbeddingBackend.ONNX_INT8
        assert embedder.backend is EmbeddingBackend.TORCH
        assert embedder.name == MINILM_NAME
        assert str(missing) in embedder.note
        assert "missing" in embedder.note
        assert "torch" in embedder.note

    def test_a_damaged_file_falls_back_too(
        self, tmp_path: Path, torch_embedder: MiniLMEmbedder
    ) -> None:
        damaged = tmp_path / INT8_MODEL_FILE
        damaged.write_bytes(b"\x08\x07 not a model")
        embedder = MiniLMEmbedder(int8_path=damaged)
        assert embedder.backend is EmbeddingBackend.TORCH
        assert "cannot be used" in embedder.note
        vector = embedder.embed(["radar station"])
        assert np.allclose(vector, torch_embedder.embed(["radar station"]), atol=1e-5)

    def test_torch_asked_for_needs_no_file(self) -> None:
        embedder = MiniLMEmbedder(backend="torch", int8_path=Path("/nonexistent.onnx"))
        assert embedder.backend is EmbeddingBackend.TORCH
        assert embedder.note == ""


class TestSetting:
    def test_default_and_choices(self) -> None:
        assert Settings().knowledge.embedding_backend == EmbeddingBackend.ONNX_INT8.value
        for backend in EmbeddingBackend:
            settings = settings_from_mapping({"knowledge": {"embedding_backend": backend.value}})
            assert knowledge_settings(settings).embedding_backend == backend.value

    @pytest.mark.parametrize("value", ["onnx", "int8", "", 8, True])
    def test_other_values_are_refused(self, value: object) -> None:
        with pytest.raises(ConfigError, match="embedding_backend must be one of"):
            settings_from_mapping({"knowledge": {"embedding_backend": value}})

    def test_the_knowledge_base_builds_the_embedder_the_setting_names(self, tmp_path: Path) -> None:
        for backend in EmbeddingBackend:
            settings = KnowledgeSettings(embedding_backend=backend.value)
            with KnowledgeBase.open(tmp_path / backend.value, settings=settings) as kb:
                assert isinstance(kb._embedder, MiniLMEmbedder)
                assert kb._embedder.requested is backend

    def test_an_unknown_backend_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="onnx-fp16"):
            MiniLMEmbedder(backend="onnx-fp16")

    def test_the_file_lives_beside_the_bundled_models(self) -> None:
        assert default_int8_path().name == INT8_MODEL_FILE
        assert default_int8_path().parent.name == "models"
