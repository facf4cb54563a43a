"""Drawing a PDF page, and finding a passage on it, for the document viewer.

The viewer shows the cited page itself, not only its extracted text: :func:`render_page` draws
one page with PDFium (pypdfium2; Apache-2.0/BSD) and :func:`find_boxes` locates a passage on it
through PDFium's text layer, as rectangles in page points. The passage comes from the stored
chunk text, which another extractor (pypdf) wrote at import time, so the match ignores white
space, hyphens and dashes, ligatures and accents (:func:`locate`) and maps back to PDFium's
character indices.

A PDF is hostile until proven otherwise. :class:`PageRenderer` draws in a long-lived child
process (``spawn``, as the import's :class:`~assistant.knowledge.sandbox.ParserWorker` parses):
its address space is capped with ``RLIMIT_AS``, each page gets a time limit after which the child
is killed and replaced, a crash in PDFium costs only that page, and a page is never drawn past
:attr:`RenderLimits.max_pixels` (a huge page is drawn at a lower resolution instead). The file
is refused before PDFium sees it when it is larger than the import limit or no longer has the
content hash recorded at import.

No Qt here; pypdfium2 is imported only inside the functions that draw or search.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import multiprocessing
import multiprocessing.connection
import os
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import PageRenderError
from assistant.knowledge.sandbox import ChildServer

if TYPE_CHECKING:
    from assistant.engine.base import CancelToken

#: Characters the match skips: white space aside, hyphens and dashes (a word split at a line end
#: is ``main-tenance`` in one extractor and ``maintenance`` in another) and PDFium's markers for
#: a hyphen it found at a line end (U+0002, U+FFFE).
_IGNORED = frozenset("-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\x02\ufffe")
#: Typographic quotes match their plain forms.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
#: A passage that is not on the page in one piece (columns, a caption in between) is looked for
#: in runs of this many words; pieces shorter than :data:`_MIN_PIECE` characters must follow
#: the previous piece directly, so a stray "of the" is not marked elsewhere on the page.
_WINDOW_WORDS = 6
_MIN_PIECE = 12
#: At least this share of a passage must be found, piece by piece, to mark anything.
_MIN_COVERAGE = 0.5
#: Boxes are computed at 1/16 point (FPDF_PageToDevice works in whole device units).
_SUBPOINT = 16
_STARTUP_TIMEOUT_S = 60.0
_READY = "ready"
_POLL_S = 0.1


@dataclass(frozen=True)
class Box:
    """A rectangle on a page as displayed, in points from its top-left corner."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class RenderLimits:
    """How far the renderer goes for one page.

    Attributes:
        max_file_bytes: larger files are refused before PDFium reads them (the import's limit).
        max_pixels: a page is never drawn larger; a bigger request is drawn at a lower scale.
            25 megapixels is an A4 page at about 600 dpi, 100 MB of pixels.
        timeout_s: a page that takes longer is abandoned and its child process killed.
        memory_bytes: the child's address-space limit (0: none).
        isolate: draw in a child process (True) or in this one (False: fast tests).
    """

    max_file_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 25_000_000
    timeout_s: float = 20.0
    memory_bytes: int = 2 * 1024 * 1024 * 1024
    isolate: bool = True


@dataclass(frozen=True)
class RenderRequest:
    """One page to draw, with the text to mark on it.

    Attributes:
        path: the PDF.
        page: 1-based page number.
        scale: pixels per point (1.0 is 72 dpi).
        passage: the cited passage (``""``: none).
        quote: the verbatim quote inside it (``""``: none).
        sha256: the content hash recorded at import; a file whose bytes differ is refused
            (``""``: not checked).
    """

    path: str
    page: int
    scale: float
    passage: str = ""
    quote: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class PageImage:
    """A drawn page: RGBA pixels, the page's size, and where the passage and quote are on it.

    Attributes:
        page: the 1-based page number.
        page_count: pages in the document.
        width_pt: the page's displayed width in points (its rotation applied).
        height_pt: its displayed height.
        scale: pixels per point actually used (lower than asked for a huge page).
        width_px: the image's width in pixels.
        height_px: its height.
        stride: bytes per row of ``pixels``.
        pixels: RGBA, 8 bits per channel, row after row.
        passage: boxes around the cited passage, in points (empty: not found on the page).
        quote: boxes around the verbatim quote, in points.
        note: what a person should know about this drawing (``""``: nothing).
    """

    page: int
    page_count: int
    width_pt: float
    height_pt: float
    scale: float
    width_px: int
    height_px: int
    stride: int
    pixels: bytes = field(repr=False)
    passage: tuple[Box, ...] = ()
    quote: tuple[Box, ...] = ()
    note: str = ""


