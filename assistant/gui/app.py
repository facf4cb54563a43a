"""``assistant-gui``: the GUI's entry point and composition root.

:func:`main` installs the offline guard first, takes the single-instance lock in the data
directory, sets up logging and the crash handler, builds the :class:`~assistant.app.App`, opens
the knowledge base, and shows the window before the model has loaded (the model loads in a
worker). :func:`build_window` is the same assembly without the process-wide parts, for tests and
the screenshot script.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

import assistant.offline  # noqa: F401, I001 - first: forces offline mode before any library import
from assistant import __version__
from assistant.app import App, knowledge_settings, load_engine
from assistant.config import Paths, Settings
from assistant.engine.base import Engine
from assistant.errors import AssistantError, InstanceLockedError, KnowledgeError
from assistant.gui.main_window import MainWindow
from assistant.instance import InstanceLock
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.embedder import Embedder, MiniLMEmbedder
from assistant.knowledge.records import KnowledgeSettings

log = logging.getLogger("assistant.gui")

EXIT_ALREADY_RUNNING = 1


def gui_preferences(paths: Paths) -> QSettings:
    """Window geometry and view choices, in the data directory (never the user's profile)."""
    return QSettings(str(paths.home / "gui.ini"), QSettings.Format.IniFormat)


def acquire_instance_lock(paths: Paths) -> InstanceLock:
    """Hold the data directory for this process (the same lock the CLI's index writers take).

    Raises:
        InstanceLockedError: another live Enclave process holds it.
    """
    # The kernel drops the lock when its process dies, so a crash never locks users out.
    return InstanceLock.acquire(paths.lock_file, home=paths.home, purpose="gui")


def open_knowledge(
    paths: Paths,
    *,
    embedder: Embedder | None = None,
    settings: KnowledgeSettings | None = None,
) -> tuple[KnowledgeBase | None, str]:
    """Open the document index; on failure the app still starts, with the reason to show.

    A damaged or missing vector index is found here (without loading Chroma in this process)
    and set aside; the returned message says so, and the rebuild runs in the warm-up worker.
    """
    try:
        knowledge = KnowledgeBase.open(paths.index_dir, embedder=embedder, settings=settings)
        return knowledge, knowledge.check_index()
    except KnowledgeError as exc:
        log.error("knowledge base unavailable: %s", exc)
        return None, f"The document library is unavailable: {exc}"


def library_warm_up(
    embedder: Embedder, knowledge: KnowledgeBase | None = None
) -> Callable[[], None]:
    """A job that loads Chroma and the embedder ahead of the first import or search.

    With ``knowledge`` it also opens the vector index, rebuilding it if start-up found it
    damaged, so that work happens in the worker rather than on the first search.
    """

    def warm() -> None:
        import assistant.knowledge.store  # noqa: F401 - imports chromadb, off the GUI thread

        embedder.embed(["warm up"])
        if knowledge is not None:
            knowledge.open_index()

    return warm


def build_window(
    app: App,
    *,
    engine_loader: Callable[[Settings], Engine] = load_engine,
    knowledge: KnowledgeBase | None = None,
    knowledge_error: str = "",
    on_crash: Callable[[str], None] | None = None,
    warm_up: Callable[[], object] | None = None,
) -> MainWindow:
    """Assemble the main window from the application's parts."""
    return MainWindow(
        app,
        engine_loader=engine_loader,
        prefs=gui_preferences(app.paths),
        knowledge=knowledge,
        knowledge_error=knowledge_error,
        on_crash=on_crash,
        warm_up=warm_up,
    )


class CrashHandler:
    """Unexpected exceptions: logged with their traceback, shown in a dialog, never fatal.

    The conversation is safe by construction (the store saves each message as it streams), so
    the dialog can say so.
    """

    def __init__(self, paths: Paths, parent: Callable[[], QWidget | None]) -> None:
        self._paths = paths
        self._parent = parent
        self.reports: list[Path] = []

    def write(self, text: str) -> Path | None:
        try:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            file = self._paths.logs_dir / f"crash-gui-{stamp}-{os.getpid()}.log"
            file.write_text(text, encoding="utf-8")
            self.reports.append(file)
            return file
        except OSError:
            return None

    def __call__(self, text: str) -> None:
        log.error("unexpected error:\n%s", text)
        file = self.write(text)
        where = f"Details were saved to {file}." if file else "Details are in the log."
        if QApplication.platformName() == "offscreen":
            return  # nobody could see or close a dialog
        box = QMessageBox(self._parent())
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Enclave: unexpected error")
        box.setText("Something went wrong inside Enclave. Your conversation has been kept.")
        box.setInformativeText(f"{where} Please report it to your IT team.")
        box.setDetailedText(text)
        box.open()  # not exec(): a crash dialog must not stop the event loop

    def excepthook(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        self("".join(traceback.format_exception(kind, value, tb)))


def _setup_logging(paths: Paths) -> None:
    handler = logging.FileHandler(paths.logs_dir / "gui.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("assistant")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _tell(text: str) -> None:
    print(f"error: {text}", file=sys.stderr)
    if QApplication.platformName() != "offscreen":
        QMessageBox.warning(None, "Enclave", text)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the GUI; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="assistant-gui", description="Enclave's desktop window")
    parser.add_argument("--home", metavar="DIR", help="data directory (default: $ASSISTANT_HOME)")
    parser.add_argument("--version", action="version", version=f"Enclave {__version__}")
    args, qt_args = parser.parse_known_args(argv)
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName("Enclave")
    qapp.setApplicationDisplayName("Enclave")
    try:
        paths = Paths(Path(args.home).expanduser().resolve()) if args.home else Paths.from_env()
        paths.ensure()
        lock = acquire_instance_lock(paths)
    except InstanceLockedError as exc:
        _tell(str(exc))
        return EXIT_ALREADY_RUNNING
    except AssistantError as exc:
        _tell(str(exc))
        return exc.exit_code
    try:
        _setup_logging(paths)
        window: MainWindow | None = None
        crash = CrashHandler(paths, lambda: window)
        sys.excepthook = crash.excepthook
        try:
            app = App.create(paths)
        except AssistantError as exc:
            _tell(str(exc))
            return exc.exit_code
        embedder = MiniLMEmbedder()
        knowledge, problem = open_knowledge(
            paths, embedder=embedder, settings=knowledge_settings(app.settings)
        )
        window = build_window(
            app,
            knowledge=knowledge,
            knowledge_error=problem,
            on_crash=crash,
            warm_up=library_warm_up(embedder, knowledge) if knowledge is not None else None,
        )
        window.show()
        # A Unix signal is only seen when Python code runs; a idle timer lets Ctrl-C through.
        heartbeat = QTimer()
        heartbeat.start(250)
        heartbeat.timeout.connect(lambda: None)
        status = qapp.exec()
        if knowledge is not None:
            knowledge.close()
        app.close()
        return int(status)
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
