"""Grounded replies: quotes checked against their passage, and the grammars that shape replies.

Every quote shown under an answer is checked here before anyone sees it
(:func:`verify_quote`): it must be an exact substring of its passage (spaces flattened, since
PDF text breaks lines mid-sentence), and its offsets in the passage as stored are kept for the
viewer's highlight. A quote that fails the check comes back ``verified=False``, and the
interfaces say so. The default answer format takes its quote from the sources themselves
(:mod:`.attribution`); this module also holds the pieces of the other format and the grammars:

- the **quote-first** reply (:class:`~.prompt.AnswerFormat` ``QUOTE_FIRST``)::

      Quote: "The plant's operating budget for 2025 was 9.6 million euros, of which ..." [2]
      Answer: The operating budget for 2025 was 9.6 million euros [2].

      Answer: The documents do not say.

  :func:`answer_grammar` makes any other reply impossible for an engine that enforces
  llguidance grammars: the quote is a run of whole clauses of one source
  (``%regex {"substring_chunks": ...}`` per source; ``substring_words`` with
  :attr:`QuoteUnit.WORD`), the number after it can only be that source's, and the answer must
  cite it. :func:`parse_reply` reads such a reply back (and one from an engine that ignored the
  shape);
- :func:`citation_grammar`, for a free answer whose ``[n]`` can only be numbers of the sources
  given;
- :func:`says_not_in_documents`, which recognises an answer that says the documents do not
  hold the answer, in the usual wordings.

Sentences and clauses (:func:`sentence_spans`, :func:`quote_chunks`) are cut here too: a quote
is made of whole ones. docs/benchmarks.md measures the formats against each other.

Imports only the standard library.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The reply when no source answers the question.
ABSTAIN_TEXT = "The documents do not say."
QUOTE_LABEL = "Quote"
ANSWER_LABEL = "Answer:"
#: Longest answer before its citation, in characters: room for a sentence or two. The answer
#: ends at its citation, so a model cannot ramble on after it.
MAX_ANSWER_CHARS = 300
#: A sentence longer than this many words is also cut after commas, semicolons and colons, so a
#: quote can be one clause of it rather than the whole sentence.
LONG_SENTENCE_WORDS = 28

_SENTENCE_END = re.compile(r"[.!?\u2026][\"')\]\u201d\u2019]*(?=\s|$)")
_CLOSING = (".", "!", "?", ":", ";", ",", "\u2026", '"', "\u201d")
#: A line this short with no closing punctuation, above a capitalised line, is a heading.
HEADING_CHARS = 60
#: Words that end with a full stop inside a sentence ("Dr. Amara Osei"), lower-case.
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st no nos vol fig figs approx dept est inc ltd co jr sr vs etc e.g i.e"
    " cf al jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_CLAUSE_END = re.compile(r"(?<=[,;:])(?=\s)")
_QUOTED = re.compile(r'\s*Quote: "(.*)" \[(\d{1,3})\]\nAnswer: ?(.*)', re.S)
_QUOTE_OPEN = re.compile(r'\s*Quote: "(.*)', re.S)
_ANSWER_ONLY = re.compile(r"\s*Answer: ?(.*)", re.S)


class QuoteUnit(enum.StrEnum):
    """What a quote is made of."""

    CLAUSE = "clause"  # whole sentences, or clauses of long ones (the default)
    WORD = "word"  # any run of whole words (llguidance's substring_words)


@dataclass(frozen=True)
class Quote:
    """A verbatim quote from a numbered source, as checked against its passage.

    Attributes:
        source: the source number the model named.
        text: the quote as the model wrote it, spaces flattened.
        start: where it starts in the passage as stored, ``-1`` when it is not there.
        end: where it ends (exclusive), ``-1`` when it is not there.
        verified: True when ``text`` is an exact substring of the passage (spaces flattened).
    """

    source: int
    text: str
    start: int = -1
    end: int = -1
    verified: bool = False


@dataclass(frozen=True)
class Reply:
    """A reply read back into its parts.

    Attributes:
        answer: the answer text (after ``Answer:``), or the whole reply when it has no shape.
        quote_source: the number after ``Quote``, ``None`` without a quote.
        quote: the quote's text, ``""`` without one.
        abstained: the reply is "The documents do not say."
        shaped: the reply follows the format (a free-text engine may not).
        complete: the reply got as far as its answer.
    """

    answer: str
    quote_source: int | None = None
    quote: str = ""
    abstained: bool = False
    shaped: bool = True
    complete: bool = True


def parse_reply(raw: str) -> Reply:
    """Split a reply into quote and answer; a reply cut off mid-quote keeps what it has."""
    text = raw.lstrip()
    match = _QUOTED.fullmatch(text)
    if match:
        answer = match.group(3).strip()
        return Reply(
            answer=answer,
            quote_source=int(match.group(2)),
            quote=match.group(1),
            abstained=_is_abstention(answer),
        )
    match = _ANSWER_ONLY.fullmatch(text)
    if match:
        answer = match.group(1).strip()
        return Reply(answer=answer, abstained=_is_abstention(answer))
    match = _QUOTE_OPEN.fullmatch(text)
    if match:  # stopped (or cut off) before the answer began
        quote, _, number = match.group(1).partition('" [')
        source = int(number.rstrip("]")) if number.rstrip("]").isdigit() else None
        return Reply(answer="", quote_source=source, quote=quote, complete=False)
    return Reply(answer=raw.strip(), shaped=False, abstained=_is_abstention(raw.strip()))


def _is_abstention(answer: str) -> bool:
    return answer.rstrip(". ").lower() == ABSTAIN_TEXT.rstrip(".").lower()


_NOT_IN_DOCUMENTS = re.compile(
    r"\b(?:documents?|sources?|passages?|texts?|reports?|information)\b[^.]{0,60}?"
    r"\b(?:do|does|did)\s*(?:not|n't)\s+(?:say|mention|contain|specify|state|provide|include|"
    r"give|tell|cover|answer)"
    r"|\bnot\s+(?:mentioned|provided|specified|stated|given|included|available|found)\s+in\b"
    r"|\b(?:is|are|was|were)\s+not\s+(?:mentioned|provided|specified|stated|given)\b"
    r"|\bno\s+(?:information|mention|details?)\s+(?:about|on|of|regarding)\b",
    re.IGNORECASE,
)


def says_not_in_documents(answer: str) -> bool:
    """Whether an answer says the documents do not hold the answer (in any usual wording:
    "the documents do not say", "... is not mentioned in the sources", "no information about").
    """
    return _is_abstention(answer) or bool(_NOT_IN_DOCUMENTS.search(answer))


def citation_grammar(numbers: Sequence[int]) -> str:
    """The llguidance (Lark) grammar of a free answer whose ``[n]`` can only be given numbers.

    Any text, except that square brackets only ever hold the number of a source the model was
    given: the model cannot cite ``[7]`` when there were three sources.
    """
    cites = " | ".join(f'"[{n}]"' for n in numbers) or '"[1]"'
    return "start: (TEXT | CITE)+\nTEXT: /[^\\[\\]]+/\nCITE: " + cites + "\n"


def flatten(text: str) -> str:
    """``text`` with every run of whitespace made one space: the form sources are shown in.

    PDF text breaks lines mid-sentence; a model copying a passage writes a space there, so the
    prompt, the grammar and the check all use this form.
    """
    return " ".join(text.split())


def _flatten_with_offsets(text: str) -> tuple[str, list[int]]:
    """:func:`flatten` and, for each of its characters, the offset it came from in ``text``."""
    out: list[str] = []
    offsets: list[int] = []
    pending_space = False
    for index, char in enumerate(text):
        if char.isspace():
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            offsets.append(index - 1)
            pending_space = False
        out.append(char)
        offsets.append(index)
    return "".join(out), offsets


def verify_quote(source: int, text: str, passage: str) -> Quote:
    """Check a quote against its passage.

    The quote is verified when, spaces flattened (:func:`flatten`), it is an exact substring
    of the passage; ``start`` and ``end`` then locate it in the passage as stored, line breaks
    and all, so a viewer can highlight it.
    """
    quote = flatten(text)
    flat, offsets = _flatten_with_offsets(passage)
    found = flat.find(quote) if quote else -1
    if found < 0:
        return Quote(source=source, text=quote)
    start = offsets[found]
    end = offsets[found + len(quote) - 1] + 1
    return Quote(source=source, text=quote, start=start, end=end, verified=True)


def quote_chunks(text: str, unit: QuoteUnit = QuoteUnit.CLAUSE) -> list[str]:
    """Cut a flattened text into the pieces a quote is made of; they join back to ``text``.

    For :attr:`QuoteUnit.CLAUSE`: sentences, long ones cut after their commas, semicolons and
    colons; the space between pieces is a piece of its own, so a quote can start and end on a
    clause without it.
    """
    if unit is QuoteUnit.WORD:
        return [piece for piece in re.split(r"(\s+)", text) if piece]
    pieces: list[str] = []
    position = 0
    for start, end in sentence_spans(text):
        if start > position:
            pieces.append(text[position:start])
        pieces.extend(_clauses(text[start:end]))
        position = end
    if position < len(text):
        pieces.append(text[position:])
    return pieces


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (as stored or flattened), each flattened."""
    return [flatten(text[start:end]) for start, end in sentence_spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences of ``text`` are, as ``(start, end)`` offsets, whitespace trimmed.

    A sentence ends at ``. ! ?`` (and closing quotes or brackets) before a space, except after
    an abbreviation ("Dr.", an initial). A blank line ends one too, and so does the line break
    after a heading: a short line with no closing punctuation followed by a line that starts
    with a capital or a digit ("4. Budget and investment" above "The plant's budget ...").
    A PDF line that wraps mid-sentence is long, or goes on in lower case, so it does not.
    """
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text):
        position = block_start
        for match in _SENTENCE_END.finditer(text, block_start, block_end):
            if _ends_with_abbreviation(text[position : match.end()]):
                continue
            _add_span(spans, text, position, match.end())
            position = match.end()
        _add_span(spans, text, position, block_end)
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def _blocks(text: str) -> list[tuple[int, int]]:
    """``text`` cut at blank lines and after heading lines (see :func:`sentence_spans`)."""
    blocks: list[tuple[int, int]] = []
    start = 0
    line_start = 0
    for match in re.finditer(r"\n", text):
        line = text[line_start : match.start()].strip()
        rest = text[match.end() :].lstrip(" \t")
        blank = not line or rest.startswith("\n")
        heading = (
            0 < len(line) <= HEADING_CHARS
            and not line.endswith(_CLOSING)
            and bool(rest)
            and (rest[0].isupper() or rest[0].isdigit())
        )
        if blank or heading:
            blocks.append((start, match.start()))
            start = match.end()
        line_start = match.end()
    blocks.append((start, len(text)))
    return [(a, b) for a, b in blocks if text[a:b].strip()]


def _ends_with_abbreviation(piece: str) -> bool:
    words = piece.split()
    if not words or not words[-1].endswith("."):
        return False
    word = words[-1][:-1]
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _clauses(sentence: str) -> list[str]:
    if sentence.isspace() or len(sentence.split()) <= LONG_SENTENCE_WORDS:
        return [sentence]
    out: list[str] = []
    for part in _CLAUSE_END.split(sentence):
        body = part.lstrip()
        if len(body) < len(part):
            out.append(part[: len(part) - len(body)])
        if body:
            out.append(body)
    return out


def answer_grammar(
    sources: Sequence[tuple[int, str]],
    *,
    unit: QuoteUnit = QuoteUnit.CLAUSE,
    max_answer_chars: int = MAX_ANSWER_CHARS,
) -> str:
    """The llguidance (Lark) grammar of a grounded reply over numbered source texts.

    The quote comes first and its number after it: the model starts copying the sentence it
    means, and the grammar then allows only the number of the source that sentence is in
    (a small model picks a source far better by its words than by its number). The answer
    must end citing that same source.

    Args:
        sources: ``(number, text)`` of each source given to the model.
        unit: what quotes are made of.
        max_answer_chars: the longest answer before its citation.

    Returns:
        Lark text for llguidance (``llguidance.grammar_from("lark", ...)``).
    """
    numbers = [number for number, _ in sources]
    lines = [
        "start: quoted | abstain",
        f'abstain: "{ANSWER_LABEL} {ABSTAIN_TEXT}"',
        f'quoted: "{QUOTE_LABEL}: \\"" (' + " | ".join(f"from{n}" for n in numbers) + ")",
        f"TEXT: /[^\\[\\]\\n]{{1,{max_answer_chars}}}/",
    ]
    for number, text in sources:
        rule = f'QUOTE{number} "\\" [{number}]\\n{ANSWER_LABEL} " TEXT "[{number}]" "."?'
        lines.append(f"from{number}: {rule}")
        pieces = quote_chunks(flatten(text), unit)
        body = json.dumps({"substring_chunks": pieces}, ensure_ascii=False)
        lines.append(f"QUOTE{number}: %regex {body}")
    return "\n".join(lines) + "\n"
