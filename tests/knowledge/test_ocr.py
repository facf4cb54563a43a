"""The OCR engine wrapper: text and word boxes from the real Tesseract, its model pin, its pool."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.knowledge.loaders.common import normalize_text
from assistant.knowledge.ocr import (
    OcrPage,
    OcrPool,
    OcrUnavailableError,
    PageImage,
    PageText,
    TesseractEngine,
    default_tessdata,
)
from tests.conftest import ROOT
from tests.knowledge.scanned import SERIF

LINE = "The total approved budget for fiscal year 2024 is 4.2 million euros."


def line_image(text: str = LINE, *, dpi: int = 200) -> tuple[object, dict[str, tuple]]:
    """A picture of one line of text, and where each word was drawn (Pillow's own boxes)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(SERIF, round(12 / 72 * dpi))
    image = Image.new("L", (round(8 * dpi), round(1.2 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    x, y = dpi // 2, dpi // 2
    boxes = {}
    for word in text.split():
        boxes[word] = draw.textbbox((x, y), word, font=font)
        draw.text((x, y), word, font=font, fill=0)
        x += font.getlength(word + " ")
    return image, boxes


def overlap(a: tuple, b: tuple) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


@pytest.fixture(scope="module")
def engine():
    made = TesseractEngine()
    yield made
    made.close()


def test_a_line_is_read_with_each_word_boxed_where_it_was_drawn(engine: TesseractEngine) -> None:
    image, drawn = line_image()
    page = engine.recognize(image, page=3, dpi=200)
    assert page.text == LINE
    assert (page.page, page.dpi, (page.width, page.height)) == (3, 200, image.size)
    assert "tesseract" in page.engine
    assert [w.text for w in page.words] == LINE.split()
    for word in page.words:
        assert page.text[word.start : word.end] == word.text
        assert 0.5 < word.confidence <= 1.0
        assert overlap(word.box, drawn[word.text]) > 0.5, word
    assert 0.8 < page.confidence <= 1.0


def test_a_blank_page_reads_as_no_words(engine: TesseractEngine) -> None:
    from PIL import Image

    page = engine.recognize(Image.new("L", (800, 600), 255), dpi=150)
    assert page.text == ""
    assert page.words == ()
    assert page.confidence == 0.0


def test_page_text_is_already_normalized_and_offsets_follow_it() -> None:
    built = PageText()
    built.word("Heading", (0, 0, 10, 10), 0.9)
    built.end_line(paragraph=True)
    built.end_line(paragraph=True)  # a run of paragraph breaks is one blank line
    built.word("first\u200bword", (0, 20, 10, 30), 1.7)  # a zero-width space never stays in
    built.word("  ", (0, 0, 0, 0), 0.5)  # nothing left: dropped
    built.word("two", (12, 20, 20, 30), 0.4)
    built.end_line()
    built.word("next", (0, 40, 10, 50), 0.8)
    page = built.page(page=1, width=100, height=100, dpi=300, engine="test")
    assert page.text == "Heading\n\nfirstword two\nnext"
    assert normalize_text(page.text) == page.text  # the section text is the page text
    assert [page.text[w.start : w.end] for w in page.words] == [
        "Heading",
        "firstword",
        "two",
        "next",
    ]
    assert page.words[1].confidence == 1.0  # clamped
    assert [line.text for line in page.lines] == ["Heading", "firstword two", "next"]
    assert page.lines[1].box == (0, 20, 20, 30)


def test_a_cited_passage_maps_back_to_its_words_and_the_page_survives_json(
    engine: TesseractEngine,
) -> None:
    image, _ = line_image()
    page = engine.recognize(image, dpi=200)
    assert [w.text for w in page.words_for("fiscal   year\n2024")] == ["fiscal", "year", "2024"]
    assert page.words_for("not on this page") == []
    assert OcrPage.from_json(page.to_json()) == page


def test_the_model_is_checked_against_its_pinned_digest(tmp_path: Path) -> None:
    altered = tmp_path / "tessdata"
    altered.mkdir()
    model = altered / "eng.traineddata"
    shutil.copyfile(default_tessdata() / "eng.traineddata", model)
    with model.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(OcrUnavailableError, match=r"not the pinned file .*setup\.sh"):
        TesseractEngine(tessdata=altered)
    with pytest.raises(OcrUnavailableError, match=r"missing\. Run scripts/setup\.sh"):
        TesseractEngine(tessdata=tmp_path / "nowhere")


def test_a_missing_engine_package_is_named_with_the_fix() -> None:
    code = (
        "import sys; sys.modules['tesserocr'] = None\n"
        "from assistant.knowledge.ocr import TesseractEngine, OcrUnavailableError\n"
        "try:\n    TesseractEngine()\nexcept OcrUnavailableError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'tesserocr' is missing" in done.stdout
    assert "scripts/setup.sh" in done.stdout


def test_importing_the_module_loads_no_engine() -> None:
    code = "import assistant.knowledge.ocr, sys; print('tesserocr' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "False", done.stderr


class SlowEngine:
    """A fake engine whose pages take longer the earlier they come (so they finish out of order)."""

    made: list[SlowEngine] = []

    def __init__(self) -> None:
        self.name = "slow"
        self.closed = False
        self.threads: set[int] = set()
        SlowEngine.made.append(self)

    def recognize(self, image: object, *, page: int = 1, dpi: int = 300) -> OcrPage:
        self.threads.add(threading.get_ident())
        time.sleep(0.05 * (6 - page))
        built = PageText()
        built.word(f"page{page}", (0, 0, 1, 1), 1.0)
        return built.page(page=page, width=1, height=1, dpi=dpi, engine=self.name)

    def close(self) -> None:
        self.closed = True


def test_the_pool_keeps_page_order_and_makes_at_most_one_engine_per_thread() -> None:
    SlowEngine.made = []
    pages = [PageImage(n, object(), 300) for n in range(1, 6)]
    with OcrPool(SlowEngine, threads=2) as pool:
        read = [p.text for p in pool.map(pages)]
    assert read == [f"page{n}" for n in range(1, 6)]
    assert 1 <= len(SlowEngine.made) <= 2
    assert all(engine.closed for engine in SlowEngine.made)
