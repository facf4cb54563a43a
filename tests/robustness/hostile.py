"""Builders for hostile and broken documents (issue 8), each small on disk.

Every builder writes one file and returns its path. None of them needs a network or a tool
beyond the test dependencies (pypdf, python-docx's zip layout written by hand).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from tests.knowledge.corpus import write_docx, write_pdf


def _pdf_with_content(path: Path, content_object: bytes) -> Path:
    """A one-page PDF whose page content is object 4 (given whole, ``4 0 obj ... endobj``)."""
    objects = [
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n",
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> "
        b">> >> endobj\n",
        content_object,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for obj in objects:
        offsets.append(out.tell())
        out.write(obj)
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
              .encode())  # fmt: skip
    path.write_bytes(out.getvalue())
    return path


def _stream(data: bytes, filters: str = "") -> bytes:
    head = f"4 0 obj << /Length {len(data)}{' /Filter ' + filters if filters else ''} >>\nstream\n"
    return head.encode() + data + b"\nendstream\nendobj\n"


def pdf_decompression_bomb(path: Path, *, inflated_mib: int = 400) -> Path:
    """Page content compressed twice: a few KiB that inflate to ``inflated_mib`` MiB."""
    inner = zlib.compress(b"BT /F1 12 Tf (" + b"A" * (inflated_mib << 20) + b") Tj ET", 9)
    return _pdf_with_content(path, _stream(zlib.compress(inner, 9),
                                           "[/FlateDecode /FlateDecode]"))  # fmt: skip


def pdf_inline_image_without_end(path: Path) -> Path:
    """An inline image (BI ... ID) whose EI end marker never comes."""
    data = b"BT /F1 12 Tf 72 700 Td (Visible text) Tj ET\nBI /W 50 /H 50 /BPC 8 /CS /G ID "
    return _pdf_with_content(path, _stream(data + bytes(range(256)) * 40))


def pdf_deeply_nested(path: Path, *, depth: int = 100_000) -> Path:
    """An array nested ``depth`` levels deep in the page object."""
    nested = b"[" * depth + b"]" * depth
    return _pdf_with_content(path, b"4 0 obj " + nested + b" endobj\n")


def pdf_truncated(path: Path) -> Path:
    write_pdf(path, ["A report that was cut off in transfer. " * 40] * 3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def pdf_many_pages(path: Path, pages: int = 10_000) -> Path:
    import pypdf

    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=72, height=72)
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def _docx_with_document_xml(path: Path, document_xml: bytes) -> Path:
    """A real DOCX (from python-docx) with its ``word/document.xml`` replaced."""
    template = write_docx(path)
    with zipfile.ZipFile(template) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["word/document.xml"] = document_xml
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_external_entity(path: Path, secret: Path) -> Path:
    """A DOCX whose document declares an external entity pointing at ``secret`` (XXE)."""
    xml = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "'
           + secret.as_uri().encode() + b'">]>\n<w:document ' + _W + b"><w:body><w:p><w:r><w:t>"
           b"Quarterly figures &xxe; end.</w:t></w:r></w:p></w:body></w:document>")  # fmt: skip
    return _docx_with_document_xml(path, xml)


def docx_billion_laughs(path: Path) -> Path:
    """A DOCX whose document defines ten nested entities, each ten times the previous one."""
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    body = b"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    xml = (
        b'<?xml version="1.0"?>\n<!DOCTYPE w:document ['
        + entities
        + b"]>\n<w:document "
        + _W
        + body
    )
    return _docx_with_document_xml(path, xml)


def docx_lying_zip_bomb(path: Path, *, inflated_mib: int = 300) -> Path:
    """A DOCX whose document.xml claims 1 KiB in the zip directory but inflates to much more."""
    _docx_with_document_xml(path, b"<w:document " + _W + b"/>")
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    payload = b"<w:document " + _W + b"><w:body>" + b" " * (inflated_mib << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, payload if name == "word/document.xml" else data)
    data = bytearray(buffer.getvalue())
    # Patch the declared uncompressed size (local header and central directory) to 1024.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("word/document.xml")
    real = info.file_size.to_bytes(4, "little")
    data = bytearray(bytes(data).replace(real, (1024).to_bytes(4, "little")))
    path.write_bytes(bytes(data))
    return path


def html_billion_laughs(path: Path) -> Path:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    path.write_text(f"<!DOCTYPE html [{entities}]><html><body><p>Laughs: &lol9;</p>"
                    "<p>The depot opens at six.</p></body></html>", encoding="utf-8")  # fmt: skip
    return path


def binary_named_txt(path: Path, size: int = 200_000) -> Path:
    import random

    rng = random.Random(8)
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    return path


def giant_single_line(path: Path, *, mib: int = 8) -> Path:
    """One line of ``mib`` MiB: a single unbroken token (a base64 blob pasted into a note)."""
    path.write_bytes(b"Note: " + b"QUJD" * (mib << 18) + b"\n")
    return path


def giant_line_of_words(path: Path, *, words: int = 400_000) -> Path:
    """One line of many words and no sentence end: a log or CSV dump without line breaks."""
    path.write_text(" ".join(f"token{i % 997}" for i in range(words)), encoding="utf-8")
    return path


def html_that_hangs_the_parser(path: Path, *, repeats: int = 300_000) -> Path:
    """``<<a<a<a...``: Python's HTMLParser rescans it quadratically (minutes at this size)."""
    path.write_text("<" + "<a" * repeats, encoding="utf-8")
    return path
