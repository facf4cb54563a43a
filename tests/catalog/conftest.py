"""Fixtures for the catalog tests: a signing key, a catalog that trusts it, model folders.

Model folders are built in ``tmp_path``. The real models are hard-linked in when the file system
allows it (no 100 MB copy per test); a test that changes a file's bytes must use a copy or a
tiny GGUF, never a link, or it would change the real model.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.service import Catalog
from assistant.config import Paths
from assistant.signing import (
    MANIFEST_FILE,
    FileEntry,
    Manifest,
    hash_file,
    public_pem,
    sign_manifest,
)


@pytest.fixture(scope="session")
def site_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def rogue_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def catalog(paths: Paths, site_key: Ed25519PrivateKey) -> Catalog:
    catalog = Catalog(paths)
    catalog.add_key(public_pem(site_key.public_key()), comment="site key")
    return catalog


ECHO_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def write_tiny_gguf(
    path: Path, *, template: str | None = ECHO_TEMPLATE, adapter: bool = False
) -> Path:
    """A valid, small GGUF (llama.cpp cannot run it: it has one tensor)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test")
    writer.add_context_length(128)
    if adapter:
        writer.add_type("adapter")
        writer.add_string("adapter.type", "lora")
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def link_or_copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def sign_folder(
    folder: Path,
    key: Ed25519PrivateKey,
    *,
    name: str = "tiny",
    version: str = "1.0",
    kinds: dict[str, str] | None = None,
    extra_entries: tuple[FileEntry, ...] = (),
) -> Path:
    """Sign whatever ``folder`` holds, with no checks on the files (so hostile ones get signed).

    Args:
        kinds: kind per relative path (default ``model``).
        extra_entries: entries to list beyond the files (paths that are not there, or escape).
    """
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST_FILE:
            continue
        size, digest = hash_file(path)
        entries.append(FileEntry(relative, size, digest, (kinds or {}).get(relative, "model")))
    manifest = Manifest({"name": name, "version": version}, (*entries, *extra_entries))
    (folder / MANIFEST_FILE).write_bytes(sign_manifest(manifest, key))
    return folder


MakeFolder = Callable[..., Path]


@pytest.fixture
def make_folder(tmp_path: Path, site_key: Ed25519PrivateKey) -> MakeFolder:
    """``make_folder(files={'m.gguf': Path|bytes}, name=, version=, key=, kinds=)`` -> folder."""
    counter = iter(range(1000))

    def make(
        files: dict[str, Path | bytes],
        *,
        key: Ed25519PrivateKey | None = None,
        **signing: object,
    ) -> Path:
        folder = tmp_path / f"usb{next(counter)}"
        folder.mkdir()
        for relative, content in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                link_or_copy(content, target)
        return sign_folder(folder, key or site_key, **signing)  # type: ignore[arg-type]

    return make


def gguf_header(version: int = 3, tensors: int = 0, kvs: int = 1) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def assert_nothing_left(catalog: Catalog, *, installed: int = 0) -> None:
    """No staging leftovers, and only ``installed`` model folders in the models directory."""
    staging = catalog.staging_dir
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())
    models = catalog.paths.models_dir
    folders = [p for p in models.glob("*/*") if p.is_dir()] if models.exists() else []
    assert len(folders) == installed, folders
