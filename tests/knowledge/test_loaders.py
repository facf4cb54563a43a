"""Loaders: the text, pages and headings each format yields, and the reasons bad files get."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from assistant.knowledge.loaders import SECTION_SEPARATOR, load_file
from assistant.knowledge.records import FailureKind, KnowledgeSettings, LoadFailure, ParsedDocument
from tests.knowledge.corpus import (
    REPORT_PAGES,
    build_corpus,
    write_encrypted_pdf,
    write_image_only_pdf,
    write_pdf,
)

SETTINGS = KnowledgeSettings(isolate_parsing=False)


def parsed(path: Path, settings: KnowledgeSettings = SETTINGS) -> ParsedDocument:
    result = load_file(path, settings)
    assert isinstance(result, ParsedDocument), result
    return result


def failure(path: Path, settings: KnowledgeSettings = SETTINGS) -> LoadFailure:
    result = load_file(path, settings)
    assert isinstance(result, LoadFailure), result
    return result


def full_text(document: ParsedDocument) -> str:
    return SECTION_SEPARATOR.join(s.text for s in document.sections)


def test_pdf_keeps_one_based_page_numbers(tmp_path: Path) -> None:
    document = parsed(write_pdf(tmp_path / "r.pdf", REPORT_PAGES))
    assert document.pages == 4
    assert [s.page for s in document.sections] == [1, 2, 3, 4]
    assert "4.2 million euros" in document.sections[1].text
    assert "AB-1234/X" in document.sections[3].text


def test_offsets_point_into_the_documents_text(tmp_path: Path) -> None:
    for path in build_corpus(tmp_path).values():
        document = parsed(path)
        text = full_text(document)
        for section in document.sections:
            assert text[section.char_start : section.char_end] == section.text


def test_docx_paragraphs_sit_under_their_headings(tmp_path: Path) -> None:
    document = parsed(build_corpus(tmp_path)["handbook"])
    by_heading = {s.heading: s.text for s in document.sections}
    assert "dosimeter" in by_heading["Safety procedures"]
    assert "yellow bags" in by_heading["Waste handling"]
    assert "Reactor hall | Red" in by_heading["Waste handling"]  # the table, in body order
    assert all(s.page is None for s in document.sections)


def test_html_drops_scripts_and_styles_and_keeps_headings(tmp_path: Path) -> None:
    document = parsed(build_corpus(tmp_path)["guide"])
    text = full_text(document)
    assert "SCRIPTSECRET" not in text
    assert "color: red" not in text
    assert document.title == "Archive guide"
    by_heading = {s.heading: s.text for s in document.sections}
    assert "nine to three" in by_heading["Opening hours"]
    assert "five folders" in by_heading["Borrowing"]


def test_markdown_headings_become_sections(tmp_path: Path) -> None:
    document = parsed(build_corpus(tmp_path)["manual"])
    by_heading = {s.heading: s.text for s in document.sections}
    assert "recalibrated" in by_heading["Calibration"]
    assert "4471" in by_heading["Contacts"]
    assert not any(s.text.startswith("#") for s in document.sections)


def test_markdown_fenced_code_is_not_a_heading(tmp_path: Path) -> None:
    path = tmp_path / "code.md"
    path.write_text("# Real\n\ntext\n\n```\n# not a heading\n```\n", encoding="utf-8")
    document = parsed(path)
    assert [s.heading for s in document.sections] == ["Real"]
    assert "# not a heading" in document.sections[0].text


def test_csv_rows_name_their_columns(tmp_path: Path) -> None:
    document = parsed(build_corpus(tmp_path)["table"])
    assert "station: Hammerodde; latitude: 70.2; status: under repair" in full_text(document)
    assert document.sections[0].heading == "rows 2-3"


def test_email_subject_body_and_attachment_names(tmp_path: Path) -> None:
    document = parsed(build_corpus(tmp_path)["mail"])
    section = document.sections[0]
    assert section.heading == "Convoy schedule"
    assert "leaves Narvik on Friday" in section.text
    assert "route.bin" in section.text


def test_text_in_legacy_encoding_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Caf\u00e9 na\u00efve \u2013 r\u00e9sum\u00e9".encode("cp1252"))
    assert parsed(path).sections[0].text == "Caf\u00e9 na\u00efve \u2013 r\u00e9sum\u00e9"


def test_encrypted_pdf_is_refused_with_what_to_do(tmp_path: Path) -> None:
    result = failure(write_encrypted_pdf(tmp_path / "locked.pdf"))
    assert result.kind is FailureKind.ENCRYPTED
    assert "password" in result.reason
    assert "unprotected copy" in result.reason


def test_image_only_pdf_suggests_ocr(tmp_path: Path) -> None:
    result = failure(write_image_only_pdf(tmp_path / "scan.pdf", pages=3))
    assert result.kind is FailureKind.NO_TEXT
    assert "3 pages" in result.reason
    assert "OCR" in result.reason


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("broken.pdf", b"%PDF-1.7\nthis is not really a pdf", FailureKind.CORRUPT),
        ("broken.docx", b"PK\x03\x04 definitely not a zip", FailureKind.CORRUPT),
        ("empty.txt", b"", FailureKind.EMPTY),
        ("blank.md", b"   \n\n  \n", FailureKind.EMPTY),
        ("picture.gif", b"GIF89a", FailureKind.UNSUPPORTED),
        ("picture.png", b"\x89PNG\r\n", FailureKind.CORRUPT),  # a PNG is read by OCR
        ("only-script.html", b"<script>x()</script>", FailureKind.EMPTY),
    ],
)
def test_bad_files_get_a_reason(tmp_path: Path, name: str, data: bytes, kind: FailureKind) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    result = failure(path)
    assert result.kind is kind
    assert result.reason


def test_docx_that_is_another_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    result = failure(path)
    assert result.kind is FailureKind.CORRUPT
    assert "not a Word document" in result.reason


def test_docx_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 2_000_000)
    settings = KnowledgeSettings(isolate_parsing=False, max_unzipped_bytes=1_000_000)
    result = failure(path, settings)
    assert result.kind is FailureKind.TOO_LARGE
    assert "zip bomb" in result.reason


def test_size_limit_is_enforced_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000, encoding="utf-8")
    result = failure(path, KnowledgeSettings(isolate_parsing=False, max_file_bytes=1000))
    assert result.kind is FailureKind.TOO_LARGE
    assert "MiB" in result.reason


def test_page_limit(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "long.pdf", ["page"] * 3)
    result = failure(path, KnowledgeSettings(isolate_parsing=False, max_pages=2))
    assert result.kind is FailureKind.TOO_LARGE
    assert "3 pages" in result.reason
