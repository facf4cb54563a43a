"""The command line, run as a user runs it: fresh interpreters, the real model, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, have_tool, run_cli

ASK = ("ask", "--json", "--temperature", "0", "What is the capital of France?")


@pytest.mark.model
def test_ask_json_answers_with_the_bundled_model() -> None:
    result = run_cli(*ASK)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "Paris" in data["answer"]
    assert data["tokens"] > 0
    assert data["tokens_per_second"] > 0
    assert data["time_to_first_token"] > 0
    assert data["finish_reason"] == "stop"


@pytest.mark.model
def test_ask_streams_text_and_saves_the_conversation() -> None:
    result = run_cli("ask", "--temperature", "0", "What is the capital of France?")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    listing = run_cli("conversations", "list", "--json")
    conversations = json.loads(listing.stdout)
    assert [c["title"] for c in conversations] == ["What is the capital of France?"]
    conversation_id = str(conversations[0]["id"])
    shown = run_cli("conversations", "show", conversation_id)
    assert "assistant:" in shown.stdout
    assert "Paris" in shown.stdout


@pytest.mark.model
def test_follow_up_in_a_conversation() -> None:
    first = json.loads(run_cli(*ASK).stdout)
    second = run_cli("ask", "--json", "--temperature", "0", "--conversation",
                     str(first["conversation_id"]), "Repeat the city name only.")  # fmt: skip
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["conversation_id"] == first["conversation_id"]
    assert data["prompt_tokens"] > first["prompt_tokens"]  # the first turn is in the prompt


@pytest.mark.model
def test_doctor_reports_the_guard_and_the_models() -> None:
    result = run_cli("doctor", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["problems"]
    assert report["offline_guard"]["active"] is True
    assert report["offline_guard"]["environment_forced"] is True
    required = [m for m in report["default_models"] if not m["optional"]]
    assert all(m["digest_ok"] for m in required)
    roles = {m["file"]: m["role"] for m in report["default_models"]}
    assert roles["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"] == "default chat model"
    assert roles["SmolLM2-135M-Instruct.Q4_1.gguf"].startswith("test model")
    assert report["configured_model"]["chosen_by"].startswith("the fast test model")
    assert report["embedder"]["digest_ok"]
    assert report["model_load"]["ok"]
    assert report["desktop"]["qt"]  # the window's system libraries are reported
    assert report["packages"]["llama-cpp-python"] == "0.3.36"
    text = run_cli("doctor", "--no-model").stdout
    assert "offline guard active" in text


def test_a_file_that_is_not_a_model_gives_one_clear_line(tmp_path: Path) -> None:
    bogus = tmp_path / "report.pdf"
    bogus.write_bytes(b"%PDF-1.7 not a model" * 100)
    result = run_cli("--model", str(bogus), "ask", "hello")
    assert result.returncode == 3
    assert result.stderr.startswith("error: report.pdf is not a GGUF model")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_settings_are_reported(assistant_home: Path) -> None:
    assistant_home.mkdir(parents=True)
    (assistant_home / "settings.toml").write_text("[generation]\ntemprature = 1\n")
    result = run_cli("conversations", "list")
    assert result.returncode == 2
    assert "Did you mean 'temperature'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_conversation_is_a_clear_error() -> None:
    result = run_cli("conversations", "show", "42")
    assert result.returncode == 1
    assert "No conversation with id 42" in result.stderr


def test_export_and_delete(assistant_home: Path, tmp_path: Path) -> None:
    from assistant.chat.store import ConversationStore
    from assistant.config import Paths
    from assistant.engine.base import Role

    store = ConversationStore(Paths.from_env().ensure().conversations_db)
    conversation = store.create("Case 7")
    store.add_message(conversation.id, Role.USER, "What happened?")
    store.close()
    out = tmp_path / "case.md"
    result = run_cli("conversations", "export", str(conversation.id), "--format", "markdown",
                     "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "# Case 7" in out.read_text()
    assert "What happened?" in out.read_text()
    refused = run_cli("conversations", "delete", str(conversation.id), stdin="")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    deleted = run_cli("conversations", "delete", str(conversation.id), "--yes")
    assert deleted.returncode == 0
    assert "No conversations yet" in run_cli("conversations", "list").stdout


def test_admin_settings_set_validates(assistant_home: Path) -> None:
    ok = run_cli("settings", "set", "generation.temperature", "0.5",
                 program="assistant.cli.admin")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "temperature = 0.5" in (assistant_home / "settings.toml").read_text()
    bad = run_cli("settings", "set", "generation.temperature", "9",
                  program="assistant.cli.admin")  # fmt: skip
    assert bad.returncode == 2
    assert "between" in bad.stderr


def test_a_missing_or_broken_model_path_is_refused_and_nothing_saved(
    assistant_home: Path, tmp_path: Path
) -> None:
    missing = run_cli("settings", "set", "model.path", str(tmp_path / "nope.gguf"),
                      program="assistant.cli.admin")  # fmt: skip
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert not (assistant_home / "settings.toml").exists()
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    refused = run_cli("settings", "set", "model.path", str(junk), program="assistant.cli.admin")
    assert refused.returncode == 2
    assert "was not saved" in refused.stderr
    back = run_cli("settings", "set", "model.path", '""', program="assistant.cli.admin")
    assert back.returncode == 0, back.stderr  # the default again


def test_python_dash_m_assistant_works() -> None:
    result = run_cli("--version", program="assistant")
    assert result.returncode == 0
    assert result.stdout.startswith("Enclave ")


@pytest.mark.model
def test_interactive_chat_history_and_quit() -> None:
    result = run_cli("chat", stdin="What is the capital of France?\n/history\n/new\n/quit\n",
                     env={"ASSISTANT_TEST": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "enclave>" in result.stdout
    assert "user: What is the capital of France?" in result.stdout
    assert "Started a new conversation." in result.stdout


@pytest.mark.model
def test_ctrl_c_stops_the_answer_but_not_the_session() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdin
    assert process.stdout
    process.stdin.write(b"Write a very long story about a dragon and a knight.\n")
    process.stdin.flush()
    seen = b""
    deadline = time.monotonic() + 120
    while b"enclave> " not in seen or len(seen.split(b"enclave> ", 1)[1]) < 20:
        chunk = os.read(process.stdout.fileno(), 64)
        assert chunk, seen
        assert time.monotonic() < deadline, seen
        seen += chunk
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(b"/history\n/quit\n", timeout=120)
    text = (seen + out).decode()
    assert process.returncode == 0, err.decode()
    assert "[stopped]" in text
    assert "assistant [partial]:" in text


@pytest.mark.model
@pytest.mark.slow
def test_ask_without_network_gives_the_same_answer() -> None:
    """The same question in a process with no network at all: same answer, no inet connect."""
    if not have_tool("unshare") or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("unshare -rn (user namespaces) is not available here")
    normal = run_cli(*ASK, "--seed", "11")
    assert normal.returncode == 0, normal.stderr
    trace: tuple[str, ...] = ()
    trace_file = Path(os.environ["ASSISTANT_HOME"]) / "connect.trace"
    if have_tool("strace"):
        trace = ("strace", "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(trace_file))
    isolated = run_cli(*ASK, "--seed", "11", prefix=("unshare", "-rn", *trace))
    assert isolated.returncode == 0, isolated.stderr
    assert json.loads(isolated.stdout)["answer"] == json.loads(normal.stdout)["answer"]
    if trace:
        calls = trace_file.read_text()
        assert "AF_INET" not in calls, calls


@pytest.mark.model
def test_a_killed_answer_is_kept_and_marked_partial() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ask", "--max-tokens", "400",
         "Write a very long story about a dragon and a knight."],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    with process:
        assert process.stdout
        seen = b""
        deadline = time.monotonic() + 120
        started = None
        # Wait past the first periodic save (once a second) so there is text to keep.
        while started is None or time.monotonic() - started < 1.5:
            chunk = os.read(process.stdout.fileno(), 64)
            assert chunk, seen
            assert time.monotonic() < deadline
            seen += chunk
            started = started or time.monotonic()
        process.kill()
        process.wait(30)
    listing = json.loads(run_cli("conversations", "list", "--json").stdout)
    assert len(listing) == 1
    shown = run_cli("conversations", "show", str(listing[0]["id"])).stdout
    assert "assistant [partial]:" in shown
    saved = shown.split("assistant [partial]:", 1)[1].strip()
    assert saved
    assert seen.decode(errors="ignore").strip().startswith(saved[:20])
