"""Settings: one home directory, a validated TOML file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import (
    DEFAULT_MODEL_ENV,
    DEFAULT_MODEL_FILE,
    TEST_MODEL_FILE,
    Paths,
    Settings,
    default_models_dir,
    load_settings,
    save_settings,
    with_value,
)
from assistant.errors import ConfigError


def test_home_comes_from_the_environment(assistant_home: Path) -> None:
    paths = Paths.from_env()
    assert paths.home == assistant_home.resolve()
    assert paths.conversations_db.parent == paths.home
    assert paths.settings_file.name == "settings.toml"


def test_defaults_when_no_file(paths: Paths) -> None:
    settings = load_settings(paths)
    assert settings == Settings()
    assert settings.model_path().name == TEST_MODEL_FILE  # the suite runs the fast model
    assert settings.network.allowed_hosts == []


def test_the_default_model_is_the_measured_one_unless_the_environment_names_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DEFAULT_MODEL_ENV)
    assert Settings().model_path() == default_models_dir() / DEFAULT_MODEL_FILE
    assert DEFAULT_MODEL_FILE.startswith("qwen2.5-coder-1.5b")
    monkeypatch.setenv(DEFAULT_MODEL_ENV, str(tmp_path / "other.gguf"))
    assert Settings().model_path() == tmp_path / "other.gguf"
    # settings.toml's model.path wins over both
    chosen = with_value(Settings(), "model.path", str(tmp_path / "mine.gguf"))
    assert chosen.model_path() == tmp_path / "mine.gguf"


def test_file_values_are_read(paths: Paths) -> None:
    paths.settings_file.write_text("[generation]\ntemperature = 0.7\n[model]\nthreads = 2\n")
    settings = load_settings(paths)
    assert settings.generation.temperature == 0.7
    assert settings.model.threads == 2


def test_unknown_key_names_the_key_and_suggests(paths: Paths) -> None:
    paths.settings_file.write_text("[generation]\ntemprature = 0.7\n")
    with pytest.raises(ConfigError, match=r"generation\.temprature.*Did you mean 'temperature'"):
        load_settings(paths)


def test_unknown_section(paths: Paths) -> None:
    paths.settings_file.write_text("[modle]\npath = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown section \[modle\].*'model'"):
        load_settings(paths)


@pytest.mark.parametrize(
    ("text", "message"),
    [("[generation]\ntemperature = 'hot'\n", "must be a number"),
     ("[generation]\ntop_p = 1.5\n", "between 0.0 and 1.0"),
     ("[model]\ncontext_size = 10\n", "between 256"),
     ("[model]\nthreads = true\n", "whole number"),
     ("[network]\nallowed_hosts = 'x'\n", "list of strings")],
)  # fmt: skip
def test_invalid_values_are_refused(paths: Paths, text: str, message: str) -> None:
    paths.settings_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(paths)


def test_broken_toml_says_which_file(paths: Paths) -> None:
    paths.settings_file.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(paths)


def test_save_and_reload_round_trip(paths: Paths) -> None:
    updated = with_value(Settings(), "generation.max_tokens", 99)
    save_settings(paths, updated)
    assert load_settings(paths).generation.max_tokens == 99
    assert not list(paths.home.glob("*.tmp"))


def test_with_value_validates() -> None:
    with pytest.raises(ConfigError, match="must be between"):
        with_value(Settings(), "generation.top_p", 3)
    with pytest.raises(ConfigError, match="unknown setting"):
        with_value(Settings(), "generation.nonsense", 1)
