"""Ed25519 manifests: what is signed is what is verified, and any change is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.errors import ManifestError, SignatureError
from assistant.signing import (
    FileEntry,
    Manifest,
    canonical_bytes,
    check_relative_path,
    fingerprint,
    generate_keypair,
    load_private_key,
    load_public_key,
    manifest_for_files,
    sign_manifest,
    verify_manifest,
)

DIGEST = "ab" * 32


def _manifest(**fields: object) -> Manifest:
    entry = FileEntry("m.gguf", 3, DIGEST, "model")
    return Manifest({"name": "m", "version": "1.0", **fields}, (entry,))


def _trusted(key: Ed25519PrivateKey) -> dict[str, object]:
    return {fingerprint(key.public_key()): key.public_key()}


def test_round_trip(site_key: Ed25519PrivateKey) -> None:
    data = sign_manifest(_manifest(), site_key)
    verified = verify_manifest(data, _trusted(site_key))  # type: ignore[arg-type]
    assert verified.signer == fingerprint(site_key.public_key())
    assert verified.manifest.fields["version"] == "1.0"
    assert verified.manifest.files == (FileEntry("m.gguf", 3, DIGEST, "model"),)
    assert verified.raw == data


def test_layout_and_key_order_do_not_matter(site_key: Ed25519PrivateKey) -> None:
    document = json.loads(sign_manifest(_manifest(), site_key))
    compact = json.dumps(document, separators=(",", ":"), sort_keys=False).encode()
    assert verify_manifest(compact, _trusted(site_key)).manifest.fields["name"] == "m"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d["manifest"]["fields"].update(version="9.0"), "changed after signing"),
        (lambda d: d["manifest"]["files"][0].update(size=4), "changed after signing"),
        (lambda d: d["manifest"]["files"][0].update(sha256="cd" * 32), "changed after signing"),
        (
            lambda d: d["manifest"]["files"].append(dict(d["manifest"]["files"][0], path="x.gguf")),
            "changed after signing",
        ),
        (lambda d: d["signature"].update(key="0" * 64), "does not trust"),
        (lambda d: d["signature"].update(value="AAAA"), "changed after signing"),
        (lambda d: d["signature"].update(algorithm="rsa"), "not Ed25519"),
    ],
)
def test_any_change_breaks_the_signature(site_key: Ed25519PrivateKey, change, error: str) -> None:
    document = json.loads(sign_manifest(_manifest(), site_key))
    change(document)
    with pytest.raises(SignatureError, match=error):
        verify_manifest(json.dumps(document).encode(), _trusted(site_key))  # type: ignore[arg-type]


def test_untrusted_key_is_named(site_key: Ed25519PrivateKey, rogue_key: Ed25519PrivateKey) -> None:
    data = sign_manifest(_manifest(), rogue_key)
    with pytest.raises(SignatureError, match=fingerprint(rogue_key.public_key())):
        verify_manifest(data, _trusted(site_key))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"format": "other"}', "not an Enclave manifest"),
        (b'{"format": "enclave-manifest/1", "format": "enclave-manifest/1"}', "repeats the key"),
        (b'{"format": "enclave-manifest/1", "x": 1.5}', "non-integer number"),
        (b" " * (2 << 20), "over the"),
    ],
)
def test_malformed_manifests(site_key: Ed25519PrivateKey, data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        verify_manifest(data, _trusted(site_key))  # type: ignore[arg-type]


def test_floats_cannot_be_signed() -> None:
    with pytest.raises(ManifestError, match="float"):
        canonical_bytes({"fields": {"x": 1.5}})


def test_signed_but_invalid_entries_are_refused(site_key: Ed25519PrivateKey) -> None:
    bad = Manifest({"name": "m"}, (FileEntry("m.gguf", -1, DIGEST),))
    with pytest.raises(ManifestError, match="invalid size"):
        verify_manifest(sign_manifest(bad, site_key), _trusted(site_key))  # type: ignore[arg-type]
    twice = Manifest({}, (FileEntry("A.gguf", 1, DIGEST), FileEntry("a.gguf", 1, DIGEST)))
    with pytest.raises(ManifestError, match="same file twice"):
        verify_manifest(sign_manifest(twice, site_key), _trusted(site_key))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path", ["../x.gguf", "/etc/passwd", "a/../../x", "a\\..\\x", "", "./a", "a//b", "C:x", "a\0b"]
)
def test_paths_that_leave_the_folder_are_refused(path: str) -> None:
    with pytest.raises(ManifestError, match="path"):
        check_relative_path(path)


def test_nested_relative_paths_are_fine() -> None:
    assert check_relative_path("adapters/style.gguf") == "adapters/style.gguf"


def test_manifest_for_files_hashes(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")
    manifest = manifest_for_files(tmp_path, [("a.bin", "model")], fields={"name": "x"})
    assert manifest.files[0].size == 3
    assert manifest.files[0].sha256.startswith("ba7816bf")  # SHA-256("abc")


def test_keypair_files_round_trip() -> None:
    pair = generate_keypair()
    private = load_private_key(pair.private_pem)
    assert fingerprint(private.public_key()) == pair.fingerprint
    assert fingerprint(load_public_key(pair.public_pem)) == pair.fingerprint
    assert len(pair.fingerprint) == 64


def test_encrypted_private_key_needs_its_passphrase() -> None:
    pair = generate_keypair(passphrase=b"correct horse")
    assert b"ENCRYPTED" in pair.private_pem
    load_private_key(pair.private_pem, passphrase=b"correct horse")
    with pytest.raises(SignatureError, match="passphrase"):
        load_private_key(pair.private_pem)
    with pytest.raises(SignatureError, match="passphrase"):
        load_private_key(pair.private_pem, passphrase=b"wrong")


def test_public_key_file_is_not_a_private_key() -> None:
    pair = generate_keypair()
    with pytest.raises(SignatureError, match="not a PEM private key"):
        load_private_key(pair.public_pem)
    with pytest.raises(SignatureError, match="not a PEM public key"):
        load_public_key(b"ssh-ed25519 AAAA")
