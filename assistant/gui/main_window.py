"""The main window: conversations, chat, sources and library, wired to the core.

It owns the interaction state (which conversation is open, whether an answer is streaming, which
answer's sources are shown) and starts every slow operation as a worker task: loading the
model, answering, importing. It never calls the engine, the embedder or Chroma on the GUI thread.

Questions a person must answer (confirm a deletion, type a new title) go through
:attr:`MainWindow.confirm` and :attr:`MainWindow.ask_text`, which tests replace on the instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget

from assistant.app import App, generation_options
from assistant.chat.citations import SavedQuote
from assistant.chat.session import ChatService, title_from
from assistant.config import Settings, source_root
from assistant.engine.base import Engine, Role
from assistant.errors import AssistantError
from assistant.gui import document_chat
from assistant.gui.actions import build_actions
from assistant.gui.answering import Answerer
from assistant.gui.chat_panel import ChatPanel, InputState
from assistant.gui.conversations import ConversationList
from assistant.gui.library import LibraryPanel
from assistant.gui.settings_dialog import (
    DEFAULT_RETRIEVAL_TOP_K,
    SettingsDialog,
    read_retrieval_top_k,
)
from assistant.gui.sources import SourcesPanel
from assistant.gui.status import StatusBar
from assistant.gui.structured_panel import StructuredPanel
from assistant.gui.transcript import CitationView, MessageView
from assistant.gui.viewer import DocumentViewer
from assistant.gui.workers import Task, TaskRunner
from assistant.knowledge.base import KnowledgeBase
from assistant.knowledge.records import IngestReport

log = logging.getLogger(__name__)

EngineLoader = Callable[[Settings], Engine]
SAMPLE_COLLECTION = "sample"


class MainWindow(QMainWindow):
    """Enclave's window. Build it with :func:`assistant.gui.app.build_window`."""

    def __init__(
        self,
        app: App,
        *,
        engine_loader: EngineLoader,
        prefs: QSettings,
        knowledge: KnowledgeBase | None = None,
        knowledge_error: str = "",
        on_crash: Callable[[str], None] | None = None,
        warm_up: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Enclave — offline assistant")
        self.setAccessibleName("Enclave")
        self.app = app
        self.prefs = prefs
        self.knowledge = knowledge
        self._engine_loader = engine_loader
        self._on_crash = on_crash or (lambda text: log.error("crash:\n%s", text))
        self.engine: Engine | None = None
        self.chat_service: ChatService | None = None
        self.conversation_id: int | None = None
        self.load_task: Task | None = None
        self.warm_task: Task | None = None
        self._warm_up = warm_up
        self.selected_answer: int | None = None
        self.viewer: DocumentViewer | None = None
        self.retrieval_top_k = read_retrieval_top_k(
            app.settings, _int(prefs.value("retrieval/top_k"), DEFAULT_RETRIEVAL_TOP_K)
        )
        self.confirm: Callable[[str, str], bool] = self._confirm_dialog
        self.ask_text: Callable[[str, str, str], str | None] = self._text_dialog
        self.runner = TaskRunner(self._crashed, self)
        self._closing = False
        self._banner_purpose = ""

        self.commands = build_actions(self)
        self.answerer = Answerer(self.runner, self)
        self.sidebar = ConversationList(
            app.store,
            confirm=lambda title, question: self.confirm(title, question),
            ask_text=lambda title, label, current: self.ask_text(title, label, current),
        )
        self.chat = ChatPanel()
        self.sources = SourcesPanel()
        self.library = LibraryPanel(
            knowledge, self.runner, confirm=lambda t, q: self.confirm(t, q),
            unavailable_reason=knowledge_error,
        )  # fmt: skip
        self.structured = StructuredPanel(
            self.runner, engine=lambda: self.engine, compiler=lambda: app.grammar_compiler,
            library=self.library,
        )  # fmt: skip
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Sources, library and structured output")
        self.tabs.addTab(self.sources, "Sources")
        self.tabs.addTab(self.library, "Library")
        self.tabs.addTab(self.structured, "Structured")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main-splitter")
        # Explicit minimum widths, below what the layouts would ask for, so the window fits a
        # small or heavily scaled screen; the panels' contents scroll or elide instead.
        for widget, stretch, minimum in ((self.sidebar, 0, 160), (self.chat, 3, 300),
                                         (self.tabs, 2, 240)):  # fmt: skip
            widget.setMinimumWidth(minimum)
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(self.splitter.count() - 1, stretch)
        self.splitter.setSizes([220, 620, 440])
        self.setCentralWidget(self.splitter)
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self._connect()
        self._restore_geometry()
        self.chat.set_scope_choices(self.library.collection_names(), "")
        self._reopen_last_conversation()
        if knowledge_error:
            self.chat.banner.show_message(knowledge_error, error=True)
        else:
            self._offer_sample_library()
        self.load_model()

    # --- wiring -------------------------------------------------------------------------------

    def _connect(self) -> None:
        a = self.commands
        a.new_conversation.triggered.connect(self.new_conversation)
        a.rename_conversation.triggered.connect(lambda: self.sidebar.rename(self.conversation_id))
        a.delete_conversation.triggered.connect(lambda: self.sidebar.delete(self.conversation_id))
        a.search_conversations.triggered.connect(self.sidebar.search.setFocus)
        a.import_files.triggered.connect(self._import_files)
        a.import_folder.triggered.connect(self._import_folder)
        a.settings.triggered.connect(self.open_settings)
        a.quit.triggered.connect(self.close)
        a.send.triggered.connect(self.send)
        a.stop.triggered.connect(self.stop)
        a.regenerate.triggered.connect(self.regenerate)
        a.copy_answer.triggered.connect(self.copy_answer)
        a.confidence.toggled.connect(self.set_confidence)
        a.show_sources.triggered.connect(lambda: self.tabs.setCurrentWidget(self.sources))
        a.show_library.triggered.connect(lambda: self.tabs.setCurrentWidget(self.library))
        a.show_structured.triggered.connect(lambda: self.tabs.setCurrentWidget(self.structured))
        self.structured.message.connect(lambda text: self.status.showMessage(text, 8000))
        a.focus_question.triggered.connect(self.chat.input.setFocus)
        a.last_evaluation.triggered.connect(self.show_last_evaluation)
        self.sidebar.selected.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.deleted.connect(self._deleted)
        self.answerer.token.connect(self.chat.transcript.append_token)
        self.answerer.succeeded.connect(self._answered)
        self.answerer.failed.connect(self._answer_failed)
        self.answerer.finished.connect(self._answer_finished)
        self.chat.send_requested.connect(self.send)
        self.chat.stop_requested.connect(self.stop)
        self.chat.transcript.citation_clicked.connect(self.open_citation_number)
        self.chat.transcript.answer_selected.connect(self.select_answer)
        self.chat.transcript.link_refused.connect(
            lambda url: self.status.showMessage(
                f"Links are not opened: Enclave stays offline ({url}).", 8000
            )
        )
        self.sources.open_requested.connect(self.open_citation)
        self.structured.evidence_opened.connect(self.open_evidence)
        self.library.collections_changed.connect(
            lambda names: self.chat.set_scope_choices(names, self.chat.scope_collection())
        )
        self.library.collection_switched.connect(self._collection_switched)
        self.library.import_finished.connect(self._imported)
        self.library.message.connect(lambda text: self.status.showMessage(text, 10_000))
        self.chat.banner.action_button.clicked.connect(self._banner_action)
        self.commands.confidence.setChecked(_bool(self.prefs.value("view/confidence", False)))
        self._update_actions()

    def _update_actions(self) -> None:
        answering = self.answerer.busy
        ready = self.chat.state is InputState.READY
        self.commands.send.setEnabled(ready)
        self.commands.stop.setEnabled(answering)
        self.commands.regenerate.setEnabled(ready and self._last_question() is not None)
        self.commands.copy_answer.setEnabled(self._answer_for_copy() is not None)
        self.commands.settings.setEnabled(not answering and self.load_task is None)
        has_conversation = self.conversation_id is not None
        self.commands.rename_conversation.setEnabled(has_conversation)
        self.commands.delete_conversation.setEnabled(has_conversation and not answering)

    # --- the model ----------------------------------------------------------------------------

    def load_model(self) -> None:
        """Load (or reload) the model in a worker; the window stays usable meanwhile."""
        settings = self.app.settings
        loader = self._engine_loader
        self.chat.set_state(InputState.LOADING)
        self.status.set_model(f"loading {settings.model_path().name} …")
        self.load_task = self.runner.start(
            "load-model",
            lambda report, cancel: loader(settings),
            on_success=self._model_loaded,
            on_failure=self._model_failed,
            on_finished=self._load_finished,
        )
        self._update_actions()

    def _model_loaded(self, engine: Engine) -> None:
        if self._closing:  # the window closed while the model loaded
            engine.close()
            return
        if self.engine is not None and self.engine is not engine:
            self.engine.close()
        self.engine = engine
        settings = self.app.settings
        self.chat_service = ChatService(
            engine,
            self.app.store,
            system_prompt=settings.generation.system_prompt,
            options=generation_options(settings),
        )
        info = engine.info
        self.status.set_model(
            info.name,
            f"{info.path}\n{info.architecture}, context {info.context_size} tokens, "
            f"GPU layers {info.gpu_layers}",
        )
        self.chat.set_state(InputState.READY)
        if info.notes:
            self.chat.banner.show_message(" ".join(info.notes))
        self.chat.input.setFocus()
        self._start_warm_up()

    def _start_warm_up(self) -> None:
        """Load the library's heavy parts (Chroma, the embedder) now, in a worker.

        Their first import holds the interpreter lock in native code for a while; done here, it
        happens once, right after start-up, instead of stalling the first import or search.
        """
        warm, self._warm_up = self._warm_up, None
        if warm is None:
            return
        self.status.showMessage("Preparing the document library …")
        self.warm_task = self.runner.start(
            "warm-up",
            lambda report, cancel: warm(),
            on_failure=lambda exc: self.library.report_label.setText(str(exc)),
            on_finished=self._warmed,
        )

    def _warmed(self) -> None:
        self.warm_task = None
        self.status.clearMessage()

    def _model_failed(self, exc: AssistantError) -> None:
        self.chat.set_state(InputState.NO_MODEL)
        self.status.set_model("not loaded")
        self.chat.banner.show_message(
            f"The model could not be loaded. {exc}", action="Settings…", error=True
        )

    def _load_finished(self) -> None:
        self.load_task = None
        if self.chat.state is InputState.LOADING:  # crashed: neither success nor failure
            self.chat.set_state(InputState.NO_MODEL)
        self._update_actions()

    # --- asking -------------------------------------------------------------------------------

    def send(self, text: str | None = None) -> Task | None:
        """Ask the question in the input box (or ``text``); None when not ready."""
        question = (text if isinstance(text, str) else self.chat.question()).strip()
        service = self.chat_service
        if not question or self.chat.state is not InputState.READY or service is None:
            return None
        if text is None or text == self.chat.question():
            self.chat.input.clear()
        try:
            if self.conversation_id is None:
                created = self.app.store.create(title_from(question), model=service.model_name)
                self.conversation_id = created.id
                self.sidebar.set_current(created.id)
        except AssistantError as exc:
            self.chat.banner.show_message(str(exc), error=True)
            return None
        self.chat.banner.hide()
        self.chat.transcript.begin_answer(question)
        self.chat.set_state(InputState.ANSWERING)
        self.sidebar.busy = {self.conversation_id}
        task = self.answerer.start(
            service,
            question,
            conversation_id=self.conversation_id,
            knowledge=self.knowledge,
            collection=self.chat.scope_collection(),
            top_k=self.retrieval_top_k,
        )
        self._update_actions()
        return task

    def stop(self) -> None:
        """Stop the streaming answer now (what streamed so far is kept, marked stopped)."""
        if self.answerer.stop():
            self.chat.stop_button.setEnabled(False)
            self.chat.state_label.setText("Stopped")
            self.status.showMessage("Answer stopped.", 5000)

    def _answered(self, outcome: document_chat.Outcome) -> None:
        self.status.set_speed(outcome.tokens_per_second)

    def _answer_failed(self, exc: AssistantError) -> None:
        self.chat.banner.show_message(str(exc), error=True)
        if not self.chat.question():  # give the question back so it can be sent again
            self.chat.input.setPlainText(self.answerer.question)

    def _answer_finished(self) -> None:
        self.sidebar.busy = set()
        if self.chat_service is not None:
            self.chat.set_state(InputState.READY)
        if self.conversation_id is not None:
            self.open_conversation(self.conversation_id)
        self._update_actions()

    def regenerate(self) -> Task | None:
        """Ask the conversation's last question again."""
        question = self._last_question()
        return self.send(question) if question else None

    def _last_question(self) -> str | None:
        for message in reversed(self.chat.transcript.messages):
            if message.role is Role.USER:
                return message.text
        return None

    def _answer_for_copy(self) -> MessageView | None:
        messages = self.chat.transcript.messages
        if self.selected_answer is not None and self.selected_answer < len(messages):
            return messages[self.selected_answer]
        answers = [m for m in messages if m.is_answer and m.text]
        return answers[-1] if answers else None

    def copy_answer(self) -> None:
        answer = self._answer_for_copy()
        if answer is not None:
            QGuiApplication.clipboard().setText(answer.text)
            self.status.showMessage("Answer copied.", 3000)

    def set_confidence(self, on: bool) -> None:
        self.chat.set_confidence(on)
        self.prefs.setValue("view/confidence", on)

    # --- conversations ------------------------------------------------------------------------

    def open_conversation(self, conversation_id: int) -> None:
        """Show a saved conversation (tokens, confidence and sources included)."""
        if self.answerer.busy:
            self.status.showMessage("Wait for the answer to finish, or stop it first.", 5000)
            self.sidebar.set_current(self.conversation_id)
            return
        try:
            messages = [
                MessageView.from_message(m) for m in self.app.store.messages(conversation_id)
            ]
        except AssistantError as exc:
            self.status.showMessage(str(exc), 8000)
            return
        self.conversation_id = conversation_id
        self.prefs.setValue("conversation/last", conversation_id)
        self.chat.transcript.set_messages(messages)
        self.sidebar.set_current(conversation_id)
        answers = [i for i, m in enumerate(messages) if m.is_answer]
        self.select_answer(answers[-1] if answers else None)
        self._update_actions()

    def new_conversation(self) -> None:
        if self.answerer.busy:
            self.status.showMessage("Wait for the answer to finish, or stop it first.", 5000)
            return
        self.conversation_id = None
        self.chat.transcript.set_messages([])
        self.sidebar.set_current(None)
        self.select_answer(None)
        self.chat.input.setFocus()
        self._update_actions()

    def _reopen_last_conversation(self) -> None:
        store = self.app.store
        wanted = self.prefs.value("conversation/last")
        ids = {c.id for c in store.conversations()}
        try:
            last = int(wanted) if wanted is not None else None
        except (TypeError, ValueError):
            last = None
        if last not in ids:
            latest = store.latest()
            last = latest.id if latest else None
        if last is not None:
            self.open_conversation(last)

    def _deleted(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            self.new_conversation()

    # --- sources ------------------------------------------------------------------------------

    def select_answer(self, index: int | None) -> None:
        """Show the sources of answer ``index`` (None: no answer selected)."""
        messages = self.chat.transcript.messages
        self.selected_answer = index
        if index is None or index >= len(messages):
            self.sources.show_citations([], answer_label="")
        else:
            number = sum(1 for m in messages[: index + 1] if m.is_answer)
            self.sources.show_citations(
                list(messages[index].citations), answer_label=f"Answer {number}"
            )
        self._update_actions()

    def open_citation_number(self, message_index: int, number: int) -> None:
        messages = self.chat.transcript.messages
        if message_index >= len(messages):
            return
        self.select_answer(message_index)
        citation = messages[message_index].citation(number)
        if citation is None:
            self.status.showMessage(f"[{number}] is not one of this answer's sources.", 6000)
            return
        self.open_citation(citation)

    def open_evidence(self, citation: CitationView, quote: SavedQuote) -> None:
        """Open the viewer at an extracted value's passage, with its span highlighted."""
        if self.viewer is None:
            self.viewer = DocumentViewer(self.knowledge, self)
        self.viewer.open_citation(citation, quote)

    def open_citation(self, citation: CitationView) -> None:
        """Open the document viewer at the cited page with the passage highlighted, and the
        selected answer's verbatim quote from it highlighted inside the passage."""
        if self.viewer is None:
            self.viewer = DocumentViewer(self.knowledge, self)
        messages = self.chat.transcript.messages
        index = self.selected_answer
        quote = (
            messages[index].quote_for(citation.number)
            if index is not None and index < len(messages)
            else None
        )
        self.viewer.open_citation(citation, quote)

    # --- library ------------------------------------------------------------------------------

    def _import_files(self) -> None:
        self.tabs.setCurrentWidget(self.library)
        self.library.add_files_button.click()

    def _import_folder(self) -> None:
        self.tabs.setCurrentWidget(self.library)
        self.library.add_folder_button.click()

    def _collection_switched(self, name: str) -> None:
        if self.chat.scope_collection():
            index = self.chat.scope.findData(name)
            if index >= 0:
                self.chat.scope.setCurrentIndex(index)

    def _imported(self, report: IngestReport) -> None:
        if report.imported and not self.chat.scope_collection():
            index = self.chat.scope.findData(report.collection)
            if index >= 0:
                self.chat.scope.setCurrentIndex(index)
        self.prefs.setValue("library/sample_offered", True)

    def _offer_sample_library(self) -> None:
        sample = source_root() / "docs"
        if (
            self.knowledge is None
            or _bool(self.prefs.value("library/sample_offered", False))
            or self.knowledge.documents()
            or not sample.is_dir()
        ):
            return
        self.chat.banner.show_message(
            "Your library is empty. Import Enclave's own documentation as a sample library, so "
            "you can ask about it right away?",
            action="Import sample library",
        )
        self._banner_purpose = "sample"

    def _banner_action(self) -> None:
        if self._banner_purpose == "sample":
            self._banner_purpose = ""
            self.prefs.setValue("library/sample_offered", True)
            self.library.create_collection(SAMPLE_COLLECTION)
            self.library.import_paths([source_root() / "docs"], SAMPLE_COLLECTION)
            self.tabs.setCurrentWidget(self.library)
        else:
            self.open_settings()
        self.chat.banner.hide()

    # --- settings, geometry, shutdown ---------------------------------------------------------

    def show_last_evaluation(self) -> None:
        from assistant.evaluation.report import reports_dir
        from assistant.gui.evaluation_view import EvaluationDialog

        EvaluationDialog(reports_dir(self.app.paths), self).exec()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.app.paths, self.app.settings, self.retrieval_top_k, self)
        if dialog.exec() and dialog.saved is not None:
            self.apply_settings(dialog.saved.settings, dialog.saved.retrieval_top_k)

    def apply_settings(self, settings: Settings, retrieval_top_k: int) -> None:
        """Use saved settings now; reload the model if its own settings changed."""
        old = self.app.settings
        self.app.settings = settings
        self.retrieval_top_k = retrieval_top_k
        self.prefs.setValue("retrieval/top_k", retrieval_top_k)
        if self.chat_service is not None:
            self.chat_service.system_prompt = settings.generation.system_prompt
            self.chat_service.options = generation_options(settings)
        if settings.model != old.model or self.engine is None:
            self.load_model()
        self.status.showMessage("Settings saved.", 5000)

    def _restore_geometry(self) -> None:
        geometry = self.prefs.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.prefs.value("window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.prefs.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.prefs.setValue("window/geometry", self.saveGeometry())
        self.prefs.setValue("window/state", self.saveState())
        self.prefs.setValue("window/splitter", self.splitter.saveState())
        self.prefs.sync()
        self._closing = True
        self.runner.shutdown()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        super().closeEvent(event)

    def _crashed(self, text: str) -> None:
        self._on_crash(text)

    def _confirm_dialog(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def _text_dialog(self, title: str, label: str, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=current)
        return text if ok else None


def _int(value: object, default: int) -> int:
    try:
        return int(str(value)) if value is not None else default
    except ValueError:
        return default


def _bool(value: object) -> bool:
    # QSettings' INI backend gives booleans back as the strings "true" / "false".
    return value is True or (isinstance(value, str) and value.lower() == "true")
