"""Answer scoring conditions the expected answer on exactly the prompt the app would send."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.engine.base import ChatMessage, ContinuationScore, GenerationOptions, Role
from assistant.engine.fake import ScriptedEngine
from assistant.evaluation.answers import Context, score_answers
from assistant.evaluation.gold import GoldItem, load_gold
from assistant.knowledge import KnowledgeBase, stream_answer


def test_the_scored_prompt_is_the_one_the_app_sends(kb: KnowledgeBase, gold_file: Path) -> None:
    item = load_gold(gold_file).items[0]
    recorded: list[list[ChatMessage]] = []

    class Recording(ScriptedEngine):
        def score(self, messages: Sequence[ChatMessage], continuation: str) -> ContinuationScore:
            recorded.append(list(messages))
            return super().score(messages, continuation)

    engine = Recording()
    score_answers([item], engine, kb, collection="lib", top_k=3, max_tokens=64)
    hits = kb.search(item.question, collection="lib", top_k=3)
    for _ in stream_answer(item.question, hits, engine, options=GenerationOptions(max_tokens=64)):
        pass
    assert recorded[0] == list(engine.calls[0].messages)
    assert recorded[0][0].role is Role.SYSTEM
    assert "pump seal kit" in recorded[0][0].content


def test_a_grounded_answer_scores_better_than_the_same_without_context(
    kb: KnowledgeBase, gold_file: Path
) -> None:
    items = load_gold(gold_file).items[:3]
    engine = ScriptedEngine()
    grounded = score_answers(items, engine, kb, collection="lib", top_k=3, max_tokens=64)
    alone = score_answers(items, engine, kb, context=Context.NONE, collection="lib", top_k=3,
                          max_tokens=64, system_prompt="You are helpful.")  # fmt: skip
    for with_context, without in zip(grounded, alone, strict=True):
        assert with_context.cross_entropy < without.cross_entropy
        assert with_context.source_in_context is True
        assert without.source_in_context is None
        assert without.sources == ()
    seal = grounded[0]
    assert seal.tokens == 5
    assert seal.sources[0] == "pumps.txt"
    assert seal.perplexity > 1.0
    assert seal.nats_per_char > 0
    assert len(seal.worst) == 3
    assert seal.worst[0][1] <= seal.worst[-1][1]


def test_an_unrelated_question_is_marked_as_one_the_app_would_refuse(kb: KnowledgeBase) -> None:
    item = GoldItem("cake", "Which flour makes the best sponge cake?", "Cake flour.", "pumps.txt")
    (score,) = score_answers([item], ScriptedEngine(), kb, collection="lib", top_k=3,
                             max_tokens=64)  # fmt: skip
    assert score.refused
    assert score.sources == ()
    assert score.source_in_context is False
