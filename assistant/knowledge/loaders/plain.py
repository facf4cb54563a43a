"""Plain text, CSV and e-mail (.eml) extraction.

Plain text is one section. CSV rows become ``column: value`` lines, in sections of
:data:`CSV_ROWS_PER_SECTION` rows headed by their row range. An e-mail's subject is the heading,
its sender and date lead the text, and its body is the plain part (or the HTML part, as text);
attachments are named, not opened.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
from email.message import EmailMessage

from assistant.knowledge.loaders.common import (
    SectionBuilder,
    decode_bytes,
    empty_refusal,
    refuse_binary,
)
from assistant.knowledge.loaders.markup import html_to_sections
from assistant.knowledge.records import KnowledgeSettings, ParsedDocument

CSV_ROWS_PER_SECTION = 20


def load_text(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Read a plain-text file as one section.

    Raises:
        LoaderRefusal: the file has no text, or too much.
    """
    refuse_binary(data)
    builder = SectionBuilder(settings)
    builder.add(decode_bytes(data))
    if not builder.sections:
        raise empty_refusal()
    return ParsedDocument("text", builder.sections, 1)


def load_csv(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Read a CSV table whose first row names the columns.

    Raises:
        LoaderRefusal: the table has no data, or too much.
    """
    refuse_binary(data)
    text = decode_bytes(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    builder = SectionBuilder(settings)
    if rows:
        header, body = rows[0], rows[1:]
        for start in range(0, len(body), CSV_ROWS_PER_SECTION):
            block = body[start : start + CSV_ROWS_PER_SECTION]
            lines = [
                "; ".join(
                    f"{name.strip() or f'column {i + 1}'}: {cell.strip()}"
                    for i, (name, cell) in enumerate(zip(header, row, strict=False))
                    if cell.strip()
                )
                for row in block
            ]
            first, last = start + 2, start + 1 + len(block)  # spreadsheet row numbers
            builder.add("\n".join(lines), heading=f"rows {first}-{last}")
    if not builder.sections:
        raise empty_refusal()
    return ParsedDocument("csv", builder.sections, 1)


def load_eml(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Read an e-mail message: headers, body text, attachment names.

    Raises:
        LoaderRefusal: the message has no text, or too much.
    """
    message = email.message_from_bytes(data, policy=email.policy.default)
    subject = str(message.get("subject", "") or "").strip()
    header_lines = [
        f"{name}: {message[name]}" for name in ("From", "To", "Date") if message.get(name)
    ]
    body = ""
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content()
            if isinstance(content, bytes):
                content = decode_bytes(content)
            if part.get_content_subtype() == "html":
                _, sections = html_to_sections(content)
                content = "\n\n".join(text for _, text in sections)
            body = content
        attachments = [a.get_filename() or "unnamed" for a in message.iter_attachments()]
    else:  # pragma: no cover - the default policy always builds EmailMessage
        attachments = []
    builder = SectionBuilder(settings)
    text = "\n".join(header_lines) + "\n\n" + body
    if attachments:
        text += "\n\nAttachments (not imported): " + ", ".join(attachments)
    if body.strip() or subject:
        builder.add(text, heading=subject)
    if not builder.sections:
        raise empty_refusal()
    return ParsedDocument("email", builder.sections, 1, title=subject)
