"""Signing a model folder: what an admin runs on the connected machine before copying it over.

Every file in the folder must be a GGUF: the model (exactly one) and any LoRA adapters for it;
the kind of each is read from its header, so the manifest says what the file really is. The
signed ``manifest.json`` is written into the folder, replacing an older one.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.records import KIND_LORA, KIND_MODEL, Version, check_name
from assistant.catalog.staging import scan_folder
from assistant.catalog.storage import atomic_write
from assistant.engine.gguf_header import read_header
from assistant.errors import ManifestError, ModelError
from assistant.signing import MANIFEST_FILE, Manifest, manifest_for_files, sign_manifest


def describe_folder(folder: Path, *, name: str, version: str) -> Manifest:
    """Hash and classify every file of a model folder into an unsigned manifest.

    Raises:
        ManifestError: a name or version that is not allowed, a file that is not a GGUF, or not
            exactly one model file.
        ImportRefusedError: the folder holds a link or a device file.
    """
    check_name(name)
    Version.parse(version)
    folder = Path(folder).expanduser().resolve()
    files = sorted(p for p in scan_folder(folder) if p != MANIFEST_FILE)
    entries: list[tuple[str, str]] = []
    for relative in files:
        try:
            header = read_header(folder / relative)
        except ModelError as exc:
            raise ManifestError(
                f"{relative} is not a GGUF model or adapter ({exc}). A model folder holds only "
                "GGUF files; move anything else out before signing."
            ) from exc
        adapter = header.metadata.get("general.type") == "adapter"
        entries.append((relative, KIND_LORA if adapter else KIND_MODEL))
    if sum(kind == KIND_MODEL for _, kind in entries) != 1:
        raise ManifestError(
            f"{folder} must hold exactly one GGUF model (plus any LoRA adapters for it); it holds "
            f"{sum(kind == KIND_MODEL for _, kind in entries)}."
        )
    return manifest_for_files(folder, entries, fields={"name": name, "version": version})


def sign_model_folder(
    folder: Path, private_key: Ed25519PrivateKey, *, name: str, version: str
) -> Path:
    """Write the signed ``manifest.json`` of a model folder.

    Returns:
        The manifest's path.
    """
    manifest = describe_folder(folder, name=name, version=version)
    target = Path(folder).expanduser().resolve() / MANIFEST_FILE
    atomic_write(target, sign_manifest(manifest, private_key), mode=0o644)
    return target
