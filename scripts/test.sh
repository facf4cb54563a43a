#!/usr/bin/env bash
# Set everything up (idempotent, with the test tools) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not model" for the fast set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --dev
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
