"""What every command-line entry point shares: error handling, the crash log, output helpers.

A command raises :class:`~assistant.errors.AssistantError` for anything a person can act on;
:func:`run_command` prints its message as one line and exits with its code. Anything else is a
bug: the traceback goes to the crash log (and the terminal with ``--debug``), never silently.

The exit statuses are named here, once; ``docs/exit-status.md`` lists them with every command
that uses each, and ``tests/test_exit_status.py`` checks that table against these constants, the
errors' ``exit_code`` values and the literal statuses in the command modules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.config import HOME_ENV, Paths
from assistant.errors import AssistantError

#: When this process started its command line (this module loads before the heavy imports).
STARTED = time.perf_counter()
_first_command = [True]

#: Done.
EXIT_OK = 0
#: The command ran and its verdict is "no" (a check failed, nothing was imported, a deletion
#: was not confirmed), or an error with no more specific status.
EXIT_FAILED = 1
#: The command line, a setting, a schema or a gold set is wrong (argparse exits 2 too).
EXIT_USAGE = 2
#: The model: missing, not a GGUF, refused by llama.cpp (:class:`~assistant.errors.ModelError`).
EXIT_MODEL = 3
#: The document index (:class:`~assistant.errors.KnowledgeError`).
EXIT_KNOWLEDGE = 4
#: ``extract`` produced no valid record (:class:`~assistant.errors.OutputValidationError`).
EXIT_OUTPUT = 5
#: Model administration refused or failed (:class:`~assistant.errors.CatalogError`).
EXIT_CATALOG = 6
#: A bug: the traceback went to the crash log.
EXIT_INTERNAL = 70
#: Ctrl-C.
EXIT_INTERRUPTED = 130


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks for unexpected errors"
    )
    parser.add_argument(
        "--home", metavar="DIR", help=f"data directory (default: ${HOME_ENV} or the user folder)"
    )


def paths_from(args: argparse.Namespace) -> Paths:
    if getattr(args, "home", None):
        return Paths(home=Path(args.home).expanduser().resolve())
    return Paths.from_env()


def command_started() -> float:
    """The ``perf_counter`` time the running command's wall time counts from.

    The first command in a process counts from :data:`STARTED`, so its start-up (imports,
    opening the index, loading the embedder) is in the time it reports; any later one (tests
    run many in one process) counts from this call.
    """
    if _first_command[0]:
        _first_command[0] = False
        return STARTED
    return time.perf_counter()


def plural(count: int, word: str) -> str:
    """``1 passage``, ``2 passages``, ``1,024 passages``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _crash_log(args: argparse.Namespace) -> Path | None:
    try:
        logs = paths_from(args).ensure().logs_dir
        file = logs / f"crash-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}.log"
        file.write_text(traceback.format_exc(), encoding="utf-8")
        return file
    except Exception:  # noqa: BLE001 - the crash log must never cause a second crash
        return None


def run_command(
    handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace
) -> int:
    """Run one command, turning errors into one clear line and an exit status."""
    try:
        return int(handler(args) or EXIT_OK)
    except AssistantError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: log it, say where, exit non-zero
        if args.debug:
            traceback.print_exc()
        log = _crash_log(args)
        where = f" Details were saved to {log}." if log else ""
        print(
            f"error: an unexpected internal error occurred ({type(exc).__name__}: {exc}).{where} "
            "Run again with --debug to see the traceback, and report it to your IT team.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
