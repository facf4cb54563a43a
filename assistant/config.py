"""Settings and paths: where every byte Enclave writes lives, and what the user configured.

All state lives under one directory, ``ASSISTANT_HOME`` (default: the platform's user data
directory, from platformdirs). Settings are a TOML file in it, ``settings.toml``; every key is
declared in :data:`SCHEMA`, so an unknown key or a value of the wrong type or range is a
:class:`~assistant.errors.ConfigError` that names the key and the file, and suggests the close
match for a typo.

This module imports no heavy library and nothing from Qt.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from assistant.errors import ConfigError

APP_NAME = "enclave"
HOME_ENV = "ASSISTANT_HOME"
SETTINGS_FILE = "settings.toml"

#: The chat model set-up installs and the app answers with: the one that answered the answer
#: gold set best within this machine's time budget (docs/benchmarks.md, "Answers").
DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
#: The fast model the test suite runs (SmolLM2-135M, ten times quicker, far less accurate).
TEST_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Names another bundled model (a file in models/, or a path) as the default for this process:
#: the test suite sets it to :data:`TEST_MODEL_FILE`. ``model.path`` in settings wins over it.
DEFAULT_MODEL_ENV = "ASSISTANT_DEFAULT_MODEL"
DEFAULT_SYSTEM_PROMPT = (
    "You are Enclave, a careful assistant running entirely on this computer. "
    "Answer clearly and concisely. If you do not know, say so."
)


def source_root() -> Path:
    """The folder that holds ``models/``: the checkout, or the frozen bundle's root."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def default_models_dir() -> Path:
    """Where set-up puts the bundled default models."""
    return source_root() / "models"


@dataclass(frozen=True)
class Paths:
    """Every location Enclave reads or writes, derived from one home directory."""

    home: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        """Resolve the home from ``ASSISTANT_HOME``, else the platform's user data directory."""
        env = os.environ if environ is None else environ
        raw = env.get(HOME_ENV, "").strip()
        home = Path(raw).expanduser() if raw else Path(platformdirs.user_data_dir(APP_NAME))
        return cls(home=home.resolve())

    @property
    def settings_file(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def conversations_db(self) -> Path:
        return self.home / "conversations.sqlite3"

    @property
    def models_dir(self) -> Path:
        """Models an admin imported (the bundled defaults stay in :func:`default_models_dir`)."""
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lock_file(self) -> Path:
        return self.home / "enclave.lock"

    def ensure(self) -> Paths:
        """Create the home directory (private to the user) and return self.

        Raises:
            ConfigError: the directory cannot be created.
        """
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.logs_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the data directory {self.home}: {exc.strerror or exc}. "
                f"Set {HOME_ENV} to a writable folder."
            ) from exc
        return self


# --- the settings schema -------------------------------------------------------------------------


