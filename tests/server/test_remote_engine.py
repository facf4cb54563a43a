"""The on-prem server engine against a real ``python -m llama_cpp.server`` on loopback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from assistant import offline
from assistant.app import App
from assistant.chat.session import ChatService
from assistant.chat.store import ConversationStore
from assistant.config import Paths, settings_from_mapping
from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    Role,
)
from assistant.engine.remote import RemoteEngine, ServerConfig
from assistant.errors import NetworkBlockedError, ServerUnavailableError
from assistant.grammar import extract
from tests.server.conftest import LOOPBACK, Server, free_port, start_llama_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

GREEDY = GenerationOptions(max_tokens=12, temperature=0.0, top_logprobs=3, seed=1)
QUESTION = [
    ChatMessage(Role.SYSTEM, "You are a helpful assistant."),
    ChatMessage(Role.USER, "What is the capital of France?"),
]


@pytest.fixture(scope="module")
def remote(llama_server: Server):  # type: ignore[no-untyped-def]
    engine = RemoteEngine.connect(ServerConfig(llama_server.url, context_size=2048))
    yield engine
    engine.close()


def test_answers_and_logprobs_match_the_local_model(remote: RemoteEngine, smol_engine) -> None:
    remote_stats, local_stats = GenerationStats(), GenerationStats()
    served = list(remote.stream(QUESTION, GREEDY, stats=remote_stats))
    local = list(smol_engine.stream(QUESTION, GREEDY, stats=local_stats))

    assert "".join(t.text for t in served) == "".join(t.text for t in local)
    assert "Paris" in "".join(t.text for t in served)
    assert remote_stats.finish_reason is local_stats.finish_reason
    # Same model, same template on both sides: the probabilities agree token by token.
    for ours, theirs in zip(served, local, strict=True):
        assert ours.logprob == pytest.approx(theirs.logprob, abs=1e-3)
        assert [a.text for a in ours.top] == [a.text for a in theirs.top]
    # The ChatML approximation counts SmolLM2's prompt exactly, via the server's tokenizer.
    rendered = remote.render_chat(QUESTION)
    assert remote.count_tokens(rendered) == smol_engine.count_tokens(
        smol_engine.render_chat(QUESTION)
    )
    assert remote_stats.prompt_tokens > 0


def test_stop_strings_and_max_tokens(remote: RemoteEngine) -> None:
    stats = GenerationStats()
    text = "".join(
        t.text for t in remote.stream(QUESTION, GenerationOptions(
            max_tokens=12, temperature=0.0, stop=(" is",)), stats=stats)
    )  # fmt: skip
    assert text == "The capital of France"
    assert stats.finish_reason is FinishReason.STOP

    stats = GenerationStats()
    tokens = list(remote.stream(QUESTION, GenerationOptions(max_tokens=3, temperature=0.0),
                                stats=stats))  # fmt: skip
    assert len(tokens) == 3
    assert stats.finish_reason is FinishReason.LENGTH


def test_cancelling_closes_the_stream(remote: RemoteEngine) -> None:
    cancel = CancelToken()
    stats = GenerationStats()
    received = []
    for token in remote.stream(QUESTION, GenerationOptions(max_tokens=40), cancel=cancel,
                               stats=stats):  # fmt: skip
        received.append(token)
        cancel.cancel()
    assert len(received) == 1
    assert stats.finish_reason is FinishReason.CANCELLED


def test_json_schema_output_is_constrained_and_validated(remote: RemoteEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    value = extract(
        remote,
        schema,
        "Which city is the capital of France?",
        options=GenerationOptions(max_tokens=24, temperature=0.0),
    )
    assert value in ({"city": "Paris"}, {"city": "Rome"}, {"city": "Oslo"})


def test_app_chats_through_the_configured_server_and_the_guard_allows_only_it(
    llama_server: Server, paths: Paths
) -> None:
    settings = settings_from_mapping(
        {"server": {"url": llama_server.url, "context_size": 2048},
         "generation": {"temperature": 0.0, "max_tokens": 8}}
    )  # fmt: skip
    app = App.create(paths, settings=settings)
    try:
        assert isinstance(app.engine, RemoteEngine)
        answer = app.chat.ask("What is the capital of France?")
        saved = app.store.messages(answer.conversation_id)[-1]
        assert saved.content.strip() == answer.text
        assert saved.status == "complete"
        assert f"{LOOPBACK}:{llama_server.port}" in offline.status().allowed_hosts
    finally:
        app.close()
    # The guard opened exactly that host and port: any other destination is still refused,
    # before a packet leaves (192.0.2.0/24 is TEST-NET-1, never routed).
    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("192.0.2.10", llama_server.port), timeout=1)
    with pytest.raises(NetworkBlockedError):
        RemoteEngine.connect(ServerConfig(f"http://192.0.2.10:{llama_server.port}"))


def test_an_unreachable_server_fails_fast_and_offers_the_local_model() -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError) as caught:
        RemoteEngine.connect(ServerConfig(f"http://{LOOPBACK}:{free_port()}"))
    assert time.monotonic() - started < 5
    assert "local model" in str(caught.value)


def test_a_silent_server_times_out_instead_of_hanging() -> None:
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(1)  # accepts connections into the backlog and never answers
    try:
        config = ServerConfig(
            f"http://{LOOPBACK}:{listener.getsockname()[1]}",
            connect_timeout_s=1.0,
            read_timeout_s=1.0,
        )
        started = time.monotonic()
        with pytest.raises(ServerUnavailableError, match="stopped answering"):
            RemoteEngine.connect(config)
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_token_is_required_and_killing_the_server_keeps_the_partial_answer(
    tmp_path: Path,
) -> None:
    server = start_llama_server(tmp_path, api_key="s3cret-token")
    try:
        with pytest.raises(ServerUnavailableError, match="token"):
            RemoteEngine.connect(ServerConfig(server.url, context_size=2048))
        token_file = tmp_path / "token"
        token_file.write_text("s3cret-token\n")
        engine = RemoteEngine.connect(
            ServerConfig.from_settings(server.url, token_file=str(token_file), context_size=2048)
        )
        store = ConversationStore(tmp_path / "conversations.sqlite3")
        chat = ChatService(
            engine,
            store,
            system_prompt="You are a helpful assistant.",
            options=GenerationOptions(max_tokens=200, temperature=0.8, seed=3),
        )
        seen: list[str] = []

        def kill_after_three(token) -> None:  # type: ignore[no-untyped-def]
            seen.append(token.text)
            if len(seen) == 3:
                threading.Thread(target=server.kill).start()

        with pytest.raises(ServerUnavailableError) as caught:
            chat.ask("Write a long story about a lighthouse keeper.", on_token=kill_after_three)
        assert "middle of the answer" in str(caught.value)
        conversation = store.conversations()[0]
        question, answer = store.messages(conversation.id)[-2:]
        assert question.content.startswith("Write a long story")
        assert answer.status == "partial"
        assert answer.content.startswith("".join(seen[:3]).strip()[:5])
        store.close()
        engine.close()
    finally:
        server.kill()
