"""``assistant-admin`` model administration, run as an admin runs it: fresh interpreters."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.catalog.conftest import link_or_copy, write_tiny_gguf
from tests.conftest import run_cli

ADMIN = "assistant.cli.admin"


def admin(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(*args, program=ADMIN, env=env, timeout=240)


@pytest.mark.model
def test_keygen_sign_trust_import_switch_and_ask(tmp_path: Path, smol_path: Path) -> None:
    key = tmp_path / "site.key"
    made = admin("keygen", str(key))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "Fingerprint:" in made.stdout
    assert admin("keygen", str(key)).returncode == 6  # never overwrites a key

    usb = tmp_path / "usb"
    link_or_copy(smol_path, usb / "SmolLM2.gguf")
    signed = admin("sign", str(usb), "--key", str(key), "--name", "smollm2", "--version", "1.0")
    assert signed.returncode == 0, signed.stderr
    assert (usb / "manifest.json").is_file()

    untrusted = admin("models", "import", str(usb))
    assert untrusted.returncode == 6
    assert "does not trust" in untrusted.stderr
    assert untrusted.stderr.count("error:") == 1

    added = admin("keys", "add", f"{key}.pub", "--comment", "site signing key")
    assert added.returncode == 0, added.stderr
    listed = json.loads(admin("keys", "list", "--json").stdout)
    assert [k["comment"] for k in listed] == ["site signing key"]

    imported = admin("models", "import", str(usb))
    assert imported.returncode == 0, imported.stderr
    assert "Imported smollm2@1.0 (llama, Q4_1)" in imported.stdout
    assert "test-load" in imported.stderr  # progress goes to stderr

    models = json.loads(admin("models", "list", "--json").stdout)
    assert [(m["name"], m["version"], m["default"]) for m in models] == [("smollm2", "1.0", False)]

    assert admin("models", "set-default", "smollm2").returncode == 0
    assert "* smollm2@1.0" in admin("models", "list").stdout
    refused = admin("models", "remove", "smollm2")
    assert refused.returncode == 6
    assert "is the default model" in refused.stderr
    assert admin("models", "verify").stdout.strip() == "smollm2@1.0: ok"

    # one llama.cpp thread: the test machine's two cores are shared
    assert admin("settings", "set", "model.threads", "1").returncode == 0
    answer = run_cli("ask", "--json", "--temperature", "0", "What is the capital of France?")
    assert answer.returncode == 0, answer.stderr
    assert "Paris" in json.loads(answer.stdout)["answer"]

    again = admin("models", "import", str(usb))
    assert again.returncode == 6
    assert "--force" in again.stderr

    audit = admin("audit")
    assert audit.returncode == 0
    lines = audit.stdout.splitlines()
    assert any("import" in line and "refused" in line and "[signature]" in line for line in lines)
    assert any("import" in line and " ok " in line and "smollm2 1.0" in line for line in lines)
    assert any("set-default" in line for line in lines)
    assert any("import" in line and "[rollback]" in line for line in lines)
    assert "hash chain intact" in audit.stderr


def test_refusal_through_the_cli_is_one_line(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert admin("keygen", str(key)).returncode == 0
    assert admin("keys", "add", f"{key}.pub").returncode == 0
    usb = tmp_path / "usb"
    usb.mkdir()
    write_tiny_gguf(usb / "model.gguf")
    signed = admin("sign", str(usb), "--key", str(key), "--name", "tiny", "--version", "1")
    assert signed.returncode == 0
    with (usb / "model.gguf").open("ab") as handle:
        handle.write(b"\0")
    result = admin("models", "import", str(usb))
    assert result.returncode == 6
    assert "error: model.gguf is longer than its signed size" in result.stderr
    assert "Traceback" not in result.stderr
    audit = json.loads(admin("audit", "--json").stdout)
    assert audit["chain_ok"] is True
    assert audit["records"][-1]["reason"] == "size"


def test_sign_refuses_a_folder_that_is_not_a_model_folder(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert admin("keygen", str(key)).returncode == 0
    usb = tmp_path / "usb"
    usb.mkdir()
    write_tiny_gguf(usb / "model.gguf")
    (usb / "notes.txt").write_text("hello")
    result = admin("sign", str(usb), "--key", str(key), "--name", "tiny", "--version", "1")
    assert result.returncode == 6
    assert "notes.txt is not a GGUF" in result.stderr
    assert not (usb / "manifest.json").exists()


def test_passphrase_protected_key(tmp_path: Path) -> None:
    key = tmp_path / "k"
    env = {"SIGNING_PASSPHRASE": "correct horse"}
    made = admin("keygen", str(key), "--passphrase-env", "SIGNING_PASSPHRASE", env=env)
    assert made.returncode == 0
    assert b"ENCRYPTED" in key.read_bytes()
    usb = tmp_path / "usb"
    usb.mkdir()
    write_tiny_gguf(usb / "model.gguf")
    sign = ("sign", str(usb), "--key", str(key), "--name", "tiny", "--version", "1")
    without = admin(*sign)
    assert without.returncode == 6
    assert "passphrase" in without.stderr
    assert admin(*sign, "--passphrase-env", "SIGNING_PASSPHRASE", env=env).returncode == 0
