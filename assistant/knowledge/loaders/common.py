"""Helpers every loader shares: the section builder, text decoding and the refusal exception.

A loader signals "this file cannot be imported, and here is why" by raising
:class:`LoaderRefusal`; :func:`assistant.knowledge.loaders.load_file` turns it into a
:class:`~assistant.knowledge.records.LoadFailure`. Any other exception a parser raises on a
malformed file is reported as a corrupt file.
"""

from __future__ import annotations

import codecs
import re

from assistant.knowledge.records import FailureKind, KnowledgeSettings, Section

#: The separator placed between sections in a document's extracted text; offsets count it.
SECTION_SEPARATOR = "\n\n"

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


class LoaderRefusal(Exception):
    """A loader's reasoned refusal of a file."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def normalize_text(text: str) -> str:
    """Tidy extracted text: unify line ends, squeeze runs of spaces and of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


#: Control bytes that real text files hold: whitespace, ANSI colour escapes, DOS end-of-file.
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b\x1a")
_BINARY_CONTROLS = bytes(b for b in range(0x20) if b not in _TEXT_CONTROLS)
_SNIFF_BYTES = 64 * 1024


def refuse_binary(data: bytes) -> None:
    """Refuse binary data given a text-like name (an executable or archive renamed ``.txt``).

    Decoding would "succeed" (Windows-1252 maps almost every byte) and index pages of noise.
    UTF-16 with its byte-order mark is text; otherwise a NUL byte, or more than 5% control
    characters, in the first 64 KiB marks binary data.

    Raises:
        LoaderRefusal: the data is binary.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    sample = data[:_SNIFF_BYTES]
    controls = len(sample) - len(sample.translate(None, _BINARY_CONTROLS))
    if b"\x00" in sample or controls > len(sample) * 0.05:
        raise LoaderRefusal(
            FailureKind.CORRUPT,
            "holds binary data, not text, despite its name; if it is a document in another "
            "format, give it that format's extension",
        )


def decode_bytes(data: bytes) -> str:
    """Decode text of unknown encoding: a BOM wins, then UTF-8, then Windows-1252.

    Windows-1252 is the last resort because it accepts every byte but five, which covers the
    legacy text files analysts actually have; undecodable bytes become U+FFFD.
    """
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class SectionBuilder:
    """Collects sections and assigns their character offsets in the document's text.

    Empty sections are dropped; offsets count :data:`SECTION_SEPARATOR` between sections, so
    ``"\\n\\n".join(s.text for s in sections)[s.char_start:s.char_end] == s.text``.
    """

    def __init__(self, settings: KnowledgeSettings) -> None:
        self._settings = settings
        self._sections: list[Section] = []
        self._length = 0

    def add(self, text: str, *, page: int | None = None, heading: str = "") -> None:
        """Append a section (normalized; ignored when it holds no text).

        Raises:
            LoaderRefusal: the document's text passes the ``max_chars`` limit.
        """
        text = normalize_text(text)
        if not text:
            return
        start = self._length + (len(SECTION_SEPARATOR) if self._sections else 0)
        end = start + len(text)
        if end > self._settings.max_chars:
            raise LoaderRefusal(
                FailureKind.TOO_LARGE,
                f"holds more than {self._settings.max_chars:,} characters of text, the import "
                "limit; split it into smaller files",
            )
        self._sections.append(Section(text, page, heading.strip(), start, end))
        self._length = end

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._sections)


def empty_refusal() -> LoaderRefusal:
    """The refusal for a file that holds no text at all."""
    return LoaderRefusal(FailureKind.EMPTY, "contains no text")
