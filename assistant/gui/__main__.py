"""``python -m assistant.gui``: the same as ``assistant-gui``."""

from __future__ import annotations

import sys

from assistant.gui.app import main

sys.exit(main())
