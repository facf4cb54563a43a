"""Shared fixtures. Every test runs with the offline guard active and its own ASSISTANT_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import assistant.offline  # noqa: F401, I001 - the whole suite runs behind the socket guard
from assistant.chat.store import ConversationStore
from assistant.config import DEFAULT_MODEL_ENV, TEST_MODEL_FILE, Paths, default_models_dir
from assistant.engine.fake import ScriptedEngine

ROOT = Path(__file__).resolve().parent.parent
SMOL = default_models_dir() / TEST_MODEL_FILE
GEMMA = default_models_dir() / "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(autouse=True)
def assistant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches a real profile: state goes to a fresh folder. The default model is the
    fast test model (SmolLM2), in this process and in the CLIs the tests start."""
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    monkeypatch.setenv(DEFAULT_MODEL_ENV, TEST_MODEL_FILE)
    return home


@pytest.fixture
def paths(assistant_home: Path) -> Paths:
    return Paths.from_env().ensure()


@pytest.fixture
def store(paths: Paths) -> Iterator[ConversationStore]:
    db = ConversationStore(paths.conversations_db)
    yield db
    db.close()


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/setup.sh (the test command does) first")
    return path


@pytest.fixture(scope="session")
def smol_path() -> Path:
    return _require(SMOL)


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    return _require(GEMMA)


@pytest.fixture(scope="session")
def smol_engine(smol_path: Path):  # type: ignore[no-untyped-def]
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine.load(smol_path, context_size=2048, threads=2)
    yield engine
    engine.close()


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 180,
    prefix: tuple[str, ...] = (),
    program: str = "assistant.cli.main",
) -> subprocess.CompletedProcess[str]:
    """Run a CLI in a fresh interpreter, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", program, *args],
        input=stdin, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT,
    )  # fmt: skip


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None
