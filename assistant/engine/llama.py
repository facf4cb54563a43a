"""The llama.cpp engine: the only module that imports ``llama_cpp``.

It loads a GGUF by path after :mod:`assistant.engine.gguf_header` has checked the header, renders
chat prompts with the model's own template in the sandbox (:mod:`assistant.engine.template`), and
streams tokens from llama-cpp-python's low-level ``generate`` loop, reading each step's logits to
give every token its log-probability and the top alternatives. ``generate`` reuses the KV cache for
the longest common prefix with the previous prompt, so a follow-up question in a conversation
only evaluates the new turn.

Optional prompt-lookup decoding (``prompt_lookup`` in :meth:`LlamaEngine.load`): llama-cpp-python's
``LlamaPromptLookupDecoding`` drafts the tokens that followed the latest n-gram earlier in the
context, one batch checks them, and every token still comes from the same sampler, so the output
is unchanged; it saves time only when the answer copies from the prompt (bench/bench_lookup.py).

One ``Llama`` context serves one generation at a time; a lock serialises streams from different
threads.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

from assistant.engine.base import (
    Alternative,
    CancelToken,
    ChatMessage,
    ContinuationScore,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    GrammarConstraint,
    ModelInfo,
    Token,
)
from assistant.engine.cpu import physical_cores
from assistant.engine.gguf_header import GGUFInfo, read_header
from assistant.engine.template import ChatTemplate, fallback_template
from assistant.errors import ContextOverflowError, GenerationError, GrammarError, ModelLoadError

log = logging.getLogger(__name__)


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _log_to_logging(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp's own log lines go to the log at debug level, never to the terminal.

    llama-cpp-python's callback drops them only below its ERROR level, but it maps ggml's levels
    by an older numbering (in 0.3.36 ggml's WARN arrives as ERROR), so with ``verbose=False``
    warnings such as Gemma's "using full-size SWA cache (ref: https://github.com/...)" still
    reach stderr and mix with the answer. Whatever matters reaches the user as an error of ours.
    """
    if log.isEnabledFor(logging.DEBUG):
        log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


llama_cpp.llama_log_set(_log_to_logging, ctypes.c_void_p(0))


def gpu_offload_available() -> bool:
    """Whether this llama.cpp build has a GPU backend (CUDA, Metal, Vulkan, ...)."""
    return bool(llama_cpp.llama_supports_gpu_offload())


def system_info() -> str:
    """llama.cpp's own summary of the CPU features it was built for and found."""
    return bytes(llama_cpp.llama_print_system_info()).decode(errors="replace").strip()


def library_version() -> str:
    return str(getattr(llama_cpp, "__version__", "unknown"))


#: Compiled grammars kept per engine (schemas repeat; grounded-answer grammars rarely do).
GRAMMAR_CACHE_SIZE = 32


