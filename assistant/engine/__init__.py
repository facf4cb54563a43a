"""The inference engines behind one interface (see :mod:`assistant.engine.base`).

Only :mod:`assistant.engine.llama` imports ``llama_cpp``; importing this package imports neither
it nor Qt.
"""
