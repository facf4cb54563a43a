"""Loaders: turn a file into text sections (page, heading, offsets), or say why they cannot.

:func:`load_file` is the one entry point. It never raises for a bad file: an unsupported type,
a file over the size limit, an empty, encrypted, hostile or corrupt file each comes back as a
:class:`~assistant.knowledge.records.LoadFailure` with a reason a person can act on, so one bad
file never stops an import. Scanned PDF pages and pictures (PNG, JPEG, TIFF) are read by OCR.
The heavy parsers (pypdf, pypdfium2, python-docx, Pillow, Tesseract) are imported only inside
the loader that needs them; :mod:`assistant.knowledge.sandbox` runs this in a child process.

This package must not import chromadb, sentence-transformers or Qt.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from assistant.knowledge.loaders.common import SECTION_SEPARATOR, LoaderRefusal
from assistant.knowledge.loaders.docx import load_docx
from assistant.knowledge.loaders.image import PageProgress, load_image
from assistant.knowledge.loaders.markup import load_html, load_markdown
from assistant.knowledge.loaders.pdf import load_pdf
from assistant.knowledge.loaders.plain import load_csv, load_eml, load_text
from assistant.knowledge.records import FailureKind, KnowledgeSettings, LoadFailure, ParsedDocument

__all__ = [
    "LOADERS",
    "PICTURE_SUFFIXES",
    "SECTION_SEPARATOR",
    "SUPPORTED_SUFFIXES",
    "document_kind",
    "load_bytes",
    "load_file",
    "size_failure",
]

Loader = Callable[[bytes, KnowledgeSettings], ParsedDocument]

#: The loader for each document kind.
LOADERS: dict[str, Loader] = {
    "pdf": load_pdf,
    "docx": load_docx,
    "html": load_html,
    "markdown": load_markdown,
    "text": load_text,
    "csv": load_csv,
    "email": load_eml,
    "image": load_image,
}
#: The loaders that read pages by OCR, and so report progress per page.
_OCR_LOADERS: dict[str, Callable[[bytes, KnowledgeSettings, PageProgress | None], ParsedDocument]]
_OCR_LOADERS = {"pdf": load_pdf, "image": load_image}

_KINDS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".csv": "csv",
    ".tsv": "csv",
    ".eml": "email",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}

#: File name endings the importer accepts, lower case.
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_KINDS)


#: Pictures read through OCR: always when named on their own, from folders only with
#: ``ocr_images`` (a folder of photos is not a drawer of scans).
PICTURE_SUFFIXES: frozenset[str] = frozenset(s for s, kind in _KINDS.items() if kind == "image")


def document_kind(path: Path) -> str | None:
    """The document kind for a file name, or ``None`` when no loader reads it."""
    return _KINDS.get(path.suffix.lower())


#: What a file no loader reads is, by its name's ending: the word a summary uses for it.
_NOT_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "picture": (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".svg",
                ".ico", ".heic", ".psd"),
    "archive": (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".iso"),
    "audio or video file": (".mp3", ".wav", ".flac", ".ogg", ".m4a", ".mp4", ".mkv", ".mov",
                            ".avi", ".webm"),
    "program or library": (".exe", ".dll", ".so", ".dylib", ".bin", ".o", ".a", ".pyc",
                           ".class", ".jar", ".whl", ".deb", ".rpm", ".msi"),
}  # fmt: skip
#: The same by content, for a file whose name says nothing: its first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "picture"), (b"\xff\xd8\xff", "picture"), (b"GIF8", "picture"),
    (b"II*\x00", "picture"), (b"MM\x00*", "picture"), (b"BM", "picture"),
    (b"PK\x03\x04", "archive"), (b"\x1f\x8b", "archive"), (b"7z\xbc\xaf", "archive"),
    (b"Rar!", "archive"), (b"\x7fELF", "program or library"), (b"MZ", "program or library"),
)  # fmt: skip


def non_document_kind(path: Path) -> str:
    """What a file no loader reads is, in a word for a summary ("picture", "archive", ...):
    by its name's ending, else by its first bytes, else "other file"."""
    suffix = path.suffix.lower()
    for word, endings in _NOT_DOCUMENTS.items():
        if suffix in endings:
            return word
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return "other file"
    return next((word for magic, word in _MAGIC if head.startswith(magic)), "other file")


def size_failure(size: int, settings: KnowledgeSettings) -> LoadFailure | None:
    """The refusal for a file of ``size`` bytes, or ``None`` when the size is acceptable."""
    if size > settings.max_file_bytes:
        return LoadFailure(
            FailureKind.TOO_LARGE,
            f"is {size / 1_048_576:,.1f} MiB, over the import limit of "
            f"{settings.max_file_bytes / 1_048_576:,.1f} MiB; split it or raise the limit",
        )
    if size == 0:
        return LoadFailure(FailureKind.EMPTY, "is empty (0 bytes)")
    return None


def unsupported_failure(path: Path) -> LoadFailure:
    """The refusal for a file type no loader reads."""
    suffix = path.suffix or "(no extension)"
    kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return LoadFailure(
        FailureKind.UNSUPPORTED,
        f"has an unsupported type {suffix}; supported: {kinds}",
    )


def load_bytes(
    kind: str,
    data: bytes,
    settings: KnowledgeSettings,
    on_page: PageProgress | None = None,
) -> ParsedDocument | LoadFailure:
    """Run the loader for ``kind`` on ``data``, turning every failure into a :class:`LoadFailure`.

    Args:
        kind: a key of :data:`LOADERS`.
        data: the file's bytes.
        settings: the limits to enforce.
        on_page: called after each page read by OCR with (done, to read).

    Returns:
        The parsed document, or why it could not be parsed.
    """
    failure = size_failure(len(data), settings)
    if failure is not None:
        return failure
    try:
        if kind in _OCR_LOADERS:
            return _OCR_LOADERS[kind](data, settings, on_page)
        return LOADERS[kind](data, settings)
    except LoaderRefusal as refusal:
        return LoadFailure(refusal.kind, refusal.reason)
    except MemoryError:
        return LoadFailure(
            FailureKind.TOO_LARGE,
            "needs more memory to parse than the import allows (it may be a decompression bomb)",
        )
    except RecursionError:
        return LoadFailure(FailureKind.CORRUPT, "is nested too deeply to parse (malformed file)")
    except (zipfile.BadZipFile, KeyError) as exc:
        return LoadFailure(FailureKind.CORRUPT, f"is damaged or not a real {kind} file ({exc})")
    except Exception as exc:  # any parser error on a malformed file is the file's fault
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return LoadFailure(
            FailureKind.CORRUPT,
            f"could not be read as {kind} ({detail}); it may be damaged, or another format "
            "with the wrong extension",
        )


def load_file(
    path: Path, settings: KnowledgeSettings, on_page: PageProgress | None = None
) -> ParsedDocument | LoadFailure:
    """Read and parse one file, enforcing the size limit before reading it.

    ``on_page`` is called after each page OCR read, with (done, to read).

    Returns:
        The parsed document, or why it could not be imported.
    """
    kind = document_kind(path)
    if kind is None:
        return unsupported_failure(path)
    try:
        size = path.stat().st_size
        failure = size_failure(size, settings)
        if failure is not None:
            return failure
        data = path.read_bytes()
    except OSError as exc:
        return LoadFailure(FailureKind.UNREADABLE, f"cannot be read ({exc.strerror or exc})")
    return load_bytes(kind, data, settings, on_page)
