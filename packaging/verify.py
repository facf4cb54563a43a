#!/usr/bin/env python3
"""Verify an Enclave release offline: the signature of its manifest, then every file.

Shipped beside the installer archive, inside the bundle, and used by ``install.sh`` and by
``assistant-admin verify-install``. It needs only Python 3.8+ and its standard library (it uses
the ``cryptography`` package for the signature when that is installed, and its own Ed25519 code
otherwise), so IT can run it on a machine that has nothing else::

    python3 verify.py enclave-0.1.0-linux-x86_64.tar.gz        # the archive, without extracting
    python3 verify.py /opt/enclave                              # an installed copy
    python3 verify.py --extract-to DIR ARCHIVE                  # verify, extracting (install.sh)

The release layout (written by ``packaging/build.py``)::

    release/manifest.json   Enclave's signed manifest format (assistant/signing.py): fields
                            (version, platform, model, dependency list) and the digests of the
                            two files below; Ed25519 over a canonical encoding of its body
    release/files.json      every other file of the bundle: path, size, SHA-256, executable bit
                            (or a symlink's target)
    release/sbom.cdx.json   the dependency list as a CycloneDX SBOM

The signature must come from the release key pinned in this script (:data:`PINNED_PUBLIC_KEY_PEM`,
written by the build) or given with ``--key``; the script prints the key's fingerprint so it can
be compared with the one published through a separate channel. Every listed file must be present
with its size, digest and mode, and no other file may be there.

Exit status: 0 verified; 1 a file is missing, extra or changed, or the manifest's signature or
format is wrong; 2 wrong usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

#: The release public key (SubjectPublicKeyInfo PEM). packaging/build.py writes the build's key
#: here in the copy it ships; this copy in the source tree has none, so give --key.
PINNED_PUBLIC_KEY_PEM = ""

MANIFEST_PATH = "release/manifest.json"
LISTING_PATH = "release/files.json"
MANIFEST_FORMAT = "enclave-manifest/1"
LISTING_FORMAT = "enclave-release-files/1"
SIGNING_CONTEXT = b"enclave-manifest/1\n"
MAX_MANIFEST_BYTES = 1 << 20
MAX_LISTING_BYTES = 64 << 20
CHUNK = 1 << 20
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class VerificationError(Exception):
    """The release cannot be trusted at all (signature, key or manifest format)."""


# --- Ed25519 (RFC 8032), verification only ---------------------------------------------------
# Pure Python so that this script runs where the cryptography package is not installed. It checks
# public data only, so the timing side channels that matter for signing do not apply.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Point addition in extended coordinates (X, Y, Z, T), with x = X/Z, y = Y/Z."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    result: tuple[int, int, int, int] = (0, 1, 1, 0)  # the neutral element
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _decode_point(data: bytes) -> tuple[int, int, int, int] | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _encode_point(point: tuple[int, int, int, int]) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BASE = _decode_point((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


def ed25519_verify_pure(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """RFC 8032 Ed25519 verification in pure Python (cofactorless, like OpenSSL)."""
    if len(signature) != 64 or _BASE is None:
        return False
    point_a, point_r = _decode_point(public_key), _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
    negative_a = ((_P - point_a[0]) % _P, point_a[1], point_a[2], (_P - point_a[3]) % _P)
    check = _add(_multiply(s, _BASE), _multiply(k % _L, negative_a))  # [S]B - [k]A must be R
    return _encode_point(check) == signature[:32]


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Verify with the cryptography package when installed, else in pure Python."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return ed25519_verify_pure(public_key, signature, message)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def raw_public_key(pem: str) -> bytes:
    """The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo PEM.

    Raises:
        VerificationError: the text is not such a key.
    """
    body = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", pem, re.S)
    try:
        der = base64.b64decode("".join(body.group(1).split()), validate=True) if body else b""
    except ValueError:
        der = b""
    if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise VerificationError("The release key is not an Ed25519 public key in PEM form.")
    return der[len(_ED25519_SPKI_PREFIX) :]


def key_fingerprint(raw: bytes) -> str:
    """SHA-256 of the raw key, hex: the fingerprint Enclave prints everywhere."""
    return hashlib.sha256(raw).hexdigest()


# --- the manifest ----------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise VerificationError(f"The manifest repeats the key {key!r}; it is malformed.")
        result[key] = value
    return result


def _refuse_float(text: str) -> Any:
    raise VerificationError(f"The manifest holds a non-integer number ({text}); it is malformed.")


def _strict_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates,
            parse_float=_refuse_float, parse_constant=_refuse_float,
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, VerificationError):
            raise
        raise VerificationError(f"The {what} is not valid JSON ({exc}).") from exc


def canonical_bytes(body: Mapping[str, Any]) -> bytes:
    """What the signature covers: the same encoding as assistant/signing.py."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return SIGNING_CONTEXT + text.encode("utf-8")


