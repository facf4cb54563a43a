"""``assistant-admin``: the admin's and IT's command line.

Commands today: ``doctor`` (the same checks as ``assistant doctor``) and ``settings`` (show the
effective settings, check the file, or set one value with validation). Model import from
removable media, trusted keys and installer verification arrive here too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - first: forces offline mode before any library import
from assistant import __version__
from assistant.app import App
from assistant.cli.common import add_global_options, paths_from, print_json, run_command
from assistant.config import load_settings, save_settings, settings_to_mapping, with_value
from assistant.errors import AssistantError, ConfigError


def cmd_doctor(args: argparse.Namespace) -> int:
    from assistant.doctor import diagnose, render

    report = diagnose(App.create(paths_from(args)), load_model=not args.no_model)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0 if report["ok"] else 1


def _parse_value(text: str) -> object:
    """A command-line value as TOML would read it (numbers, booleans, lists), else a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def cmd_settings(args: argparse.Namespace) -> int:
    paths = paths_from(args).ensure()
    settings = load_settings(paths)  # validates: an invalid file is a ConfigError here
    if args.action == "show":
        print_json(settings_to_mapping(settings))
    elif args.action == "check":
        print(f"{paths.settings_file}: valid")
    elif args.action == "path":
        print(paths.settings_file)
    elif args.action == "set":
        if "." not in args.key:
            raise ConfigError(f"'{args.key}' is not a setting; use section.key, e.g. model.threads")
        updated = with_value(settings, args.key, _parse_value(args.value))
        if args.key == "model.path" and updated.model.path:
            _check_model_file(updated.model_path())
        save_settings(paths, updated)
        print(f"{args.key} = {args.value!s} saved to {paths.settings_file}")
    return 0


def _check_model_file(path: Path) -> None:
    """Refuse a ``model.path`` that the next answer would fail on: no file, or not a GGUF.

    Raises:
        ConfigError: the file is missing or fails the bounded header check (nothing is saved).
    """
    from assistant.engine.gguf_header import read_header  # bounded reads; no llama.cpp

    if not path.is_file():
        raise ConfigError(
            f"model.path {path} does not exist (or is not a file): nothing was saved. Give the "
            "path of a .gguf file, or '\"\"' for the default chat model."
        )
    try:
        read_header(path)
    except AssistantError as exc:
        raise ConfigError(f"model.path {path} was not saved: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant-admin", description="Enclave administration (models, settings, checks)."
    )
    parser.add_argument("--version", action="version", version=f"Enclave {__version__}")
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    doctor = commands.add_parser("doctor", help="check the installation and the offline guard")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--no-model", action="store_true", help="do not test-load the model")
    doctor.set_defaults(handler=cmd_doctor)

    settings = commands.add_parser("settings", help="show, check or change settings")
    actions = settings.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("show", help="the effective settings as JSON")
    actions.add_parser("check", help="validate settings.toml")
    actions.add_parser("path", help="print where settings.toml lives")
    setter = actions.add_parser("set", help="set one value, validated (e.g. model.threads 4)")
    setter.add_argument("key")
    setter.add_argument("value")
    settings.set_defaults(handler=cmd_settings)

    for module_name in EXTENSIONS:
        importlib.import_module(module_name).register(
            commands, lambda args: App.create(paths_from(args))
        )
    return parser


#: Admin command groups in their own modules; each exposes
#: ``register(subparsers, build_app: Callable[[argparse.Namespace], App]) -> None``.
EXTENSIONS: tuple[str, ...] = ("assistant.cli.admin_models", "assistant.cli.admin_install")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