class LlamaEngine:
    """A GGUF model loaded in llama.cpp.

    Use :meth:`load`; the constructor is for tests that already hold a ``Llama``.
    """

    supports_grammar = True
    supports_logprobs = True
    supports_llguidance = True
    supports_prefix = True

    def __init__(self, llm: Any, header: GGUFInfo, template: ChatTemplate, info: ModelInfo):
        self._llm = llm
        self._header = header
        self._template = template
        self._info = info
        self._lock = threading.Lock()
        # Compiled grammars by key, least recently used first. Grounded answers compile one per
        # question (its sources are in it), so the cache is bounded.
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self._llg_tokenizer: Any = None
        self._pieces: dict[int, bytes] = {}
        self._n_vocab = int(llm.n_vocab())
        self._add_bos = bool(llm._model.add_bos_token())

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        context_size: int = 4096,
        threads: int = 0,
        gpu_layers: int = 0,
        batch_size: int = 512,
        seed: int = -1,
        lora_path: Path | None = None,
        prompt_lookup: int = 0,
    ) -> LlamaEngine:
        """Check and load a GGUF model.

        Args:
            path: the ``.gguf`` file.
            context_size: tokens of context; capped at what the model was trained for.
            threads: CPU threads; 0: one per physical core this process may use
                (:func:`assistant.engine.cpu.physical_cores`).
            gpu_layers: layers to offload (-1: all). Without a GPU backend this falls back to
                the CPU and ``info.notes`` says so.
            batch_size: prompt tokens evaluated per step.
            seed: sampling seed; -1 for random.
            lora_path: a GGUF LoRA adapter to apply (checked like a model before loading).
            prompt_lookup: draft this many tokens per step by prompt lookup (0: off).

        Raises:
            ModelNotFoundError: no such file.
            ModelFormatError: not a GGUF, truncated, or a header outside safe limits.
            ChatTemplateError: the model's chat template is invalid.
            ModelLoadError: llama.cpp refused the file.
        """
        path = Path(path)
        header = read_header(path)
        notes: list[str] = []
        gpu = gpu_offload_available()
        if gpu_layers and not gpu:
            notes.append(
                f"GPU offload of {gpu_layers} layers was requested, but this llama.cpp build "
                "has no GPU backend; running on the CPU."
            )
            gpu_layers = 0
        trained = header.context_length or context_size
        n_ctx = min(context_size, trained)
        if n_ctx < context_size:
            notes.append(f"Context capped at {n_ctx} tokens, the model's trained length.")
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": n_ctx,
            "n_batch": min(batch_size, n_ctx),
            "n_gpu_layers": gpu_layers,
            "seed": seed if seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED,
            "logits_all": False,
            "verbose": False,
        }
        if lora_path is not None:
            read_header(Path(lora_path))  # an adapter is as untrusted as a model
            kwargs["lora_path"] = str(lora_path)
            notes.append(f"LoRA adapter {Path(lora_path).name} applied.")
        if prompt_lookup > 0:
            kwargs["draft_model"] = _LazyLogitsLookup(num_pred_tokens=prompt_lookup)
            # With a draft model llama-cpp-python keeps logits for every position and copies
            # them into ``scores``, which it sizes by this argument (n_ctx rows when True,
            # n_batch rows otherwise, then overflowed): it must be True.
            kwargs["logits_all"] = True
        # llama-cpp-python's default (cpu_count() // 2) assumes hyperthreads; count cores.
        threads = threads if threads > 0 else physical_cores()
        kwargs["n_threads"] = threads
        kwargs["n_threads_batch"] = threads
        try:
            llm = llama_cpp.Llama(**kwargs)
            if prompt_lookup > 0:
                kwargs["draft_model"].llm = llm
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path.name} ({exc}). The file may be damaged or use "
                "an architecture this build does not support; check it with 'assistant doctor'."
            ) from exc
        template = cls._template_for(llm, header)
        if template.builtin:
            notes.append("The model has no chat template; using Enclave's built-in one.")
        info = ModelInfo(
            path=str(path),
            name=header.name,
            architecture=header.architecture,
            context_size=int(llm.n_ctx()),
            trained_context=trained,
            gpu_layers=gpu_layers,
            gpu_available=gpu,
            notes=tuple(notes),
            threads=threads,
        )
        return cls(llm, header, template, info)

    @staticmethod
    def _template_for(llm: Any, header: GGUFInfo) -> ChatTemplate:
        def piece(token_id: int) -> str:
            if token_id < 0:
                return ""
            return str(llm._model.token_get_text(token_id))

        bos, eos = piece(llm.token_bos()), piece(llm.token_eos())
        source = header.chat_template
        if source:
            return ChatTemplate.compile(source, bos_token=bos, eos_token=eos)
        return ChatTemplate.compile(
            fallback_template(header.architecture), bos_token=bos, eos_token=eos, builtin=True
        )

    # --- the Engine protocol ---------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def context_size(self) -> int:
        return self._info.context_size

    @property
    def header(self) -> GGUFInfo:
        return self._header

    def tokenize(self, text: str) -> list[int]:
        """Tokens of ``text`` as prompt content (special tokens recognised, no BOS added)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        return self._template.render(messages)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The token ids of the rendered prompt, with BOS added when the model wants one."""
        prompt = self.render_chat(messages)
        bos_text = self._template.bos_token
        add_bos = self._add_bos and not (bos_text and prompt.startswith(bos_text))
        tokens = self.tokenize(prompt)
        return [self._llm.token_bos(), *tokens] if add_bos else tokens

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        *,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[Token]:
        prompt = self.prompt_tokens(messages)
        if options.prefix:
            prompt += self.tokenize(options.prefix)
        room = self.context_size - len(prompt)
        if room < 1:
            raise ContextOverflowError(
                f"The prompt takes {len(prompt)} tokens but the model's context holds "
                f"{self.context_size}. Start a new conversation or shorten the question."
            )
        grammar = self._compile_grammar(options) if options.grammar else None
        return self._run(prompt, options, grammar, cancel, stats or GenerationStats())

    def _compile_grammar(self, options: GenerationOptions) -> Any:
        assert options.grammar is not None
        if options.grammar.llguidance or options.grammar.lark:
            return self._compile_llguidance(options.grammar, options.grammar.cache_key)
        key = options.grammar.cache_key or options.grammar.gbnf
        if self._cached(key) is None:
            gbnf = options.grammar.gbnf
            # llama-cpp-python adds whatever llama_sampler_init_grammar returns to the sampler
            # chain, and a grammar that fails to parse returns NULL, which crashes the process
            # at the first sample. Parse it once here and refuse it while we still can.
            probe = llama_cpp.llama_sampler_init_grammar(
                self._llm._model.vocab, gbnf.encode("utf-8"), b"root"
            )
            if not probe:
                raise GrammarError(
                    "The grammar could not be compiled: llama.cpp's GBNF parser rejected it "
                    "(check the rule syntax and that a 'root' rule exists)."
                )
            llama_cpp.llama_sampler_free(probe)
            self._remember(
                key,
                llama_cpp.LlamaGrammar.from_string(  # type: ignore[attr-defined]
                    gbnf, verbose=False
                ),
            )
        return self._grammars[key]

    def _compile_llguidance(self, constraint: GrammarConstraint, cache_key: str) -> Any:
        """A token-mask processor for an llguidance grammar; the matcher is cached by key."""
        from assistant.engine import llama_grammar  # llguidance loads only when asked for

        key = "llg:" + (cache_key or constraint.llguidance or constraint.lark)
        matcher = self._cached(key)
        if matcher is None:
            if self._llg_tokenizer is None:
                self._llg_tokenizer = llama_grammar.llguidance_tokenizer(self._llm._model.vocab)
            grammar = constraint.llguidance or llama_grammar.lark_to_llguidance(constraint.lark)
            matcher = llama_grammar.llguidance_matcher(self._llg_tokenizer, grammar)
            self._remember(key, matcher)
        return llama_grammar.TokenMaskProcessor(matcher, self._n_vocab)

    def _cached(self, key: str) -> Any:
        found = self._grammars.get(key)
        if found is not None:
            self._grammars.move_to_end(key)
        return found

    def _remember(self, key: str, grammar: Any) -> None:
        self._grammars[key] = grammar
        while len(self._grammars) > GRAMMAR_CACHE_SIZE:
            self._grammars.popitem(last=False)

    def _run(
        self,
        prompt: list[int],
        options: GenerationOptions,
        grammar: Any,
        cancel: CancelToken | None,
        stats: GenerationStats,
    ) -> Iterator[Token]:
        llm = self._llm
        max_new = min(options.max_tokens, self.context_size - len(prompt))
        # An llguidance constraint is a logits processor that follows each accepted token.
        processor = None
        if grammar is not None and not isinstance(grammar, llama_cpp.llama_grammar.LlamaGrammar):
            processor, grammar = grammar, None
        with self._lock:
            if processor is not None:
                processor.start()
            start = time.perf_counter()
            stats.prompt_tokens = len(prompt)
            stats.cached_prompt_tokens = _common_prefix(llm.input_ids[: llm.n_tokens], prompt)
            stats.finish_reason = FinishReason.LENGTH
            if options.seed >= 0:
                llm.set_seed(options.seed)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            held: list[Token] = []  # tokens that might still turn out to start a stop string
            produced = 0
            # The context holds prompt + answer so far, so answer token j was sampled from the
            # logits at position len(prompt) - 1 + j. With a draft model one decode checks
            # several positions and the sampler reads the row of that position, counted from
            # the end of the batch; without one that row is always the last (-1).
            position = len(prompt) - 1
            _set_logits_all(llm, False)  # the prompt needs only its last row; see _LazyLogitsLookup
            generator = llm.generate(
                prompt,
                top_k=options.top_k,
                top_p=options.top_p,
                min_p=0.0,
                temp=options.temperature,
                repeat_penalty=options.repeat_penalty,
                grammar=grammar,
                logits_processor=[processor] if processor is not None else None,
            )
            try:
                for token_id in generator:
                    if cancel is not None and cancel.cancelled:
                        stats.finish_reason = FinishReason.CANCELLED
                        break
                    if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token_id):
                        stats.finish_reason = FinishReason.STOP
                        break
                    if processor is not None:
                        processor.consume(token_id)
                    row = position - llm.n_tokens
                    position += 1
                    logprob, top = self._logprobs(token_id, options.top_logprobs, index=row)
                    text = decoder.decode(self._piece_bytes(token_id))
                    if stats.time_to_first_token is None:
                        stats.time_to_first_token = time.perf_counter() - start
                    produced += 1
                    held.append(Token(text=text, id=token_id, logprob=logprob, top=top))
                    ready, stopped = _release(held, options.stop)
                    stats.completion_tokens = produced
                    for token in ready:
                        stats.elapsed = time.perf_counter() - start
                        yield token
                    if stopped:
                        stats.finish_reason = FinishReason.STOP
                        held.clear()
                        break
                    if produced >= max_new:
                        break
                    if cancel is not None and cancel.cancelled:
                        stats.finish_reason = FinishReason.CANCELLED
                        break
                yield from held  # the end came before any stop string completed
            except (RuntimeError, OSError) as exc:
                raise GenerationError(f"llama.cpp failed while generating: {exc}") from exc
            finally:
                generator.close()
                stats.elapsed = time.perf_counter() - start

    def score(self, messages: Sequence[ChatMessage], continuation: str) -> ContinuationScore:
        """The log-probability of each token of ``continuation`` as the answer to ``messages``.

        The prompt is evaluated, then the continuation in batches whose every position returns
        logits (the context keeps logits for the last position only during generation), so the
        cost is one forward pass over prompt and continuation.

        Raises:
            ContextOverflowError: prompt and continuation do not fit the context window.
            GenerationError: llama.cpp failed.
        """
        llm = self._llm
        prompt = self.prompt_tokens(messages)
        target = self.tokenize(continuation)
        if not target:
            return ContinuationScore(())
        if len(prompt) + len(target) > self.context_size:
            raise ContextOverflowError(
                f"Prompt and expected answer take {len(prompt) + len(target)} tokens; the "
                f"model's context holds {self.context_size}."
            )
        scored: list[tuple[str, float]] = []
        # Position i's logits predict token i + 1: feed the prompt's last token and all but the
        # continuation's last, and read the logits at each of those positions.
        feed = [prompt[-1], *target[:-1]]
        with self._lock:
            try:
                llm.reset()
                _set_logits_all(llm, False)  # this batch's logits are not read
                llm.eval(prompt[:-1])
                for start in range(0, len(feed), llm.n_batch):
                    chunk = feed[start : start + llm.n_batch]
                    llm._batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=True)
                    llm._ctx.decode(llm._batch)
                    llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
                    llm.n_tokens += len(chunk)
                    for offset in range(len(chunk)):
                        token_id = target[start + offset]
                        logprob, _ = self._logprobs(token_id, 0, index=offset)
                        scored.append((self._piece(token_id), logprob))
            except (RuntimeError, OSError) as exc:
                raise GenerationError(f"llama.cpp failed while scoring: {exc}") from exc
            finally:
                llm._requires_eval = True  # the next generate must not trust these logits
        return ContinuationScore(tuple(scored))

    def _logprobs(
        self, token_id: int, top_n: int, *, index: int = -1
    ) -> tuple[float, tuple[Alternative, ...]]:
        pointer = llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, index)
        logits = np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self._n_vocab,)
        )
        peak = float(logits.max())
        log_total = peak + float(np.log(np.exp(logits - peak).sum(dtype=np.float64)))
        logprob = float(logits[token_id]) - log_total
        if top_n <= 0:
            return logprob, ()
        best = np.argpartition(logits, -top_n)[-top_n:]
        best = best[np.argsort(logits[best])[::-1]]
        top = tuple(Alternative(self._piece(int(i)), float(logits[i]) - log_total) for i in best)
        return logprob, top

    def _piece(self, token_id: int) -> str:
        return self._piece_bytes(token_id).decode(errors="replace")

    def _piece_bytes(self, token_id: int) -> bytes:
        """A token's bytes. llama-cpp-python's own ``token_to_piece`` returns its whole 32-byte
        buffer, NULs included, and cuts longer pieces; this asks for the real length."""
        piece = self._pieces.get(token_id)
        if piece is None:
            size = 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(
                    self._llm._model.vocab, token_id, buffer, size, 0, False
                )
                if n >= 0:
                    break
                size = -n
            piece = self._pieces[token_id] = buffer.raw[:n]
        return piece

    def close(self) -> None:
        with self._lock:
            close = getattr(self._llm, "close", None)
            if close is not None:
                close()


