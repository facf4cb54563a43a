"""The catalog's values: versions, names, installed models, progress events.

Plain frozen dataclasses with JSON round-trips; no I/O. Imports only the standard library and
:mod:`assistant.errors`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from assistant.errors import ManifestError

#: Kinds of file a model folder's manifest may list.
KIND_MODEL = "model"
KIND_LORA = "lora"
FILE_KINDS = (KIND_MODEL, KIND_LORA)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^v?(\d{1,9})((?:[.-]\d{1,9}){0,5})$")


def check_name(name: object) -> str:
    """A model name as it may appear in a manifest and as a folder name.

    Raises:
        ManifestError: empty, too long, or characters other than letters, digits, ``._-``.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        raise ManifestError(
            f"The model name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit."
        )
    return name


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A model version: dot- or dash-separated numbers (``1.2.0``, ``2024.05.01``, ``v3``)."""

    text: str
    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: object) -> Version:
        """Raises: ManifestError: not a version of numbers."""
        match = _VERSION.match(text) if isinstance(text, str) else None
        if match is None:
            raise ManifestError(
                f"The version {text!r} is not allowed: use up to six numbers separated by dots "
                "or dashes, like 1.0, 2024.05.01 or v3, so that newer versions can be recognised."
            )
        numbers = [match.group(1), *re.split(r"[.-]", match.group(2))[1:]]
        parts = tuple(int(n) for n in numbers)
        while len(parts) > 1 and parts[-1] == 0:  # 1.0 == 1.0.0
            parts = parts[:-1]
        return cls(str(text), parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __lt__(self, other: Version) -> bool:
        return self.parts < other.parts

    def __str__(self) -> str:
        return self.text


class Stage(enum.StrEnum):
    """The import pipeline's steps, in order."""

    SIGNATURE = "signature"
    COPY = "copy"
    HEADER = "header"
    TEMPLATE = "template"
    TEST_LOAD = "test-load"
    INSTALL = "install"


@dataclass(frozen=True)
class ProgressEvent:
    """Where an import is. ``done``/``total`` are bytes for copy, else steps of one."""

    stage: Stage
    file: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class InstalledFile:
    """A file of an installed model, relative to the model's folder."""

    path: str
    size: int
    sha256: str
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstalledFile:
        return cls(str(data["path"]), int(data["size"]), str(data["sha256"]), str(data["kind"]))


@dataclass(frozen=True)
class InstalledModel:
    """One installed model version, its adapters among its files.

    Attributes:
        folder: relative to ``Paths.models_dir`` (``name/version``).
        signer: fingerprint of the key that signed its manifest.
    """

    name: str
    version: str
    folder: str
    files: tuple[InstalledFile, ...]
    architecture: str
    quantization: str
    signer: str
    installed_at: str
    installed_by: str

    @property
    def key(self) -> str:
        """``name@version``: how commands name one installed version."""
        return f"{self.name}@{self.version}"

    @property
    def model_file(self) -> InstalledFile:
        return next(f for f in self.files if f.kind == KIND_MODEL)

    @property
    def adapters(self) -> tuple[InstalledFile, ...]:
        return tuple(f for f in self.files if f.kind == KIND_LORA)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "folder": self.folder,
            "files": [f.to_json() for f in self.files],
            "architecture": self.architecture,
            "quantization": self.quantization,
            "signer": self.signer,
            "installed_at": self.installed_at,
            "installed_by": self.installed_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstalledModel:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            folder=str(data["folder"]),
            files=tuple(InstalledFile.from_json(f) for f in data["files"]),
            architecture=str(data.get("architecture", "unknown")),
            quantization=str(data.get("quantization", "unknown")),
            signer=str(data.get("signer", "")),
            installed_at=str(data.get("installed_at", "")),
            installed_by=str(data.get("installed_by", "")),
        )


@dataclass(frozen=True)
class VerifyResult:
    """What re-checking one installed model found."""

    model: InstalledModel
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems
