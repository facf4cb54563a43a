"""llama.cpp-side grammar helpers: GBNF from JSON Schema, GBNF parse checks, llguidance masks.

Together with :mod:`assistant.engine.llama` this is the only place that touches ``llama_cpp``:
everything here needs llama.cpp's vocabulary or its own converters. :mod:`assistant.grammar`
calls these helpers and never imports ``llama_cpp`` itself.

- :func:`json_schema_to_gbnf` is llama-cpp-python's port of llama.cpp's schema converter, the
  baseline constraint engine.
- :func:`gbnf_parses` asks llama.cpp's GBNF parser whether a grammar compiles, without the crash
  a NULL grammar sampler causes in llama-cpp-python 0.3.36.
- :class:`TokenMaskProcessor` applies an llguidance token mask as a llama-cpp-python logits
  processor.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Mapping
from typing import Any

import llama_cpp
import llguidance
import numpy as np
from llama_cpp.llama_grammar import json_schema_to_gbnf as _json_schema_to_gbnf

from assistant.errors import GrammarError

_PIECE_BUFFER = 16 * 1024
_LOOSE_CHAR = 'char ::= [^"\\\\]'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'


def json_schema_to_gbnf(schema: Mapping[str, Any]) -> str:
    """Convert a JSON Schema to GBNF with llama-cpp-python's converter.

    The converter enforces types, properties, required, additionalProperties, enum, const,
    local ``$ref``, anyOf/oneOf/allOf, items with min/max counts, string lengths, ``pattern``
    and the formats date, time, date-time and uuid; other keywords it leaves out of the grammar.

    Raises:
        GrammarError: the converter refused the schema (its message says why).
    """
    try:
        gbnf = str(_json_schema_to_gbnf(json.dumps(schema)))
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError) as exc:
        raise GrammarError(f"llama.cpp's JSON Schema converter refused the schema: {exc}") from exc
    # The converter lets raw control characters (a newline) into strings, which JSON forbids;
    # llama.cpp's own converter has since excluded them (json-schema-to-grammar.cpp, "char").
    return gbnf.replace(_LOOSE_CHAR, _JSON_CHAR)


def gbnf_parses(vocab: Any, gbnf: str) -> bool:
    """Whether llama.cpp's GBNF parser accepts ``gbnf`` (with a ``root`` rule) for ``vocab``.

    llama-cpp-python adds whatever ``llama_sampler_init_grammar`` returns to the sampler chain,
    and a grammar that fails to parse returns NULL, which crashes the process at the first
    sample; so every grammar is parsed once here first.
    """
    probe = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
    if not probe:
        return False
    llama_cpp.llama_sampler_free(probe)
    return True


def llguidance_tokenizer(vocab: Any) -> llguidance.LLTokenizer:
    """llguidance's view of a llama.cpp vocabulary (about 0.3 s for 49k tokens: cache it).

    The same construction as ``llguidance.llamacpp.lltokenizer_from_vocab``, which still calls
    the deprecated ``llama_token_get_attr`` and so fails under ``filterwarnings = error``.
    """
    count = llama_cpp.llama_vocab_n_tokens(vocab)
    buffer = ctypes.create_string_buffer(_PIECE_BUFFER + 1)
    pieces: list[bytes] = []
    for token in range(count):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, _PIECE_BUFFER, 0, True)
        if n < 0:
            raise GrammarError(f"Token {token} of the model's vocabulary is too long to read.")
        piece = buffer.raw[:n]
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        # llguidance marks special tokens with a 0xFF prefix so text can never produce them.
        if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL or (
            attr & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            and piece.startswith(b"<")
            and piece.endswith(b">")
        ):
            piece = b"\xff" + piece
        pieces.append(piece)
    tokenize = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    tokenizer: llguidance.LLTokenizer = llguidance.LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
        tokens=pieces,
        vocab_ptr=vocab,
        tokenize_fptr=tokenize,
        eos_token=llama_cpp.llama_vocab_eos(vocab),
        slices=None,
    )
    return tokenizer


def lark_to_llguidance(lark: str) -> str:
    """A grammar in llguidance's Lark dialect, serialised for its matcher.

    Raises:
        GrammarError: llguidance cannot read or compile it.
    """
    try:
        grammar = llguidance.grammar_from("lark", lark)
    except ValueError as exc:
        raise GrammarError(f"The Lark grammar could not be read: {exc}") from exc
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise GrammarError(f"llguidance could not compile the grammar: {messages[0]}")
    return grammar


def llguidance_matcher(tokenizer: llguidance.LLTokenizer, grammar: str) -> llguidance.LLMatcher:
    """Build (compile) an llguidance matcher for a serialised grammar.

    Raises:
        GrammarError: llguidance rejected the grammar.
    """
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    if matcher.is_error():
        raise GrammarError(
            f"The grammar could not be compiled by llguidance: {matcher.get_error()}"
        )
    return matcher


class TokenMaskProcessor:
    """A llama-cpp-python logits processor that allows only the tokens llguidance allows.

    The generation loop calls :meth:`consume` with every token it accepts, so the matcher follows
    the output; llama-cpp-python calls the processor before each sample with the full logits row
    (token ids in order, since it is the first sampler of the chain).
    """

    def __init__(self, matcher: llguidance.LLMatcher, n_vocab: int) -> None:
        self._matcher = matcher
        self._n_vocab = n_vocab

    def start(self) -> None:
        """Rewind to the grammar's beginning (matchers are cached and reused across runs)."""
        self._matcher.reset()

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        bitmask = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bitmask, bitorder="little")[: len(logits)].astype(bool)
        logits[~allowed] = -np.inf
        return logits

    def consume(self, token_id: int) -> None:
        """Advance the matcher by the token the sampler chose.

        Raises:
            GrammarError: the token breaks the grammar (a bug: the mask should have excluded it).
        """
        if not self._matcher.consume_token(token_id):
            raise GrammarError(f"llguidance rejected a sampled token: {self._matcher.get_error()}")

    @property
    def accepting(self) -> bool:
        """Whether the output so far is a complete sentence of the grammar."""
        return bool(self._matcher.is_accepting())