class _LazyLogitsLookup(LlamaPromptLookupDecoding):
    """Prompt lookup that turns on all-position logits only once drafting starts.

    llama-cpp-python evaluates everything with logits at every position when a draft model is
    set, the prompt included, and copies them all into ``Llama.scores``: for a 1,000-token RAG
    prompt and a 49k vocabulary that is 1,000 output-layer rows and 200 MB copied before the
    first token, for logits nobody reads. :meth:`LlamaEngine._run` turns the flag off before the
    prompt; the first draft (after the first sampled token) turns it back on, since the sampler
    then reads rows inside the verification batch.
    """

    llm: Any = None

    def __call__(self, input_ids: Any, /, **kwargs: Any) -> Any:
        if self.llm is not None:
            _set_logits_all(self.llm, True)
        return super().__call__(input_ids, **kwargs)


def _set_logits_all(llm: Any, value: bool) -> None:
    """Switch llama-cpp-python's private all-positions flag; only meaningful with a draft model
    (without one it is always False, and stays so)."""
    if getattr(llm, "draft_model", None) is not None:
        llm._logits_all = value


def _common_prefix(cached: Any, prompt: list[int]) -> int:
    count = 0
    for a, b in zip(cached, prompt, strict=False):
        if int(a) != b:
            break
        count += 1
    return count


