"""Ed25519-signed manifests: the one way Enclave decides whether a set of files is trusted.

A manifest lists files (relative path, size, SHA-256, kind) and a few fields (a model's name and
version, an installer's release), and is signed with an Ed25519 key. Model import from removable
media (:mod:`assistant.catalog`) and installer verification both use it, so nothing here knows
about models.

The bytes that are signed are a canonical JSON encoding of the manifest body (sorted keys, no
spaces, UTF-8, integers only: no floats, whose text form is not canonical), prefixed with a
domain tag so a signature made for something else can never pass as a manifest signature. The
body a verifier checks is re-encoded from what it parsed, so what is verified is exactly what is
used, whatever whitespace or key order the file has.

File layout (``manifest.json``)::

    {"format": "enclave-manifest/1",
     "manifest": {"fields": {...}, "files": [{"path", "size", "sha256", "kind"}, ...]},
     "signature": {"algorithm": "ed25519", "key": "<fingerprint>", "value": "<base64>"}}

Keys: private keys are PKCS#8 PEM (optionally passphrase-encrypted), public keys
SubjectPublicKeyInfo PEM. A key's fingerprint is the SHA-256 of its 32 raw bytes, in hex.

This module imports only the standard library, ``cryptography`` and :mod:`assistant.errors`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assistant.errors import ManifestError, SignatureError

FORMAT = "enclave-manifest/1"
MANIFEST_FILE = "manifest.json"
#: Prepended to the canonical body before signing (domain separation).
SIGNING_CONTEXT = b"enclave-manifest/1\n"
#: A manifest bigger than this is refused before it is parsed.
MAX_MANIFEST_BYTES = 1 << 20
MAX_FILES = 1024
CHUNK_BYTES = 1 << 20

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


# --- keys ----------------------------------------------------------------------------------------


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """The key's fingerprint: SHA-256 of its raw 32 bytes, lowercase hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class KeyPair:
    """A new key pair, serialized. Keep ``private_pem`` off networked storage."""

    private_pem: bytes
    public_pem: bytes
    fingerprint: str


