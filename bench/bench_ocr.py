"""Benchmark: OCR of scanned pages, character error rate and pages per second, per engine.

Run from the repository root (nothing downloaded; the run is behind the offline guard)::

    PYTHONPATH=. .venv/bin/python bench/bench_ocr.py [--pages 3] [--json bench/results/ocr.json]

The pages are documents written here (report-like paragraphs full of figures, names, dates and
punctuation), typeset with Pillow on A4 at 11 pt in two fonts (DejaVu Serif and DejaVu Sans) at
150 and 300 dpi, each page rotated by a random angle within +-2 degrees and sprinkled with
speckle noise (0.2% of pixels turned black, 0.1% white), ``--pages`` pages per font and
resolution, the same pages for every engine.

Candidates, each timed on every page and scored against the text that was typeset:

- ``tesseract``: the app's engine, :class:`~assistant.knowledge.ocr.TesseractEngine` (Tesseract 5
  LSTM through tesserocr, the tessdata_fast English model), one page at a time on one thread;
  ``tesseract_pool`` is the same through :class:`~assistant.knowledge.ocr.OcrPool` with one
  thread per physical core, as the importer runs it (time only: the text is the same).
- ``rapidocr``: ``rapidocr-onnxruntime`` 1.4.4 (PP-OCRv4 detection and recognition in ONNX
  Runtime, models inside the wheel, ONNX Runtime using every core), its boxes put into lines the
  same way. Skipped, with the reason, when the package is not installed (the app does not need
  it: ``pip install rapidocr-onnxruntime==1.4.4`` to measure it).

Character error rate is the edit distance between the page's text and what the engine read
(white space runs counted as one space) divided by the length of the page's text; pages/s is
pages over the wall time of recognition. The reference measured in the same run is the time to
typeset a page with Pillow, so a slower or busier machine shows in both. The 1-minute load
average is recorded before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import assistant.offline  # noqa: F401, I001 - the benchmark runs behind the socket guard too
from assistant.engine.cpu import physical_cores
from assistant.knowledge.ocr import OcrPool, PageImage, PageText, TesseractEngine
from bench.common import add_json_option, load_averages, report

FONTS = {
    "serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
}
DPIS = (150, 300)
TARGETS = {"cer_300": 0.03, "cer_150": 0.06, "pages_per_s_150": 1.0}

PARAGRAPHS = (
    "The steering committee met on 14 March 2023 to review the coastal radar programme. The "
    "total approved budget for fiscal year 2024 is 4.2 million euros, of which 1.35 million is "
    "reserved for maintenance and 0.6 million for training.",
    "Staff must wear a personal dosimeter in the reactor hall. Readings above 0.5 mSv are "
    "reported to the safety officer within 24 hours; a second reading above 1.0 mSv closes the "
    "hall until the cause is found (procedure SP-17, revision C).",
    "Invoice 88213 from Nightjar Ltd. (VAT GB 294 7710 36) remains unpaid after 60 days. The "
    "amount due is 12,480.50 euros; a reminder was sent on 3 May and the account was passed to "
    "the finance office on 21 June.",
    "Dr. Amelia Okafor (extension 4471) leads the survey team at Brackwater station. The team "
    "of nine surveyed 312 km of shoreline in 2022 and found erosion above 2 m per year on 14 "
    "sections, mostly south of Kettle Point.",
    "The patient, aged 67, was referred by her general practitioner on 9 January with chest "
    "pain on exertion. Blood pressure was 148/92 mmHg, heart rate 88 per minute; the ECG showed "
    "no acute changes. Follow-up is booked for 27 February at 10:30.",
    "Access to archive room B requires a level 3 badge. Visitors sign the register at the front "
    "desk, are escorted at all times, and may not bring phones, cameras or USB devices past the "
    "second door. Lost badges are reported to security on 5550.",
    "Measured flows at the Ridgeway pumping station averaged 1,845 litres per second in August, "
    "up 11% on last year. Pump 2 was taken out of service on 18 August for bearing "
    "replacement and returned on 2 September.",
    "Under clause 7.3 the supplier must give ninety days' notice before any price change. The "
    "contract runs until 31 December 2026 and may be extended twice, each time by one year, "
    "with the written agreement of both parties.",
)


@dataclass(frozen=True)
class Page:
    """A typeset page: the setting it belongs to, its image and the text on it."""

    font: str
    dpi: int
    index: int
    image: Any
    text: str
    angle: float
    render_s: float


def typeset(font_name: str, dpi: int, index: int, seed: int) -> Page:
    """One A4 page of paragraphs at 11 pt, rotated and speckled; its exact text."""
    from PIL import Image, ImageDraw, ImageFont

    started = time.perf_counter()
    rng = random.Random(seed)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    margin = dpi
    font = ImageFont.truetype(FONTS[font_name], round(11 / 72 * dpi))
    line_height = round(11 / 72 * dpi * 1.45)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    order = list(PARAGRAPHS)
    rng.shuffle(order)
    lines: list[str] = []
    y = margin
    for paragraph in order * 2:
        words, current = paragraph.split(), ""
        wrapped: list[str] = []
        for word in words:
            candidate = f"{current} {word}".strip()
            if font.getlength(candidate) > width - 2 * margin:
                wrapped.append(current)
                current = word
            else:
                current = candidate
        wrapped.append(current)
        if y + line_height * len(wrapped) > height - margin:
            break
        for line in wrapped:
            draw.text((margin, y), line, font=font, fill=0)
            lines.append(line)
            y += line_height
        y += line_height // 2
    angle = rng.uniform(-2.0, 2.0)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    pixels = np.array(image)
    noise = np.random.default_rng(seed).random(pixels.shape)
    pixels[noise < 0.002] = 0
    pixels[noise > 0.999] = 255
    image = Image.fromarray(pixels)
    elapsed = time.perf_counter() - started
    return Page(font_name, dpi, index, image, "\n".join(lines), angle, elapsed)


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance, one row at a time in numpy (insertions by a running minimum)."""
    a = np.frombuffer(reference.encode("utf-32-le"), dtype=np.uint32)
    b = np.frombuffer(hypothesis.encode("utf-32-le"), dtype=np.uint32)
    if len(a) == 0 or len(b) == 0:
        return int(max(len(a), len(b)))
    columns = np.arange(len(b) + 1)
    row = columns.copy()
    for char in a:
        step = np.empty_like(row)
        step[0] = row[0] + 1
        step[1:] = np.minimum(row[1:] + 1, row[:-1] + (b != char))
        row = np.minimum.accumulate(step - columns) + columns
    return int(row[-1])


