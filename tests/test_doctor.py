"""``assistant doctor``'s embedding lines: which backend runs (onnx int8 or torch fp32), its
model file's SHA-256, the ONNX Runtime version, and a fallback reported as a problem."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from assistant import doctor
from assistant.app import App
from assistant.config import KnowledgeSettings, Paths, Settings
from assistant.knowledge import embedder as embedder_module

pytestmark = pytest.mark.embedder

ORT_VERSION = importlib.metadata.version("onnxruntime")


def _app(paths: Paths, backend: str = "onnx-int8") -> App:
    settings = Settings(knowledge=KnowledgeSettings(embedding_backend=backend))
    return App.create(paths, settings=settings)


def _int8_file() -> Path:
    path = embedder_module.default_int8_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: scripts/setup.sh builds it (fetch_models.py)")
    return path


def _fp32(manifest: dict[str, object]) -> dict[str, object]:
    return doctor._embedder(manifest)


def test_the_int8_backend_is_reported_with_its_digest_and_onnxruntime(paths: Paths) -> None:
    int8 = _int8_file()
    manifest = doctor._manifest()
    row = doctor._embedding(_app(paths), manifest, _fp32(manifest))

    assert row["backend"] == row["requested"] == "onnx-int8"
    assert row["onnxruntime"] == ORT_VERSION
    assert row["file"] == str(int8)
    assert row["sha256"] == doctor.sha256_of(int8)
    assert row["digest_ok"] is None  # from source: built here, nothing recorded to compare
    assert row["ok"]
    assert doctor._embedding_problems(row) == []
    lines = doctor.render_embedding(row)
    assert lines[0] == (
        f"[ok  ] embedding backend: onnx int8 (all-MiniLM-L6-v2-int8; onnxruntime {ORT_VERSION})"
    )
    assert lines[1] == f"       file: {int8}"
    assert lines[2].startswith(f"       sha256: {row['sha256']} (built on this machine")


def test_a_bundle_checks_the_int8_digest_against_its_record(paths: Paths) -> None:
    int8 = _int8_file()
    manifest = {**doctor._manifest(), "embedder_int8": {"sha256": doctor.sha256_of(int8)}}
    row = doctor._embedding(_app(paths), manifest, _fp32(manifest))
    assert row["digest_ok"] is True
    assert "(matches the recorded digest)" in doctor.render_embedding(row)[2]

    altered = {**manifest, "embedder_int8": {"sha256": "0" * 64}}
    row = doctor._embedding(_app(paths), altered, _fp32(altered))
    assert row["digest_ok"] is False
    assert not row["ok"]
    assert doctor.render_embedding(row)[0].startswith("[FAIL] embedding backend: onnx int8")
    assert doctor._embedding_problems(row) == [
        f"all-MiniLM-L6-v2-int8.onnx altered (SHA-256 {row['sha256']}, recorded {'0' * 64})"
    ]


def test_the_torch_backend_reports_the_fp32_weights(paths: Paths) -> None:
    manifest = doctor._manifest()
    fp32 = _fp32(manifest)
    row = doctor._embedding(_app(paths, "torch"), manifest, fp32)

    assert (row["backend"], row["label"], row["name"]) == (
        "torch",
        "torch fp32",
        "all-MiniLM-L6-v2",
    )
    assert row["file"].endswith("model.safetensors")
    assert row["sha256"] == fp32["sha256"] == manifest["embedder"]["sha256"]
    assert row["digest_ok"] is True
    assert doctor.render_embedding(row)[0].startswith("[ok  ] embedding backend: torch fp32 (")


def test_a_silent_fallback_to_torch_is_a_problem(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed app's bug: onnx-int8 configured, the int8 file absent, torch running."""
    missing = tmp_path / "bundle" / "models" / embedder_module.INT8_MODEL_FILE
    monkeypatch.setattr(embedder_module, "default_int8_path", lambda: missing)

    report = doctor.diagnose(_app(paths), load_model=False)
    row = report["embedding"]
    text = doctor.render(report)

    assert (row["requested"], row["backend"]) == ("onnx-int8", "torch")
    assert not report["ok"]
    problem = next(p for p in report["problems"] if p.startswith("the embedding backend"))
    assert problem.startswith(
        "the embedding backend is torch (torch fp32), not the configured onnx-int8: "
        f"The int8 embedding model {missing} is missing"
    )
    assert (
        "[FAIL] embedding backend: torch fp32, NOT the configured onnx-int8 "
        f"(all-MiniLM-L6-v2; onnxruntime {ORT_VERSION})"
    ) in text
    assert f"       why: The int8 embedding model {missing} is missing" in text
    assert report["packages"]["onnxruntime"] == ORT_VERSION
