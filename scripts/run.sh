#!/usr/bin/env bash
# Set everything up (idempotent) and launch Enclave on the bundled default model.
# Extra arguments go to the 'assistant' command, e.g. scripts/run.sh ask "What is GGUF?"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh >&2
exec .venv/bin/assistant "$@"
