"""The model catalog of one data directory: import, installed models, trusted keys, audit.

:class:`Catalog` is what the CLI and the GUI hold. Imports go through
:class:`~assistant.catalog.importer.Importer` (the verified pipeline); the other operations are
here: list, verify (re-hash and re-check the signature), set the default model (after
verifying it), remove, and trusted-key changes. Every change is written to the audit log.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from assistant.catalog.audit import AuditLog
from assistant.catalog.importer import Importer, ImportOptions, ImportResult
from assistant.catalog.journal import Journal
from assistant.catalog.keys import TrustedKey, TrustedKeys
from assistant.catalog.records import InstalledModel, ProgressCallback, VerifyResult
from assistant.catalog.registry import Registry
from assistant.catalog.storage import remove_tree
from assistant.config import Paths, load_settings, save_settings, with_value
from assistant.engine.base import CancelToken
from assistant.errors import CatalogError, IntegrityError, ManifestError, SignatureError
from assistant.signing import MANIFEST_FILE, hash_file, verify_manifest

__all__ = ["Catalog", "ImportOptions", "ImportResult"]


class Catalog:
    """Installed models, trusted keys and the audit log of one data directory."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.keys = TrustedKeys(paths.home / "trusted-keys.json")
        self.registry = Registry(paths.home / "catalog.json", paths.models_dir)
        # The log's head is anchored in catalog.json, and mirrored to journald where it runs.
        self.audit = AuditLog(paths.home / "audit.log", anchor=self.registry, journal=Journal())
        self.staging_dir = paths.home / "staging"

    def import_folder(
        self,
        folder: Path,
        *,
        options: ImportOptions | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportResult:
        """Verify and install the model in ``folder``; see :mod:`assistant.catalog.importer`.

        Raises:
            SignatureError: the manifest is not signed by a trusted key, or was changed.
            ManifestError: the manifest is malformed or disagrees with the folder.
            RollbackError: the version is not newer than the installed one (without ``force``).
            ImportRefusedError: a file failed a check (``reason`` says which).
            ImportCancelledError: ``cancel`` was set; nothing was left behind.
        """
        importer = Importer(self.paths, keys=self.keys, registry=self.registry, audit=self.audit)
        return importer.run(folder, options=options, on_progress=on_progress, cancel=cancel)

    # --- the installed models --------------------------------------------------------------------

    def list_models(self) -> tuple[InstalledModel, ...]:
        return self.registry.list()

    def default_model(self) -> InstalledModel | None:
        """The installed model the settings point at (None: the bundled default or elsewhere)."""
        return self.registry.find_by_path(load_settings(self.paths).model.path)

    def verify(self, reference: str | None = None) -> list[VerifyResult]:
        """Re-check installed models: file digests, and the stored manifest's signature.

        Args:
            reference: ``name`` or ``name@version``; None checks every installed model.
        """
        models = [self.registry.get(reference)] if reference else list(self.registry.list())
        trusted = self.keys.mapping()
        results = []
        for model in models:
            problems = self._problems(model, trusted)
            results.append(VerifyResult(model, tuple(problems)))
            self.audit.append(
                "verify", "ok" if not problems else "failed", model=model.name,
                version=model.version, problems=problems,
                files=[f.to_json() for f in model.files],
            )  # fmt: skip
        return results

    def _problems(self, model: InstalledModel, trusted: dict[str, Any]) -> list[str]:
        folder = self.registry.folder(model)
        problems = []
        try:
            verified = verify_manifest((folder / MANIFEST_FILE).read_bytes(), trusted)
            signed = {f.path: (f.size, f.sha256) for f in verified.manifest.files}
            if signed != {f.path: (f.size, f.sha256) for f in model.files}:
                problems.append("the registry disagrees with the signed manifest")
        except OSError as exc:
            problems.append(f"the signed manifest cannot be read ({exc.strerror})")
        except SignatureError as exc:
            problems.append(f"signature: {exc}")
        except ManifestError as exc:
            problems.append(f"manifest: {exc}")
        for entry in model.files:
            try:
                actual = hash_file(folder / entry.path)
            except OSError as exc:
                problems.append(f"{entry.path} cannot be read ({exc.strerror})")
                continue
            if actual != (entry.size, entry.sha256):
                problems.append(f"{entry.path} no longer matches its signed SHA-256")
        return problems

    def set_default(self, reference: str, *, adapter: str | None = None) -> Path:
        """Make an installed model the default (``model.path``), after re-checking its digests.

        Raises:
            CatalogEntryNotFoundError: no such model or adapter.
            IntegrityError: its files no longer match their digests.
        """
        model = self.registry.get(reference)
        problems = self._problems(model, self.keys.mapping())
        path = self.registry.model_path(model)
        if problems:
            self.audit.append("set-default", "refused", model=model.name, version=model.version,
                              reason="integrity", problems=problems)  # fmt: skip
            raise IntegrityError(
                f"{model.key} failed verification ({'; '.join(problems)}). It was not made the "
                "default; remove it and import a fresh signed copy."
            )
        self.registry.select_adapter(model, adapter)
        settings = load_settings(self.paths)
        save_settings(self.paths, with_value(settings, "model.path", str(path)))
        self.audit.append(
            "set-default", "ok", model=model.name, version=model.version, adapter=adapter,
            path=str(path), previous=settings.model.path,
        )  # fmt: skip
        return path

    def remove(self, reference: str) -> InstalledModel:
        """Uninstall a model version (never the current default).

        Raises:
            CatalogEntryNotFoundError: no such model.
            CatalogError: it is the default model.
        """
        model = self.registry.get(reference)
        default = self.default_model()
        if default is not None and default.key == model.key:
            self.audit.append("remove", "refused", model=model.name, version=model.version,
                              reason="is-default")  # fmt: skip
            raise CatalogError(
                f"{model.key} is the default model. Make another model the default first "
                "('assistant-admin models set-default NAME'), then remove it.",
                reason="is-default",
            )
        self.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        trash = Path(tempfile.mkdtemp(prefix="removed-", dir=self.staging_dir))
        folder = self.registry.folder(model)
        if folder.exists():
            folder.rename(trash / "model")
        self.registry.remove(model)
        remove_tree(trash)
        self.audit.append("remove", "ok", model=model.name, version=model.version,
                          files=[f.to_json() for f in model.files])  # fmt: skip
        return model

    # --- trusted keys (audited) ------------------------------------------------------------------

    def add_key(self, pem: bytes, *, comment: str = "", source: str = "") -> TrustedKey:
        key, new = self.keys.add(pem, comment=comment)
        self.audit.append("keys-add", "ok" if new else "unchanged",
                          fingerprint=key.fingerprint, comment=comment, source=source)  # fmt: skip
        return key

    def remove_key(self, prefix: str) -> TrustedKey:
        key = self.keys.remove(prefix)
        self.audit.append("keys-remove", "ok", fingerprint=key.fingerprint, comment=key.comment)
        return key