# --- matching -------------------------------------------------------------------------------


def _key(text: str) -> tuple[str, list[int]]:
    """``text`` folded for matching, and for each folded character the index it came from."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text.translate(_FOLD)):
        if char.isspace() or char in _IGNORED:
            continue
        for folded in unicodedata.normalize("NFKD", char).casefold():
            if folded.isspace() or folded in _IGNORED or unicodedata.combining(folded):
                continue
            chars.append(folded)
            where.append(index)
    return "".join(chars), where


def locate(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Where ``needle`` is in ``haystack``, tolerant of how two extractors wrote the same text.

    White space, hyphens and dashes are skipped and case, ligatures, accents and typographic
    quotes are folded, so ``"main-\\r\\ntenance"`` matches ``"maintenance"``. A needle that
    is not there in one piece is looked for in runs of words, in order, and counts as found when
    at least half of it is.

    Args:
        haystack: the text to search (a page's characters, one per index).
        needle: the text to find.

    Returns:
        ``(start, end)`` index ranges into ``haystack`` (end exclusive), in order; empty when
        the needle is not there.
    """
    hay, where = _key(haystack)
    key, _ = _key(needle)
    if not key or not hay:
        return []
    found = hay.find(key)
    if found >= 0:
        return [(where[found], where[found + len(key) - 1] + 1)]
    words = needle.split()
    spans: list[tuple[int, int]] = []
    cursor = 0
    covered = 0
    for first in range(0, len(words), _WINDOW_WORDS):
        piece, _ = _key(" ".join(words[first : first + _WINDOW_WORDS]))
        if not piece:
            continue
        at = hay.find(piece, cursor)
        if at < 0 or (len(piece) < _MIN_PIECE and at != cursor):
            at = -1 if len(piece) < _MIN_PIECE else hay.find(piece)
        if at < 0:
            continue
        if spans and spans[-1][1] == at:
            spans[-1] = (spans[-1][0], at + len(piece))
        else:
            spans.append((at, at + len(piece)))
        cursor = at + len(piece)
        covered += len(piece)
    if covered < _MIN_COVERAGE * len(key):
        return []
    return [(where[start], where[end - 1] + 1) for start, end in spans]


def _merge_lines(boxes: Sequence[Box], *, pad: float = 1.0) -> list[Box]:
    """Join character boxes, in reading order, into one box per stretch of a line."""
    lines: list[Box] = []
    for box in boxes:
        if lines:
            last = lines[-1]
            overlap = min(last.bottom, box.bottom) - max(last.top, box.top)
            height = max(min(last.height, box.height), 0.1)
            same_line = overlap > 0.5 * height
            onward = box.left >= last.left - 1 and box.left - last.right < 3 * height
            if same_line and onward:
                lines[-1] = Box(
                    last.left,
                    min(last.top, box.top),
                    max(last.right, box.right),
                    max(last.bottom, box.bottom),
                )
                continue
        lines.append(box)
    return [Box(b.left - pad, b.top - pad, b.right + pad, b.bottom + pad) for b in lines]


# --- PDFium ---------------------------------------------------------------------------------


class _Documents:
    """The one PDF a renderer has open, kept while the viewer pages through it."""

    def __init__(self, limits: RenderLimits) -> None:
        self._limits = limits
        self._key: tuple[str, int, int] | None = None
        self._sha256 = ""
        self._document: Any = None

    def open(self, path: str, sha256: str) -> Any:
        """The opened document at ``path``.

        Raises:
            PageRenderError: the file is missing, too large, changed since import, or PDFium
                cannot open it.
        """
        import pypdfium2

        try:
            stat = os.stat(path)
        except OSError as exc:
            raise PageRenderError(path, f"the file cannot be read ({exc.strerror})") from exc
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key != self._key:
            self.close()
            if stat.st_size > self._limits.max_file_bytes:
                raise PageRenderError(
                    path,
                    f"the file is larger than the {self._limits.max_file_bytes // 2**20} MB limit",
                )
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise PageRenderError(path, f"the file cannot be read ({exc.strerror})") from exc
            digest = hashlib.sha256(data).hexdigest()
            try:
                document = pypdfium2.PdfDocument(data)
            except pypdfium2.PdfiumError as exc:
                raise PageRenderError(path, f"PDFium cannot open it ({exc})") from exc
            self._key, self._sha256, self._document = key, digest, document
        if sha256 and sha256 != self._sha256:
            raise PageRenderError(
                path, "the file has changed since it was imported; import it again"
            )
        return self._document

    def close(self) -> None:
        if self._document is not None:
            with contextlib.suppress(Exception):
                self._document.close()
        self._key, self._sha256, self._document = None, "", None