def squeeze(text: str) -> str:
    return " ".join(text.split())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edits over the reference's length, white space runs as one space."""
    ref = squeeze(reference)
    return edit_distance(ref, squeeze(hypothesis)) / max(1, len(ref))


# --- candidates -------------------------------------------------------------------------------


def tesseract_reader() -> tuple[Callable[[Page], str], Callable[[], None], str]:
    engine = TesseractEngine()

    def read(page: Page) -> str:
        return engine.recognize(page.image, page=page.index, dpi=page.dpi).text

    return read, engine.close, engine.name


def rapidocr_reader() -> tuple[Callable[[Page], str], Callable[[], None], str]:
    from importlib.metadata import version

    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-not-found,unused-ignore]

    engine = RapidOCR()

    def read(page: Page) -> str:
        found, _ = engine(np.array(page.image.convert("RGB")))
        boxes = []
        for points, text, score in found or []:
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            boxes.append((min(xs), min(ys), max(xs), max(ys), str(text), float(score)))
        # Lines: boxes whose vertical centre falls inside the line's first box, left to right.
        boxes.sort(key=lambda b: (b[1] + b[3]) / 2)
        built = PageText()
        line: list[tuple[float, float, float, float, str, float]] = []
        for box in boxes + [(0.0, float("inf"), 0.0, float("inf"), "", 0.0)]:
            centre = (box[1] + box[3]) / 2
            if line and not line[0][1] <= centre <= line[0][3]:
                for x0, y0, x1, y1, text, score in sorted(line):
                    for word in text.split():
                        built.word(word, (int(x0), int(y0), int(x1), int(y1)), score)
                built.end_line()
                line = []
            line.append(box)
        return built.page(page=page.index, width=0, height=0, dpi=page.dpi, engine="").text

    return read, lambda: None, f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}"


CANDIDATES: dict[str, Callable[[], tuple[Callable[[Page], str], Callable[[], None], str]]] = {
    "tesseract": tesseract_reader,
    "rapidocr": rapidocr_reader,
}