def check_path(path: Any) -> str:
    """A listed path must be plain, relative and normalized.

    Raises:
        VerificationError: it is not.
    """
    bad = (
        not isinstance(path, str)
        or not path
        or len(path) > 4096
        or path.startswith("/")
        or "\\" in path
        or any(ord(c) < 32 for c in path)
        or any(part in ("", ".", "..") for part in path.split("/"))
        or str(PurePosixPath(path)) != path
    )
    if bad:
        raise VerificationError(f"The manifest lists an unsafe path {path!r}; it is malformed.")
    return str(path)


def verify_signature(data: bytes, keys: Mapping[str, bytes]) -> dict[str, Any]:
    """Check the manifest's signature against trusted keys; return its body.

    Args:
        data: ``release/manifest.json`` as read.
        keys: trusted raw public keys by fingerprint.

    Raises:
        VerificationError: malformed, signed by another key, or the signature does not match.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise VerificationError("The release manifest is too large to be genuine.")
    document = _strict_json(data, "release manifest")
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise VerificationError("release/manifest.json is not an Enclave manifest.")
    body, signature = document.get("manifest"), document.get("signature")
    if not isinstance(body, dict) or not isinstance(signature, dict):
        raise VerificationError("The release manifest has no body or no signature.")
    key_id, value = signature.get("key"), signature.get("value")
    if signature.get("algorithm") != "ed25519" or not isinstance(value, str):
        raise VerificationError("The release manifest's signature is missing or not Ed25519.")
    if not isinstance(key_id, str) or key_id not in keys:
        raise VerificationError(
            f"The release manifest was signed by key {key_id}, not by the pinned release key "
            f"({', '.join(keys)}). Do not install it; ask the release's publisher."
        )
    try:
        raw_signature = base64.b64decode(value, validate=True)
    except ValueError:
        raw_signature = b""
    if not ed25519_verify(keys[key_id], raw_signature, canonical_bytes(body)):
        raise VerificationError(
            "The release manifest's signature does not match its contents: it was changed after "
            "signing. Do not install this copy."
        )
    return body


def release_files(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The signed manifest's own file entries (the listing and the SBOM) by path."""
    files = body.get("files")
    fields = body.get("fields")
    if not isinstance(files, list) or not files or not isinstance(fields, dict):
        raise VerificationError("The release manifest body needs 'fields' and 'files'.")
    entries: dict[str, dict[str, Any]] = {}
    for item in files:
        if not isinstance(item, dict):
            raise VerificationError("A release manifest entry is not an object.")
        path = check_path(item.get("path"))
        _check_entry_values(item, path)
        entries[path] = item
    if LISTING_PATH not in entries:
        raise VerificationError(f"The release manifest does not vouch for {LISTING_PATH}.")
    return entries


def _check_entry_values(item: Mapping[str, Any], path: str) -> None:
    size, digest = item.get("size"), item.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise VerificationError(f"The manifest gives {path!r} an invalid size.")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise VerificationError(f"The manifest gives {path!r} an invalid SHA-256.")


