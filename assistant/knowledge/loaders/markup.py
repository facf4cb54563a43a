"""HTML (standard-library parser) and Markdown extraction, with headings as sections.

HTML: the text of ``script``, ``style`` and other non-content elements is dropped, block
elements become paragraph breaks, and each ``h1``-``h6`` starts a section. Markdown: ATX
(``# Title``) and setext (underlined) headings start sections; fenced code is kept as text but
never mistaken for headings.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from assistant.knowledge.loaders.common import (
    SectionBuilder,
    decode_bytes,
    empty_refusal,
    refuse_binary,
)
from assistant.knowledge.records import KnowledgeSettings, ParsedDocument

_SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "ul", "ol",
        "li", "table", "tr", "blockquote", "pre", "br", "hr", "dl", "dt", "dd", "figure",
        "figcaption", "form", "fieldset", "address", "details", "summary",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[tuple[str, str]] = []  # (heading, text)
        self.title = ""
        self._heading = ""
        self._parts: list[str] = []
        self._heading_parts: list[str] | None = None
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            if tag != "head":  # <head> may be left open by sloppy pages; its title still counts
                self._skip_depth += tag not in _VOID
            return
        if tag == "title":
            self._in_title = True
        elif tag in _HEADINGS:
            self._flush()
            self._heading_parts = []
        elif tag in _BLOCKS:
            self._parts.append("\n\n" if tag not in {"br", "li", "tr"} else "\n")
        elif tag in _CELLS:
            self._parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            if tag != "head" and self._skip_depth:
                self._skip_depth -= 1
            return
        if tag == "title":
            self._in_title = False
        elif tag in _HEADINGS and self._heading_parts is not None:
            self._heading = " ".join("".join(self._heading_parts).split())
            self._heading_parts = None
        elif tag in _BLOCKS:
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self.title += data
        elif self._heading_parts is not None:
            self._heading_parts.append(data)
        else:
            self._parts.append(data)

    def _flush(self) -> None:
        self.sections.append((self._heading, "".join(self._parts)))
        self._parts = []

    def finish(self) -> None:
        self.close()
        if self._heading_parts is not None:  # an unclosed heading still names what follows
            self._heading = " ".join("".join(self._heading_parts).split())
        self._flush()


def html_to_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Parse HTML text into ``(title, [(heading, text), ...])``."""
    parser = _HtmlText()
    parser.feed(text)
    parser.finish()
    return " ".join(parser.title.split()), parser.sections


def load_html(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Extract the visible text of an HTML page, one section per heading.

    Raises:
        LoaderRefusal: the page has no visible text, or too much.
    """
    refuse_binary(data)
    title, sections = html_to_sections(decode_bytes(data))
    builder = SectionBuilder(settings)
    for heading, text in sections:
        builder.add(_tidy_cells(text), heading=heading or title)
    if not builder.sections:
        raise empty_refusal()
    return ParsedDocument("html", builder.sections, 1, title=title)


def _tidy_cells(text: str) -> str:
    return re.sub(r"(?m)^\s*\|\s*", "", text)


_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+\s*)?$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def load_markdown(data: bytes, settings: KnowledgeSettings) -> ParsedDocument:
    """Split Markdown into sections at its headings; the text is kept as written.

    Raises:
        LoaderRefusal: the file has no text, or too much.
    """
    refuse_binary(data)
    lines = decode_bytes(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    builder = SectionBuilder(settings)
    heading = ""
    title = ""
    body: list[str] = []
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
            body.append(line)
            continue
        atx = None if fenced else _ATX.match(line)
        setext = None if fenced or not body or not body[-1].strip() else _SETEXT.match(line)
        if atx or setext:
            new_heading = atx.group(2).strip() if atx else body.pop().strip()
            builder.add("\n".join(body), heading=heading)
            body = []
            heading = new_heading
            title = title or heading
            continue
        body.append(line)
    builder.add("\n".join(body), heading=heading)
    if not builder.sections:
        raise empty_refusal()
    return ParsedDocument("markdown", builder.sections, 1, title=title)
