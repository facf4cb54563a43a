"""Pictures read through OCR (PNG, JPEG, TIFF), and the OCR step the PDF loader shares.

A picture is a document of one page (a multi-page TIFF, as fax software writes, one page per
frame). Pictures are hostile input like any file: only the PNG, JPEG and TIFF decoders are
allowed, the size in the header is checked against ``max_image_pixels`` before a pixel is
decoded (Pillow's own ``MAX_IMAGE_PIXELS`` is set to the same limit), and a truncated file is
refused, not padded out. All of it runs in the parser child with its time and memory limits.

Pillow is imported only inside these functions.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from assistant.knowledge.loaders.common import LoaderRefusal, SectionBuilder
from assistant.knowledge.ocr import (
    OcrFailedError,
    OcrPage,
    OcrPool,
    OcrUnavailableError,
    PageImage,
    TesseractEngine,
)
from assistant.knowledge.records import FailureKind, KnowledgeSettings, ParsedDocument

if TYPE_CHECKING:
    from PIL import Image

#: The decoders a picture may use; anything else is refused unread.
PICTURE_FORMATS = ("PNG", "JPEG", "TIFF")
#: The resolution assumed for a picture that does not state a plausible one.
DEFAULT_DPI = 300

#: Called after each page OCR read: (pages done, pages to read).
PageProgress = Callable[[int, int], None]


def ocr_threads(settings: KnowledgeSettings) -> int:
    """How many pages to recognise at once."""
    if settings.ocr_threads > 0:
        return settings.ocr_threads
    from assistant.engine.cpu import physical_cores

    return physical_cores()


def recognize(
    pages: Iterable[PageImage],
    settings: KnowledgeSettings,
    *,
    total: int,
    on_page: PageProgress | None = None,
) -> list[OcrPage]:
    """Recognise ``pages`` with the default engine, ``ocr_threads`` at a time.

    Raises:
        LoaderRefusal: OCR is not installed (with how to install it), or failed on a page.
    """
    threads = min(ocr_threads(settings), max(1, total))
    results: list[OcrPage] = []
    try:
        with OcrPool(TesseractEngine, threads=threads) as pool:
            for page in pool.map(pages):
                results.append(page)
                if on_page is not None:
                    on_page(len(results), total)
    except OcrUnavailableError as exc:
        raise LoaderRefusal(FailureKind.NO_TEXT, f"needs OCR, which is unavailable: {exc}") from exc
    except OcrFailedError as exc:
        raise LoaderRefusal(FailureKind.CORRUPT, f"could not be read by OCR ({exc})") from exc
    return results


def ocr_note(pages: Iterable[OcrPage], page_count: int) -> str:
    """The import note for OCR'd pages: how many, which engine, how confident."""
    read = list(pages)
    words = [w for p in read for w in p.words]
    confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
    engine = read[0].engine if read else "OCR"
    return (
        f"{len(read)} of {page_count} page{'s' if page_count != 1 else ''} read by OCR "
        f"({engine}, mean word confidence {confidence:.0%})"
    )


def _dpi(image: Image.Image) -> int:
    raw = image.info.get("dpi")
    try:
        value = round(float(raw[0])) if raw else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    return value if 72 <= value <= 1200 else DEFAULT_DPI


def _too_large(width: int, height: int, settings: KnowledgeSettings) -> LoaderRefusal:
    return LoaderRefusal(
        FailureKind.TOO_LARGE,
        f"is a picture of {width:,} x {height:,} pixels, more than the import limit of "
        f"{settings.max_image_pixels:,} pixels (it may be a decompression bomb); scan it at a "
        "lower resolution",
    )


def open_pictures(data: bytes, settings: KnowledgeSettings) -> tuple[int, Iterator[PageImage]]:
    """Check a picture and return its page count and its pages, decoded one at a time.

    Raises:
        LoaderRefusal: not a PNG, JPEG or TIFF; over the pixel or page limit; truncated or
            damaged (the iterator raises for a frame that fails to decode).
    """
    from PIL import Image, ImageFile, UnidentifiedImageError

    # Process-wide in Pillow; set here, where pictures are opened (the parser child), so its
    # own bomb check refuses what ours would, and a truncated file is never padded with grey.
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=PICTURE_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise LoaderRefusal(
                FailureKind.TOO_LARGE,
                f"is a picture larger than the import limit of {settings.max_image_pixels:,} "
                f"pixels (it may be a decompression bomb): {exc}",
            ) from exc
        except UnidentifiedImageError as exc:
            raise LoaderRefusal(
                FailureKind.CORRUPT,
                "is not a PNG, JPEG or TIFF picture that can be read (damaged, or another "
                "format with the wrong extension)",
            ) from exc
    width, height = image.size
    if width * height > settings.max_image_pixels:
        raise _too_large(width, height, settings)
    frames = int(getattr(image, "n_frames", 1))
    if frames > settings.max_pages:
        raise LoaderRefusal(
            FailureKind.TOO_LARGE,
            f"has {frames:,} pages, more than the import limit of {settings.max_pages:,}",
        )
    return frames, _frames(image, frames, settings)


def _frames(image: Image.Image, frames: int, settings: KnowledgeSettings) -> Iterator[PageImage]:
    for index in range(frames):
        try:
            image.seek(index)
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise _too_large(width, height, settings)
            image.load()
            page = image.convert("L")
        except LoaderRefusal:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            raise LoaderRefusal(
                FailureKind.CORRUPT,
                f"is a truncated or damaged picture ({detail or type(exc).__name__}); "
                "scan or export it again",
            ) from exc
        yield PageImage(index + 1, page, _dpi(image))


def load_image(
    data: bytes, settings: KnowledgeSettings, on_page: PageProgress | None = None
) -> ParsedDocument:
    """Read a picture's text with OCR, one section per page.

    Raises:
        LoaderRefusal: a refused picture (see :func:`open_pictures`), OCR unavailable, or no
            text recognised.
    """
    frames, pages = open_pictures(data, settings)
    read = recognize(pages, settings, total=frames, on_page=on_page)
    builder = SectionBuilder(settings)
    for page in read:
        builder.add(page.text, page=page.page)
    if not builder.sections:
        raise LoaderRefusal(
            FailureKind.NO_TEXT,
            "is a picture in which OCR recognised no text; if it shows text, scan it again at "
            "300 dpi or more",
        )
    kept = tuple(page for page in read if page.text)
    return ParsedDocument(
        "image", builder.sections, frames, notes=(ocr_note(kept, frames),), ocr=kept
    )
