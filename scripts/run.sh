#!/usr/bin/env bash
# Set everything up (idempotent) and launch Enclave on the bundled default model: the desktop
# window when there is a display, the interactive chat in this terminal when there is none.
# Arguments go to the 'assistant' command instead, e.g. scripts/run.sh ask "What is GGUF?"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh >&2
if [[ $# -gt 0 ]]; then
  exec .venv/bin/assistant "$@"
fi
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" || -n "${QT_QPA_PLATFORM:-}" ]]; then
  exec .venv/bin/assistant gui
fi
echo "run: no display found (DISPLAY is not set); starting the chat in this terminal instead." >&2
exec .venv/bin/assistant chat
