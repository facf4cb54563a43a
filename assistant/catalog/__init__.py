"""Installed models and their verified import from removable media (issue 6).

Modules, one idea each:

- :mod:`~assistant.catalog.records`: the values (installed models, progress events, versions);
- :mod:`~assistant.catalog.keys`: the trusted admin keys on this machine;
- :mod:`~assistant.catalog.registry`: which models are installed (``catalog.json``);
- :mod:`~assistant.catalog.audit`: the append-only, hash-chained audit log, its head anchored
  in ``catalog.json``;
- :mod:`~assistant.catalog.journal`: the audit log's copy in the systemd journal, where it runs;
- :mod:`~assistant.catalog.staging`: safe folder scanning and copy-with-digest into staging;
- :mod:`~assistant.catalog.checks`: header, chat-template and test-load checks;
- :mod:`~assistant.catalog.probe`: the child process those checks run in;
- :mod:`~assistant.catalog.importer`: the six-step verified import pipeline;
- :mod:`~assistant.catalog.service`: :class:`~assistant.catalog.service.Catalog`, what callers
  hold: import, list, verify, remove, set default, trusted-key changes;
- :mod:`~assistant.catalog.authoring`: signing a model folder on the connected machine.

Nothing here imports Qt, and nothing imports ``llama_cpp``: llama.cpp only ever sees a model in
the child process of :mod:`~assistant.catalog.probe`. This ``__init__`` imports nothing, so that
child starts quickly.
"""