def _int_range(low: int, high: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        if value < low or (high is not None and value > high):
            return f"must be between {low} and {high}" if high is not None else f"must be >= {low}"
        return None

    return check


def _float_range(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not low <= float(value) <= high:
            return f"must be between {low} and {high}"
        return None

    return check


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(map(repr, choices))

    return check


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string in quotes"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _string_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return 'must be a list of strings, like ["gpu01.site.local:8080"]'
    return None


@dataclass(frozen=True)
class ModelSettings:
    """Which GGUF to run and how llama.cpp runs it."""

    path: str = ""  # empty: the default chat model (DEFAULT_MODEL_FILE), or ASSISTANT_DEFAULT_MODEL
    context_size: int = 4096
    threads: int = 0  # 0: one per physical core, as llama.cpp decides
    gpu_layers: int = 0  # -1: all layers; falls back to CPU with a message when no GPU backend
    batch_size: int = 512
    prompt_lookup: int = 0  # draft tokens per step by prompt lookup; 0: off (docs/benchmarks.md)


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding defaults; every one can be overridden per request."""

    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int = -1  # -1: a new random seed each answer
    max_tokens: int = 512
    top_logprobs: int = 5
    system_prompt: str = DEFAULT_SYSTEM_PROMPT


@dataclass(frozen=True)
class KnowledgeSettings:
    """Retrieval and import: how many passages an answer sees, and the limits on documents."""

    top_k: int = 5  # passages retrieved for an answer
    max_file_mb: int = 100  # larger files are refused before anything reads them
    parse_timeout_s: int = 120  # a file whose parsing takes longer is abandoned
    chunk_tokens: int = 180
    chunk_overlap_tokens: int = 30
    server_url: str = ""  # a Chroma server (``chroma run``) with shared collections; "" = local
    granted_collections: list[str] = field(default_factory=list)  # shared ones shown here
    # "onnx-int8": the int8 model in ONNX Runtime, ~1.8x faster (falls back to "torch" when its
    # file is missing); "torch": fp32 sentence-transformers. Their vectors differ: an index built
    # with one refuses the other (docs/benchmarks.md).
    embedding_backend: str = "onnx-int8"
    # Pictures (PNG, JPEG, TIFF) found in imported folders are read by OCR only when true; a
    # picture named on its own is always read, and scanned PDF pages always are.
    ocr_images: bool = False


@dataclass(frozen=True)
class ServerSettings:
    """An on-prem OpenAI-compatible inference server (llama-server, vLLM); "" keeps the local model.

    ``token_file``, ``ca_file`` and ``tls_fingerprint`` also apply to ``[knowledge] server_url``.
    """

    url: str = ""  # for example "https://gpu01.site.local:8443"
    token_file: str = ""  # a file holding the bearer token (kept out of settings.toml)
    ca_file: str = ""  # PEM of the site CA that signed the server's certificate
    tls_fingerprint: str = ""  # or: SHA-256 of the server's certificate (hex, colons allowed)
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 120.0  # the longest silence between two tokens before giving up
    context_size: int = 0  # 0: ask the server (llama-server, vLLM say; others default to 4096)
    grammar_param: str = "grammar"  # request field for GBNF: vLLM takes "guided_grammar"


@dataclass(frozen=True)
class NetworkSettings:
    """The offline guard's only door: on-prem hosts an admin allowed (none by default)."""

    allowed_hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    """Everything in ``settings.toml``, validated."""

    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    server: ServerSettings = field(default_factory=ServerSettings)

    def model_path(self) -> Path:
        """The GGUF to load: the configured path, else the bundled default."""
        if self.model.path:
            return Path(self.model.path).expanduser()
        return default_model_path()


def default_model_path(environ: Mapping[str, str] | None = None) -> Path:
    """The bundled default chat model, or the one :data:`DEFAULT_MODEL_ENV` names."""
    env = os.environ if environ is None else environ
    named = env.get(DEFAULT_MODEL_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        return path if path.is_absolute() else default_models_dir() / path
    return default_models_dir() / DEFAULT_MODEL_FILE


_SECTIONS: dict[str, type] = {
    "model": ModelSettings,
    "generation": GenerationSettings,
    "knowledge": KnowledgeSettings,
    "network": NetworkSettings,
    "server": ServerSettings,
}

#: One validator per key. A key missing here cannot be set.
SCHEMA: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "model": {
        "path": _string,
        "context_size": _int_range(256, 1 << 20),
        "threads": _int_range(0, 1024),
        "gpu_layers": _int_range(-1, 100_000),
        "batch_size": _int_range(8, 1 << 16),
        "prompt_lookup": _int_range(0, 64),
    },
    "generation": {
        "temperature": _float_range(0.0, 5.0),
        "top_p": _float_range(0.0, 1.0),
        "top_k": _int_range(0, 100_000),
        "repeat_penalty": _float_range(0.5, 5.0),
        "seed": _int_range(-1, 2**31 - 1),
        "max_tokens": _int_range(1, 1 << 20),
        "top_logprobs": _int_range(0, 20),
        "system_prompt": _string,
    },
    "knowledge": {
        "top_k": _int_range(1, 50),
        "max_file_mb": _int_range(1, 100_000),
        "parse_timeout_s": _int_range(1, 3600),
        "chunk_tokens": _int_range(32, 2048),
        "chunk_overlap_tokens": _int_range(0, 512),
        "server_url": _string,
        "granted_collections": _string_list,
        "embedding_backend": _one_of("onnx-int8", "torch"),
        "ocr_images": _bool,
    },
    "network": {"allowed_hosts": _string_list},
    "server": {
        "url": _string,
        "token_file": _string,
        "ca_file": _string,
        "tls_fingerprint": _string,
        "connect_timeout_s": _float_range(0.1, 60.0),
        "read_timeout_s": _float_range(1.0, 3600.0),
        "context_size": _int_range(0, 1 << 20),
        "grammar_param": _string,
    },
}


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def settings_from_mapping(data: Mapping[str, Any], *, source: str = "settings") -> Settings:
    """Validate a parsed TOML mapping and build :class:`Settings`.

    Raises:
        ConfigError: an unknown section or key, or a value of the wrong type or range.
    """
    sections: dict[str, Any] = {}
    for section_name, values in data.items():
        if section_name not in SCHEMA:
            raise ConfigError(
                f"{source}: unknown section [{section_name}]."
                + _suggest(section_name, list(SCHEMA))
                + f" Known sections: {', '.join(SCHEMA)}."
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section_name}] must be a table of settings.")
        validators = SCHEMA[section_name]
        for key, value in values.items():
            if key not in validators:
                raise ConfigError(
                    f"{source}: unknown setting {section_name}.{key}."
                    + _suggest(key, list(validators))
                )
            problem = validators[key](value)
            if problem:
                raise ConfigError(f"{source}: {section_name}.{key} {problem} (got {value!r}).")
        sections[section_name] = _SECTIONS[section_name](**dict(values))
    return Settings(**sections)


def load_settings(paths: Paths) -> Settings:
    """Read ``settings.toml`` from the home directory; defaults when the file does not exist.

    Raises:
        ConfigError: the file is not valid TOML or holds an invalid setting.
    """
    file = paths.settings_file
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{file} is not valid TOML: {exc}. Fix the line it names, or delete the file to "
            "go back to the defaults."
        ) from exc
    return settings_from_mapping(data, source=str(file))


def settings_to_mapping(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings as plain TOML-ready tables."""
    return {
        name: {f.name: getattr(getattr(settings, name), f.name) for f in fields(section)}
        for name, section in _SECTIONS.items()
    }


def save_settings(paths: Paths, settings: Settings) -> None:
    """Write ``settings.toml`` atomically (a crash leaves the old file or the new, never half).

    Raises:
        ConfigError: the file cannot be written.
    """
    paths.ensure()
    target = paths.settings_file
    temp = target.with_suffix(".toml.tmp")
    try:
        with temp.open("wb") as handle:
            tomli_w.dump(settings_to_mapping(settings), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(f"Cannot save settings to {target}: {exc.strerror or exc}.") from exc


def with_value(settings: Settings, dotted_key: str, value: Any) -> Settings:
    """Return a copy with one ``section.key`` changed, validated like the file.

    Raises:
        ConfigError: the key is unknown or the value invalid.
    """
    section, _, key = dotted_key.partition(".")
    current = settings_to_mapping(settings)
    if section not in current:
        raise ConfigError(f"unknown section '{section}'." + _suggest(section, list(current)))
    updated = {section: {**current[section], key: value}}
    checked = settings_from_mapping(updated, source="setting")
    return replace(settings, **{section: getattr(checked, section)})