def measure(name: str, pages: Sequence[Page]) -> dict[str, Any]:
    """Read every page with one candidate: CER and speed per setting."""
    try:
        read, close, label = CANDIDATES[name]()
    except ImportError as exc:
        return {"skipped": f"not installed ({exc})"}
    read(pages[0])  # warm up: the first call loads the model
    settings: dict[str, dict[str, Any]] = {}
    try:
        for page in pages:
            started = time.perf_counter()
            text = read(page)
            elapsed = time.perf_counter() - started
            key = f"{page.font}_{page.dpi}"
            entry = settings.setdefault(key, {"cer": [], "s": [], "chars": 0, "errors": 0})
            ref = squeeze(page.text)
            errors = edit_distance(ref, squeeze(text))
            entry["cer"].append(round(errors / len(ref), 4))
            entry["s"].append(round(elapsed, 3))
            entry["chars"] += len(ref)
            entry["errors"] += errors
    finally:
        close()
    result: dict[str, Any] = {"engine": label, "settings": {}}
    for key, entry in settings.items():
        result["settings"][key] = {
            "cer": round(entry["errors"] / entry["chars"], 4),
            "cer_per_page": entry["cer"],
            "pages_per_s": round(len(entry["s"]) / sum(entry["s"]), 3),
            "s_per_page": entry["s"],
        }
    for dpi in DPIS:
        rows = [v for k, v in settings.items() if k.endswith(f"_{dpi}")]
        chars = sum(r["chars"] for r in rows)
        result[f"cer_{dpi}"] = round(sum(r["errors"] for r in rows) / max(1, chars), 4)
        seconds = [s for r in rows for s in r["s"]]
        result[f"pages_per_s_{dpi}"] = round(len(seconds) / sum(seconds), 3) if seconds else 0
    return result


def measure_pool(pages: Sequence[Page], threads: int) -> dict[str, Any]:
    """The app's pool over the same pages, per resolution: pages/s with ``threads`` engines."""
    result: dict[str, Any] = {"threads": threads}
    with OcrPool(TesseractEngine, threads=threads) as pool:
        list(pool.map([PageImage(0, pages[0].image, pages[0].dpi)] * threads))  # warm up
        for dpi in DPIS:
            chosen = [p for p in pages if p.dpi == dpi]
            started = time.perf_counter()
            list(pool.map(PageImage(p.index, p.image, p.dpi) for p in chosen))
            result[f"pages_per_s_{dpi}"] = round(len(chosen) / (time.perf_counter() - started), 3)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3, help="pages per font and resolution")
    parser.add_argument(
        "--engines", default="tesseract,rapidocr", help="candidates, comma-separated"
    )
    add_json_option(parser)
    args = parser.parse_args(argv)
    missing = [path for path in FONTS.values() if not Path(path).is_file()]
    if missing:
        print(f"bench_ocr: fonts missing: {missing} (Debian: fonts-dejavu-core)", file=sys.stderr)
        return 1
    load_before = load_averages()
    pages = [
        typeset(font, dpi, index + 1, seed=1000 * dpi + 100 * n + index)
        for n, font in enumerate(FONTS)
        for dpi in DPIS
        for index in range(args.pages)
    ]
    render = {
        f"s_per_page_{dpi}": round(statistics.median(p.render_s for p in pages if p.dpi == dpi), 4)
        for dpi in DPIS
    }
    engines = {name: measure(name, pages) for name in args.engines.split(",") if name}
    threads = physical_cores()
    result: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "physical_cores": threads,
        "python": sys.version.split()[0],
        "pages_per_setting": args.pages,
        "settings": [f"{font}_{dpi}" for font in FONTS for dpi in DPIS],
        "mean_chars_per_page": round(statistics.mean(len(squeeze(p.text)) for p in pages)),
        "max_abs_angle_deg": round(max(abs(p.angle) for p in pages), 2),
        "load_average_before": load_before,
        "reference_typeset": render,
        "engines": engines,
    }
    if "tesseract" in engines and "skipped" not in engines["tesseract"]:
        result["tesseract_pool"] = measure_pool(pages, threads)
    result["targets"] = TARGETS
    result["load_average_after"] = load_averages()
    report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
