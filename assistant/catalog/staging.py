"""Reading an untrusted folder safely, and copying its files into app-owned staging.

Nothing on removable media is trusted. A folder is scanned without following links; a symbolic
link, a device file, a FIFO or a socket anywhere in it is refused. Files are then opened one path
component at a time beneath the folder (``openat`` with ``O_NOFOLLOW``), so a directory swapped
for a link after the scan cannot redirect a read outside the folder, and each opened file must be
the same inode the scan saw. Each file is copied into staging and hashed as it is written: the
digest covers exactly the bytes of the copy, and every later check reads the copy, never the
source again. Reading stops one byte past the size the manifest promised, so an oversized file
cannot fill the disk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ImportRefusedError, ManifestError
from assistant.signing import MAX_FILES, MAX_MANIFEST_BYTES, FileEntry, hash_stream

MAX_DEPTH = 8
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO swapped in must not hang


@dataclass(frozen=True)
class SourceFile:
    """A regular file the scan found, identified by device and inode."""

    path: str
    size: int
    device: int
    inode: int


def _unsafe(message: str) -> ImportRefusedError:
    return ImportRefusedError(message, reason="unsafe-file")


def scan_folder(folder: Path) -> dict[str, SourceFile]:
    """Every regular file under ``folder`` by relative POSIX path.

    Raises:
        ImportRefusedError: a link, device file, FIFO or socket, too deep or too many entries.
    """
    found: dict[str, SourceFile] = {}

    def walk(directory: Path, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _unsafe(f"{prefix} is nested more than {MAX_DEPTH} folders deep.")
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = f"{prefix}{entry.name}"
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise _unsafe(
                        f"{relative} is a symbolic link. Links could point anywhere on this "
                        "machine, so a model folder must hold only real files; copy the file "
                        "itself into the folder and sign it again."
                    )
                if stat.S_ISDIR(info.st_mode):
                    walk(Path(entry.path), relative + "/", depth + 1)
                elif stat.S_ISREG(info.st_mode):
                    found[relative] = SourceFile(relative, info.st_size, info.st_dev, info.st_ino)
                else:
                    raise _unsafe(
                        f"{relative} is a device file, pipe or socket, not a regular file; "
                        "such a folder is not a model folder."
                    )
                if len(found) > MAX_FILES:
                    raise _unsafe(f"The folder holds more than {MAX_FILES} files.")

    if folder.is_symlink() or not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder. Point the import at the model folder.")
    walk(folder, "", 0)
    return found


def open_beneath(folder: Path, relative: str) -> int:
    """Open ``folder/relative`` for reading without following any link on the way.

    Raises:
        ImportRefusedError: a component is a link or not what it should be.
    """
    parts = relative.split("/")
    current = os.open(folder, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                following = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=current)
            except OSError as exc:
                raise _unsafe(f"{relative}: the folder {part!r} changed or is a link.") from exc
            os.close(current)
            current = following
        try:
            return os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=current)
        except OSError as exc:
            raise _unsafe(f"{relative} could not be opened safely ({exc.strerror}).") from exc
    finally:
        os.close(current)


def read_manifest(folder: Path, name: str) -> bytes:
    """The manifest file's bytes, read as carefully as the model files.

    Raises:
        ManifestError: missing, not a regular file, or too large.
    """
    if folder.is_symlink() or not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder. Point the import at the model folder.")
    try:
        fd = open_beneath(folder, name)
    except ImportRefusedError as exc:
        raise ManifestError(
            f"The folder {folder} has no readable {name}. Every model folder needs the signed "
            "manifest 'assistant-admin sign' writes; sign the folder on the connected machine."
        ) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ManifestError(f"{name} in {folder} is not a regular file.")
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{name} is larger than {MAX_MANIFEST_BYTES} bytes; it is not ours.")
    return data


def stage_file(
    folder: Path,
    entry: FileEntry,
    seen: SourceFile,
    destination: Path,
    *,
    on_bytes: Callable[[int], None],
) -> None:
    """Copy one file into staging and check the copy's size and SHA-256 against the manifest.

    Args:
        folder: the untrusted source folder.
        entry: what the signed manifest says about the file.
        seen: what the scan found at that path (the opened file must be the same inode).
        destination: the staging path; created new, left read-only.
        on_bytes: called with bytes copied so far; may raise to cancel.

    Raises:
        ImportRefusedError: the file changed since the scan, or its size or digest is wrong.
    """
    fd = open_beneath(folder, entry.path)
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(source.fileno())
        same = (info.st_dev, info.st_ino) == (seen.device, seen.inode)
        if not stat.S_ISREG(info.st_mode) or not same:
            raise ImportRefusedError(
                f"{entry.path} was replaced while it was being imported. Remove the media, check "
                "it on a trusted machine, and try again.",
                reason="changed",
            )
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        out_fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(out_fd, "wb") as sink:
            size, digest = hash_stream(source, limit=entry.size, sink=sink, on_chunk=on_bytes)
            sink.flush()
            os.fsync(sink.fileno())
    os.chmod(destination, 0o444)  # nothing in this process writes it again
    if size != entry.size:
        longer = "longer" if size > entry.size else "shorter"
        raise ImportRefusedError(
            f"{entry.path} is {longer} than its signed size ({entry.size} bytes): the file was "
            "changed or damaged after signing. Get a fresh copy.",
            reason="size",
        )
    if digest != entry.sha256:
        raise ImportRefusedError(
            f"{entry.path} does not match its signed SHA-256 (expected {entry.sha256[:16]}..., "
            f"got {digest[:16]}...): the file was changed or damaged after signing. Do not use "
            "this copy; get a fresh one and import again.",
            reason="digest",
        )
