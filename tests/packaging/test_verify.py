"""The release manifest and its verifier, on a small signed fake bundle (no PyInstaller).

Each test changes one thing a tamperer or a broken copy would, and checks that verification
fails and names what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from assistant.signing import fingerprint, load_public_key, verify_manifest
from tests.packaging.conftest import load_script


def run_verify(
    verify: ModuleType, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = verify.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_signed_bundle_verifies(verify: ModuleType, bundle: Path, keys: dict[str, bytes]) -> None:
    result = verify.verify_path(bundle, keys)

    assert result.ok, (result.missing, result.extra, result.changed)
    assert result.fields["version"] == "0.1.0"
    assert result.checked >= 6  # the listing, the SBOM and the bundle's own files
    listing = json.loads((bundle / "release" / "files.json").read_text())
    paths = {entry["path"] for entry in listing["files"]}
    assert {"enclave", "_internal/models/model.gguf", "release/release-key.pub"} <= paths
    link = next(e for e in listing["files"] if e["path"] == "_internal/libthing.so.0")
    assert link == {"path": "_internal/libthing.so.0", "link": "lib/libthing.so.0"}
    assert next(e for e in listing["files"] if e["path"] == "enclave")["exec"] is True


def test_the_signed_manifest_is_enclaves_own_format(bundle: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    """The top-level manifest passes assistant.signing's verifier: one format, one signer."""
    public = load_public_key(keypair.public_pem)
    verified = verify_manifest(
        (bundle / "release" / "manifest.json").read_bytes(), {fingerprint(public): public}
    )
    kinds = {entry.path: entry.kind for entry in verified.manifest.files}
    assert kinds == {"release/files.json": "listing", "release/sbom.cdx.json": "sbom"}
    assert any(d.startswith("cryptography==") or "==" in d
               for d in verified.manifest.fields["dependencies"])  # fmt: skip


def test_the_sbom_is_cyclonedx(bundle: Path) -> None:
    sbom = json.loads((bundle / "release" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    types = {component["type"] for component in sbom["components"]}
    assert {"library", "machine-learning-model"} <= types


def test_a_changed_byte_fails_and_names_the_file(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    model = bundle / "_internal" / "models" / "model.gguf"
    data = bytearray(model.read_bytes())
    data[1000] ^= 0x01
    model.write_bytes(bytes(data))

    result = verify.verify_path(bundle, keys)
    assert not result.ok
    assert result.changed == [
        ("_internal/models/model.gguf", "content differs from the signed SHA-256")
    ]

    code, output = run_verify(verify, "--key", str(bundle / "release" / "release-key.pub"),
                              str(bundle), capsys=capsys)  # fmt: skip
    assert code == 1
    assert "CHANGED: _internal/models/model.gguf: content differs" in output
    assert "FAILED" in output


def test_a_missing_file_fails(verify: ModuleType, bundle: Path, keys: dict[str, bytes]) -> None:
    (bundle / "README.txt").unlink()

    result = verify.verify_path(bundle, keys)
    assert result.missing == ["README.txt"]
    assert not result.ok


def test_an_extra_file_fails(verify: ModuleType, bundle: Path, keys: dict[str, bytes]) -> None:
    (bundle / "_internal" / "sitecustomize.py").write_text("import os\n")

    result = verify.verify_path(bundle, keys)
    assert result.extra == ["_internal/sitecustomize.py"]
    assert not result.ok


def test_a_changed_size_and_mode_and_link_each_fail(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes]
) -> None:
    with (bundle / "README.txt").open("a") as handle:
        handle.write("more\n")
    (bundle / "_internal" / "models" / "manifest.json").chmod(0o755)
    link = bundle / "_internal" / "libthing.so.0"
    link.unlink()
    link.symlink_to("../README.txt")

    problems = dict(verify.verify_path(bundle, keys).changed)
    assert problems["README.txt"].startswith("size 11 bytes, expected 6")
    assert problems["_internal/models/manifest.json"] == "executable permission differs"
    assert "links to ../README.txt" in problems["_internal/libthing.so.0"]


def test_a_key_other_than_the_pinned_one_is_refused(
    verify: ModuleType,
    bundle: Path,
    other_keypair,  # type: ignore[no-untyped-def]
) -> None:
    raw = verify.raw_public_key(other_keypair.public_pem.decode())
    with pytest.raises(verify.VerificationError, match="not by the pinned release key"):
        verify.verify_path(bundle, {verify.key_fingerprint(raw): raw})


def test_a_bundle_re_signed_with_another_key_is_refused(
    verify: ModuleType,
    release: ModuleType,
    bundle: Path,
    keys: dict[str, bytes],
    other_keypair,  # type: ignore[no-untyped-def]
) -> None:
    """An attacker who changes files and re-signs with their own key gets nowhere."""
    from tests.packaging.conftest import sign_bundle

    (bundle / "README.txt").write_text("trojan\n")
    sign_bundle(release, bundle, other_keypair.private_pem)
    with pytest.raises(verify.VerificationError, match="signed by key"):
        verify.verify_path(bundle, keys)


def test_an_edited_manifest_field_breaks_the_signature(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes]
) -> None:
    manifest = bundle / "release" / "manifest.json"
    document = json.loads(manifest.read_text())
    document["manifest"]["fields"]["version"] = "9.9.9"
    manifest.write_text(json.dumps(document))
    with pytest.raises(verify.VerificationError, match="does not match its contents"):
        verify.verify_path(bundle, keys)


def test_an_edited_listing_is_caught_by_the_signed_digest(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes]
) -> None:
    """Changing a file and its listed digest together still fails: the listing is signed."""
    listing_file = bundle / "release" / "files.json"
    listing = json.loads(listing_file.read_text())
    listing["files"] = [e for e in listing["files"] if e["path"] != "README.txt"]
    listing_file.write_text(json.dumps(listing))

    result = verify.verify_path(bundle, keys)
    assert not result.ok
    assert result.changed[0][0] == "release/files.json"


