"""The installed-models registry: ``catalog.json`` under the data directory.

It records each installed model version (its files and their digests as the signed manifest gave
them, the signer, who installed it when), the highest version ever installed per model name (for
rollback protection, kept even after a version is removed), which LoRA adapter is selected
for each model, and the audit log's anchored head (see :mod:`~assistant.catalog.audit`). Writes
are atomic and serialised by a lock file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assistant.catalog.records import InstalledModel, Version
from assistant.catalog.storage import locked, write_json
from assistant.errors import CatalogEntryNotFoundError, CatalogError

SCHEMA_VERSION = 1


def _same(entry: dict[str, Any], model: InstalledModel) -> bool:
    return (entry["name"], entry["version"]) == (model.name, model.version)


class Registry:
    """The installed models of one data directory."""

    def __init__(self, path: Path, models_dir: Path) -> None:
        self.path = path
        self.models_dir = models_dir
        self._lock = path.with_name(path.name + ".lock")

    # --- reading ---------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"schema": SCHEMA_VERSION, "models": [], "highest": {}, "adapters": {}}
        except OSError as exc:
            raise CatalogError(f"Cannot read the model registry {self.path}: {exc}.") from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
                raise ValueError("unknown schema")
            for item in data["models"]:
                InstalledModel.from_json(item)
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(
                f"The model registry {self.path} is corrupt ({exc}). Restore it from backup; the "
                f"model files themselves are untouched in {self.models_dir}."
            ) from exc
        return data

    def list(self) -> tuple[InstalledModel, ...]:
        """Installed models, by name then version."""
        models = [InstalledModel.from_json(m) for m in self._read()["models"]]
        return tuple(sorted(models, key=lambda m: (m.name, Version.parse(m.version))))

    def get(self, reference: str) -> InstalledModel:
        """The installed model ``name@version``, or the newest installed version of ``name``.

        Raises:
            CatalogEntryNotFoundError: nothing installed by that name.
        """
        name, _, version = reference.partition("@")
        matches = [m for m in self.list() if m.name == name]
        if version:
            matches = [m for m in matches if Version.parse(m.version) == Version.parse(version)]
        if not matches:
            known = ", ".join(m.key for m in self.list()) or "none"
            raise CatalogEntryNotFoundError(
                f"No installed model is called {reference!r} (installed: {known}). "
                "Run 'assistant-admin models list'."
            )
        return matches[-1]

    def highest(self, name: str) -> Version | None:
        """The highest version of ``name`` ever installed here, even if since removed."""
        text = self._read()["highest"].get(name)
        return Version.parse(text) if text else None

    def model_path(self, model: InstalledModel) -> Path:
        """The GGUF file of an installed model."""
        return self.models_dir / model.folder / model.model_file.path

    def folder(self, model: InstalledModel) -> Path:
        return self.models_dir / model.folder

    def find_by_path(self, path: Path | str) -> InstalledModel | None:
        """The installed model whose main file is ``path`` (e.g. the configured default)."""
        if not path:
            return None
        target = Path(path).expanduser().resolve()
        return next((m for m in self.list() if self.model_path(m).resolve() == target), None)

    def selected_adapter(self, model: InstalledModel) -> Path | None:
        """The LoRA adapter selected for ``model``, to apply when it loads (None: none)."""
        chosen = self._read()["adapters"].get(model.key)
        return self.folder(model) / chosen if chosen else None

    def read_audit_head(self) -> dict[str, Any] | None:
        """The audit log's head as the last append anchored it (None: never anchored)."""
        head = self._read().get("audit_head")
        return head if isinstance(head, dict) else None

    # --- writing ---------------------------------------------------------------------------------

    def write_audit_head(self, head: Mapping[str, Any]) -> None:
        """Anchor the audit log's head (record count, last line's digest) outside the log."""

        def change(data: dict[str, Any]) -> None:
            data["audit_head"] = dict(head)

        self._update(change)

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        with locked(self._lock):
            data = self._read()
            change(data)
            try:
                write_json(self.path, data)
            except OSError as exc:
                raise CatalogError(f"Cannot save the model registry {self.path}: {exc}.") from exc

    def add(self, model: InstalledModel) -> None:
        """Register ``model`` (replacing an entry for the same name and version)."""

        def change(data: dict[str, Any]) -> None:
            data["models"] = [m for m in data["models"] if not _same(m, model)]
            data["models"].append(model.to_json())
            best = data["highest"].get(model.name)
            if best is None or Version.parse(model.version) > Version.parse(best):
                data["highest"][model.name] = model.version

        self._update(change)

    def remove(self, model: InstalledModel) -> None:
        """Unregister ``model``; its rollback high-water mark stays."""

        def change(data: dict[str, Any]) -> None:
            data["models"] = [m for m in data["models"] if not _same(m, model)]
            data["adapters"].pop(model.key, None)

        self._update(change)

    def select_adapter(self, model: InstalledModel, adapter: str | None) -> None:
        """Select one of ``model``'s adapters by file path or stem (None: none).

        Raises:
            CatalogEntryNotFoundError: the model has no such adapter.
        """
        chosen: str | None = None
        if adapter:
            match = [a for a in model.adapters if adapter in (a.path, Path(a.path).stem)]
            if not match:
                listed = ", ".join(a.path for a in model.adapters) or "none"
                raise CatalogEntryNotFoundError(
                    f"{model.key} has no adapter {adapter!r} (its adapters: {listed})."
                )
            chosen = match[0].path

        def change(data: dict[str, Any]) -> None:
            if chosen:
                data["adapters"][model.key] = chosen
            else:
                data["adapters"].pop(model.key, None)

        self._update(change)
