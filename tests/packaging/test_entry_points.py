"""The frozen launcher's dispatch, ``assistant-admin verify-install`` and the self-test's PDF,
all without building anything."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from assistant.cli import admin
from tests.packaging.conftest import load_script


@pytest.fixture(scope="module")
def launcher() -> ModuleType:
    return load_script("launcher")


@pytest.mark.parametrize(
    ("argv", "program", "rest"),
    [
        (["/opt/enclave/enclave"], "_gui", []),
        (["/opt/enclave/enclave", "gui", "--home", "x"], "_gui", ["--home", "x"]),
        (["/opt/enclave/enclave", "assistant", "ask", "hi"], "_cli", ["ask", "hi"]),
        (["/opt/enclave/enclave", "admin", "doctor"], "_admin", ["doctor"]),
        (["/opt/enclave/enclave", "assistant-admin", "doctor"], "_admin", ["doctor"]),
        (["/usr/local/bin/assistant", "gui"], "_cli", ["gui"]),  # the CLI's own gui command
        (["/usr/local/bin/assistant-admin", "verify-install"], "_admin", ["verify-install"]),
        (["enclave", "--self-test", "--keep", "d"], "_self_test", ["--keep", "d"]),
        (["enclave", "--enclave-catalog-probe", "load", "m.gguf"], "_probe", ["load", "m.gguf"]),
        (["assistant", "--enclave-catalog-probe", "template", "m"], "_probe", ["template", "m"]),
        (["enclave", "--version"], "_version", []),
        (["enclave", "--help"], "_usage", []),
        (["/usr/bin/assistant", "--help"], "_cli", ["--help"]),
        (["/usr/bin/assistant-admin", "--version"], "_admin", ["--version"]),
    ],
)
def test_the_launcher_picks_the_program(
    launcher: ModuleType, argv: list[str], program: str, rest: list[str]
) -> None:
    chosen, args = launcher.choose(argv)
    assert chosen is getattr(launcher, program)
    assert args == rest


def test_the_probe_flag_is_the_catalogs(launcher: ModuleType) -> None:
    from assistant.catalog.checks import FROZEN_PROBE_FLAG

    assert launcher.PROBE_FLAG == FROZEN_PROBE_FLAG


def test_verify_install_passes_then_names_a_changed_file(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(bundle / "release" / "release-key.pub")
    assert admin.main(["verify-install", "--dir", str(bundle), "--key", key]) == 0
    assert "OK:" in capsys.readouterr().out

    library = bundle / "_internal" / "lib" / "libthing.so.0"
    data = bytearray(library.read_bytes())
    data[0] ^= 0xFF
    library.write_bytes(bytes(data))
    assert admin.main(["verify-install", "--dir", str(bundle), "--key", key, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] == [
        {
            "path": "_internal/lib/libthing.so.0",
            "problem": "content differs from the signed SHA-256",
        }
    ]


def test_verify_install_from_source_asks_for_the_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert admin.main(["verify-install"]) != 0
    assert "--dir" in capsys.readouterr().err


def test_verify_install_without_a_pinned_key_says_what_to_do(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert admin.main(["verify-install", "--dir", str(bundle)]) != 0
    assert "No release key is pinned" in capsys.readouterr().err


def test_the_release_key_comes_from_the_build_when_frozen(
    monkeypatch: pytest.MonkeyPatch,
    keypair,  # type: ignore[no-untyped-def]
) -> None:
    import sys
    import types

    from assistant import release_key

    info = types.ModuleType(release_key.BUILD_INFO_MODULE)
    info.RELEASE_PUBLIC_KEY_PEM = keypair.public_pem.decode()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, release_key.BUILD_INFO_MODULE, info)
    key = release_key.release_key()
    assert (key.fingerprint, key.source) == (keypair.fingerprint, "build")
    assert keypair.fingerprint in release_key.describe_release_key()


def test_the_self_test_document_is_a_pdf_the_loader_reads() -> None:
    from assistant.knowledge.loaders import load_bytes
    from assistant.knowledge.records import KnowledgeSettings
    from assistant.selftest import DOCUMENT_LINES, tiny_pdf

    parsed = load_bytes("pdf", tiny_pdf(DOCUMENT_LINES), KnowledgeSettings())
    text = " ".join(section.text for section in parsed.sections)  # type: ignore[union-attr]
    assert "built in 1887" in text
    assert parsed.sections[0].page == 1  # type: ignore[union-attr]


def test_the_new_modules_stay_light() -> None:
    """verify-install and the self-test's module load no heavy library until they run."""
    import subprocess
    import sys

    code = (
        "import sys, assistant.cli.admin, assistant.selftest, assistant.release_key\n"
        "heavy = {'PySide6', 'llama_cpp', 'torch', 'chromadb', 'sentence_transformers'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
