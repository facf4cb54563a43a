"""Take the user guide's screenshots of the real app: real model, real embedder, real Chroma.

Run it through ``scripts/screenshots.sh``, which starts a virtual X server (Xvfb). It builds the
window exactly as ``assistant-gui`` does (in a throw-away data directory), imports a generated
report and the user guide, asks a question, and saves PNGs of the main window, the source
viewer, the library, the token-confidence view and the structured-output panel (an incident
report filled from an imported incident log) into ``docs/screenshots/``. ``--only NAME ...``
saves just those pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QEventLoop, QPoint, QTimer
from PySide6.QtGui import QGuiApplication, QHelpEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QToolTip, QWidget

import assistant.gui  # noqa: F401, I001 - first: offline guard and the PySide work-around

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What is the total approved budget for fiscal year 2024?"
REPORT_PAGES = (
    "Project Nightjar overview. The Nightjar programme began in 2019 to replace the ageing "
    "coastal radar network along the northern fjords.",
    "Budget. The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
    "committed to maintenance contracts for the radar stations.",
    "Personnel. Dr. Ingrid Halvorsen leads the field engineering team of twelve technicians "
    "based in Tromso, who service the stations every spring.",
)
INCIDENT_LOG = (
    "Incident log, northern radar network.\n\n"
    "On 2024-03-05 the radar mast at the Kvaloya station near Tromso was damaged by ice. "
    "Ingrid Halvorsen and Per Olsen reported the damage; the station was offline for two days "
    "while the mast was repaired.\n"
)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Run the event loop until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        QTimer.singleShot(25, loop.quit)
        loop.exec()


def settle(ms: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def write_report(folder: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in REPORT_PAGES:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    path = folder / "nightjar-report.pdf"
    pdf.output(str(path))
    return path


ONLY: set[str] = set()  # --only: the pictures to save; empty saves every one


def save(widget: QWidget, out: Path, name: str, *, with_popups: bool = False) -> None:
    """Save ``widget`` as PNG; ``with_popups`` grabs the screen area (tooltips included)."""
    if ONLY and name not in ONLY:
        return
    if with_popups:
        screen = QGuiApplication.primaryScreen()
        top_left = widget.mapToGlobal(QPoint(0, 0))
        image = screen.grabWindow(0, top_left.x(), top_left.y(), widget.width(), widget.height())
    else:
        image = widget.grab()
    target = out / name
    image.save(str(target))
    print(f"saved {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")


def show_tooltip_on_least_likely_token(window: object) -> None:
    """Hover the answer's least likely token, so its alternatives are on screen."""
    transcript = window.chat.transcript  # type: ignore[attr-defined]
    index = len(transcript.messages) - 1
    runs = transcript.token_formats(index)
    if not runs:
        return
    document = transcript.document()
    block, position, best, best_p = document.begin(), 0, None, 2.0
    while block.isValid():
        iterator = block.begin()
        while not iterator.atEnd():
            fragment = iterator.fragment()
            key = fragment.charFormat().property(0x100001)
            if isinstance(key, str) and key.startswith(f"{index}:") and fragment.text().strip():
                token = transcript.messages[index].tokens[int(key.split(":")[1])]
                if token.probability < best_p:
                    best, best_p, position = fragment, token.probability, fragment.position()
            iterator += 1
        block = block.next()
    if best is None:
        return
    cursor = QTextCursor(document)
    cursor.setPosition(position + 1)
    transcript.setTextCursor(cursor)
    transcript.ensureCursorVisible()
    point = transcript.cursorRect(cursor).center()
    event = QHelpEvent(QEvent.Type.ToolTip, point, transcript.viewport().mapToGlobal(point))
    QApplication.sendEvent(transcript.viewport(), event)


def take_structured_output(window: Any, folder: Path, out: Path) -> None:
    """Fill the "Incident report" example from an imported incident log, with citations."""
    from assistant.gui.structured import SourceMode

    log_file = folder / "incident-log.txt"
    log_file.write_text(INCIDENT_LOG, encoding="utf-8")
    window.library.import_paths([log_file])
    wait_until(lambda: not window.library.importing, 300, "the incident log's import")
    table = window.library.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == log_file.name)
    table.selectRow(row)
    panel = window.structured
    window.commands.show_structured.trigger()
    panel.choose_example("Incident report")
    panel.set_source(SourceMode.DOCUMENTS)
    panel.question.setText("What happened at the radar station?")
    panel.run()
    wait_until(lambda: not panel.running, 600, "the structured output")
    sizes = window.splitter.sizes()
    window.splitter.setSizes([160, 520, sum(sizes) - 680])
    settle()
    save(window, out, "structured-output.png")
    window.splitter.setSizes(sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="e.g. library.png")
    args = parser.parse_args()
    ONLY.update(args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="enclave-shots-"))
    os.environ["ASSISTANT_HOME"] = str(home)

    from assistant.app import App
    from assistant.config import Paths
    from assistant.gui.app import build_window, library_warm_up, open_knowledge
    from assistant.gui.chat_panel import InputState
    from assistant.knowledge import MiniLMEmbedder

    qapp = QApplication(sys.argv[:1])
    qapp.setApplicationName("Enclave")
    paths = Paths.from_env().ensure()
    app = App.create(paths)
    embedder = MiniLMEmbedder()
    knowledge, problem = open_knowledge(paths, embedder=embedder)
    if knowledge is None:
        raise SystemExit(problem)
    window = build_window(app, knowledge=knowledge, warm_up=library_warm_up(embedder))
    window.resize(1440, 880)
    window.show()
    window.chat.banner.hide()
    wait_until(lambda: window.chat.state is InputState.READY, 120, "the model")
    wait_until(lambda: window.warm_task is None, 300, "the library warm-up")

    folder = home / "documents"
    folder.mkdir()
    broken = folder / "scanned-memo.pdf"  # shows how a refused file and its reason look
    broken.write_bytes(b"%PDF-1.4\n% damaged in transfer\n")
    sources = [write_report(folder), ROOT / "docs" / "user-guide.md", broken]
    window.library.import_paths([p for p in sources if p.exists()])
    wait_until(lambda: not window.library.importing, 300, "the import")

    window.tabs.setCurrentWidget(window.sources)
    window.send(QUESTION)
    wait_until(lambda: not window.answerer.busy, 300, "the answer")
    settle()
    save(window, args.out, "main-window.png")

    citations = window.sources.citations
    if citations:
        budget = next((c for c in citations if c.page == 2), citations[0])
        window.open_citation(budget)
        assert window.viewer is not None
        window.viewer.resize(760, 560)
        settle()
        save(window.viewer, args.out, "sources-viewer.png")
        window.viewer.close()

    window.tabs.setCurrentWidget(window.library)
    sizes = window.splitter.sizes()
    window.splitter.setSizes([180, 480, sum(sizes) - 660])
    settle()
    save(window, args.out, "library.png")
    window.splitter.setSizes(sizes)

    window.tabs.setCurrentWidget(window.sources)
    window.commands.confidence.setChecked(True)
    settle()
    show_tooltip_on_least_likely_token(window)
    settle(600)
    save(window, args.out, "token-confidence.png", with_popups=True)
    QToolTip.hideText()
    window.commands.confidence.setChecked(False)

    take_structured_output(window, folder, args.out)

    window.close()
    knowledge.close()
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
