"""``assistant-gui``: the GUI's entry point and composition root.

:func:`main` installs the offline guard first, takes the single-instance lock in the data
directory, sets up logging and the crash handler, builds the :class:`~assistant.app.App`, opens
the knowledge base, and shows the window before the model has loaded (the model loads in a
worker). :func:`build_window` is the same assembly without the process-wide parts, for tests and
the screenshot script. :class:`StartupProbe` times start-up for ``bench/bench_startup.py`` when
``ASSISTANT_STARTUP_PROBE`` is set, and does nothing otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
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
from assistant.gui.chat_panel import InputState
from assistant.gui.main_window import MainWindow
from assistant.instance import InstanceLock
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.embedder import Embedder, MiniLMEmbedder
from assistant.knowledge.records import KnowledgeSettings

log = logging.getLogger("assistant.gui")

EXIT_ALREADY_RUNNING = 1

#: A file path: record start-up times there as JSON and close the window (see StartupProbe).
PROBE_ENV = "ASSISTANT_STARTUP_PROBE"
#: With PROBE_ENV: a question to send once the model is ready, timing its answer too.
PROBE_QUESTION_ENV = "ASSISTANT_STARTUP_PROBE_QUESTION"
#: With PROBE_QUESTION_ENV: "warm-up" sends it once the library warm-up ended, not at ready.
PROBE_ASK_AFTER_ENV = "ASSISTANT_STARTUP_PROBE_ASK_AFTER"


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


class StartupProbe:
    """Start-up timing for ``bench/bench_startup.py``; only built when ``PROBE_ENV`` is set.

    It records ``time.monotonic()`` (on Linux one clock for every process, so the benchmark can
    subtract its own spawn time) at each mark, then writes ``{"marks": {...}, ...}`` as JSON to
    the file ``PROBE_ENV`` names and closes the window. The marks:

    - ``main``: :func:`main` started (the interpreter and the GUI's imports are done);
    - ``interactive``: the window was shown and the event loop ran its first events (the
      top-level modules loaded by then are recorded too);
    - ``ready``: the model loaded and the question box takes a question (after the window's own
      handler of the load task ran);
    - ``library_warm``: the library's warm-up (Chroma, the embedder), which starts at ``ready``,
      ended;
    - ``asked``, ``first_token``, ``complete``: with ``PROBE_QUESTION_ENV``, the probe sends that
      question through the window's Send path at ``ready`` (or, with ``PROBE_ASK_AFTER_ENV`` set
      to ``warm-up``, once the warm-up ended); the first token reached the transcript; the
      answer ended.

    A failed model load, a refused question or a failed answer is written as ``error``.
    """

    def __init__(self, file: Path, question: str = "", *, after_warm_up: bool = False) -> None:
        self.file = file
        self.question = question
        self.after_warm_up = after_warm_up
        self.marks: dict[str, float] = {}
        self.tokens = 0
        self.error = ""
        self.modules: list[str] = []
        self._waiting: set[str] = set()
        self._window: MainWindow | None = None
        self._written = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StartupProbe | None:
        """The probe the environment asks for, or None (the normal case: no probe at all)."""
        env = os.environ if environ is None else environ
        file = env.get(PROBE_ENV, "").strip()
        if not file:
            return None
        return cls(
            Path(file),
            env.get(PROBE_QUESTION_ENV, "").strip(),
            after_warm_up=env.get(PROBE_ASK_AFTER_ENV, "").strip() == "warm-up",
        )

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def watch(self, window: MainWindow) -> None:
        """Follow ``window`` from now on; call it right after ``show()``, before ``exec()``."""
        self._window = window
        QTimer.singleShot(0, self._interactive)
        task = window.load_task
        if task is None:  # the window did not start loading a model
            self._finish("no model load was started")
            return
        self._waiting.add("ready")
        # Connected after the window's own handlers, so these run after them.
        task.succeeded.connect(lambda _engine: self._ready())
        task.failed.connect(lambda exc: self._finish(f"model load failed: {exc}"))

    def _interactive(self) -> None:
        self.mark("interactive")
        # What the window's start path imported (the model's loader may be importing too).
        self.modules = sorted({name.partition(".")[0] for name in sys.modules})

    def _ready(self) -> None:
        window = self._window
        assert window is not None
        if window.chat.state is not InputState.READY:
            self._finish(f"the window is {window.chat.state.value} after the model loaded")
            return
        self.mark("ready")
        warm = window.warm_task
        if warm is not None:
            self._waiting.add("library_warm")
            # Not ``finished``: the runner's own handler of it deletes the task, and a second
            # handler connected to it was seen never to run.
            for signal in (warm.succeeded, warm.failed, warm.crashed):
                signal.connect(lambda *_: self._done("library_warm"))
        if self.question:
            self._waiting.add("complete")
            window.answerer.token.connect(self._token)
            window.answerer.failed.connect(lambda exc: setattr(self, "error", str(exc)))
            window.answerer.finished.connect(lambda: self._done("complete"))
            if not (self.after_warm_up and warm is not None):
                self._ask()
        self._done("ready")

    def _ask(self) -> None:
        assert self._window is not None
        self.mark("asked")
        if self._window.send(self.question) is None:
            self._finish("the window refused the question")

    def _token(self, _token: object) -> None:
        self.tokens += 1
        self.mark("first_token")

    def _done(self, name: str) -> None:
        self.mark(name)
        self._waiting.discard(name)
        if name == "library_warm" and self.question and "asked" not in self.marks:
            self._ask()
        if not self._waiting:
            self._finish()

    def _finish(self, error: str = "") -> None:
        if self._written:
            return
        self._written = True
        self.error = self.error or error
        self._waiting.clear()
        record = {"marks": self.marks, "tokens": self.tokens, "error": self.error,
                  "question": self.question, "modules_at_interactive": self.modules}  # fmt: skip
        partial = self.file.with_name(self.file.name + ".part")
        partial.write_text(json.dumps(record, indent=2), encoding="utf-8")
        partial.replace(self.file)  # whole or absent, never half-written
        if self._window is not None:
            QTimer.singleShot(0, self._window.close)


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
    probe = StartupProbe.from_env()
    if probe is not None:
        probe.mark("main")
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
        embedder = MiniLMEmbedder(backend=app.settings.knowledge.embedding_backend)
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
        if probe is not None:
            probe.watch(window)
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
