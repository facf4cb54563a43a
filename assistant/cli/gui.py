"""``assistant gui``: open the desktop window.

Registered through :data:`assistant.cli.main.EXTENSIONS`. PySide6 is imported only when the
command runs, so every other command starts without Qt.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def register(subparsers: Any, build_app: Callable[[argparse.Namespace], Any]) -> None:
    """Add the ``gui`` command to the ``assistant`` parser."""
    gui = subparsers.add_parser("gui", help="open the desktop window")
    gui.set_defaults(handler=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from assistant.desktop import check_window

    status = check_window()  # a missing system library or no display: one message, exit 2
    if status is not None:
        return status
    from assistant.gui.app import main  # Qt loads only for this command

    return main(["--home", args.home] if getattr(args, "home", None) else [])
