"""The release public key: the one key Enclave trusts to have signed its own installer.

IT checks an installer (and an installed copy) against a signed release manifest
(``release/manifest.json``, see ``packaging/verify.py`` and ``docs/it-guide.md``). The signature
is only worth something if the key that checks it is pinned, so the public key lives in code:

- :data:`RELEASE_PUBLIC_KEY_PEM` below is the organisation's release key, committed to the
  source tree. It is empty until a release manager pins one: they make the key pair on an
  offline machine (``assistant-admin keygen release-key``), keep the private half offline, and
  paste the ``.pub`` file's text here in a reviewed commit. Releases are then built with
  ``packaging/build.py bundle --signing-key release-key --release``, which refuses any other key.
- A frozen build always carries the key its manifest was signed with, written at build time into
  the generated module ``enclave_build_info`` inside the executable. A development or CI build
  signs with a throw-away key (``build/release-key/``) and so pins that one; it never silently
  trusts a key it was not built with.

This module imports only the standard library, ``cryptography`` (through :mod:`assistant.signing`)
and :mod:`assistant.errors`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from assistant.errors import SignatureError
from assistant.signing import fingerprint, load_public_key

#: The organisation's release public key (SubjectPublicKeyInfo PEM), or "" when none is pinned
#: yet. Replace it as described in the module docstring and docs/it-guide.md ("The release key").
RELEASE_PUBLIC_KEY_PEM = ""

#: The module the build generates (packaging/build.py) and freezes into the executable.
BUILD_INFO_MODULE = "enclave_build_info"


@dataclass(frozen=True)
class ReleaseKey:
    """The trusted release key.

    Attributes:
        pem: the public key, SubjectPublicKeyInfo PEM.
        fingerprint: SHA-256 of its raw bytes, hex (what IT compares out of band).
        source: ``"build"`` (set when this executable was built) or ``"source"`` (pinned above).
    """

    pem: bytes
    fingerprint: str
    source: str


def build_info() -> ModuleType | None:
    """The module a frozen build generated (version, key, bundled model), or None from source."""
    try:
        return importlib.import_module(BUILD_INFO_MODULE)
    except ImportError:
        return None


def release_key() -> ReleaseKey:
    """The key release manifests must be signed with.

    Returns:
        The build-time key in a frozen build, else the key pinned in the source tree.

    Raises:
        SignatureError: no key is pinned (a source checkout before a release manager set one),
            or the pinned text is not an Ed25519 public key.
    """
    info = build_info()
    built = getattr(info, "RELEASE_PUBLIC_KEY_PEM", "") if info is not None else ""
    text, source = (built, "build") if built else (RELEASE_PUBLIC_KEY_PEM, "source")
    if not text.strip():
        raise SignatureError(
            "No release key is pinned in this copy of Enclave, so an installation cannot be "
            "verified with it. Use the verify.py shipped beside the installer with --key FILE "
            "(the release key's .pub file), or a built copy of Enclave."
        )
    public = load_public_key(text.encode("ascii"))
    return ReleaseKey(pem=text.encode("ascii"), fingerprint=fingerprint(public), source=source)


def describe_release_key() -> str:
    """One line naming the trusted release key, for ``--version`` and the self-test."""
    try:
        key = release_key()
    except SignatureError:
        return "Release key: none pinned (a development copy)."
    where = "set at build time" if key.source == "build" else "pinned in the source"
    return f"Release key: {key.fingerprint} ({where})."
