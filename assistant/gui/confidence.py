"""Token confidence: the colour of each token by its probability, and what its tooltip says.

Four bands rather than a continuous gradient: a reader can tell "sure", "likely", "unsure" and
"guess" apart at a glance and match them to the legend, which a smooth hue ramp does not allow.
The colours are translucent, so they sit on the light or dark palette alike and the text keeps
the palette's own colour (and contrast).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from PySide6.QtGui import QColor, QTextCharFormat

from assistant.gui.transcript import ConfidenceSummary, TokenView

#: A char-format property holding ``"message_index:token_index"`` (for tests and tooltips).
TOKEN_PROPERTY = 0x100001


@dataclass(frozen=True)
class Band:
    """A probability range and how it is drawn."""

    label: str
    minimum: float  # inclusive lower bound of the chosen token's probability
    color: QColor


BANDS: tuple[Band, ...] = (
    Band("sure (≥ 90 %)", 0.90, QColor(46, 160, 67, 70)),
    Band("likely (50–90 %)", 0.50, QColor(210, 180, 20, 110)),
    Band("unsure (20–50 %)", 0.20, QColor(240, 120, 20, 130)),
    Band("guess (< 20 %)", 0.0, QColor(220, 40, 40, 150)),
)


def band_for(probability: float) -> Band:
    """The band a probability falls in."""
    for band in BANDS:
        if probability >= band.minimum:
            return band
    return BANDS[-1]


def _visible(text: str) -> str:
    """A token as a person can read it in a tooltip: spaces and line breaks made visible."""
    shown = text.replace("\n", "↵").replace("\t", "⇥")
    if shown.strip() != shown or not shown:
        shown = shown.replace(" ", "·")
    return shown


def tooltip(token: TokenView) -> str:
    """Rich-text tooltip: the chosen token, its probability, and the alternatives."""
    if not token.sampled:
        return f"<b>{html.escape(_visible(token.text)[:80])}</b><br>fixed text, not generated"
    rows = [
        f"<b>{html.escape(_visible(token.text))}</b> — {token.probability:.1%} "
        f"({band_for(token.probability).label.split(' ')[0]})"
    ]
    alternatives = [(text, lp) for text, lp in token.alternatives if text != token.text]
    if alternatives:
        rows.append("<i>other candidates:</i>")
        rows += [
            f"&nbsp;&nbsp;{html.escape(_visible(text))} — {math.exp(lp):.1%}"
            for text, lp in alternatives[:5]
        ]
    return "<br>".join(rows)


def token_format(token: TokenView, base: QTextCharFormat, key: str) -> QTextCharFormat:
    """The character format for one token in the confidence view."""
    fmt = QTextCharFormat(base)
    if token.sampled:
        fmt.setBackground(band_for(token.probability).color)
    fmt.setToolTip(tooltip(token))
    fmt.setProperty(TOKEN_PROPERTY, key)
    return fmt


def summary_text(summary: ConfidenceSummary | None) -> str:
    """One line under an answer: how sure the model was overall."""
    if summary is None:
        return "no token probabilities saved for this answer"
    low = f"{summary.low} token{'s' if summary.low != 1 else ''} under 50 %"
    return (
        f"{summary.tokens} tokens · mean probability {summary.mean_probability:.0%} · {low} · "
        f"perplexity {summary.perplexity:.2f}"
    )


def legend_html() -> str:
    """The legend shown above the transcript while the confidence view is on."""
    swatches = " ".join(
        f'<span style="background-color: rgba({b.color.red()},{b.color.green()},'
        f'{b.color.blue()},{b.color.alpha()}); padding: 0 4px">&nbsp;{html.escape(b.label)}'
        "&nbsp;</span>"
        for b in BANDS
    )
    return f"Token confidence: {swatches} — hover a token for the alternatives."