def test_a_missing_manifest_is_not_a_release(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes]
) -> None:
    (bundle / "release" / "manifest.json").unlink()
    with pytest.raises(verify.VerificationError, match="not a signed Enclave release"):
        verify.verify_path(bundle, keys)


def test_without_any_key_the_script_says_how_to_give_one(
    verify: ModuleType, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run_verify(verify, str(bundle), capsys=capsys)
    assert code == 1
    assert "--key" in output


def test_unsafe_listing_paths_are_refused(verify: ModuleType) -> None:
    for path in ("../etc/passwd", "/etc/passwd", "a/../b", "a//b", "a\\b", "./a"):
        with pytest.raises(verify.VerificationError):
            verify.check_path(path)
    listing = {"format": verify.LISTING_FORMAT, "files": [{"path": "x", "link": "../../out"}]}
    with pytest.raises(verify.VerificationError, match="outside the bundle"):
        verify.parse_listing(json.dumps(listing).encode())


# --- the archive -----------------------------------------------------------------------------


@pytest.fixture
def archive(bundle: Path, tmp_path: Path) -> Path:
    archives = load_script("archives")
    target = tmp_path / "enclave-test.tar.gz"
    archives.make_tarball(bundle, target, top=bundle.name)
    return target


def test_the_archive_verifies_without_extracting(
    verify: ModuleType, archive: Path, keys: dict[str, bytes]
) -> None:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[1].startswith("enclave-0.1.0-linux-test/release/")  # the manifest comes first
    assert all(member.uid == 0 for member in tarfile.open(archive).getmembers())

    result = verify.verify_path(archive, keys)
    assert result.ok, (result.missing, result.extra, result.changed)


def test_extracting_a_verified_archive(
    verify: ModuleType, archive: Path, keys: dict[str, bytes], tmp_path: Path
) -> None:
    target = tmp_path / "installed"
    assert verify.verify_path(archive, keys, extract_to=target).ok
    assert os.readlink(target / "_internal" / "libthing.so.0") == "lib/libthing.so.0"
    assert os.access(target / "enclave", os.X_OK)
    assert verify.verify_path(target, keys).ok  # the extracted copy verifies in place


def rewrite_archive(source: Path, target: Path, change: dict[str, bytes]) -> None:
    """Copy an archive, replacing the named members' contents (what a tamperer would do)."""
    import io

    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old:
            data = old.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            relative = member.name.partition("/")[2]
            if relative in change:
                data = change[relative]
                member.size = len(data)
            new.addfile(member, io.BytesIO(data) if data is not None else None)


def test_a_tampered_archive_is_refused_and_nothing_is_left(
    verify: ModuleType, archive: Path, keys: dict[str, bytes], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tampered = tmp_path / "tampered.tar.gz"
    rewrite_archive(archive, tampered, {"README.txt": b"hellO\n"})
    target = tmp_path / "installed"

    code, output = run_verify(verify, "--key", str(tmp_path / "enclave-0.1.0-linux-test" /
                              "release" / "release-key.pub"), "--extract-to", str(target),
                              str(tampered), capsys=capsys)  # fmt: skip
    assert code == 1
    assert "CHANGED: README.txt" in output
    assert not target.exists()


def test_an_archive_member_outside_its_folder_is_refused(
    verify: ModuleType, tmp_path: Path, keys: dict[str, bytes]
) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        payload = tmp_path / "payload"
        payload.write_text("x")
        tar.add(payload, arcname="enclave/README.txt")
        tar.add(payload, arcname="../escape.txt")
    with pytest.raises(verify.VerificationError, match="outside its single top folder"):
        verify.verify_path(evil, keys, extract_to=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escape.txt").exists()


# --- Ed25519 without the cryptography package ------------------------------------------------


def test_pure_python_ed25519_agrees_with_openssl(verify: ModuleType, keypair) -> None:  # type: ignore[no-untyped-def]
    from assistant.signing import load_private_key

    private = load_private_key(keypair.private_pem)
    raw = verify.raw_public_key(keypair.public_pem.decode())
    for message in (b"", b"enclave", bytes(range(256)) * 10):
        signature = private.sign(message)
        assert verify.ed25519_verify_pure(raw, signature, message)
        assert verify.ed25519_verify(raw, signature, message)
        bad = bytearray(signature)
        bad[5] ^= 0x40
        assert not verify.ed25519_verify_pure(raw, bytes(bad), message)
        assert not verify.ed25519_verify_pure(raw, signature, message + b"!")
    # RFC 8032 section 7.1, test 1: the empty message.
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert verify.ed25519_verify_pure(public, signature, b"")


def test_the_fingerprint_matches_enclaves(verify: ModuleType, keypair) -> None:  # type: ignore[no-untyped-def]
    raw = verify.raw_public_key(keypair.public_pem.decode())
    assert verify.key_fingerprint(raw) == keypair.fingerprint
    with pytest.raises(verify.VerificationError):
        verify.raw_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_the_shipped_copy_pins_the_build_key(keypair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """build.py writes the key into verify.py; that copy then needs no --key."""
    build = load_script("build")
    from assistant.signing import load_private_key

    key = build.SigningKey(load_private_key(keypair.private_pem), keypair.public_pem.decode(),
                           keypair.fingerprint, True)  # fmt: skip
    script = tmp_path / "verify.py"
    script.write_text(build.pinned_verifier(key))
    namespace: dict[str, object] = {"__name__": "pinned"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # noqa: S102
    keys = namespace["trusted_keys"]([])  # type: ignore[operator]
    assert list(keys) == [keypair.fingerprint]


def test_verify_py_needs_only_the_standard_library() -> None:
    """IT runs it with any python3: it must import nothing outside the standard library."""
    import ast
    import sys

    tree = ast.parse((Path(__file__).parents[2] / "packaging" / "verify.py").read_text())
    imported = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }  # fmt: skip
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}  # optional, guarded
    # And it must parse on the oldest Python it promises (3.8): old distributions' python3.
    ast.parse((Path(__file__).parents[2] / "packaging" / "verify.py").read_text(),
              feature_version=(3, 8))  # fmt: skip


def test_copying_a_bundle_keeps_it_valid(
    verify: ModuleType, bundle: Path, keys: dict[str, bytes], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy, symlinks=True)
    assert verify.verify_path(copy, keys).ok
