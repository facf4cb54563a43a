"""Builders for scanned test documents: text typeset to page images, as a scanner would make them.

Every page is a real picture (no text layer): paragraphs drawn with Pillow in DejaVu Serif,
slightly rotated and speckled; PDFs of such pages are written with Pillow's own PDF writer, so
they hold nothing but images. The hostile pictures are written byte by byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
A4_INCHES = (8.27, 11.69)


def scan_image(
    paragraphs: Sequence[str],
    *,
    dpi: int = 150,
    angle: float = 0.8,
    seed: int = 0,
    inches: tuple[float, float] = A4_INCHES,
) -> Any:
    """A page image (mode ``L``) of ``paragraphs`` at 12 pt, rotated by ``angle``, speckled."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(inches[0] * dpi), round(inches[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(SERIF, round(12 / 72 * dpi))
    margin, step = dpi, round(12 / 72 * dpi * 1.5)
    y = margin
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if font.getlength(candidate) > width - 2 * margin and line:
                draw.text((margin, y), line, font=font, fill=0)
                y, line = y + step, word
            else:
                line = candidate
        draw.text((margin, y), line, font=font, fill=0)
        y += 2 * step
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    pixels = np.array(image)
    noise = np.random.default_rng(seed).random(pixels.shape)
    pixels[noise < 0.001] = 0
    return Image.fromarray(pixels)


def write_scanned_pdf(path: Path, pages: Sequence[str], *, dpi: int = 150) -> Path:
    """An image-only PDF, one scanned page per text (page N shows ``pages[N-1]``)."""
    images = [scan_image([text], dpi=dpi, seed=n, angle=(0.9, -1.2, 0.5)[n % 3])
              for n, text in enumerate(pages)]  # fmt: skip
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return path


def write_mixed_pdf(path: Path, text_page: str, scanned_page: str) -> Path:
    """A PDF whose page 1 has a text layer and page 2 is a scan."""
    import pypdf

    from tests.knowledge.corpus import write_pdf

    typed = write_pdf(path.with_suffix(".typed.pdf"), [text_page])
    scanned = write_scanned_pdf(path.with_suffix(".scan.pdf"), [scanned_page])
    writer = pypdf.PdfWriter()
    for part in (typed, scanned):
        for page in pypdf.PdfReader(part).pages:
            writer.add_page(page)
    with path.open("wb") as handle:
        writer.write(handle)
    typed.unlink()
    scanned.unlink()
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A complete, valid 1-bit PNG of ``width`` x ``height`` white pixels: a small file that
    decodes to ``width * height`` pixels (900 million by default)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * 1000) for _ in range(height // 1000))
    body += packer.compress(row * (height % 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )  # fmt: skip
    return path


def write_tiff_claiming(path: Path, width: int, height: int) -> Path:
    """A little-endian TIFF whose header claims ``width`` x ``height`` 8-bit grey pixels and
    that holds a few bytes of them."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),  # StripOffsets: right after the directory
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, width * height),  # StripByteCounts
    ]
    directory = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        directory += struct.pack("<HHI", tag, kind, count) + packed
    path.write_bytes(
        b"II*\x00" + struct.pack("<I", 8) + directory + b"\x00\x00\x00\x00" + b"\xff" * 64
    )
    return path
