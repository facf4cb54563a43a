"""``python -m assistant``: the same as the ``assistant`` command."""

import sys

import assistant.offline  # noqa: F401 - first: offline mode before anything else loads
from assistant.cli.main import main

sys.exit(main())
