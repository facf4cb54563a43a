"""Smoke test of the built artifact: build the bundle once, run it headless, verify it, tamper.

Marked ``frozen`` and ``slow``: the build takes several minutes (``pytest -m frozen`` runs just
this; CI runs everything). The bundle and archive go to a temporary folder; PyInstaller's work
files to ``build/test-bundle/`` (ignored by git).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.frozen, pytest.mark.slow, pytest.mark.timeout(1800)]

BUILD_TIMEOUT_S = 1500


@dataclass(frozen=True)
class Built:
    bundle: Path
    executable: Path
    release: Path  # the folder with the archive, install.sh, verify.py
    archive: Path
    report: dict[str, object]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    out = tmp_path_factory.mktemp("frozen-build")
    command = [sys.executable, str(ROOT / "packaging" / "build.py"), "bundle",
               "--out", str(out), "--work", str(ROOT / "build" / "test-bundle")]  # fmt: skip
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=ROOT
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    print(finished.stdout)  # build time and sizes, in the test log (pytest -s shows it)
    report = json.loads((out / "build-report.json").read_text())
    bundle = Path(str(report["bundle"]))
    yield Built(bundle, bundle / "enclave", out / "release", Path(str(report["archive"])), report)
    shutil.rmtree(out, ignore_errors=True)  # 2 GiB: pytest keeps its last temporary folders


def run(*command: str | Path, home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a program of the bundle as a user would: a clean home, no display, no source tree."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ASSISTANT_HOME": str(home / "enclave"),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=home,
    )  # fmt: skip


@contextmanager
def flipped_byte(path: Path, offset: int) -> Iterator[None]:
    """Flip one byte of a bundled file, and put it back afterwards (the bundle is shared)."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        original = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([original[0] ^ 0x01]))
    try:
        yield
    finally:
        with path.open("r+b") as handle:
            handle.seek(offset)
            handle.write(original)


def test_the_bundle_passes_its_self_test(built: Built, tmp_path: Path) -> None:
    result = run(built.executable, "--self-test", home=tmp_path, timeout=900)
    print(result.stdout, result.stderr)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "frozen bundle at" in result.stdout
    assert "[ok  ] model loads" in result.stdout
    # The installed app runs what is configured: int8 in ONNX Runtime, not the torch fallback.
    assert "[ok  ] configured backends" in result.stdout
    assert "embedding onnx-int8 (all-MiniLM-L6-v2-int8)" in result.stdout
    assert "constraint engine llguidance" in result.stdout
    assert "[ok  ] document imported" in result.stdout
    assert "harbor-point-lighthouse.pdf, page 1" in result.stdout  # the citation
    assert "offline guard active" in result.stdout
    assert "blocked so far: 0" in result.stdout
    assert "Self-test passed" in result.stdout
    assert not (tmp_path / "enclave").exists() or not any((tmp_path / "enclave").iterdir())


def test_the_entry_points_answer(built: Built, tmp_path: Path) -> None:
    version = run(built.executable, "--version", home=tmp_path)
    assert version.returncode == 0
    assert str(built.report["signing_key"]) in version.stdout
    doctor = run(built.executable, "assistant", "doctor", "--no-model", home=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "digest matches the pin" in doctor.stdout
    assert (
        "[ok  ] embedding backend: onnx int8 (all-MiniLM-L6-v2-int8; onnxruntime " in doctor.stdout
    )
    assert "(matches the recorded digest)" in doctor.stdout  # the bundle's manifest records it
    admin = run(built.executable, "admin", "settings", "path", home=tmp_path)
    assert admin.stdout.strip() == str(tmp_path / "enclave" / "settings.toml")


def test_the_bundle_verifies_after_running(built: Built, tmp_path: Path) -> None:
    """Runs after the self-test: running the app must not have written into the bundle."""
    shipped = run(sys.executable, built.release / "verify.py", built.bundle, home=tmp_path)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "OK:" in shipped.stdout
    inside = run(built.executable, "admin", "verify-install", home=tmp_path)
    assert inside.returncode == 0, inside.stdout + inside.stderr


def test_one_flipped_byte_fails_verification_naming_the_file(built: Built, tmp_path: Path) -> None:
    library = next((built.bundle / "_internal" / "llama_cpp" / "lib").glob("libllama.so*"))
    relative = library.relative_to(built.bundle).as_posix()
    with flipped_byte(library, library.stat().st_size // 2):
        shipped = run(sys.executable, built.release / "verify.py", built.bundle, home=tmp_path)
        inside = run(built.executable, "admin", "verify-install", home=tmp_path)
    assert shipped.returncode == 1
    assert f"CHANGED: {relative}: content differs from the signed SHA-256" in shipped.stderr
    assert inside.returncode == 1
    assert f"CHANGED: {relative}" in inside.stdout
    # Put back, it verifies again: the failure was that byte and nothing else.
    again = run(sys.executable, built.release / "verify.py", built.bundle, home=tmp_path)
    assert again.returncode == 0, again.stderr


def test_install_from_the_archive_then_uninstall(built: Built, tmp_path: Path) -> None:
    prefix, bindir = tmp_path / "opt" / "enclave", tmp_path / "bin"
    installed = run("sh", built.release / "install.sh", "--prefix", prefix, "--bindir", bindir,
                    "--no-desktop", built.archive, home=tmp_path, timeout=900)  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Installed Enclave" in installed.stdout

    # The links dispatch by name: `assistant --version` is the analysts' CLI.
    cli = run(bindir / "assistant", "--version", home=tmp_path)
    assert cli.stdout.strip() == f"Enclave {built.report['version']}"
    check = run(bindir / "assistant-admin", "verify-install", home=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert str(prefix.resolve()) in check.stdout

    removed = run(prefix / "uninstall.sh", "--yes", "--bindir", bindir, home=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert not prefix.exists()
    assert not any(bindir.iterdir())


def test_the_installer_refuses_a_damaged_archive(built: Built, tmp_path: Path) -> None:
    damaged = tmp_path / built.archive.name
    shutil.copyfile(built.archive, damaged)
    with flipped_byte(damaged, damaged.stat().st_size // 2):
        prefix = tmp_path / "opt" / "enclave"
        refused = run("sh", built.release / "install.sh", "--prefix", prefix, "--bindir",
                      tmp_path / "bin", "--no-desktop", damaged, home=tmp_path)  # fmt: skip
    damaged.unlink()
    assert refused.returncode != 0
    assert "does not verify; NOT installed" in refused.stderr
    assert not prefix.exists()
    assert not (tmp_path / "bin").exists()
    assert [p.name for p in (tmp_path / "opt").iterdir()] == []  # no staging folder left
