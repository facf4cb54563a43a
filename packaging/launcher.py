"""The frozen Enclave executable's entry point: one binary, several programs.

PyInstaller freezes this script into the bundle's one executable, ``enclave``. What it runs is
chosen by the first argument, else by the name it was started under (the installer creates
``assistant`` and ``assistant-admin`` links to it):

==============================  ===============================================================
``enclave`` (no argument)        the desktop window (``assistant.gui.app``)
``enclave gui [ARGS]``           the same, explicitly
``enclave assistant ARGS``       the analysts' CLI (``assistant.cli.main``); also as ``assistant``
``enclave admin ARGS``           the admins' CLI (``assistant.cli.admin``); also as
                                 ``assistant-admin`` (``enclave assistant-admin`` works too)
``enclave --self-test``          the headless check of the bundle (:mod:`assistant.selftest`)
``enclave --check-desktop``      the window's system libraries (:mod:`assistant.desktop`;
                                 ``--install`` installs them as root with apt-get)
``enclave --version``            the version and the release key's fingerprint
``enclave --enclave-catalog-probe ...``  the model-import probe child (a frozen app has no ``-m``;
                                 see :data:`assistant.catalog.checks.FROZEN_PROBE_FLAG`)
==============================  ===============================================================

Imports are deferred to the branch that needs them, so ``assistant conversations list`` never
loads Qt and the probe child stays small.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence

import assistant.offline  # noqa: F401, I001 - first: offline mode before any library loads

#: The catalog's probe flag, repeated here so dispatching it needs no import of the catalog.
PROBE_FLAG = "--enclave-catalog-probe"
SELF_TEST_FLAG = "--self-test"
DESKTOP_FLAG = "--check-desktop"

GUI_NAMES = frozenset({"enclave", "enclave-gui", "assistant-gui", "gui"})
CLI_NAMES = frozenset({"assistant", "cli"})
ADMIN_NAMES = frozenset({"assistant-admin", "admin"})


def _gui(argv: Sequence[str]) -> int:
    from assistant.desktop import check_window

    status = check_window()  # a missing system library or no display: one message, exit 2
    if status is not None:
        return status
    from assistant.gui.app import main

    return main(list(argv))


def _cli(argv: Sequence[str]) -> int:
    from assistant.cli.main import main

    return main(list(argv))


def _admin(argv: Sequence[str]) -> int:
    from assistant.cli.admin import main

    return main(list(argv))


def _self_test(argv: Sequence[str]) -> int:
    from assistant.selftest import main

    return main(list(argv))


def _desktop(argv: Sequence[str]) -> int:
    from assistant.desktop import main

    return main(list(argv))


def _probe(argv: Sequence[str]) -> int:
    from assistant.catalog.probe import main

    return main(list(argv))


def _version(argv: Sequence[str]) -> int:
    from assistant import __version__
    from assistant.release_key import describe_release_key

    print(f"Enclave {__version__}")
    print(describe_release_key())
    return 0


def _usage(argv: Sequence[str]) -> int:
    print(
        "usage: enclave [gui] [ARGS]          the desktop window\n"
        "       enclave assistant ARGS        the analysts' command line (or: assistant ARGS)\n"
        "       enclave admin ARGS            the admins' command line (or: assistant-admin ARGS)\n"
        "       enclave --self-test           check this installation end to end, offline\n"
        "       enclave --check-desktop       the window's system libraries [--install]\n"
        "       enclave --version             version and release key fingerprint"
    )
    return 0


def choose(argv: Sequence[str]) -> tuple[Callable[[Sequence[str]], int], list[str]]:
    """Pick the program for a command line.

    Args:
        argv: the full command line, ``argv[0]`` included.

    Returns:
        The program's entry function and the arguments to give it.
    """
    invoked = os.path.basename(argv[0]) if argv else "enclave"
    rest = list(argv[1:])
    first = rest[0] if rest else ""
    flags: dict[str, Callable[[Sequence[str]], int]] = {
        PROBE_FLAG: _probe,
        SELF_TEST_FLAG: _self_test,
        DESKTOP_FLAG: _desktop,
        "--version": _version,
        "--help": _usage,
        "-h": _usage,
    }
    if first == PROBE_FLAG:
        return _probe, rest[1:]
    # A link named after a program wins over the first argument: `assistant gui` must reach the
    # CLI's own `gui` command and `assistant --help` the CLI's help.
    if invoked in CLI_NAMES:
        return _cli, rest
    if invoked in ADMIN_NAMES:
        return _admin, rest
    if first in flags:
        return flags[first], rest[1:]
    if first in CLI_NAMES:
        return _cli, rest[1:]
    if first in ADMIN_NAMES:
        return _admin, rest[1:]
    if first in GUI_NAMES:
        return _gui, rest[1:]
    return _gui, rest


def use_bundled_model() -> None:
    """Make the GGUF this build bundled the default model, whatever its file name.

    ``assistant.config`` takes the default model's file name from a constant (the SmolLM2 file);
    a build given ``--model`` bundles another file. Until config reads the bundle's
    ``models/manifest.json`` itself, the entry point sets that constant once, at start-up,
    before anything reads settings.
    """
    try:
        info = importlib.import_module("enclave_build_info")
    except ImportError:  # running from source: the checkout's default stands
        return
    name = getattr(info, "DEFAULT_MODEL_FILE", "")
    if name:
        import assistant.config

        assistant.config.DEFAULT_MODEL_FILE = name


def main(argv: Sequence[str] | None = None) -> int:
    """Run the program the command line names; returns the exit status."""
    program, args = choose(list(sys.argv if argv is None else argv))
    if program is not _probe:
        use_bundled_model()
    return program(args)


if __name__ == "__main__":
    # The knowledge base parses documents in a `spawn` child, which a frozen app starts as this
    # executable with multiprocessing's own arguments: freeze_support() must see them first.
    # (PyInstaller's runtime hook makes it work on every platform, not only Windows.)
    multiprocessing.freeze_support()
    sys.exit(main())
