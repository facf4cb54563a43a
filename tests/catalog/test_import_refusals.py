"""The hostile corpus: every bad folder is refused fast, with a reason, audited, and leaves nothing.

Bad GGUF files are crafted byte by byte and *signed*, so each one gets past the signature and the
digests and is stopped by the check meant for it.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.records import ProgressEvent, Stage
from assistant.catalog.service import Catalog, ImportOptions
from assistant.engine.base import CancelToken
from assistant.errors import (
    CatalogError,
    ImportCancelledError,
    ImportRefusedError,
    ManifestError,
    SignatureError,
)
from assistant.signing import MANIFEST_FILE, FileEntry
from tests.catalog.conftest import (
    MakeFolder,
    assert_nothing_left,
    gguf_header,
    sign_folder,
    write_tiny_gguf,
)

KEY = struct.pack("<Q", 1) + b"k"


def _tiny(tmp_path: Path, name: str = "tiny.gguf", **kwargs: object) -> bytes:
    return write_tiny_gguf(tmp_path / name, **kwargs).read_bytes()  # type: ignore[arg-type]


def _refused(
    catalog: Catalog, folder: Path, error: type[CatalogError], reason: str, *,
    match: str | None = None, options: ImportOptions | None = None,
    within_s: float | None = None,
) -> CatalogError:  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(error, match=match) as caught:
        catalog.import_folder(folder, options=options)
    elapsed = time.perf_counter() - started
    if within_s is not None:
        assert elapsed < within_s, f"took {elapsed:.2f}s"
    assert caught.value.reason == reason
    last = catalog.audit.records()[-1]
    assert last["action"] == "import"
    assert last["result"] == "refused"
    assert last["reason"] == reason
    assert last["message"] == str(caught.value)
    assert last["user"]
    assert_nothing_left(catalog)
    assert catalog.list_models() == ()
    return caught.value


# --- the bounded header check --------------------------------------------------------------------


def _truncated_header(tmp_path: Path) -> bytes:
    return _tiny(tmp_path)[:40]


HOSTILE_HEADERS = {
    "wrong magic": (lambda t: b"GGML" + _tiny(t)[4:], "does not start with the GGUF signature"),
    "truncated header": (_truncated_header, "file ends first"),
    "tensor count 2^60": (lambda t: gguf_header(tensors=2**60) + b"\0" * 64, "tensors, over"),
    "string past EOF": (
        lambda t: gguf_header() + KEY + struct.pack("<IQ", 8, 10_000) + b"abc" + b"\0" * 16,
        "file ends first",
    ),
    "array length 2^62": (
        lambda t: gguf_header() + KEY + struct.pack("<IIQ", 9, 4, 2**62) + b"\0" * 16,
        "items, over the limit",
    ),
    "nested arrays": (
        lambda t: (
            gguf_header()
            + KEY
            + struct.pack("<IIQ", 9, 9, 1)
            + struct.pack("<IQ", 4, 1)
            + b"\0" * 16
        ),
        "array item type 9",
    ),
    "unknown value type": (
        lambda t: gguf_header() + KEY + struct.pack("<I", 77) + b"\0" * 16,
        "unknown value type",
    ),
    "string over the import limit": (
        # fine for everyday use (16 MiB), too large for a file arriving on a USB stick (1 MiB)
        lambda t: gguf_header() + KEY + struct.pack("<IQ", 8, 2 << 20) + b"a" * (2 << 20),
        "over the limit",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_HEADERS))
def test_hostile_header_is_refused_fast(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path, case: str
) -> None:
    build, message = HOSTILE_HEADERS[case]
    folder = make_folder({"model.gguf": build(tmp_path)})
    error = _refused(catalog, folder, ImportRefusedError, "header", match=message, within_s=0.5)
    assert "model.gguf failed the header check" in str(error)


def test_adapter_signed_as_a_model_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path, adapter=True)})
    _refused(catalog, folder, ImportRefusedError, "header", match="is a LoRA adapter")


# --- the chat template, in the sandboxed child ---------------------------------------------------

ESCAPES = [
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch PWNED') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escape_template_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path, payload: str
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path, template=payload)})
    error = _refused(catalog, folder, ImportRefusedError, "template", match="Python internals",
                     within_s=5)  # fmt: skip
    assert "hostile" in str(error)
    assert not Path("PWNED").exists()


def test_endless_template_is_stopped_by_the_time_limit(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    endless = "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}"
    folder = make_folder({"model.gguf": _tiny(tmp_path, template=endless)})
    options = ImportOptions(template_timeout_s=1.5)
    _refused(catalog, folder, ImportRefusedError, "template", options=options, within_s=6)


def test_template_that_drops_the_question_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path, template="<|im_start|>assistant\n")})
    _refused(catalog, folder, ImportRefusedError, "template", match="drops the user's words")


def test_file_llama_cpp_cannot_load_is_refused_in_the_child(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    # a well-formed header with one tensor: valid GGUF, not a runnable model
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    error = _refused(catalog, folder, ImportRefusedError, "test-load", match="test load")
    assert "llama.cpp" in str(error)


# --- manifests and folders -----------------------------------------------------------------------


def test_one_flipped_byte_is_caught_on_the_copy(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    data = bytearray((folder / "model.gguf").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "model.gguf").write_bytes(bytes(data))
    _refused(catalog, folder, ImportRefusedError, "digest", match="signed SHA-256", within_s=0.5)


def test_a_longer_file_is_refused_without_reading_it_all(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    with (folder / "model.gguf").open("ab") as handle:
        handle.truncate(300 << 20)  # a sparse 300 MB tail: reading it all would take seconds
    _refused(catalog, folder, ImportRefusedError, "size", match="longer", within_s=0.5)


def test_a_file_the_manifest_lists_is_missing(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path), "style.gguf": _tiny(tmp_path, "s.gguf")},
                         kinds={"style.gguf": "lora"})  # fmt: skip
    (folder / "style.gguf").unlink()
    _refused(catalog, folder, ManifestError, "missing-file", match="does not hold it")


def test_an_extra_file_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    (folder / "autorun.sh").write_text("#!/bin/sh\n")
    _refused(catalog, folder, ManifestError, "extra-file", match="autorun.sh")


def test_wrong_key_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path, rogue_key: Ed25519PrivateKey
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)}, key=rogue_key)
    _refused(catalog, folder, SignatureError, "signature", match="does not trust", within_s=0.5)


def test_tampered_version_field_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)}, version="1.0")
    document = json.loads((folder / MANIFEST_FILE).read_text())
    document["manifest"]["fields"]["version"] = "99.0"
    (folder / MANIFEST_FILE).write_text(json.dumps(document))
    _refused(catalog, folder, SignatureError, "signature", match="changed after signing")


def test_missing_manifest(catalog: Catalog, tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    write_tiny_gguf(folder / "model.gguf")
    _refused(catalog, folder, ManifestError, "manifest", match="signed manifest")


def test_symlink_in_the_folder_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    (folder / "model.gguf").rename(tmp_path / "elsewhere.gguf")
    (folder / "model.gguf").symlink_to(tmp_path / "elsewhere.gguf")
    _refused(catalog, folder, ImportRefusedError, "unsafe-file", match="symbolic link")


def test_manifest_as_a_symlink_is_refused(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    (folder / MANIFEST_FILE).rename(tmp_path / "m.json")
    (folder / MANIFEST_FILE).symlink_to(tmp_path / "m.json")
    _refused(catalog, folder, ManifestError, "manifest")


def test_device_file_is_refused(catalog: Catalog, make_folder: MakeFolder, tmp_path: Path) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)})
    os.mkfifo(folder / "pipe")
    _refused(catalog, folder, ImportRefusedError, "unsafe-file", match="device file, pipe")


def test_path_leaving_the_folder_is_refused(
    catalog: Catalog, tmp_path: Path, site_key: Ed25519PrivateKey
) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    write_tiny_gguf(folder / "model.gguf")
    escape = FileEntry("../secret.gguf", 3, "ab" * 32, "model")
    sign_folder(folder, site_key, extra_entries=(escape,))
    _refused(catalog, folder, ManifestError, "manifest", match="leaves the folder")


@pytest.mark.parametrize(
    ("signing", "message"),
    [
        ({"name": "../../etc"}, "model name"),
        ({"version": "latest"}, "version 'latest' is not allowed"),
        ({"kinds": {"model.gguf": "script"}}, "kind"),
        ({"kinds": {"model.gguf": "lora"}}, "exactly one model file"),
    ],
)
def test_signed_but_unusable_manifest_fields(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path, signing: dict, message: str
) -> None:
    folder = make_folder({"model.gguf": _tiny(tmp_path)}, **signing)
    _refused(catalog, folder, ManifestError, "manifest", match=message)


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_during_the_copy_leaves_nothing(
    catalog: Catalog, make_folder: MakeFolder, smol_path: Path
) -> None:
    folder = make_folder({"smol.gguf": smol_path}, name="smollm2")
    cancel = CancelToken()
    seen: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        seen.append(event)
        if event.stage is Stage.COPY and event.fraction > 0.3:
            cancel.cancel()

    with pytest.raises(ImportCancelledError, match="cancelled"):
        catalog.import_folder(folder, on_progress=progress, cancel=cancel)
    assert [e.stage for e in seen][:2] == [Stage.SIGNATURE, Stage.COPY]
    assert max(e.fraction for e in seen if e.stage is Stage.COPY) < 0.5
    assert catalog.audit.records()[-1]["result"] == "cancelled"
    assert_nothing_left(catalog)
    assert smol_path.stat().st_size == 98362432  # the source is only ever read


def test_cancel_kills_a_running_check(
    catalog: Catalog, make_folder: MakeFolder, tmp_path: Path
) -> None:
    endless = "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}"
    folder = make_folder({"model.gguf": _tiny(tmp_path, template=endless)})
    cancel = CancelToken()
    timer = threading.Timer(0.5, cancel.cancel)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(ImportCancelledError):
        catalog.import_folder(folder, cancel=cancel)
    timer.join()
    assert time.perf_counter() - started < 3  # not the 15 s template time limit
    assert catalog.audit.records()[-1]["result"] == "cancelled"
    assert_nothing_left(catalog)


def test_a_folder_that_is_not_there(catalog: Catalog, tmp_path: Path) -> None:
    _refused(catalog, tmp_path / "no-such-usb", ManifestError, "manifest", match="not a folder")
