"""Release archives of a signed bundle folder: the ``.tar.gz``, the ``.deb``, ``SHA256SUMS``.

Used by ``packaging/build.py``; standard library only (plus ``dpkg-deb`` for the ``.deb``).
"""

from __future__ import annotations

import gzip
import os
import platform
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from assistant.desktop import DEBIAN_PACKAGES  # the window's system libraries, by package

PACKAGING = Path(__file__).resolve().parent


class ArchiveError(Exception):
    """An archive could not be made; the message says why."""


def _archive_order(bundle: Path) -> Iterator[Path]:
    """release/ first (a reader meets the manifest early), then everything else, sorted."""
    release = bundle / "release"
    yield from sorted(release.iterdir())
    for folder, dirs, files in os.walk(bundle):
        dirs.sort()
        here = Path(folder)
        if here == release:
            dirs[:] = []
            continue
        for item in sorted(files) + [d for d in dirs if (here / d).is_symlink()]:
            yield here / item


def make_tarball(bundle: Path, archive: Path, *, top: str) -> None:
    """Pack the bundle under one top folder, owner-neutral, modes normalized to 755/644."""

    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if info.isfile():
            info.mode = 0o755 if info.mode & 0o111 else 0o644
        return info

    # gzip level 6: level 9 takes twice the time on a two-core builder for about 1% less.
    with (
        gzip.open(archive, "wb", compresslevel=6) as raw,
        tarfile.open(
            fileobj=raw,
            mode="w",
            format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
        ) as tar,
    ):
        tar.add(bundle, arcname=top, recursive=False, filter=normalize)
        for path in _archive_order(bundle):
            tar.add(path, arcname=f"{top}/{path.relative_to(bundle).as_posix()}",
                    recursive=False, filter=normalize)  # fmt: skip


def make_deb(bundle: Path, out: Path, *, work: Path, version: str) -> Path:
    """A .deb installing to /opt/enclave with /usr/bin links (needs dpkg-deb).

    Raises:
        ArchiveError: dpkg-deb is not available or failed.
    """
    if shutil.which("dpkg-deb") is None:
        raise ArchiveError("--deb needs dpkg-deb (apt-get install dpkg)")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    tree = work / "deb"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(bundle, tree / "opt" / "enclave", symlinks=True)
    (tree / "usr" / "bin").mkdir(parents=True)
    for link in ("enclave", "assistant", "assistant-admin"):
        (tree / "usr" / "bin" / link).symlink_to("/opt/enclave/enclave")
    apps = tree / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    desktop = (PACKAGING / "enclave.desktop").read_text(encoding="utf-8")
    (apps / "enclave.desktop").write_text(desktop.replace("@EXEC@", "/opt/enclave/enclave"))
    control = tree / "DEBIAN"
    control.mkdir()
    installed_kib = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file()) // 1024
    (control / "control").write_text(
        "Package: enclave\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        "Maintainer: Enclave engineers <enclave@localhost>\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: libc6 (>= 2.28), {', '.join(DEBIAN_PACKAGES)}\n"
        "Section: utils\n"
        "Priority: optional\n"
        "Description: Enclave, an air-gapped on-premise AI assistant\n"
        " Runs a local GGUF model with llama.cpp and answers questions over imported\n"
        " documents with citations. Never uses the network. Verify the installed files\n"
        " with: assistant-admin verify-install\n",
        encoding="utf-8",
    )
    target = out / f"enclave_{version}_{arch}.deb"
    command = ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(tree), str(target)]
    finished = subprocess.run(command, capture_output=True, text=True)
    shutil.rmtree(tree, ignore_errors=True)
    if finished.returncode != 0:
        raise ArchiveError(f"dpkg-deb failed: {finished.stderr.strip()}")
    return target


def sha256sums(folder: Path, names: Sequence[str]) -> None:
    """Write SHA256SUMS (``sha256sum -c`` format) for files in ``folder``."""
    import hashlib

    def digest(path: Path) -> str:
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                sha.update(block)
        return sha.hexdigest()

    lines = [f"{digest(folder / name)}  {name}\n" for name in sorted(names)]
    (folder / "SHA256SUMS").write_text("".join(lines), encoding="ascii")
