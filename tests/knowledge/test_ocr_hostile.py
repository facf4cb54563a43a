"""Hostile pictures: refused with a reason, before they are decoded, inside the sandbox's limits."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.knowledge import FailureKind, HashEmbedder, KnowledgeBase
from assistant.knowledge.loaders import load_file
from assistant.knowledge.records import LoadFailure, ParsedDocument
from assistant.knowledge.sandbox import ParserWorker
from tests.knowledge.conftest import FAST
from tests.knowledge.corpus import REPORT_PAGES
from tests.knowledge.scanned import scan_image, write_png_bomb, write_tiff_claiming

SANDBOXED = replace(FAST, isolate_parsing=True, parse_timeout_s=30)


def refused(path: Path, **changes: object) -> LoadFailure:
    result = load_file(path, replace(FAST, **changes))  # type: ignore[arg-type]
    assert isinstance(result, LoadFailure), result
    return result


def truncated(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = write_png_bomb(tmp_path / "bomb.png")  # 900 million pixels in about 100 KiB
    assert bomb.stat().st_size < 512 * 1024
    started = time.perf_counter()
    failure = refused(bomb)
    assert time.perf_counter() - started < 2.0  # nothing was decoded
    assert failure.kind is FailureKind.TOO_LARGE
    assert "decompression bomb" in failure.reason
    assert "100,000,000 pixels" in failure.reason


def test_a_picture_over_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    scan_image([REPORT_PAGES[0]], dpi=100).save(path)  # 827 x 1169 = 0.97 million pixels
    # Under Pillow's own hard limit (twice the limit): its warning must not leak either.
    failure = refused(path, max_image_pixels=600_000)
    assert failure.kind is FailureKind.TOO_LARGE
    assert "600,000 pixels" in failure.reason


def test_a_tiff_claiming_30000_by_30000_pixels_is_refused(tmp_path: Path) -> None:
    claim = write_tiff_claiming(tmp_path / "claim.tiff", 30_000, 30_000)
    failure = refused(claim)
    assert failure.kind is FailureKind.TOO_LARGE
    assert "pixels" in failure.reason
    # Where the limit allows that size, the missing pixels are found, never invented.
    failure = refused(claim, max_image_pixels=1_000_000_000)
    assert failure.kind is FailureKind.CORRUPT
    assert "truncated or damaged" in failure.reason


@pytest.mark.parametrize("name", ["scan.png", "scan.jpg", "scan.tiff"])
def test_a_truncated_picture_is_refused_not_padded(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    scan_image(REPORT_PAGES[:2], dpi=150).save(path)
    failure = refused(truncated(path))
    assert failure.kind is FailureKind.CORRUPT
    assert "truncated or damaged" in failure.reason


def test_a_tiff_with_more_pages_than_the_limit_is_refused(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "fax.tiff"
    pages = [Image.new("L", (200, 200), 255) for _ in range(4)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    failure = refused(path, max_pages=3)
    assert failure.kind is FailureKind.TOO_LARGE
    assert "4 pages" in failure.reason


def test_a_giant_scanned_page_is_drawn_within_the_pixel_limit(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from tests.knowledge.scanned import SERIF

    image = Image.new("L", (1000, 1000), 255)
    ImageDraw.Draw(image).text((60, 400), "Valve AB-1234", font=ImageFont.truetype(SERIF, 80))
    path = tmp_path / "poster.pdf"
    image.save(path, "PDF", resolution=10)  # a page of 100 x 100 inches
    result = load_file(path, replace(FAST, max_image_pixels=4_000_000))
    assert isinstance(result, ParsedDocument), result
    (page,) = result.ocr
    assert page.width * page.height <= 4_000_000
    assert "AB-1234" in page.text


@pytest.mark.slow
def test_hostile_pictures_are_refused_in_the_sandbox_and_the_rest_imports(tmp_path: Path) -> None:
    folder = tmp_path / "drawer"
    folder.mkdir()
    write_png_bomb(folder / "bomb.png")
    write_tiff_claiming(folder / "claim.tif", 30_000, 30_000)
    scan_image(REPORT_PAGES[:2], dpi=150).save(folder / "cut.jpg")
    truncated(folder / "cut.jpg")
    (folder / "not-a-picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    scan_image([REPORT_PAGES[3]], dpi=200).save(folder / "good.png")
    kb = KnowledgeBase.open(tmp_path / "index", embedder=HashEmbedder(),
                            settings=replace(SANDBOXED, ocr_images=True))  # fmt: skip
    try:
        started = time.perf_counter()
        report = kb.ingest([folder])
        elapsed = time.perf_counter() - started
        hit = kb.search("replacement valve Bergen", top_k=1)[0]
    finally:
        kb.close()
    assert [d.name for d in report.imported] == ["good.png"]
    assert {f.path.name: f.kind for f in report.failed} == {
        "bomb.png": FailureKind.TOO_LARGE,
        "claim.tif": FailureKind.TOO_LARGE,
        "cut.jpg": FailureKind.CORRUPT,
        "not-a-picture.png": FailureKind.CORRUPT,
    }
    assert all(f.reason for f in report.failed)
    assert elapsed < SANDBOXED.parse_timeout_s  # refused, not timed out
    assert hit.document_name == "good.png"


def test_the_sandbox_refuses_a_bomb_without_dying(tmp_path: Path) -> None:
    bomb = write_png_bomb(tmp_path / "bomb.png")
    with ParserWorker(SANDBOXED) as worker:
        first = worker.parse(bomb)
        assert isinstance(first, LoadFailure)
        assert first.kind is FailureKind.TOO_LARGE
        scan_image([REPORT_PAGES[1]], dpi=200).save(tmp_path / "after.png")
        after = worker.parse(tmp_path / "after.png")  # the same child goes on
    assert isinstance(after, ParsedDocument)
    assert "budget" in after.sections[0].text
