"""A PNG comparing evaluation runs: answer cross-entropy per item, and retrieval per mode.

Drawn with Pillow (already installed with the stack; its bundled font means no system fonts
are needed), so evaluation pulls in no plotting library and no Qt. Top panel: one row per run,
a dot per item's cross-entropy, a bar at the mean and a tick at the median (lower is better).
Bottom panel: recall@1, recall@5, MRR and nDCG@10 for each retrieval mode, one bar per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import EvaluationError
from assistant.evaluation.report import EvalReport
from assistant.evaluation.retrieval import RetrievalScores

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont, ImageFont

    Font = FreeTypeFont | ImageFont

WIDTH = 1000
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
METRICS: tuple[tuple[str, Callable[[RetrievalScores], float]], ...] = (
    ("R@1", lambda r: r.recall[1]),
    ("R@5", lambda r: r.recall[5]),
    ("MRR", lambda r: r.mrr),
    ("nDCG@10", lambda r: r.ndcg10),
)
MAX_RUNS = len(COLOURS)


def plot_reports(reports: Sequence[EvalReport], target: Path) -> Path:
    """Draw ``reports`` (the last :data:`MAX_RUNS`, oldest first) to a PNG at ``target``.

    Raises:
        EvaluationError: nothing to draw, or the file cannot be written.
    """
    from PIL import Image, ImageDraw, ImageFont  # loaded only when a plot is asked for

    runs = list(reports)[-MAX_RUNS:]
    if not runs:
        raise EvaluationError("No evaluation reports to plot.")
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    with_answers = [r for r in runs if r.answers]
    modes = sorted({s.mode for r in runs for s in r.retrieval})
    top_h = 70 + 34 * len(with_answers) if with_answers else 0
    bottom_h = 260 if modes else 0
    height = 50 + top_h + bottom_h + 24 * len(runs) + 20
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 12), "Enclave evaluation: runs compared", fill="black", font=font)
    y = 45
    if with_answers:
        y = _answers_panel(draw, runs, y, font, small)
    if modes:
        y = _retrieval_panel(draw, runs, modes, y + 10, font, small)
    for index, run in enumerate(runs):  # the legend
        colour = COLOURS[index % len(COLOURS)]
        draw.rectangle((20, y + 4, 34, y + 16), fill=colour)
        text = f"{run.label}  ({run.created[:16].replace('T', ' ')}, {run.model or 'no model'})"
        draw.text((42, y + 2), text, fill="black", font=small)
        y += 24
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, format="PNG")
    except OSError as exc:
        raise EvaluationError(f"Cannot write the plot {target}: {exc.strerror or exc}.") from exc
    return target


def _answers_panel(draw: ImageDraw, runs: list[EvalReport], y: int, font: Font, small: Font) -> int:
    left, right = 220, WIDTH - 30
    values = [a.cross_entropy for r in runs for a in r.answers]
    top = max(1.0, max(values) * 1.05)
    draw.text((20, y), "Answer cross-entropy, nats/token (dots: items, bar: mean, |: median; "
              "lower is better)", fill="black", font=font)  # fmt: skip
    y += 26
    axis_y = y + 34 * sum(1 for r in runs if r.answers)

    def x_of(v: float) -> float:
        return left + (right - left) * v / top

    for step in range(6):
        value = top * step / 5
        x = x_of(value)
        draw.line((x, y - 2, x, axis_y), fill="#dddddd")
        draw.text((x - 10, axis_y + 4), f"{value:.1f}", fill="black", font=small)
    for index, run in enumerate(runs):
        if not run.answers:
            continue
        colour = COLOURS[index % len(COLOURS)]
        row = y + 17
        dist = run.cross_entropy
        draw.text((20, row - 8), run.label[:26], fill="black", font=small)
        draw.rectangle((left, row - 5, x_of(dist.mean), row + 5), fill=colour)
        for a in run.answers:
            x = x_of(a.cross_entropy)
            draw.ellipse((x - 3, row - 12, x + 3, row - 6), outline="black", fill=colour)
        xm = x_of(dist.median)
        draw.line((xm, row - 9, xm, row + 9), fill="black", width=2)
        label_x = max(x_of(dist.mean), xm) + 6  # clear of the median tick
        draw.text((label_x, row - 2), f"mean {dist.mean:.2f}", fill="black", font=small)
        y += 34
    draw.line((left, axis_y, right, axis_y), fill="black")
    return axis_y + 26


def _retrieval_panel(
    draw: ImageDraw,
    runs: list[EvalReport],
    modes: list[str],
    y: int,
    font: Font,
    small: Font,
) -> int:
    draw.text((20, y), "Retrieval of the expected source (higher is better)", fill="black",
              font=font)  # fmt: skip
    y += 26
    base, plot_h = y + 180, 170
    left, right = 60, WIDTH - 30
    for step in range(5):
        value = step / 4
        yy = base - plot_h * value
        draw.line((left, yy, right, yy), fill="#dddddd")
        draw.text((20, yy - 7), f"{value:.2f}", fill="black", font=small)
    groups = [(mode, name, fn) for mode in modes for name, fn in METRICS]
    group_w = (right - left) / len(groups)
    bar_w = max(2.0, (group_w - 10) / max(1, len(runs)))
    for g, (mode, name, fn) in enumerate(groups):
        x0 = left + g * group_w + 5
        for index, run in enumerate(runs):
            scores = next((s for s in run.retrieval if s.mode == mode), None)
            if scores is None or not scores.items:
                continue
            value = float(fn(scores))
            x = x0 + index * bar_w
            draw.rectangle((x, base - plot_h * value, x + bar_w - 1, base),
                           fill=COLOURS[index % len(COLOURS)])  # fmt: skip
        draw.text((x0, base + 4), name, fill="black", font=small)
        if name == METRICS[0][0]:
            draw.text((x0, base + 20), mode, fill="black", font=font)
            if g:
                draw.line((x0 - 5, base - plot_h, x0 - 5, base + 36), fill="#999999")
    draw.line((left, base, right, base), fill="black")
    return base + 46
