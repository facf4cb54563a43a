"""The verified import of a model folder from removable media.

:meth:`Importer.run` runs the pipeline, in order, before llama.cpp sees a byte:

1. the folder's ``manifest.json`` signature against the trusted admin keys;
2. each file copied into app-owned staging, size and SHA-256 checked on the copy; links, device
   files, paths leaving the folder, and files the manifest does not list (or lacks) refused;
3. the bounded GGUF header check, with import limits;
4. the chat template rendered in the sandbox, in a child process with a time limit;
5. a test load with one generated token, in a child process with a time limit;
6. the staged files re-hashed (nothing changed them since the checks), then the staging folder
   renamed into ``Paths.models_dir/NAME/VERSION`` in one step and registered. The default model
   does not change until an admin runs :meth:`~assistant.catalog.service.Catalog.set_default`.

A manifest whose version is not newer than the highest ever installed for that name is refused
unless ``force``. Any failure or cancel removes the staging folder, so nothing half-copied stays,
and every outcome is written to the audit log.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.catalog import checks
from assistant.catalog.audit import AuditLog
from assistant.catalog.keys import TrustedKeys
from assistant.catalog.records import (
    FILE_KINDS,
    KIND_MODEL,
    InstalledFile,
    InstalledModel,
    ProgressCallback,
    ProgressEvent,
    Stage,
    Version,
    check_name,
)
from assistant.catalog.registry import Registry
from assistant.catalog.staging import read_manifest, scan_folder, stage_file
from assistant.catalog.storage import fsync_dir, locked, os_user, remove_tree, utc_now
from assistant.config import Paths
from assistant.engine.base import CancelToken
from assistant.errors import (
    CatalogError,
    ImportCancelledError,
    ImportRefusedError,
    ManifestError,
    RollbackError,
)
from assistant.signing import MANIFEST_FILE, FileEntry, hash_file, verify_manifest

_DISK_MARGIN = 64 << 20


@dataclass(frozen=True)
class ImportOptions:
    """How an import runs.

    Attributes:
        force: accept a version that is not newer than the installed one (rollback).
        load_timeout_s: time limit of the child-process test load.
        template_timeout_s: time limit of the child-process chat-template check.
        context_size: context of the test load (small: it only proves the file runs).
    """

    force: bool = False
    load_timeout_s: float = 180.0
    template_timeout_s: float = 15.0
    context_size: int = 256


@dataclass(frozen=True)
class ImportResult:
    """A successful import."""

    model: InstalledModel
    path: Path  # the installed GGUF
    replaced: bool  # a forced import replaced the same version
    test_load: dict[str, Any] = field(default_factory=dict)


class Importer:
    """Runs imports into one data directory (one at a time, under a lock file)."""

    def __init__(
        self, paths: Paths, *, keys: TrustedKeys, registry: Registry, audit: AuditLog
    ) -> None:
        self.paths = paths
        self.keys = keys
        self.registry = registry
        self.audit = audit
        self.staging_dir = paths.home / "staging"

    def run(
        self,
        folder: Path,
        *,
        options: ImportOptions | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportResult:
        """Verify and install the model in ``folder`` (see the module docstring for the steps).

        Raises:
            SignatureError: the manifest is not signed by a trusted key, or was changed.
            ManifestError: the manifest is malformed or disagrees with the folder.
            RollbackError: the version is not newer than the installed one (without ``force``).
            ImportRefusedError: a file failed a check (``reason`` says which).
            ImportCancelledError: ``cancel`` was set; nothing was left behind.
        """
        options = options or ImportOptions()
        self.paths.ensure()
        folder = Path(folder).expanduser().resolve()
        details: dict[str, Any] = {"source": str(folder), "forced": options.force}
        started = time.monotonic()
        staging: Path | None = None

        def cancelled() -> bool:
            if cancel is not None and cancel.cancelled:
                raise ImportCancelledError(
                    "The import was cancelled. Nothing was installed and nothing it copied was "
                    "kept."
                )
            return False

        def emit(stage: Stage, file: str, done: int = 0, total: int = 1) -> None:
            cancelled()
            if on_progress is not None:
                on_progress(ProgressEvent(stage, file, done, total))

        try:
            with locked(self.paths.home / "import.lock"):
                self._clean_staging()
                emit(Stage.SIGNATURE, MANIFEST_FILE)
                raw_manifest = read_manifest(folder, MANIFEST_FILE)
                details["manifest_sha256"] = hashlib.sha256(raw_manifest).hexdigest()
                verified = verify_manifest(raw_manifest, self.keys.mapping())
                manifest = verified.manifest
                details["signer"] = verified.signer
                details["files"] = [f.to_json() for f in manifest.files]
                name = check_name(manifest.fields.get("name"))
                version = Version.parse(manifest.fields.get("version"))
                details.update(model=name, version=version.text)
                self._check_kinds(manifest.files)
                replaced = self._check_rollback(name, version, force=options.force)

                found = scan_folder(folder)
                found.pop(MANIFEST_FILE, None)
                self._check_listing(manifest.files, set(found))
                self._check_space(sum(f.size for f in manifest.files))
                self.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                staging = Path(tempfile.mkdtemp(prefix="import-", dir=self.staging_dir))
                for entry in manifest.files:
                    stage_file(
                        folder, entry, found[entry.path], staging / entry.path,
                        on_bytes=_copy_progress(emit, entry),
                    )  # fmt: skip

                infos = {}
                for entry in manifest.files:
                    emit(Stage.HEADER, entry.path)
                    infos[entry.path] = checks.check_header(
                        staging / entry.path, kind=entry.kind, display=entry.path
                    )
                model_entry = next(f for f in manifest.files if f.kind == KIND_MODEL)
                model_info = infos[model_entry.path]
                for entry in manifest.files:
                    if infos[entry.path].architecture != model_info.architecture:
                        raise ImportRefusedError(
                            f"The adapter {entry.path} is for {infos[entry.path].architecture} "
                            f"models, but {model_entry.path} is {model_info.architecture}.",
                            reason="header",
                        )
                emit(Stage.TEMPLATE, model_entry.path)
                if model_info.chat_template is not None:
                    checks.check_template(
                        staging / model_entry.path, display=model_entry.path,
                        timeout_s=options.template_timeout_s, cancelled=cancelled,
                    )  # fmt: skip
                emit(Stage.TEST_LOAD, model_entry.path)
                loaded = checks.trial_load(
                    staging / model_entry.path, display=model_entry.path,
                    timeout_s=options.load_timeout_s, context_size=options.context_size,
                    cancelled=cancelled,
                )  # fmt: skip

                emit(Stage.INSTALL, model_entry.path)
                self._seal(staging, manifest.files)
                (staging / MANIFEST_FILE).write_bytes(verified.raw)
                installed = InstalledModel(
                    name=name,
                    version=version.text,
                    folder=f"{name}/{version.text}",
                    files=tuple(
                        InstalledFile(f.path, f.size, f.sha256, f.kind) for f in manifest.files
                    ),
                    architecture=model_info.architecture,
                    quantization=model_info.quantization,
                    signer=verified.signer,
                    installed_at=utc_now(),
                    installed_by=os_user(),
                )
                self._move_into_place(staging, installed)
                staging = None
        except CatalogError as exc:
            result = "cancelled" if isinstance(exc, ImportCancelledError) else "refused"
            self._audit_import(result, details, started, reason=exc.reason, message=str(exc))
            raise
        except KeyboardInterrupt:
            self._audit_import("cancelled", details, started, reason="interrupted")
            raise
        except OSError as exc:  # unreadable media, a full disk, permissions
            error = ImportRefusedError(
                f"The import failed reading or writing files ({exc}). Check the media and the "
                f"free space and permissions of {self.paths.home}, then try again.",
                reason="io",
            )
            self._audit_import("refused", details, started, reason="io", message=str(error))
            raise error from exc
        except BaseException as exc:
            self._audit_import("failed", details, started, reason="error", message=repr(exc))
            raise
        finally:
            if staging is not None:
                remove_tree(staging)
        self._audit_import("ok", details, started)
        return ImportResult(installed, self.registry.model_path(installed), replaced, loaded)

    def _audit_import(
        self, result: str, details: dict[str, Any], started: float, **extra: Any
    ) -> None:
        seconds = round(time.monotonic() - started, 3)
        self.audit.append("import", result, **details, **extra, seconds=seconds)

    @staticmethod
    def _check_kinds(files: tuple[FileEntry, ...]) -> None:
        unknown = [f.path for f in files if f.kind not in FILE_KINDS]
        if unknown:
            raise ManifestError(
                f"The manifest gives {unknown[0]} the kind it cannot have here "
                f"(allowed: {', '.join(FILE_KINDS)})."
            )
        models = [f.path for f in files if f.kind == KIND_MODEL]
        if len(models) != 1:
            raise ManifestError(
                f"A model folder must hold exactly one model file; the manifest lists "
                f"{len(models)}. Put each model in its own folder and sign each one."
            )

    def _check_rollback(self, name: str, version: Version, *, force: bool) -> bool:
        """Whether the import replaces an installed version (only ever with ``force``)."""
        highest = self.registry.highest(name)
        if highest is not None and not version > highest and not force:
            raise RollbackError(
                f"{name} {version} is not newer than version {highest}, already installed here "
                "(or installed before). Importing it would re-install or roll back the model; if "
                "that is intended, run the import again with --force."
            )
        return (self.paths.models_dir / name / version.text).exists()

    @staticmethod
    def _check_listing(files: tuple[FileEntry, ...], found: set[str]) -> None:
        listed = {f.path for f in files}
        missing, extra = sorted(listed - found), sorted(found - listed)
        if missing:
            raise ManifestError(
                f"The manifest lists {missing[0]}, but the folder does not hold it. Copy the "
                "complete signed folder onto the media.",
                reason="missing-file",
            )
        if extra:
            raise ManifestError(
                f"The folder holds {extra[0]}, which the manifest does not list. Only signed "
                "files may come in: remove it, or sign the folder again with it.",
                reason="extra-file",
            )

    def _check_space(self, needed: int) -> None:
        self.paths.models_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        free = shutil.disk_usage(self.paths.models_dir).free
        if free < needed + _DISK_MARGIN:
            raise ImportRefusedError(
                f"The model needs {needed / 1e9:.1f} GB but only {free / 1e9:.1f} GB is free "
                f"on the disk of {self.paths.home}. Free some space and try again.",
                reason="disk-space",
            )

    @staticmethod
    def _seal(staging: Path, files: tuple[FileEntry, ...]) -> None:
        """Re-hash the staged files: what gets installed is what was checked."""
        for entry in files:
            if hash_file(staging / entry.path) != (entry.size, entry.sha256):
                raise ImportRefusedError(
                    f"The staged copy of {entry.path} changed after it was checked. Something "
                    f"on this machine is writing to {staging.parent}; investigate before "
                    "importing again.",
                    reason="changed",
                )

    def _move_into_place(self, staging: Path, model: InstalledModel) -> None:
        final = self.paths.models_dir / model.folder
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        displaced: Path | None = None
        if final.exists():  # a forced re-import of the same version
            displaced = Path(tempfile.mkdtemp(prefix="replaced-", dir=self.staging_dir))
            final.rename(displaced / "old")
        staging.rename(final)  # one rename: the model folder appears whole or not at all
        fsync_dir(final.parent)
        try:
            self.registry.add(model)
        except BaseException:
            final.rename(staging)  # the caller's cleanup removes it
            if displaced is not None:
                (displaced / "old").rename(final)
            raise
        finally:
            if displaced is not None:
                remove_tree(displaced)

    def _clean_staging(self) -> None:
        """Remove what an import killed mid-way (power loss, SIGKILL) left in staging."""
        if self.staging_dir.is_dir():
            for leftover in self.staging_dir.iterdir():
                remove_tree(leftover)


def _copy_progress(
    emit: Callable[[Stage, str, int, int], None], entry: FileEntry
) -> Callable[[int], None]:
    return lambda done: emit(Stage.COPY, entry.path, done, entry.size)
