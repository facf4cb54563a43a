"""The signed release manifest of a built bundle: file listing, SBOM, Ed25519 signature.

Writes, inside the bundle folder (the layout ``packaging/verify.py`` checks)::

    release/files.json       every file of the bundle except these three: path, size, SHA-256,
                             executable bit, or a symlink's target
    release/sbom.cdx.json    the app's dependency tree as CycloneDX 1.6 JSON (with the bundled
                             model and the embedder as machine-learning-model components)
    release/manifest.json    signed with :func:`assistant.signing.sign_manifest`: fields
                             (version, platform, model, dependency list, file count) and the
                             digests of the two files above

Two levels, because :mod:`assistant.signing` caps a manifest at 1,024 files and 1 MiB (limits
that protect model import) while a bundle with torch and Qt holds thousands of files: the signed
manifest vouches for the listing by digest, and the listing for every file.

Used by ``packaging/build.py`` with the project's virtual environment (it imports
:mod:`assistant.signing`, and ``cyclonedx-python-lib`` when installed).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.signing import manifest_for_files, public_pem, sign_manifest

RELEASE_DIR = "release"
MANIFEST_PATH = f"{RELEASE_DIR}/manifest.json"
LISTING_PATH = f"{RELEASE_DIR}/files.json"
SBOM_PATH = f"{RELEASE_DIR}/sbom.cdx.json"
LISTING_FORMAT = "enclave-release-files/1"
#: Files the signed manifest covers itself, so the listing leaves them out.
SIGNED_DIRECTLY = frozenset({MANIFEST_PATH, LISTING_PATH, SBOM_PATH})


# --- the file listing ------------------------------------------------------------------------


def listing_entries(root: Path) -> list[dict[str, Any]]:
    """Every file and symlink under ``root`` (sorted), except the signed release files.

    Raises:
        ValueError: the folder holds something that is neither (a device, a socket).
    """
    from assistant.signing import hash_file

    entries: list[dict[str, Any]] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        names = sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in names:
            full = Path(folder, name)
            relative = full.relative_to(root).as_posix()
            if relative in SIGNED_DIRECTLY:
                continue
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries.append({"path": relative, "link": os.readlink(full)})
            elif stat.S_ISREG(info.st_mode):
                size, digest = hash_file(full)
                executable = bool(info.st_mode & 0o111)
                entries.append(
                    {"path": relative, "size": size, "sha256": digest, "exec": executable}
                )
            else:
                raise ValueError(f"{full} is not a regular file or a symlink")
    return sorted(entries, key=lambda entry: entry["path"])


# --- the dependency list ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dependency:
    """One installed distribution the app needs, and the ones it needs in turn."""

    name: str
    version: str
    license: str
    requires: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"pkg:pypi/{self.name.lower()}@{self.version}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _license_of(metadata: importlib.metadata.PackageMetadata) -> str:
    expression = metadata.get("License-Expression") or ""
    if expression:
        return str(expression)
    text = str(metadata.get("License") or "")
    if text and len(text) < 80 and "\n" not in text:
        return text
    classifiers = [c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    return classifiers[0].rsplit(" :: ", 1)[-1] if classifiers else ""


def dependency_closure(root: str = "enclave-assistant") -> list[Dependency]:
    """The installed distributions ``root`` depends on, transitively (extras not followed).

    Markers are evaluated for this machine, which is the machine the bundle is built on and
    for. A requirement that is not installed is skipped: it was not bundled either.
    """
    from packaging.requirements import Requirement

    found: dict[str, Dependency] = {}
    pending = [root]
    while pending:
        name = _normal(pending.pop())
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        requires: list[str] = []
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            requires.append(_normal(requirement.name))
        found[name] = Dependency(
            name=dist.metadata["Name"],
            version=dist.version,
            license=_license_of(dist.metadata),
            requires=tuple(sorted(set(requires))),
        )
        pending.extend(requires)
    return sorted(found.values(), key=lambda dep: dep.name.lower())


@dataclass(frozen=True)
class ModelComponent:
    """A model file in the bundle, for the SBOM."""

    name: str
    sha256: str
    license: str


def write_sbom(
    target: Path,
    dependencies: Iterable[Dependency],
    *,
    version: str,
    models: Iterable[ModelComponent],
) -> bool:
    """Write a CycloneDX 1.6 JSON SBOM with ``cyclonedx-python-lib``.

    Returns:
        False when the library is not installed (the signed manifest's dependency list remains).
    """
    try:
        from cyclonedx.model import HashAlgorithm, HashType
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.license import LicenseExpression
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL
    except ImportError:
        return False

    bom = Bom()
    app = Component(name="enclave", version=version, type=ComponentType.APPLICATION,
                    bom_ref="enclave")  # fmt: skip
    bom.metadata.component = app
    deps = list(dependencies)
    by_name: dict[str, Any] = {}
    for dep in deps:
        component = Component(
            name=dep.name,
            version=dep.version,
            type=ComponentType.LIBRARY,
            purl=PackageURL("pypi", dep.name.lower(), dep.version),
            bom_ref=dep.ref,
        )
        if dep.license and " " not in dep.license.strip("()"):
            component.licenses.add(LicenseExpression(dep.license))
        by_name[_normal(dep.name)] = component
        bom.components.add(component)
    direct = [by_name["enclave-assistant"]] if "enclave-assistant" in by_name else []
    for model in models:
        component = Component(
            name=model.name,
            type=ComponentType.MACHINE_LEARNING_MODEL,
            bom_ref=f"model:{model.name}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=model.sha256)],
            licenses=[LicenseExpression(model.license)] if model.license else [],
        )
        bom.components.add(component)
        direct.append(component)
    for dep in deps:
        children = [by_name[name] for name in dep.requires if name in by_name]
        bom.register_dependency(by_name[_normal(dep.name)], children)
    bom.register_dependency(app, direct)  # the app: its own package and the bundled models
    target.write_text(JsonV1Dot6(bom).output_as_string(indent=2) + "\n", encoding="utf-8")
    return True


# --- signing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseSummary:
    """What :func:`write_release` produced."""

    file_count: int
    total_bytes: int
    sbom: bool
    signer: str


def write_release(
    root: Path,
    *,
    private_key: Ed25519PrivateKey,
    fields: Mapping[str, Any],
    dependencies: Iterable[Dependency],
    models: Iterable[ModelComponent],
) -> ReleaseSummary:
    """Write the listing, the SBOM and the signed manifest into ``root/release/``.

    Call it last: any file added to the bundle afterwards makes verification report it.

    Args:
        root: the bundle folder.
        private_key: the release signing key.
        fields: the manifest's fields (strings, integers, lists of strings).
        dependencies: the dependency list (also written, as ``name==version``, into the fields).
        models: the bundled models, for the SBOM.
    """
    from assistant.signing import fingerprint

    release = root / RELEASE_DIR
    release.mkdir(exist_ok=True)
    for stale in SIGNED_DIRECTLY:  # a re-sign must not list the previous release files
        (root / stale).unlink(missing_ok=True)
    (release / "release-key.pub").write_bytes(public_pem(private_key.public_key()))
    deps = list(dependencies)
    entries = listing_entries(root)
    listing = {"format": LISTING_FORMAT, "files": entries}
    (root / LISTING_PATH).write_text(
        json.dumps(listing, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    sbom = write_sbom(root / SBOM_PATH, deps, version=str(fields["version"]), models=models)
    total = sum(int(entry.get("size", 0)) for entry in entries)
    all_fields = {
        **fields,
        "file_count": len(entries),
        "total_bytes": total,
        "dependencies": [f"{dep.name}=={dep.version}" for dep in deps],
        "listing_format": LISTING_FORMAT,
    }
    signed = [(LISTING_PATH, "listing")] + ([(SBOM_PATH, "sbom")] if sbom else [])
    manifest = manifest_for_files(root, signed, fields=all_fields)
    (root / MANIFEST_PATH).write_bytes(sign_manifest(manifest, private_key))
    return ReleaseSummary(
        file_count=len(entries),
        total_bytes=total,
        sbom=sbom,
        signer=fingerprint(private_key.public_key()),
    )
