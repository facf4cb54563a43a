"""Citations: the ``[n]`` markers in an answer, mapped back to document, page and passage.

Every number the model wrote that matches a source becomes a :class:`Citation`, in order of
first mention; numbers that match no source are reported separately. When the model cited
nothing, the top sources it was given are listed instead, marked ``cited=False``, so the user
can still check what the answer was based on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.knowledge.prompt import Source

_CITATION = re.compile(r"\[(?:sources?\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Citation:
    """A source the answer relies on, with what a person needs to check it.

    Attributes:
        number: the source number, as in ``[n]``.
        cited: True when the model wrote ``[n]``; False when it cited nothing and this source
            is listed because it was among the top passages the answer was based on.
    """

    number: int
    document_id: str
    document_name: str
    path: Path
    page: int | None
    heading: str
    quote: str
    char_start: int
    char_end: int
    cited: bool = True

    @property
    def location(self) -> str:
        parts = [self.document_name] + ([f"page {self.page}"] if self.page is not None else [])
        return ", ".join(parts)


def extract_citations(
    text: str, sources: Sequence[Source], *, fallback: int = 3
) -> tuple[list[Citation], list[int]]:
    """The sources an answer cites, in order of first mention, and any invalid numbers.

    When the text cites no valid source, the first ``fallback`` sources are returned with
    ``cited=False``.
    """
    by_number = {source.number: source for source in sources}
    seen: list[int] = []
    invalid: list[int] = []
    for match in _CITATION.finditer(text):
        for piece in re.split(r"[,;]", match.group(1)):
            number = int(piece)
            if number in by_number:
                if number not in seen:
                    seen.append(number)
            elif number not in invalid:
                invalid.append(number)
    cited = True
    if not seen:
        seen = [source.number for source in sources[:fallback]]
        cited = False
    return [_citation(by_number[n], cited=cited) for n in seen], invalid


def _citation(source: Source, *, cited: bool) -> Citation:
    hit = source.hit
    return Citation(
        number=source.number,
        document_id=hit.document_id,
        document_name=hit.document_name,
        path=hit.path,
        page=hit.page,
        heading=hit.heading,
        quote=hit.text,
        char_start=hit.char_start,
        char_end=hit.char_end,
        cited=cited,
    )