def _display_box(page: Any, width_pt: float, height_pt: float, box: Sequence[float]) -> Box:
    """A PDFium character box (page space) as a box on the displayed page, in points."""
    import pypdfium2.raw as pdfium_c

    size_x = max(1, round(width_pt * _SUBPOINT))
    size_y = max(1, round(height_pt * _SUBPOINT))
    left, bottom, right, top = box
    xs: list[float] = []
    ys: list[float] = []
    for px, py in ((left, bottom), (right, top)):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(
            page.raw, 0, 0, size_x, size_y, 0, px, py, ctypes.byref(dx), ctypes.byref(dy)
        )
        xs.append(dx.value / _SUBPOINT)
        ys.append(dy.value / _SUBPOINT)
    return Box(min(xs), min(ys), max(xs), max(ys))


def _boxes_on(page: Any, texts: Sequence[str]) -> list[list[Box]]:
    """For each of ``texts``, the line boxes that cover it on ``page`` (empty: not found)."""
    import pypdfium2.raw as pdfium_c

    wanted = [t for t in texts if t.strip()]
    if not wanted:
        return [[] for _ in texts]
    width_pt, height_pt = page.get_size()
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        # One character per index (FPDFText_GetText would pair surrogates and shift them).
        chars = "".join(
            chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 0xFFFD) for i in range(count)
        )
        results: list[list[Box]] = []
        for text in texts:
            boxes: list[Box] = []
            for start, end in locate(chars, text) if text.strip() else []:
                for index in range(start, end):
                    if chars[index].isspace() or chars[index] in _IGNORED:
                        continue
                    box = _display_box(
                        page, width_pt, height_pt, textpage.get_charbox(index, loose=True)
                    )
                    if box.width > 0 and box.height > 0:
                        boxes.append(box)
            results.append(_merge_lines(boxes))
        return results
    finally:
        textpage.close()


def _draw(documents: _Documents, request: RenderRequest, limits: RenderLimits) -> PageImage:
    """Draw one page and find the passage and the quote on it.

    Raises:
        PageRenderError: the file or the page cannot be drawn.
    """
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    document = documents.open(request.path, request.sha256)
    count = len(document)
    if not 1 <= request.page <= count:
        raise PageRenderError(request.path, f"it has no page {request.page} (it has {count})")
    page = document[request.page - 1]
    try:
        width_pt, height_pt = page.get_size()
        if not (width_pt > 0 and height_pt > 0 and math.isfinite(width_pt * height_pt)):
            raise PageRenderError(request.path, f"page {request.page} has no usable size")
        scale = max(request.scale, 0.01)
        note = ""
        if width_pt * height_pt * scale * scale > limits.max_pixels:
            scale = math.sqrt(limits.max_pixels / (width_pt * height_pt))
            note = "This page is very large; it is drawn at a lower resolution."
        try:
            bitmap = page.render(
                scale=scale,
                force_bitmap_format=pdfium_c.FPDFBitmap_BGRA,
                rev_byteorder=True,  # RGBA in memory, whatever the machine's byte order
                may_draw_forms=False,
            )
        except pypdfium2.PdfiumError as exc:
            raise PageRenderError(request.path, f"page {request.page} cannot be drawn") from exc
        pixels = bytes(bitmap.buffer)
        passage, quote = _boxes_on(page, (request.passage, request.quote))
        return PageImage(
            page=request.page,
            page_count=count,
            width_pt=width_pt,
            height_pt=height_pt,
            scale=scale,
            width_px=bitmap.width,
            height_px=bitmap.height,
            stride=bitmap.stride,
            pixels=pixels,
            passage=tuple(passage),
            quote=tuple(quote),
            note=note,
        )
    finally:
        page.close()


def render_page(
    path: Path | str,
    page_number: int,
    scale: float = 1.0,
    *,
    passage: str = "",
    quote: str = "",
    limits: RenderLimits | None = None,
) -> PageImage:
    """Draw one page of a PDF in this process (see :class:`PageRenderer` for untrusted files).

    Args:
        path: the PDF.
        page_number: 1-based.
        scale: pixels per point.
        passage: text to box on the page.
        quote: a second text to box (the verbatim quote).
        limits: size and pixel limits (the time and memory limits need :class:`PageRenderer`).

    Raises:
        PageRenderError: the file or the page cannot be drawn.
    """
    limits = limits or RenderLimits()
    documents = _Documents(limits)
    try:
        request = RenderRequest(str(path), page_number, scale, passage, quote)
        return _draw(documents, request, limits)
    finally:
        documents.close()


