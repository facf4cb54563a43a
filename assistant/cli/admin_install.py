"""``assistant-admin verify-install``: check an installed Enclave against its signed manifest.

Registered through :data:`assistant.cli.admin.EXTENSIONS`. The checking is the release
verifier IT runs beside the installer (``packaging/verify.py``), so both give the same answer:
the build freezes a copy of it into the executable as the module ``enclave_verify`` (a copy on
disk could itself have been altered), and a source checkout loads it from ``packaging/``. The key
trusted is the release key embedded in this copy of Enclave (:mod:`assistant.release_key`), plus
any given with ``--key``.

Exit status: 0 when the signature is valid and every file matches; 1 otherwise, with each
missing, extra or changed file named.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from assistant.config import source_root
from assistant.errors import ConfigError, SignatureError
from assistant.release_key import release_key

#: The verifier's module name inside a frozen build (packaging/build.py puts it there).
FROZEN_VERIFIER = "enclave_verify"


def register(subparsers: Any, build_app: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``verify-install`` to the ``assistant-admin`` parser."""
    del build_app  # verification needs no settings, model or data directory
    verify = subparsers.add_parser(
        "verify-install",
        help="check the installed files against the signed release manifest",
        description="Check the release manifest's signature against the pinned release key, "
        "then every installed file's size and SHA-256; report missing, extra or changed files.",
    )
    verify.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="the installation to check (default: the one running this command)",
    )
    verify.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        metavar="PUB",
        help="also trust this release public key (.pub PEM); repeatable",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=cmd_verify_install)  # fmt: skip


def load_verifier() -> ModuleType:
    """The release verifier: frozen into the executable, else ``packaging/verify.py``.

    Raises:
        ConfigError: neither is available (an installation from wheels has no release manifest).
    """
    try:
        return importlib.import_module(FROZEN_VERIFIER)
    except ImportError:
        pass
    path = source_root() / "packaging" / "verify.py"
    spec = importlib.util.spec_from_file_location(FROZEN_VERIFIER, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(
            "The release verifier is not part of this installation (only the installer bundle "
            "carries a signed release manifest). Use verify.py from the release instead."
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[FROZEN_VERIFIER] = module  # dataclass-like classes look their module up
    spec.loader.exec_module(module)
    return module


def installed_root() -> Path:
    """The folder of the running installation.

    Raises:
        ConfigError: this is not a frozen installation (so there is none to find).
    """
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    raise ConfigError(
        "This Enclave runs from source, not from an installer bundle: give the installation "
        "to check with --dir (for example --dir /opt/enclave)."
    )


def trusted_keys(verifier: ModuleType, extra: list[Path]) -> dict[str, bytes]:
    """The embedded release key and any given with ``--key``, by fingerprint.

    Raises:
        SignatureError: no key at all, or a key file is unreadable or not Ed25519.
    """
    texts: list[str] = []
    try:
        texts.append(release_key().pem.decode("ascii"))
    except SignatureError:
        if not extra:
            raise
    for file in extra:
        try:
            texts.append(file.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SignatureError(f"Cannot read the key file {file}: {exc}.") from exc
    keys: dict[str, bytes] = {}
    for text in texts:
        try:
            raw = verifier.raw_public_key(text)
        except verifier.VerificationError as exc:
            raise SignatureError(str(exc)) from exc
        keys[verifier.key_fingerprint(raw)] = raw
    return keys


def cmd_verify_install(args: argparse.Namespace) -> int:
    verifier = load_verifier()
    target = (args.dir or installed_root()).resolve()
    if not target.is_dir():
        raise ConfigError(f"{target} is not a folder.")
    keys = trusted_keys(verifier, args.key)
    try:
        result = verifier.verify_path(target, keys)
    except verifier.VerificationError as exc:
        raise SignatureError(f"{target}: {exc}") from exc
    if args.json:
        report = {
            "ok": result.ok, "target": str(target), "signer": result.signer,
            "fields": result.fields, "checked": result.checked, "missing": result.missing,
            "extra": result.extra,
            "changed": [{"path": path, "problem": why} for path, why in result.changed],
        }  # fmt: skip
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        for line in verifier.render(result, target):
            print(line)
    return 0 if result.ok else 1
