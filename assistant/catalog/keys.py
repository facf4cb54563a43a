"""The trusted admin keys: the public keys whose signatures this machine accepts.

Stored in ``trusted-keys.json`` under the data directory (private to the user), one entry per key
with its fingerprint, raw public key (base64), a comment, and who added it when. Adding or
removing a key is an admin action the :class:`~assistant.catalog.service.Catalog` audits.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from assistant.catalog.storage import locked, os_user, utc_now, write_json
from assistant.errors import CatalogEntryNotFoundError, CatalogError
from assistant.signing import fingerprint, load_public_key, public_key_from_raw

MIN_PREFIX = 8


@dataclass(frozen=True)
class TrustedKey:
    """One trusted public key."""

    fingerprint: str
    public_key: str  # raw 32 bytes, base64
    comment: str
    added_at: str
    added_by: str

    def key(self) -> Ed25519PublicKey:
        return public_key_from_raw(base64.b64decode(self.public_key))

    def to_json(self) -> dict[str, str]:
        return {
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
            "comment": self.comment,
            "added_at": self.added_at,
            "added_by": self.added_by,
        }


class TrustedKeys:
    """The trusted-keys file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(path.name + ".lock")

    def list(self) -> tuple[TrustedKey, ...]:
        """Every trusted key, in the order they were added.

        Raises:
            CatalogError: the file exists but is unreadable or corrupt.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise CatalogError(f"Cannot read the trusted keys {self.path}: {exc}.") from exc
        try:
            data: Any = json.loads(raw)
            keys = tuple(TrustedKey(**item) for item in data["keys"])
            for key in keys:  # a hand-edited entry must not smuggle in a mismatched key
                if fingerprint(key.key()) != key.fingerprint:
                    raise ValueError(f"fingerprint mismatch for {key.fingerprint}")
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(
                f"The trusted keys file {self.path} is corrupt ({exc}). Restore it from backup, "
                "or delete it and add the site's keys again with 'assistant-admin keys add'."
            ) from exc
        return keys

    def mapping(self) -> dict[str, Ed25519PublicKey]:
        """Trusted keys by fingerprint, as :func:`assistant.signing.verify_manifest` wants."""
        return {key.fingerprint: key.key() for key in self.list()}

    def add(self, pem: bytes, *, comment: str = "") -> tuple[TrustedKey, bool]:
        """Trust a public key (PEM, as ``keygen`` writes it).

        Returns:
            The entry, and whether it was new (adding a trusted key again changes nothing).

        Raises:
            SignatureError: not an Ed25519 PEM public key.
        """
        public = load_public_key(pem)
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        entry = TrustedKey(
            fingerprint=fingerprint(public),
            public_key=base64.b64encode(raw).decode("ascii"),
            comment=comment,
            added_at=utc_now(),
            added_by=os_user(),
        )
        with locked(self._lock):
            keys = self.list()
            existing = next((k for k in keys if k.fingerprint == entry.fingerprint), None)
            if existing is not None:
                return existing, False
            self._save((*keys, entry))
        return entry, True

    def find(self, prefix: str) -> TrustedKey:
        """The one key whose fingerprint starts with ``prefix`` (at least 8 hex digits).

        Raises:
            CatalogEntryNotFoundError: no key, or several, match.
        """
        prefix = prefix.strip().lower()
        matches = [k for k in self.list() if k.fingerprint.startswith(prefix)]
        if len(prefix) < MIN_PREFIX or len(matches) != 1:
            problem = "matches several keys" if len(matches) > 1 else "matches no trusted key"
            if len(prefix) < MIN_PREFIX:
                problem = f"is shorter than {MIN_PREFIX} characters"
            raise CatalogEntryNotFoundError(
                f"The fingerprint {prefix!r} {problem}. Run 'assistant-admin keys list' and "
                "give the fingerprint (or its first 8 or more characters)."
            )
        return matches[0]

    def remove(self, prefix: str) -> TrustedKey:
        """Stop trusting a key. Models it signed stay installed; ``verify`` will flag them.

        Raises:
            CatalogEntryNotFoundError: no single key matches.
        """
        with locked(self._lock):
            victim = self.find(prefix)
            self._save(tuple(k for k in self.list() if k.fingerprint != victim.fingerprint))
        return victim

    def _save(self, keys: tuple[TrustedKey, ...]) -> None:
        try:
            write_json(self.path, {"keys": [k.to_json() for k in keys]})
        except OSError as exc:
            raise CatalogError(f"Cannot save the trusted keys to {self.path}: {exc}.") from exc