def _release(held: list[Token], stops: Sequence[str]) -> tuple[list[Token], bool]:
    """Split held tokens into those safe to emit and whether a stop string completed.

    Text that could be the start of a stop string stays held until the next token settles it;
    when a stop string completes, the tokens before it are released (the last one cut) and the
    rest dropped.
    """
    if not stops:
        ready = list(held)
        held.clear()
        return ready, False
    text = "".join(t.text for t in held)
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut >= 0:
        return _take_chars(held, cut), True
    keep = max(
        (
            n
            for s in stops
            for n in range(min(len(s) - 1, len(text)), 0, -1)
            if text.endswith(s[:n])
        ),
        default=0,
    )
    ready = _take_chars(held, len(text) - keep)
    return ready, False


def _take_chars(held: list[Token], count: int) -> list[Token]:
    """Remove and return the leading tokens covering ``count`` characters (the last one cut)."""
    ready: list[Token] = []
    while held and count > 0:
        token = held[0]
        if len(token.text) <= count:
            ready.append(held.pop(0))
            count -= len(token.text)
        else:
            ready.append(Token(token.text[:count], token.id, token.logprob, token.top))
            held[0] = Token(token.text[count:], token.id, token.logprob, token.top)
            count = 0
    return ready


def default_threads() -> int:
    """Threads the engine uses when none is set: one per physical core it may run on."""
    return physical_cores()
