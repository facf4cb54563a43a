"""The llama.cpp engine with the real SmolLM2 model (and Gemma 3 for a second architecture)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from assistant.engine.base import (
    CancelToken,
    ChatMessage,
    Engine,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    GrammarConstraint,
    Role,
    Token,
)
from assistant.engine.llama import LlamaEngine, _release
from assistant.errors import ContextOverflowError, GrammarError, ModelFormatError

pytestmark = pytest.mark.model

QUESTION = [
    ChatMessage(Role.SYSTEM, "You are a helpful assistant."),
    ChatMessage(Role.USER, "What is the capital of France?"),
]
GREEDY = GenerationOptions(temperature=0.0, max_tokens=24, top_logprobs=5)


def run(engine: Engine, options: GenerationOptions = GREEDY, messages=QUESTION, **kw):  # type: ignore[no-untyped-def]
    stats = GenerationStats()
    tokens = list(engine.stream(messages, options, stats=stats, **kw))
    return "".join(t.text for t in tokens), tokens, stats


def test_it_is_an_engine(smol_engine: LlamaEngine) -> None:
    assert isinstance(smol_engine, Engine)
    assert smol_engine.info.architecture == "llama"
    assert smol_engine.context_size == 2048


def test_answers_the_capital_question(smol_engine: LlamaEngine) -> None:
    text, tokens, stats = run(smol_engine)
    assert "Paris" in text
    assert stats.finish_reason is FinishReason.STOP
    assert stats.completion_tokens == len(tokens)
    assert stats.time_to_first_token is not None
    assert stats.tokens_per_second > 0
    assert "\x00" not in text


def test_tokens_carry_logprobs_and_alternatives(smol_engine: LlamaEngine) -> None:
    _, tokens, _ = run(smol_engine)
    for token in tokens:
        assert token.logprob <= 0.0
        assert len(token.top) == 5
        probs = [alt.logprob for alt in token.top]
        assert probs == sorted(probs, reverse=True)
        # Greedy decoding picks the most likely token, so it heads the list.
        assert token.top[0].text == token.text or not token.text
        assert math.isclose(token.top[0].logprob, token.logprob, abs_tol=1e-4)
    assert sum(math.exp(a.logprob) for a in tokens[0].top) <= 1.0 + 1e-6


def test_greedy_is_deterministic(smol_engine: LlamaEngine) -> None:
    assert run(smol_engine)[0] == run(smol_engine)[0]


def test_seeded_sampling_is_repeatable(smol_engine: LlamaEngine) -> None:
    options = GenerationOptions(temperature=0.9, seed=1234, max_tokens=20)
    assert run(smol_engine, options)[0] == run(smol_engine, options)[0]


def test_max_tokens_gives_length(smol_engine: LlamaEngine) -> None:
    _, tokens, stats = run(smol_engine, GenerationOptions(temperature=0.0, max_tokens=3))
    assert len(tokens) == 3
    assert stats.finish_reason is FinishReason.LENGTH


def test_stop_string_is_cut(smol_engine: LlamaEngine) -> None:
    full, _, _ = run(smol_engine)
    assert "Paris" in full
    text, _, stats = run(smol_engine, GenerationOptions(temperature=0.0, stop=("Paris",)))
    assert "Paris" not in text
    assert full.startswith(text)
    assert stats.finish_reason is FinishReason.STOP


def test_cancel_mid_stream(smol_engine: LlamaEngine) -> None:
    cancel = CancelToken()
    story = [ChatMessage(Role.USER, "Write a long story about a dragon.")]
    count = 0
    stats = GenerationStats()
    for _ in smol_engine.stream(
        story, GenerationOptions(max_tokens=400), cancel=cancel, stats=stats
    ):
        count += 1
        if count == 4:
            cancel.cancel()
    assert count == 4
    assert stats.finish_reason is FinishReason.CANCELLED


def test_follow_up_reuses_the_cached_prefix(smol_engine: LlamaEngine) -> None:
    text, _, _ = run(smol_engine)
    follow_up = [*QUESTION, ChatMessage(Role.ASSISTANT, text),
                 ChatMessage(Role.USER, "And of Spain?")]  # fmt: skip
    _, _, stats = run(smol_engine, messages=follow_up)
    assert stats.cached_prompt_tokens >= len(smol_engine.prompt_tokens(QUESTION)) - 1


def test_grammar_constrains_the_output(smol_engine: LlamaEngine) -> None:
    grammar = GrammarConstraint(gbnf='root ::= ("yes" | "no") "."')
    options = GenerationOptions(temperature=0.8, seed=7, max_tokens=10, grammar=grammar)
    for _ in range(3):
        text, _, _ = run(smol_engine, options)
        assert text in ("yes.", "no.")


def test_bad_grammar_is_a_clear_error(smol_engine: LlamaEngine) -> None:
    with pytest.raises(GrammarError, match="could not be compiled"):
        run(smol_engine, GenerationOptions(grammar=GrammarConstraint(gbnf="root ::= (")))


def test_prompt_larger_than_context(smol_engine: LlamaEngine) -> None:
    huge = [ChatMessage(Role.USER, "word " * 5000)]
    with pytest.raises(ContextOverflowError, match="context holds 2048"):
        run(smol_engine, messages=huge)


def test_loading_a_non_gguf_file_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("These are meeting notes, not a model.\n" * 50)
    with pytest.raises(ModelFormatError, match="not a GGUF model"):
        LlamaEngine.load(fake)


def test_loading_a_truncated_model_is_a_clear_error(tmp_path: Path, smol_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smol_path.open("rb") as source, cut.open("wb") as target:
        shutil.copyfileobj(source, target, length=1 << 20)
        target.truncate(smol_path.stat().st_size // 2)
    with pytest.raises(ModelFormatError, match="truncated"):
        LlamaEngine.load(cut)


def test_gpu_request_falls_back_to_cpu_with_a_note(smol_path: Path) -> None:
    engine = LlamaEngine.load(smol_path, context_size=512, gpu_layers=-1)
    try:
        if engine.info.gpu_available:
            pytest.skip("this llama.cpp build has a GPU backend")
        assert engine.info.gpu_layers == 0
        assert any("no GPU backend" in note for note in engine.info.notes)
        assert "Paris" in run(engine)[0]
    finally:
        engine.close()


def test_second_architecture_uses_the_builtin_template(gemma_path: Path) -> None:
    engine = LlamaEngine.load(gemma_path, context_size=1024)
    try:
        assert engine.info.architecture == "gemma3"
        assert any("built-in" in note for note in engine.info.notes)
        prompt = engine.render_chat(QUESTION)
        assert prompt.startswith("<bos><start_of_turn>user\n")
        text, tokens, _ = run(engine, GenerationOptions(temperature=0.0, max_tokens=8))
        assert tokens
        assert all(t.logprob <= 0 for t in tokens)
    finally:
        engine.close()


def test_release_holds_back_a_possible_stop_prefix() -> None:
    held = [Token("Hello ", 1, -0.1), Token("Wor", 2, -0.1)]
    ready, stopped = _release(held, ("World",))
    assert [t.text for t in ready] == ["Hello "]
    assert not stopped
    held.append(Token("ld!", 3, -0.1))
    ready, stopped = _release(held, ("World",))
    assert ready == []
    assert stopped


def test_scoring_matches_the_logprobs_seen_while_generating(smol_engine: LlamaEngine) -> None:
    # llama.cpp's CPU kernels round differently for a one-token batch than for a long one (up to
    # ~0.1 nat on this Q4_1 model), and a fully cached prompt re-evaluates just its last token.
    # Start from a different prompt so the question is evaluated as a batch, as scoring does.
    run(smol_engine, messages=[ChatMessage(Role.USER, "Hello")])
    text, tokens, _ = run(smol_engine)
    score = smol_engine.score(QUESTION, text)
    assert [piece for piece, _ in score.tokens] == [t.text for t in tokens]
    for (_, scored), token in zip(score.tokens, tokens, strict=True):
        assert math.isclose(scored, token.logprob, abs_tol=2e-3)


def test_scoring_ranks_the_right_answer_above_a_wrong_one(smol_engine: LlamaEngine) -> None:
    right = smol_engine.score(QUESTION, "The capital of France is Paris.")
    wrong = smol_engine.score(QUESTION, "The capital of France is Berlin.")
    assert right.cross_entropy < wrong.cross_entropy
    assert right.perplexity == pytest.approx(math.exp(right.cross_entropy))
    # Generation still works (and reuses nothing stale) after scoring.
    assert "Paris" in run(smol_engine)[0]


def test_the_default_thread_count_is_one_per_physical_core(smol_path: Path) -> None:
    from assistant.engine.cpu import physical_cores

    engine = LlamaEngine.load(smol_path, context_size=512)
    try:
        assert engine.info.threads == physical_cores()
        assert engine._llm.n_threads == physical_cores()  # not cpu_count() // 2
    finally:
        engine.close()


def test_llama_cpp_is_built_without_its_amx_kernels() -> None:
    # scripts/setup.sh builds without them: on Sapphire Rapids CPUs they crash in the first
    # multi-token decode (llama.cpp issue 20824). A wheel from elsewhere would bring them back.
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert "AMX_INT8 = 1" not in info, info
