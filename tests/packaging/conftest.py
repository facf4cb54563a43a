"""Shared helpers for the packaging tests: the scripts in packaging/ loaded by path, and a small
signed fake bundle (no PyInstaller needed) to check the manifest and verification logic on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from assistant.signing import generate_keypair, load_private_key

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def load_script(name: str) -> ModuleType:
    """Import packaging/NAME.py as a module (packaging/ is not a package: it would shadow PyPI's
    ``packaging``)."""
    module_name = f"enclave_packaging_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, PACKAGING / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def verify() -> ModuleType:
    return load_script("verify")


@pytest.fixture(scope="session")
def release() -> ModuleType:
    return load_script("release")


@pytest.fixture(scope="session")
def keypair():  # type: ignore[no-untyped-def]
    return generate_keypair()


@pytest.fixture(scope="session")
def other_keypair():  # type: ignore[no-untyped-def]
    return generate_keypair()


def make_bundle(root: Path) -> Path:
    """A folder shaped like a bundle: an executable, nested data, a relative symlink."""
    root.mkdir(parents=True)
    (root / "enclave").write_bytes(b"\x7fELF fake launcher\n")
    (root / "enclave").chmod(0o755)
    internal = root / "_internal"
    (internal / "models").mkdir(parents=True)
    (internal / "models" / "model.gguf").write_bytes(bytes(range(256)) * 64)
    (internal / "models" / "manifest.json").write_text('{"models": []}\n')
    (internal / "lib").mkdir()
    (internal / "lib" / "libthing.so.0").write_bytes(b"library bytes" * 100)
    (internal / "libthing.so.0").symlink_to("lib/libthing.so.0")
    (root / "README.txt").write_text("hello\n")
    return root


def sign_bundle(release: ModuleType, root: Path, private_pem: bytes) -> None:
    """Write the listing, SBOM and signed manifest into a fake bundle."""
    release.write_release(
        root,
        private_key=load_private_key(private_pem),
        fields={"product": "Enclave", "version": "0.1.0", "platform": "linux-test"},
        dependencies=release.dependency_closure("enclave-assistant")[:3],
        models=[release.ModelComponent("model.gguf", "0" * 64, "Apache-2.0")],
    )


@pytest.fixture
def bundle(tmp_path: Path, release: ModuleType, keypair) -> Path:  # type: ignore[no-untyped-def]
    root = make_bundle(tmp_path / "enclave-0.1.0-linux-test")
    sign_bundle(release, root, keypair.private_pem)
    return root


@pytest.fixture
def keys(verify: ModuleType, keypair) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    raw = verify.raw_public_key(keypair.public_pem.decode())
    return {verify.key_fingerprint(raw): raw}