def parse_listing(data: bytes) -> dict[str, dict[str, Any]]:
    """Every bundle file the listing names, by path.

    Raises:
        VerificationError: malformed, or a path is unsafe or repeated.
    """
    document = _strict_json(data, "file listing")
    if not isinstance(document, dict) or document.get("format") != LISTING_FORMAT:
        raise VerificationError(f"{LISTING_PATH} is not an Enclave file listing.")
    files = document.get("files")
    if not isinstance(files, list):
        raise VerificationError(f"{LISTING_PATH} has no file list.")
    listing: dict[str, dict[str, Any]] = {}
    for item in files:
        if not isinstance(item, dict):
            raise VerificationError(f"An entry of {LISTING_PATH} is not an object.")
        path = check_path(item.get("path"))
        if path in listing or path in (MANIFEST_PATH, LISTING_PATH):
            raise VerificationError(f"{LISTING_PATH} lists {path!r} twice.")
        if "link" in item:
            target = item["link"]
            if not isinstance(target, str) or target.startswith("/") or not target:
                raise VerificationError(f"{LISTING_PATH} gives {path!r} an unsafe link target.")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if resolved.startswith("..") or os.path.isabs(resolved):
                raise VerificationError(f"The link {path!r} points outside the bundle.")
        else:
            _check_entry_values(item, path)
            if not isinstance(item.get("exec", False), bool):
                raise VerificationError(f"{LISTING_PATH} gives {path!r} an invalid mode.")
        listing[path] = item
    return listing


# --- what is actually there ------------------------------------------------------------------


class Found:
    """One file as found on disk or in the archive."""

    __slots__ = ("size", "sha256", "executable", "link")

    def __init__(
        self, size: int = 0, sha256: str = "", executable: bool = False, link: str | None = None
    ) -> None:
        self.size, self.sha256, self.executable, self.link = size, sha256, executable, link


