"""A document's passages for a structured task, read the way an import reads it.

``assistant extract --doc`` and the extraction evaluation use :func:`document_passages`: the same
loaders as an import, in the same sandboxed parser child with the same limits, so a PDF gives its
text by page and a DOCX by section (each with its heading in front), and a file no loader reads
is refused with the loader's reason, never read as bytes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.grammar.extract import Passage
from assistant.grammar.tasks import passages_from_text

if TYPE_CHECKING:
    from assistant.knowledge.records import KnowledgeSettings


def document_passages(path: Path, settings: KnowledgeSettings) -> list[Passage]:
    """The passages of the document at ``path``, each with its page.

    Raises:
        AssistantError: the file is missing, of a type no loader reads, or could not be read.
    """
    from assistant.knowledge.loaders import document_kind, unsupported_failure
    from assistant.knowledge.records import LoadFailure
    from assistant.knowledge.sandbox import ParserWorker

    if not path.is_file():
        raise AssistantError(f"The document {path} does not exist (or is not a file).")
    if document_kind(path) is None:
        raise AssistantError(f"{path.name} {unsupported_failure(path).reason}.")
    worker = ParserWorker(settings)
    try:
        parsed = worker.parse(path)
    finally:
        worker.close()
    if isinstance(parsed, LoadFailure):
        raise AssistantError(f"{path.name} {parsed.reason}.")
    passages = []
    for section in parsed.sections:
        text = section.text
        # A heading ("Incident report WH-118") often holds a value the form asks for; the
        # loaders keep it apart from the text, so it goes back in front of its section.
        if section.heading and section.heading not in text:
            text = f"{section.heading}\n\n{text}"
        for passage in passages_from_text(text, document=path.name):
            passages.append(replace(passage, page=section.page))
    return passages
