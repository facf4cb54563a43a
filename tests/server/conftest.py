"""Real servers on loopback for the on-prem tests: llama-cpp-python's and Chroma's.

Each server runs as a child process bound to 127.0.0.1 on a free port, and is stopped (by its own
process id) when the fixture ends. Nothing here talks to any other address.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SMOL

LOOPBACK = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A server child process and its address."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + path, timeout=1.0, trust_env=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server did not start in {timeout} s: {server.log.read_text()[-2000:]}")


def start_llama_server(log_dir: Path, *, api_key: str = "") -> Server:
    """``python -m llama_cpp.server`` with the SmolLM2 GGUF on a free loopback port."""
    port = free_port()
    log = log_dir / f"llama-server-{port}.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(SMOL), "--host", LOOPBACK, "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--interrupt_requests", "False",
    ]  # fmt: skip
    if api_key:
        command += ["--api_key", api_key]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    _wait_ready(server, "/v1/models" if not api_key else "/docs")
    return server


def start_chroma_server(data: Path, log_dir: Path) -> Server:
    """``chroma run`` on a temporary path and a free loopback port."""
    chroma = shutil.which("chroma", path=str(VENV_BIN)) or "chroma"
    port = free_port()
    log = log_dir / f"chroma-{port}.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [chroma, "run", "--path", str(data), "--host", LOOPBACK, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(process, port, log)
    _wait_ready(server, "/api/v2/heartbeat")
    return server


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not SMOL.is_file():
        pytest.fail(f"{SMOL} is missing: run scripts/setup.sh first")
    server = start_llama_server(tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("chroma-server")
    server = start_chroma_server(base / "data", base)
    yield server
    # chromadb caches one client System (and its httpx session) per server process-wide and
    # never closes it; drop the cache and collect here, so the session's socket is not reported
    # as unclosed in whichever later test the garbage collector happens to run.
    from chromadb.api.shared_system_client import SharedSystemClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        SharedSystemClient.clear_system_cache()
        gc.collect()
    server.stop()