def find_boxes(path: Path | str, page_number: int, text: str) -> list[Box]:
    """Where ``text`` is on one page of a PDF, as line boxes in points from the top-left.

    Raises:
        PageRenderError: the file or the page cannot be opened.
    """
    documents = _Documents(RenderLimits())
    try:
        document = documents.open(str(path), "")
        if not 1 <= page_number <= len(document):
            raise PageRenderError(str(path), f"it has no page {page_number}")
        page = document[page_number - 1]
        try:
            return _boxes_on(page, (text,))[0]
        finally:
            page.close()
    finally:
        documents.close()


# --- the sandboxed child ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    reason: str


def _serve(conn: multiprocessing.connection.Connection, limits: RenderLimits) -> None:
    """The child's loop: receive a request, send back the page or why it failed."""
    import assistant.offline  # noqa: F401  (a fresh interpreter: guard it too)

    if limits.memory_bytes > 0:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        except (ImportError, ValueError, OSError):  # not on this platform: the timeout remains
            pass
    documents = _Documents(limits)
    conn.send(_READY)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            result: PageImage | _Failure = _draw(documents, request, limits)
        except PageRenderError as exc:
            result = _Failure(exc.reason)
        except MemoryError:
            documents.close()
            result = _Failure("drawing it needs more memory than the viewer allows")
        except Exception as exc:  # noqa: BLE001 - a hostile file must not end the child's loop
            documents.close()
            result = _Failure(f"PDFium failed on it ({type(exc).__name__})")
        conn.send(result)


class PageRenderer(ChildServer):
    """Draws PDF pages in a child process with a time and a memory limit, one at a time.

    Not thread-safe: one caller at a time (the viewer draws one page after another).
    """

    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        super().__init__()
        self._local: _Documents | None = None

    def render(self, request: RenderRequest, *, cancel: CancelToken | None = None) -> PageImage:
        """Draw one page.

        Args:
            request: the page and the text to mark.
            cancel: checked while waiting; when set the child is stopped.

        Raises:
            PageRenderError: the page cannot be drawn: a missing, changed, malformed or hostile
                file, a timeout, a crash of the child, or a cancel.
        """
        if not self.limits.isolate:
            if self._local is None:
                self._local = _Documents(self.limits)
            return _draw(self._local, request, self.limits)
        conn = self._ensure_started(cancel)
        if conn is None:
            if cancel is not None and cancel.cancelled:
                raise PageRenderError(request.path, "drawing was cancelled")
            raise PageRenderError(request.path, "the drawing process failed to start")
        limit = self.limits.timeout_s
        try:
            conn.send(request)
            deadline = time.monotonic() + limit
            while True:
                if cancel is not None and cancel.cancelled:
                    self._kill()
                    raise PageRenderError(request.path, "drawing was cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    raise PageRenderError(
                        request.path,
                        f"page {request.page} took longer than {limit:g} s to draw and was "
                        "abandoned; the file may be malformed",
                    )
                if conn.poll(min(left, _POLL_S)):
                    break
            message: PageImage | _Failure = conn.recv()
        except (EOFError, OSError) as exc:
            self._kill()
            raise PageRenderError(
                request.path, "it crashed the drawing process (the file may be malformed)"
            ) from exc
        if isinstance(message, _Failure):
            raise PageRenderError(request.path, message.reason)
        return message

    def _ensure_started(
        self, cancel: CancelToken | None = None
    ) -> multiprocessing.connection.Connection | None:
        running = self._running()
        if running is not None:
            return running
        parent = self._spawn(_serve, (self.limits,), "enclave-pages")
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        try:
            # Waits in short steps: a cancel (the window closing) must not wait for a slow start.
            while not (cancel is not None and cancel.cancelled) and time.monotonic() < deadline:
                if parent.poll(_POLL_S):
                    if parent.recv() == _READY:
                        return parent
                    break
        except (EOFError, OSError):
            pass
        self._kill()
        return None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (tests use it)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def close(self) -> None:
        """Stop the child process (politely first) and close any document open here."""
        super().close()
        if self._local is not None:
            self._local.close()
            self._local = None

    def __enter__(self) -> PageRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "Box",
    "PageImage",
    "PageRenderer",
    "RenderLimits",
    "RenderRequest",
    "find_boxes",
    "locate",
    "render_page",
]