def generate_keypair(*, passphrase: bytes | None = None) -> KeyPair:
    """Make a new Ed25519 key pair.

    Args:
        passphrase: encrypt the private key with it (recommended); None leaves it plain.
    """
    private = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public = private.public_key()
    return KeyPair(private_pem, public_pem(public), fingerprint(public))


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM (what ``keys add`` reads)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(data: bytes, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key.

    Raises:
        SignatureError: not a PEM private key, not Ed25519, or the passphrase is wrong/missing.
    """
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise SignatureError(
            f"The signing key could not be opened ({exc}). Give its passphrase (or none if it "
            "has none) with --passphrase-env."
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(
            "The signing key file is not a PEM private key, or the passphrase is wrong. Use the "
            "file 'assistant-admin keygen' wrote (not the .pub file)."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("The signing key is not an Ed25519 key; make one with keygen.")
    return key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Read a SubjectPublicKeyInfo PEM Ed25519 public key.

    Raises:
        SignatureError: not a PEM public key, or not Ed25519.
    """
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(
            "That file is not a PEM public key. Use the .pub file 'assistant-admin keygen' wrote."
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("That public key is not an Ed25519 key; only Ed25519 is accepted.")
    return key


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(raw)


# --- hashing -------------------------------------------------------------------------------------


def hash_stream(
    source: BinaryIO,
    *,
    limit: int | None = None,
    sink: BinaryIO | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Read ``source`` to its end, hashing it (and writing it to ``sink`` when given).

    Args:
        source: an open binary file.
        limit: stop once more than this many bytes were read (the size then exceeds it), so an
            oversized file costs ``limit + 1`` bytes of reading, not its whole length.
        sink: where to copy the bytes; what is hashed is exactly what is written.
        on_chunk: called with the running byte count after each chunk; it may raise to stop.

    Returns:
        The number of bytes read and the SHA-256 in hex.
    """
    digest = hashlib.sha256()
    total = 0
    while True:
        want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit + 1 - total)
        chunk = source.read(want) if want > 0 else b""
        if not chunk:
            break
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        total += len(chunk)
        if on_chunk is not None:
            on_chunk(total)
    return total, digest.hexdigest()


def hash_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file."""
    with Path(path).open("rb") as handle:
        return hash_stream(handle)


# --- manifests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file a manifest vouches for."""

    path: str
    size: int
    sha256: str
    kind: str = "file"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "kind": self.kind}


@dataclass(frozen=True)
class Manifest:
    """A manifest body: fields (strings and integers) and the files."""

    fields: Mapping[str, Any]
    files: tuple[FileEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "files": [f.to_json() for f in self.files]}

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True)
class VerifiedManifest:
    """A manifest whose signature checked out against a trusted key."""

    manifest: Manifest
    signer: str  # the fingerprint of the key that signed it
    raw: bytes = field(repr=False)  # the manifest file as read, for keeping next to the files


def canonical_bytes(body: Mapping[str, Any]) -> bytes:
    """The exact bytes a signature covers for ``body``.

    Raises:
        ManifestError: the body holds a float or another value without a canonical form.
    """
    _check_canonical(body)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return SIGNING_CONTEXT + text.encode("utf-8")


def _check_canonical(value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ManifestError("The manifest has a non-string key.")
            _check_canonical(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_canonical(item)
    elif not (value is None or isinstance(value, str | int | bool)):
        raise ManifestError(
            f"The manifest holds a {type(value).__name__} value; only strings, integers, "
            "booleans, lists and objects can be signed."
        )


def check_relative_path(path: str) -> str:
    """Refuse a manifest path that could leave its folder or mean two things.

    Raises:
        ManifestError: absolute, empty, ``..``, backslashes, control characters, or a path
            that is not in normal form.
    """
    if not isinstance(path, str) or not path or len(path) > 512:
        raise ManifestError(f"The manifest lists an invalid file path {path!r}.")
    pure = PurePosixPath(path)
    bad = (
        path.startswith("/")
        or "\\" in path
        or any(ord(c) < 32 for c in path)
        or any(part in ("", ".", "..") for part in path.split("/"))
        or str(pure) != path
        or re.match(r"^[A-Za-z]:", path) is not None
    )
    if bad:
        raise ManifestError(
            f"The manifest lists the path {path!r}, which leaves the folder or is not a plain "
            "relative path. The manifest is not usable; sign the folder again."
        )
    return path


def manifest_for_files(
    folder: Path, entries: Iterable[tuple[str, str]], *, fields: Mapping[str, Any]
) -> Manifest:
    """Hash files under ``folder`` into a manifest body.

    Args:
        folder: the folder the paths are relative to.
        entries: ``(relative POSIX path, kind)`` for each file.
        fields: the manifest's fields (strings and integers).
    """
    files = []
    for relative, kind in sorted(entries):
        check_relative_path(relative)
        size, digest = hash_file(folder / relative)
        files.append(FileEntry(relative, size, digest, kind))
    return Manifest(dict(fields), tuple(files))


def sign_manifest(manifest: Manifest, private_key: Ed25519PrivateKey) -> bytes:
    """Sign ``manifest`` and return the manifest file's bytes."""
    body = manifest.to_json()
    signature = private_key.sign(canonical_bytes(body))
    document = {
        "format": FORMAT,
        "manifest": body,
        "signature": {
            "algorithm": "ed25519",
            "key": fingerprint(private_key.public_key()),
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ManifestError(f"The manifest repeats the key {key!r}; it is malformed.")
        result[key] = value
    return result


def _refuse_float(text: str) -> Any:
    raise ManifestError(f"The manifest holds a non-integer number ({text}); it is malformed.")


def verify_manifest(data: bytes, trusted: Mapping[str, Ed25519PublicKey]) -> VerifiedManifest:
    """Check a manifest file's signature against trusted keys, then its structure.

    Args:
        data: the manifest file's bytes.
        trusted: trusted public keys by fingerprint.

    Returns:
        The manifest, and which key signed it.

    Raises:
        SignatureError: not signed by a trusted key, or the signature does not match.
        ManifestError: malformed, too large, or an entry is invalid.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"The manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit."
        )
    try:
        document = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_refuse_float,
            parse_constant=_refuse_float,
        )  # fmt: skip
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"The manifest is not valid JSON ({exc}).") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ManifestError(f"The file is not an Enclave manifest (expected format {FORMAT}).")
    body, signature = document.get("manifest"), document.get("signature")
    if not isinstance(body, dict) or not isinstance(signature, dict):
        raise ManifestError("The manifest has no body or no signature.")
    key_id, value = signature.get("key"), signature.get("value")
    if signature.get("algorithm") != "ed25519" or not isinstance(value, str):
        raise SignatureError("The manifest's signature is missing or not Ed25519.")
    if not isinstance(key_id, str) or not _FINGERPRINT.match(key_id):
        raise SignatureError("The manifest does not say which key signed it.")
    public = trusted.get(key_id)
    if public is None:
        raise SignatureError(
            f"The manifest was signed by a key this machine does not trust (fingerprint "
            f"{key_id}). If that key is your site's, an admin adds its .pub file with "
            "'assistant-admin keys add FILE'; otherwise do not use these files."
        )
    try:
        public.verify(base64.b64decode(value, validate=True), canonical_bytes(body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            "The manifest's signature does not match its contents: the manifest or a value in "
            "it was changed after signing. Do not use these files; get a freshly signed copy."
        ) from exc
    return VerifiedManifest(_parse_body(body), key_id, data)


def _parse_body(body: dict[str, Any]) -> Manifest:
    fields, files = body.get("fields"), body.get("files")
    if not isinstance(fields, dict) or not isinstance(files, list):
        raise ManifestError("The manifest body needs 'fields' and 'files'.")
    if not 0 < len(files) <= MAX_FILES:
        raise ManifestError(f"The manifest lists {len(files)} files (1 to {MAX_FILES} allowed).")
    entries: list[FileEntry] = []
    for item in files:
        if not isinstance(item, dict):
            raise ManifestError("A manifest file entry is not an object.")
        path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
        kind = item.get("kind", "file")
        check_relative_path(path)  # type: ignore[arg-type]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ManifestError(f"The manifest gives {path!r} an invalid size {size!r}.")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ManifestError(f"The manifest gives {path!r} an invalid SHA-256.")
        if not isinstance(kind, str):
            raise ManifestError(f"The manifest gives {path!r} an invalid kind.")
        entries.append(FileEntry(str(path), size, digest, kind))
    folded = [e.path.casefold() for e in entries]
    if len(set(folded)) != len(folded):  # two names one case-insensitive disk would merge
        raise ManifestError("The manifest lists the same file twice.")
    return Manifest(fields, tuple(entries))
