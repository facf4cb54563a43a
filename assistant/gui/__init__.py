"""The desktop GUI: the analyst's window onto the same core the CLI uses.

This is the ONLY package that imports PySide6; nothing outside ``assistant/gui/`` may import Qt,
and nothing in here talks to llama.cpp, Chroma or the embedder except through the core's own
objects (:class:`~assistant.chat.session.ChatService`,
:class:`~assistant.knowledge.base.KnowledgeBase`). The core reports progress through plain
callables; :mod:`assistant.gui.workers` runs it in worker threads and turns those callbacks into
Qt signals, so the event loop never waits on a model, an import or a search.

Modules: ``app`` (entry point, single instance, crash handler, composition), ``main_window``,
``chat_view`` (transcript and input), ``conversations`` (sidebar), ``library``, ``sources``
(citations list), ``viewer`` (document viewer; ``page_view`` draws a PDF page with its
highlight boxes, ``page_text`` the text fallback), ``structured_panel`` (structured output),
``confidence`` (token colours), ``settings_dialog``,
``status`` (status bar), ``workers`` (threads and signals). ``transcript`` and ``document_chat``
hold plain data and logic and import no Qt.

PySide6 is pinned to 6.11.3: 6.12.0 releases a reference to ``None`` on every Qt call that
returns nothing, and CPython 3.11 (where ``None`` is not immortal) aborts after a few thousand
calls; ``tests/gui/test_qt_binding.py`` guards the pin.
"""
