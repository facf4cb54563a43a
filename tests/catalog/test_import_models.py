"""Real models through the whole pipeline: they install, they answer, and the admin operations hold.

Each import of SmolLM2 copies 98 MB into staging and test-loads it in a child (~1.5 s here);
Gemma is imported once.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.records import ProgressEvent, Stage
from assistant.catalog.service import Catalog, ImportOptions
from assistant.config import DEFAULT_SYSTEM_PROMPT, load_settings
from assistant.engine.base import ChatMessage, GenerationOptions, Role
from assistant.errors import CatalogError, ImportRefusedError, IntegrityError, RollbackError
from assistant.signing import MANIFEST_FILE, fingerprint, hash_file
from tests.catalog.conftest import MakeFolder, assert_nothing_left, write_tiny_gguf

SMOL_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
QUESTION = [
    ChatMessage(Role.SYSTEM, DEFAULT_SYSTEM_PROMPT),
    ChatMessage(Role.USER, "What is the capital of France?"),
]

pytestmark = pytest.mark.model


def _answer(path: Path) -> str:
    from assistant.engine.llama import LlamaEngine

    # one thread: on a shared 2-core machine llama.cpp's spinning threads otherwise crawl
    engine = LlamaEngine.load(path, context_size=512, threads=1)
    try:
        options = GenerationOptions(temperature=0.0, max_tokens=24)
        return "".join(t.text for t in engine.stream(QUESTION, options))
    finally:
        engine.close()


def test_signed_smollm2_installs_and_answers(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path, site_key: Ed25519PrivateKey
) -> None:
    folder = make_folder({"smol.gguf": smol_path}, name="smollm2", version="1.0")
    events: list[ProgressEvent] = []
    result = catalog.import_folder(folder, on_progress=events.append)

    assert [s for s in Stage if any(e.stage is s for e in events)] == list(Stage)
    assert result.path == catalog.paths.models_dir / "smollm2" / "1.0" / "smol.gguf"
    assert hash_file(result.path) == (98362432, SMOL_SHA)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o444
    kept = (result.path.parent / MANIFEST_FILE).read_bytes()
    assert kept == (folder / MANIFEST_FILE).read_bytes()
    assert result.model.architecture == "llama"
    assert result.model.quantization == "Q4_1"
    assert result.model.signer == fingerprint(site_key.public_key())
    assert result.test_load["architecture"] == "llama"
    assert [m.key for m in catalog.list_models()] == ["smollm2@1.0"]
    assert_nothing_left(catalog, installed=1)

    record = catalog.audit.records()[-1]
    assert (record["action"], record["result"], record["model"]) == ("import", "ok", "smollm2")
    assert record["files"][0]["sha256"] == SMOL_SHA
    assert catalog.audit.check_chain().ok

    assert load_settings(catalog.paths).model.path == ""  # the default did not change by itself
    assert catalog.default_model() is None
    assert "Paris" in _answer(result.path)


def test_signed_gemma_installs_and_answers(
    catalog: Catalog, make_folder: MakeFolder, gemma_path: Path
) -> None:
    folder = make_folder({"gemma.gguf": gemma_path}, name="gemma-3-270m", version="1.0.0")
    result = catalog.import_folder(folder)
    assert result.model.architecture == "gemma3"
    assert result.model.quantization == "Q4_K_M"
    assert result.test_load["notes"]  # no chat template in the file: the built-in one is used
    assert catalog.set_default("gemma-3-270m") == result.path
    assert load_settings(catalog.paths).model_path() == result.path
    assert _answer(result.path).strip()


def test_rollback_is_refused_unless_forced(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path
) -> None:
    catalog.import_folder(make_folder({"smol.gguf": smol_path}, name="smollm2", version="2.0"))
    older = make_folder({"smol.gguf": smol_path}, name="smollm2", version="1.5")
    with pytest.raises(RollbackError, match="not newer than version 2.0.*--force"):
        catalog.import_folder(older)
    again = make_folder({"smol.gguf": smol_path}, name="smollm2", version="2.0.0")
    with pytest.raises(RollbackError):
        catalog.import_folder(again)
    assert [r["reason"] for r in catalog.audit.records()[-2:]] == ["rollback", "rollback"]
    assert_nothing_left(catalog, installed=1)

    forced = catalog.import_folder(older, options=ImportOptions(force=True))
    assert [m.key for m in catalog.list_models()] == ["smollm2@1.5", "smollm2@2.0"]
    assert catalog.audit.records()[-1]["forced"] is True
    assert not forced.replaced
    # removing the newest does not reopen the door: the high-water mark stays
    catalog.remove("smollm2@2.0")
    with pytest.raises(RollbackError):
        catalog.import_folder(make_folder({"smol.gguf": smol_path}, name="smollm2", version="1.9"))


def test_source_changed_after_staging_does_not_matter(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path, tmp_path: Path
) -> None:
    copy = shutil.copyfile(smol_path, tmp_path / "own-copy.gguf")  # never touch the real model
    folder = make_folder({"smol.gguf": copy}, name="smollm2")
    source = folder / "smol.gguf"

    def swap_source(event: ProgressEvent) -> None:
        if event.stage is Stage.HEADER:  # after the copy was hashed: the media changes under us
            with source.open("r+b") as handle:
                handle.write(b"EVIL" * 1024)

    result = catalog.import_folder(folder, on_progress=swap_source)
    assert hash_file(source)[1] != SMOL_SHA
    assert hash_file(result.path) == (98362432, SMOL_SHA)  # what was checked is what installed


def test_staged_copy_changed_after_checks_is_refused(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path
) -> None:
    folder = make_folder({"smol.gguf": smol_path}, name="smollm2")

    def tamper(event: ProgressEvent) -> None:
        if event.stage is Stage.INSTALL:  # between the test load and the move
            (staged,) = catalog.staging_dir.glob("import-*/smol.gguf")
            os.chmod(staged, 0o644)
            with staged.open("r+b") as handle:
                handle.seek(1000)
                handle.write(b"\xff")

    with pytest.raises(ImportRefusedError, match="changed after it was checked") as caught:
        catalog.import_folder(folder, on_progress=tamper)
    assert caught.value.reason == "changed"
    assert catalog.audit.records()[-1]["reason"] == "changed"
    assert_nothing_left(catalog)
    assert hash_file(smol_path)[1] == SMOL_SHA


def test_adapters_are_listed_under_their_model_and_selectable(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path, tmp_path: Path
) -> None:
    adapter = write_tiny_gguf(tmp_path / "style.gguf", adapter=True, template=None).read_bytes()
    folder = make_folder({"smol.gguf": smol_path, "adapters/style.gguf": adapter},
                         name="smollm2", kinds={"adapters/style.gguf": "lora"})  # fmt: skip
    model = catalog.import_folder(folder).model
    assert [a.path for a in model.adapters] == ["adapters/style.gguf"]
    assert model.model_file.path == "smol.gguf"
    with pytest.raises(CatalogError, match="no adapter 'other'"):
        catalog.set_default("smollm2", adapter="other")
    catalog.set_default("smollm2", adapter="style")
    selected = catalog.registry.selected_adapter(catalog.registry.get("smollm2"))
    assert selected == catalog.registry.folder(model) / "adapters" / "style.gguf"
    assert selected.is_file()


def test_verify_remove_and_the_default(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path, site_key: Ed25519PrivateKey
) -> None:
    model = catalog.import_folder(make_folder({"smol.gguf": smol_path}, name="smollm2")).model
    assert [r.ok for r in catalog.verify()] == [True]
    catalog.set_default("smollm2@1.0")
    assert catalog.default_model() == model
    with pytest.raises(CatalogError, match="is the default model"):
        catalog.remove("smollm2")

    installed = catalog.registry.model_path(model)
    os.chmod(installed, 0o644)
    with installed.open("r+b") as handle:  # bit rot, or someone editing the file in place
        handle.seek(5000)
        flipped = bytes([handle.read(1)[0] ^ 0x01])
        handle.seek(5000)
        handle.write(flipped)
    (result,) = catalog.verify("smollm2")
    assert not result.ok
    assert "no longer matches" in result.problems[0]
    assert catalog.audit.records()[-1]["result"] == "failed"
    with pytest.raises(IntegrityError, match="failed verification"):
        catalog.set_default("smollm2")

    catalog.remove_key(fingerprint(site_key.public_key())[:12])
    (result,) = catalog.verify()
    assert any("does not trust" in p for p in result.problems)

    settings_path = load_settings(catalog.paths)
    assert settings_path.model.path == str(installed)  # still the default until switched
