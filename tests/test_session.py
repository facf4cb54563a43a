"""Answering in a conversation with the scripted engine: context, trimming, saving, cancelling."""

from __future__ import annotations

import threading

import pytest

from assistant.chat.session import ChatService, fit_to_context, title_from
from assistant.chat.store import ConversationStore
from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    FinishReason,
    GenerationOptions,
    Role,
    Token,
)
from assistant.engine.fake import ScriptedEngine
from assistant.errors import AssistantError, ContextOverflowError


def service(engine: ScriptedEngine, store: ConversationStore, **options: object) -> ChatService:
    return ChatService(engine, store, system_prompt="Be brief.",
                       options=GenerationOptions(**options))  # type: ignore[arg-type]  # fmt: skip


def test_answer_streams_and_is_saved(engine: ScriptedEngine, store: ConversationStore) -> None:
    engine.enqueue("Paris is the capital.")
    seen: list[Token] = []
    answer = service(engine, store).ask("Capital of France?", on_token=seen.append)
    assert answer.text == "Paris is the capital."
    assert "".join(t.text for t in seen).strip() == answer.text
    messages = store.messages(answer.conversation_id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        (Role.USER, "Capital of France?", "complete"),
        (Role.ASSISTANT, "Paris is the capital.", "complete"),
    ]
    assert messages[1].meta["finish_reason"] == "stop"
    assert len(messages[1].meta["tokens"]) == len(seen)
    assert store.get(answer.conversation_id).title == "Capital of France?"


def test_follow_up_keeps_the_conversation(engine: ScriptedEngine, store: ConversationStore) -> None:
    chat = service(engine, store)
    engine.enqueue("Paris.", "About two million.")
    first = chat.ask("Capital of France?")
    chat.ask("How many people live there?", conversation_id=first.conversation_id)
    sent = engine.calls[-1].messages
    assert [m.role for m in sent] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER]
    assert sent[1].content == "Capital of France?"
    assert sent[2].content == "Paris."


def test_oldest_turns_go_first_and_system_prompt_stays(store: ConversationStore) -> None:
    engine = ScriptedEngine(context_size=60)
    system = ChatMessage(Role.SYSTEM, "Be brief.")
    history = [
        ChatMessage(Role.USER, "one " * 10),
        ChatMessage(Role.ASSISTANT, "uno " * 10),
        ChatMessage(Role.USER, "two " * 10),
        ChatMessage(Role.ASSISTANT, "dos " * 10),
    ]
    question = ChatMessage(Role.USER, "three?")
    messages, dropped = fit_to_context(engine, system, history, question, answer_tokens=20)
    assert messages[0] == system
    assert messages[-1] == question
    assert dropped == 2
    assert [m.content for m in messages[1:3]] == [history[2].content, history[3].content]


def test_question_too_long_for_context(store: ConversationStore) -> None:
    engine = ScriptedEngine(context_size=100)
    with pytest.raises(ContextOverflowError, match="Shorten the question"):
        service(engine, store, max_tokens=10).ask("word " * 200)


def test_empty_question_is_refused(engine: ScriptedEngine, store: ConversationStore) -> None:
    with pytest.raises(AssistantError, match="empty"):
        service(engine, store).ask("   ")


def test_cancel_keeps_the_partial_answer(store: ConversationStore) -> None:
    engine = ScriptedEngine(token_delay=0.01).enqueue("word " * 200)
    cancel = CancelToken()
    count = 0

    def on_token(token: Token) -> None:
        nonlocal count
        count += 1
        if count == 5:
            cancel.cancel()

    answer = service(engine, store).ask("Tell me everything", cancel=cancel, on_token=on_token)
    assert answer.finish_reason is FinishReason.CANCELLED
    saved = store.messages(answer.conversation_id)[-1]
    assert saved.status == "partial"
    assert saved.content == answer.text
    assert 5 <= len(answer.tokens) < 200


def test_cancel_from_another_thread(store: ConversationStore) -> None:
    engine = ScriptedEngine(token_delay=0.005).enqueue("x " * 2000)
    cancel = CancelToken()
    timer = threading.Timer(0.05, cancel.cancel)
    timer.start()
    answer = service(engine, store, max_tokens=4000).ask("go", cancel=cancel)
    timer.join()
    assert answer.finish_reason is FinishReason.CANCELLED


def test_engine_failure_keeps_question_and_partial(store: ConversationStore) -> None:
    class Failing(ScriptedEngine):
        def stream(self, messages, options, *, cancel=None, stats=None):  # type: ignore[no-untyped-def]
            def tokens():  # type: ignore[no-untyped-def]
                yield Token("Half", 0, -0.1)
                raise AssistantError("engine broke")

            return tokens()

    with pytest.raises(AssistantError, match="engine broke"):
        service(Failing(), store).ask("question")
    conversation = store.latest()
    assert conversation is not None
    messages = store.messages(conversation.id)
    assert messages[0].content == "question"
    assert (messages[1].content, messages[1].status) == ("Half", "partial")


def test_max_tokens_and_stop_strings_are_passed(
    engine: ScriptedEngine, store: ConversationStore
) -> None:
    engine.enqueue("one two three four five")
    answer = service(engine, store, max_tokens=3).ask("count")
    assert answer.text == "one two three"
    assert answer.finish_reason is FinishReason.LENGTH


def test_title_is_shortened() -> None:
    assert title_from("  a   b  ") == "a b"
    assert len(title_from("x" * 200)) == 60
