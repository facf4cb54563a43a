"""The self-test's check that what runs is what is configured: the embedding backend, the chat
model and the constraint engine (issue 19: the bundle silently ran the fp32 torch embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.config import KnowledgeSettings, ModelSettings, Settings
from assistant.engine.fake import ScriptedEngine
from assistant.grammar.compile import GrammarCompiler
from assistant.knowledge.embedder import MiniLMEmbedder, default_int8_path
from assistant.selftest import (
    PROBE_SCHEMA,
    Backends,
    Found,
    SelfTest,
    check_backends,
    configured_backends,
    running_backends,
)

PROBE_ANSWER = json.dumps({"answer": "yes"})


def _int8_file() -> Path:
    path = default_int8_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: scripts/setup.sh builds it (fetch_models.py)")
    return path


def test_the_defaults_ask_for_int8_llguidance_and_the_default_model(tmp_path: Path) -> None:
    model = tmp_path / "site-model.gguf"
    expected = configured_backends(Settings(model=ModelSettings(path=str(model))))
    assert expected == Backends("onnx-int8", str(model.resolve()), "llguidance")
    torch = Settings(knowledge=KnowledgeSettings(embedding_backend="torch"))
    assert configured_backends(torch).embedding == "torch"


def test_a_backend_that_differs_fails_naming_found_and_expected() -> None:
    expected = Backends("onnx-int8", "/opt/enclave/models/a.gguf", "llguidance")
    found = Found(
        Backends("torch", "/opt/enclave/models/a.gguf", "llguidance"),
        "all-MiniLM-L6-v2",
        why={"embedding": "The int8 embedding model x.onnx is missing."},
    )
    assert check_backends(expected, found) == [
        "embedding backend: configured onnx-int8, found torch "
        "(The int8 embedding model x.onnx is missing.)"
    ]
    assert check_backends(expected, Found(expected, "all-MiniLM-L6-v2-int8")) == []


def test_a_missing_int8_file_and_an_engine_without_llguidance_are_found_out(
    tmp_path: Path,
) -> None:
    """The real embedder falls back to torch as the installed app did; the real constrained
    generation path falls back to GBNF on an engine that cannot apply llguidance's masks."""
    missing = tmp_path / "models" / "all-MiniLM-L6-v2-int8.onnx"
    embedder = MiniLMEmbedder(int8_path=missing)  # onnx-int8 asked for, as by default
    engine = ScriptedEngine(supports_llguidance=False).enqueue(PROBE_ANSWER)
    expected = Backends("onnx-int8", str(tmp_path / "model.gguf"), "llguidance")

    found = running_backends(embedder=embedder, engine=engine, compiler=GrammarCompiler())
    problems = check_backends(expected, found)

    assert found.backends == Backends("torch", "<scripted>", "gbnf")
    assert len(problems) == 3
    embedding, chat_model, constraint = problems
    assert embedding.startswith("embedding backend: configured onnx-int8, found torch (")
    assert str(missing) in embedding
    assert "is missing" in embedding
    assert chat_model == f"chat model: configured {tmp_path / 'model.gguf'}, found <scripted>"
    assert constraint == (
        "constraint engine: configured llguidance, found gbnf "
        "(the engine cannot apply llguidance's token masks)"
    )
    # The probe really asked for the probe schema, under a grammar.
    assert engine.calls[0].options.grammar is not None
    assert "yes or no" in engine.calls[0].messages[-1].content


@pytest.mark.embedder
def test_the_configured_backends_pass_when_they_run() -> None:
    embedder = MiniLMEmbedder(int8_path=_int8_file())
    engine = ScriptedEngine(supports_llguidance=True).enqueue(PROBE_ANSWER)
    found = running_backends(embedder=embedder, engine=engine, compiler=GrammarCompiler())
    assert found.backends.embedding == "onnx-int8"
    assert found.backends.constraint == "llguidance"
    assert found.embedder_name == "all-MiniLM-L6-v2-int8"
    assert found.probe_output == PROBE_ANSWER
    expected = Backends("onnx-int8", "<scripted>", "llguidance")
    assert check_backends(expected, found) == []


def test_an_output_that_breaks_the_probe_schema_fails_the_check() -> None:
    from assistant.errors import AssistantError

    engine = ScriptedEngine(supports_llguidance=True).enqueue('{"answer": "maybe"}')
    with pytest.raises(AssistantError, match="maybe"):
        running_backends(
            embedder=MiniLMEmbedder(backend="torch"), engine=engine, compiler=GrammarCompiler()
        )
    assert PROBE_SCHEMA["properties"]["answer"]["enum"] == ["yes", "no"]


@pytest.mark.model
@pytest.mark.embedder
@pytest.mark.slow
def test_the_self_test_stops_loudly_when_the_model_is_not_the_configured_one(
    tmp_path: Path, smol_path: Path
) -> None:
    """From source, with the real model: the installed app would load another GGUF than the
    one tested, so the step fails with both paths and the later steps do not run."""
    _int8_file()
    configured = tmp_path / "configured.gguf"
    lines: list[str] = []
    expected = Backends("onnx-int8", str(configured), "llguidance")
    report = SelfTest(tmp_path / "home", model=smol_path, out=lines.append, expected=expected).run()

    assert not report.ok
    names = [step.name for step in report.steps]
    assert names == ["offline guard", "bundled files", "model loads", "configured backends"]
    failed = report.steps[-1]
    assert not failed.ok
    assert failed.detail == (
        f"not the configured backends: chat model: configured {configured}, "
        f"found {smol_path.resolve()}"
    )
    assert lines[-1].startswith("[FAIL] configured backends (")
