"""Enclave: an air-gapped, on-premise desktop AI assistant.

Subpackages: ``engine`` (llama.cpp behind a small interface), ``chat`` (conversations),
``knowledge`` (documents and retrieval), ``cli`` and ``gui`` (entry points). Every entry point
imports :mod:`assistant.offline` first.
"""

__version__ = "0.1.0"
