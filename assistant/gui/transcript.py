"""What the window shows of a conversation: messages, their tokens and their citations.

Plain, frozen values built from the conversation store's messages (``meta["tokens"]``,
``meta["citations"]`` and ``meta["quotes"]``), so a saved conversation shows token confidence,
sources and quotes exactly as it did while it streamed. This module imports no Qt: it is the
GUI's model, testable without a display.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.chat.citations import SavedCitation, SavedQuote
from assistant.chat.store import Message
from assistant.engine.base import Role, Token

#: ``[1]``, ``[2, 3]`` or ``[source 4]`` in an answer: the numbers of the sources it cites.
CITATION_PATTERN = re.compile(r"\[(?:sources?\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]", re.IGNORECASE)


@dataclass(frozen=True)
class TokenView:
    """One generated token with the alternatives the model weighed.

    Attributes:
        text: the token's text.
        logprob: natural-log probability of the chosen token.
        alternatives: ``(text, logprob)`` of the most likely tokens, best first.
        sampled: False for fixed text the model did not generate (a refusal with no sources).
    """

    text: str
    logprob: float
    alternatives: tuple[tuple[str, float], ...] = ()
    sampled: bool = True

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)

    @classmethod
    def from_token(cls, token: Token) -> TokenView:
        return cls(
            text=token.text,
            logprob=token.logprob,
            alternatives=tuple((a.text, a.logprob) for a in token.top),
            sampled=token.id != -1,
        )

    @classmethod
    def from_meta(cls, item: Sequence[Any]) -> TokenView | None:
        """Parse one ``[text, logprob, [[alt, logprob], ...]]`` entry; None when malformed."""
        try:
            text, logprob = str(item[0]), float(item[1])
            alternatives = tuple(
                (str(a[0]), float(a[1])) for a in (item[2] if len(item) > 2 else ())
            )
        except (IndexError, TypeError, ValueError):
            return None
        sampled = not (len(item) > 3 and item[3] is False)
        return cls(text, logprob, alternatives, sampled)


#: The GUI shows the citations saved with an answer as they are.
CitationView = SavedCitation


@dataclass(frozen=True)
class MessageView:
    """One message as the transcript draws it."""

    role: Role
    text: str
    status: str = "complete"
    message_id: int | None = None
    tokens: tuple[TokenView, ...] = ()
    citations: tuple[CitationView, ...] = ()
    tokens_per_second: float = 0.0
    finish_reason: str | None = None
    quotes: tuple[SavedQuote, ...] = ()
    supported: bool | None = None
    abstained: bool = False

    @property
    def is_answer(self) -> bool:
        return self.role is Role.ASSISTANT

    @property
    def stopped(self) -> bool:
        return self.status == "partial" or self.finish_reason == "cancelled"

    def citation(self, number: int) -> CitationView | None:
        return next((c for c in self.citations if c.number == number), None)

    def quote_for(self, number: int) -> SavedQuote | None:
        """The verbatim quote from source ``number``, if the answer has one."""
        return next((q for q in self.quotes if q.source == number and q.verified), None)

    @classmethod
    def from_message(cls, message: Message) -> MessageView:
        meta = message.meta or {}
        tokens = tuple(
            view
            for view in (TokenView.from_meta(item) for item in meta.get("tokens") or ())
            if view is not None
        )
        citations = tuple(
            view
            for view in (CitationView.from_meta(item) for item in meta.get("citations") or ())
            if view is not None
        )
        quotes = tuple(
            view
            for view in (SavedQuote.from_meta(item) for item in meta.get("quotes") or ())
            if view is not None
        )
        supported = meta.get("supported")
        speed = meta.get("tokens_per_second") or 0.0
        return cls(
            role=message.role,
            text=message.content,
            status=message.status,
            message_id=message.id,
            tokens=tokens,
            citations=citations,
            tokens_per_second=float(speed) if isinstance(speed, int | float) else 0.0,
            finish_reason=meta.get("finish_reason"),
            quotes=quotes,
            supported=supported if isinstance(supported, bool) else None,
            abstained=bool(meta.get("abstained", False)),
        )


@dataclass(frozen=True)
class ConfidenceSummary:
    """How sure the model was across one answer."""

    tokens: int
    mean_probability: float
    low: int  # tokens under LOW_PROBABILITY
    perplexity: float


#: A chosen token under this probability is flagged as a guess.
LOW_PROBABILITY = 0.5


def summarize(tokens: Sequence[TokenView]) -> ConfidenceSummary | None:
    """Mean probability, low-confidence count and perplexity of the sampled tokens."""
    sampled = [t for t in tokens if t.sampled]
    if not sampled:
        return None
    mean_logprob = sum(t.logprob for t in sampled) / len(sampled)
    return ConfidenceSummary(
        tokens=len(sampled),
        mean_probability=sum(t.probability for t in sampled) / len(sampled),
        low=sum(1 for t in sampled if t.probability < LOW_PROBABILITY),
        perplexity=math.exp(-mean_logprob),
    )


def cited_numbers(text: str) -> list[tuple[int, int, int]]:
    """Every source number cited in ``text`` as ``(start, end, number)`` of its bracket group.

    A group citing several sources (``[1, 2]``) yields one entry per number, all with the span of
    the whole group; the first number is the one a click opens.
    """
    found: list[tuple[int, int, int]] = []
    for match in CITATION_PATTERN.finditer(text):
        for piece in re.split(r"[,;]", match.group(1)):
            found.append((match.start(), match.end(), int(piece)))
    return found