def hash_stream(handle: IO[bytes], sink: IO[bytes] | None = None) -> tuple[int, str]:
    """Size and SHA-256 of a stream, copying it to ``sink`` when given."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = handle.read(CHUNK)
        if not block:
            return size, digest.hexdigest()
        digest.update(block)
        size += len(block)
        if sink is not None:
            sink.write(block)


def scan_directory(root: Path) -> tuple[dict[str, Found], dict[str, bytes]]:
    """Hash every file under ``root``; also return the release files' bytes.

    Returns:
        What was found by relative path, and the bytes of ``release/*.json`` files.
    """
    found: dict[str, Found] = {}
    release: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = Found(link=os.readlink(full))
            elif stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    if relative.startswith("release/") and info.st_size <= MAX_LISTING_BYTES:
                        data = handle.read()
                        release[relative] = data
                        size, digest = len(data), hashlib.sha256(data).hexdigest()
                    else:
                        size, digest = hash_stream(handle)
                found[relative] = Found(size, digest, bool(info.st_mode & 0o111))
            else:
                found[relative] = Found(size=-1)  # a device, socket or fifo: never legitimate
    return found, release


def scan_archive(
    archive: Path, extract_to: Path | None = None
) -> tuple[str, dict[str, Found], dict[str, bytes]]:
    """Hash every member of a ``.tar.gz`` release (one top folder), extracting when asked.

    Extraction writes only regular files, folders and relative symlinks under the top folder, so
    a crafted archive cannot write outside ``extract_to``; whether the result can be trusted is
    decided afterwards, against the manifest.

    Returns:
        The top folder's name, what was found (relative to it), and the release files' bytes.

    Raises:
        VerificationError: the archive is unreadable or does not have one top folder.
    """
    found: dict[str, Found] = {}
    release: dict[str, bytes] = {}
    top: str | None = None
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                if name.startswith("./"):
                    name = name[2:]
                first, _, relative = name.partition("/")
                if top is None:
                    top = first
                if first != top or not first or first in (".", ".."):
                    raise VerificationError(
                        f"The archive member {member.name!r} is outside its single top folder."
                    )
                if not relative:
                    continue  # the top folder itself
                try:
                    relative = check_path(relative)
                except VerificationError:
                    found[relative] = Found(size=-1)
                    continue
                target = extract_to / relative if extract_to is not None else None
                if member.isdir():
                    if target is not None:
                        target.mkdir(parents=True, exist_ok=True)
                elif member.issym():
                    # Links are made only after the whole archive verified (verify_path): no
                    # file is ever written through a link a crafted archive planted.
                    found[relative] = Found(link=member.linkname)
                elif member.isfile():
                    source = tar.extractfile(member)
                    if source is None:
                        raise VerificationError(
                            f"The archive member {member.name!r} is unreadable."
                        )
                    executable = bool(member.mode & 0o111)
                    if relative.startswith("release/") and member.size <= MAX_LISTING_BYTES:
                        data = source.read()
                        release[relative] = data
                        size, digest = len(data), hashlib.sha256(data).hexdigest()
                        if target is not None:
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_bytes(data)
                    elif target is not None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with open(target, "xb") as sink:
                            size, digest = hash_stream(source, sink)
                    else:
                        size, digest = hash_stream(source)
                    if target is not None:
                        os.chmod(target, 0o755 if executable else 0o644)
                    found[relative] = Found(size, digest, executable)
                else:
                    found[relative] = Found(size=-1)  # hard links, devices: never in a release
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise VerificationError(f"The archive {archive} cannot be read: {exc}.") from exc
    if top is None:
        raise VerificationError(f"The archive {archive} is empty.")
    return top, found, release


def _link_stays_inside(path: str, target: str) -> bool:
    if not target or target.startswith("/"):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return not (resolved.startswith("..") or os.path.isabs(resolved))


# --- the comparison --------------------------------------------------------------------------


class Result:
    """The outcome: what is missing, extra or changed, and the release's signed fields."""

    def __init__(self, fields: Mapping[str, Any], signer: str) -> None:
        self.fields = dict(fields)
        self.signer = signer
        self.missing: list[str] = []
        self.extra: list[str] = []
        self.changed: list[tuple[str, str]] = []
        self.checked = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.changed)


def _compare(path: str, want: Mapping[str, Any], have: Found) -> str | None:
    if have.size < 0:
        return "is not a regular file"
    if "link" in want:
        if have.link is None:
            return f"should be a link to {want['link']}"
        return None if have.link == want["link"] else f"links to {have.link}, not {want['link']}"
    if have.link is not None:
        return f"is a link to {have.link}, not a file"
    if have.size != want["size"]:
        return f"size {have.size} bytes, expected {want['size']}"
    if have.sha256 != want["sha256"]:
        return "content differs from the signed SHA-256"
    if have.executable != bool(want.get("exec", False)):
        return "executable permission differs"
    return None


def compare(
    found: Mapping[str, Found], release: Mapping[str, bytes], keys: Mapping[str, bytes]
) -> Result:
    """Check the manifest's signature, then every file against the listing.

    Raises:
        VerificationError: the manifest or listing is absent, malformed or not signed by a
            trusted key (the files cannot be judged at all).
    """
    data = release.get(MANIFEST_PATH)
    if data is None:
        raise VerificationError(
            f"{MANIFEST_PATH} is missing: this is not a signed Enclave release."
        )
    body = verify_signature(data, keys)
    signed = release_files(body)
    result = Result(body["fields"], str(json.loads(data)["signature"]["key"]))
    for path, want in sorted(signed.items()):
        have = found.get(path)
        problem = _compare(path, want, have) if have is not None else None
        if have is None:
            result.missing.append(path)
        elif problem:
            result.changed.append((path, problem))
        result.checked += 1
    if result.missing or result.changed or LISTING_PATH not in release:
        # The listing itself is not trustworthy: report what is known and stop.
        return result
    listing = parse_listing(release[LISTING_PATH])
    for path, want in sorted(listing.items()):
        have = found.get(path)
        if have is None:
            result.missing.append(path)
            continue
        problem = _compare(path, want, have)
        if problem:
            result.changed.append((path, problem))
        result.checked += 1
    known = set(listing) | set(signed) | {MANIFEST_PATH}
    result.extra = sorted(path for path in found if path not in known)
    return result


def trusted_keys(key_files: list[Path]) -> dict[str, bytes]:
    """The pinned key plus any given with --key, by fingerprint.

    Raises:
        VerificationError: no key at all, or a key file is not an Ed25519 public key.
    """
    texts = [PINNED_PUBLIC_KEY_PEM] if PINNED_PUBLIC_KEY_PEM.strip() else []
    for file in key_files:
        try:
            texts.append(file.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError) as exc:
            raise VerificationError(f"Cannot read the key file {file}: {exc}.") from exc
    if not texts:
        raise VerificationError(
            "No release key: this copy of verify.py has none pinned. Give the release key's "
            ".pub file with --key."
        )
    raws = [raw_public_key(text) for text in texts]
    return {key_fingerprint(raw): raw for raw in raws}


def verify_path(
    target: Path, keys: Mapping[str, bytes], *, extract_to: Path | None = None
) -> Result:
    """Verify a release folder or ``.tar.gz`` archive (extracting it when asked).

    When extracting, ``extract_to`` must not exist yet; it is removed again if verification
    fails, so a failed install leaves nothing behind.

    Raises:
        VerificationError: the release cannot be trusted at all.
    """
    if target.is_dir():
        if extract_to is not None:
            raise VerificationError("--extract-to needs an archive, not a folder.")
        found, release = scan_directory(target)
        return compare(found, release, keys)
    if extract_to is not None:
        if extract_to.exists():
            raise VerificationError(f"{extract_to} already exists; extract into a new folder.")
        extract_to.mkdir(parents=True)
    try:
        _, found, release = scan_archive(target, extract_to)
        result = compare(found, release, keys)
    except BaseException:
        if extract_to is not None:
            shutil.rmtree(extract_to, ignore_errors=True)
        raise
    if extract_to is not None:
        if not result.ok:
            shutil.rmtree(extract_to, ignore_errors=True)
            return result
        for path, item in sorted(found.items()):
            if item.link is not None and _link_stays_inside(path, item.link):
                (extract_to / path).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(item.link, extract_to / path)
    return result


def render(result: Result, target: Path, *, limit: int = 50) -> Iterator[str]:
    """The report as lines of text: the verdict first, each problem naming its file."""
    fields = result.fields
    name = f"Enclave {fields.get('version', '?')} ({fields.get('platform', '?')})"
    yield f"{name}, signed by release key {result.signer}"
    for label, paths in (("MISSING", result.missing), ("EXTRA", result.extra)):
        for path in paths[:limit]:
            yield f"{label}: {path}"
        if len(paths) > limit:
            yield f"{label}: ... and {len(paths) - limit} more"
    for path, problem in result.changed[:limit]:
        yield f"CHANGED: {path}: {problem}"
    if len(result.changed) > limit:
        yield f"CHANGED: ... and {len(result.changed) - limit} more"
    if result.ok:
        yield f"OK: {target} verified: signature valid, {result.checked} files match."
    else:
        yield (
            f"FAILED: {target} does not match its signed manifest: {len(result.missing)} "
            f"missing, {len(result.extra)} extra, {len(result.changed)} changed."
        )


def main(argv: list[str] | None = None) -> int:
    """Verify one release; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="verify.py", description="Verify an Enclave release (archive or folder) offline."
    )
    parser.add_argument(
        "target", type=Path, help="a .tar.gz release archive or an installed folder"
    )
    parser.add_argument(
        "--key", type=Path, action="append", default=[],
        help="also trust this release public key (.pub PEM); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--extract-to", type=Path, help="extract a verified archive into this new folder"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not args.target.exists():
        parser.error(f"{args.target} does not exist")
    try:
        keys = trusted_keys(args.key)
        result = verify_path(args.target, keys, extract_to=args.extract_to)
    except VerificationError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        else:
            print(f"FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        report = {
            "ok": result.ok, "fields": result.fields, "signer": result.signer,
            "checked": result.checked, "missing": result.missing, "extra": result.extra,
            "changed": [{"path": p, "problem": why} for p, why in result.changed],
        }  # fmt: skip
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        stream = sys.stdout if result.ok else sys.stderr
        for line in render(result, args.target):
            print(line, file=stream)
    return EXIT_OK if result.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
