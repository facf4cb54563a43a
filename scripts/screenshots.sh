#!/usr/bin/env bash
# Take the GUI screenshots in docs/screenshots/ from the real app under a virtual X server.
# Needs the default models (scripts/setup.sh) and, on Debian/Ubuntu, the X packages:
#   apt-get install xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
#     libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxkbcommon-x11-0 libegl1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v xvfb-run >/dev/null; then
    echo "xvfb-run is missing: apt-get install xvfb (see the comment at the top of $0)" >&2
    exit 1
fi
exec xvfb-run -a -s "-screen 0 1600x1000x24 -dpi 96" \
    env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py "$@"
