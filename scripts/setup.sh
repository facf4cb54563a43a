#!/usr/bin/env bash
# Set up Enclave in this checkout: a virtual environment in .venv with the pinned dependencies,
# and the default models in models/, each checked against its pinned SHA-256.
#
# Idempotent: a second run checks the stamp and the digests and does nothing more. It needs the
# package index once; the app it sets up never uses a network.
#
# Usage: scripts/setup.sh [--dev]     (--dev adds the test and lint tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras=""
if [[ "${1:-}" == "--dev" ]]; then extras="[dev]"; fi

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
if [[ -z "$python_bin" ]] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Enclave needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi

# llama-cpp-python compiles llama.cpp for this CPU, without its AMX kernels: on Sapphire Rapids
# machines they crash in the first multi-token decode (llama.cpp issue 20824), and AVX-512 is as
# fast for a 2-core desktop. The wheel is built here, not taken from pip's cache (which keys it by
# version only, so a wheel built with other flags would be reused), and kept in a folder named by
# version and flags, so a second set-up on this machine installs it without compiling again.
llama_version="$(grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | cut -d= -f3)"
llama_cflags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
llama_cmake="-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF"
llama_key="$(printf '%s|%s|%s' "$llama_version" "$llama_cflags" "$llama_cmake" | sha256sum | cut -c1-16)"
llama_wheels="${XDG_CACHE_HOME:-$HOME/.cache}/enclave/llama-cpp-python/${llama_version}-${llama_key}"

build_llama_cpp() {
  if ! compgen -G "$llama_wheels/llama_cpp_python-*.whl" >/dev/null; then
    echo "setup: compiling llama.cpp ${llama_version} for this CPU (about 5 minutes)"
    mkdir -p "$llama_wheels"
    CFLAGS="$llama_cflags" CXXFLAGS="$llama_cflags" CMAKE_ARGS="$llama_cmake" \
      CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
      .venv/bin/python -m pip wheel --quiet --no-cache-dir --no-deps \
      --wheel-dir "$llama_wheels" "llama-cpp-python==${llama_version}" \
      || { echo "setup: compiling llama.cpp failed; see the output above." >&2; exit 1; }
  fi
  .venv/bin/python -m pip install --quiet --no-deps --force-reinstall \
    "$llama_wheels"/llama_cpp_python-*.whl 2>&1 | grep -v "^WARNING: Location" || true
}

# Reinstall only when the dependency declaration, the extras or llama.cpp's build changed.
stamp_value="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=${extras} llama=${llama_key}"
stamp_file=.venv/.enclave-setup-stamp
if [[ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_value" ]] || ! .venv/bin/python -c 'import assistant, llama_cpp' 2>/dev/null; then
  echo "setup: installing dependencies (the first run compiles llama.cpp: about 5 minutes)"
  .venv/bin/python -m pip install --quiet --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
  build_llama_cpp
  # torch is pinned to the CPU build; llama-cpp-python is the wheel built above.
  .venv/bin/python -m pip install --quiet --editable ".${extras}" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c 'import assistant, llama_cpp, chromadb, sentence_transformers, PySide6' \
    || { echo "setup: the dependency install failed; see the pip output above." >&2; exit 1; }
  echo "$stamp_value" > "$stamp_file"
else
  echo "setup: dependencies up to date"
fi

.venv/bin/python packaging/fetch_models.py

# The window's X11 libraries come from the system, not from pip: install what is missing when
# this runs as root with apt-get, else name the command. Not fatal: the CLI works without them.
.venv/bin/python -m assistant.desktop --install || true
echo "setup: done"
