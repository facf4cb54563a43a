"""Prompt-lookup decoding: drafted tokens keep their own, correct log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.engine.base import ChatMessage, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine

pytestmark = pytest.mark.model

PASSAGE = (
    "The pump seal kit has part number QX-7731 and must be replaced every 2000 hours of "
    "operation. Bearings are greased monthly with lithium grease."
)
COPY = [
    ChatMessage(Role.SYSTEM, "Answer by quoting this passage exactly:\n" + PASSAGE),
    ChatMessage(Role.USER, "Repeat the passage word for word."),
]
# No repeat penalty: then greedy decoding picks exactly the most likely token of the row read.
PLAIN_GREEDY = GenerationOptions(temperature=0.0, repeat_penalty=1.0, max_tokens=40, top_logprobs=2)


@pytest.fixture(scope="module")
def lookup_engine(smol_path: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine.load(smol_path, context_size=1024, threads=2, prompt_lookup=8)
    yield engine
    engine.close()


class CountingDraft:
    """Wraps the engine's draft model to count the tokens it proposed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.proposed = 0

    def __call__(self, input_ids: Any, /, **kwargs: Any) -> Any:
        drafted = self.inner(input_ids, **kwargs)
        self.proposed += len(drafted)
        return drafted


def test_each_token_reports_the_logits_it_was_sampled_from(lookup_engine: LlamaEngine) -> None:
    llm = lookup_engine._llm
    counting = CountingDraft(llm.draft_model)
    llm.draft_model = counting
    try:
        tokens = list(lookup_engine.stream(COPY, PLAIN_GREEDY))
    finally:
        llm.draft_model = counting.inner
    assert counting.proposed > 10  # the answer copies the passage, so drafts were checked
    assert "QX-7731" in "".join(t.text for t in tokens)
    for token in tokens:
        # Reading the last row of a verification batch (the old code) gives the distribution
        # of a later position, whose best token is another one.
        assert token.logprob == token.top[0].logprob, token


def test_drafted_logprobs_agree_with_teacher_forced_scoring(lookup_engine: LlamaEngine) -> None:
    stats = GenerationStats()
    tokens = list(lookup_engine.stream(COPY, PLAIN_GREEDY, stats=stats))
    assert stats.time_to_first_token is not None
    score = lookup_engine.score(COPY, "".join(t.text for t in tokens))
    assert [piece for piece, _ in score.tokens] == [t.text for t in tokens]
    for (_, scored), token in zip(score.tokens, tokens, strict=True):
        # batch sizes differ between the two, so llama.cpp's rounding does too (see
        # test_engine_llama.py); a wrong row would be off by nats, not hundredths
        assert math.isclose(scored, token.logprob, abs_tol=0.1), token
