#!/bin/sh
# Install Enclave from its signed release archive, offline. Refuses anything that does not verify.
#
# Usage (beside the archive, as shipped):
#   ./install.sh [--prefix DIR] [--bindir DIR] [--no-links] [--no-desktop] [--key PUB] [ARCHIVE]
# or from an extracted (verified) bundle folder: ./install.sh --prefix DIR
#
#   --prefix DIR   where the bundle goes (default: /opt/enclave as root, else ~/.local/opt/enclave)
#   --bindir DIR   where the enclave, assistant and assistant-admin links go
#                  (default: /usr/local/bin as root, else ~/.local/bin)
#   --key PUB      trust this release public key too (the pinned one is always trusted)
#   --python PY    the Python 3.8+ that runs verify.py (default: python3)
#
# What it does: verify.py checks the archive's signed manifest against the pinned release key and
# extracts it into a new folder beside the prefix while checking every file; only a fully verified
# copy replaces an existing installation (the old one is removed after the switch). Needs no
# network, no compiler, and only python3 for the verification.
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }

here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" = 0 ]; then
  prefix=/opt/enclave; bindir=/usr/local/bin; appdir=/usr/local/share/applications
else
  prefix="$HOME/.local/opt/enclave"; bindir="$HOME/.local/bin"
  appdir="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
fi
links=1; desktop=1; python=python3; archive=""; keyargs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix="$2"; shift 2 ;;
    --bindir) [ $# -ge 2 ] || die "--bindir needs a folder"; bindir="$2"; shift 2 ;;
    --key) [ $# -ge 2 ] || die "--key needs a file"; keyargs="$keyargs --key $2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs a program"; python="$2"; shift 2 ;;
    --no-links) links=0; shift ;;
    --no-desktop) desktop=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$archive" ] || die "give one archive"; archive="$1"; shift ;;
  esac
done

command -v "$python" >/dev/null 2>&1 || die "needs python3 to verify the release ($python not found; use --python)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 8))' || die "$python is older than 3.8"

case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
prefix="${prefix%/}"
[ "$prefix" != "" ] && [ "$prefix" != "/" ] || die "refusing to install to /"
if [ -e "$prefix" ] && [ ! -f "$prefix/release/manifest.json" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  die "$prefix exists and is not an Enclave installation; choose another --prefix"
fi
mkdir -p "$(dirname "$prefix")"
# The physical path: uninstall.sh recognises its links by it.
prefix="$(cd "$(dirname "$prefix")" && pwd -P)/$(basename "$prefix")"
staging="$prefix.new.$$"
trap 'rm -rf "$staging"' EXIT INT TERM

if [ -z "$archive" ] && [ -f "$here/release/manifest.json" ] && [ -x "$here/enclave" ]; then
  # Run from inside an extracted bundle: verify it, copy it, verify the copy.
  echo "Verifying $here ..."
  # shellcheck disable=SC2086
  if ! "$python" "$here/verify.py" $keyargs "$here"; then
    die "the bundle in $here does not verify; NOT installed"
  fi
  cp -a "$here" "$staging"
else
  if [ -z "$archive" ]; then
    set -- "$here"/enclave-*.tar.gz
    [ -f "$1" ] || die "no archive given and none found beside install.sh"
    [ $# -eq 1 ] || die "several archives beside install.sh; name one"
    archive="$1"
  fi
  [ -f "$archive" ] || die "$archive does not exist"
  verifier="$here/verify.py"
  [ -f "$verifier" ] || die "verify.py must sit beside install.sh"
  echo "Verifying and extracting $archive ..."
  # verify.py extracts only into a new folder and deletes it again unless every file verified.
  # shellcheck disable=SC2086
  if ! "$python" "$verifier" $keyargs --extract-to "$staging" "$archive"; then
    die "$archive does not verify; NOT installed"
  fi
fi
# Check the copy that will be used, in place, once more (it is what the users will run).
# shellcheck disable=SC2086
"$python" "$staging/verify.py" $keyargs "$staging" >/dev/null || die "the extracted copy does not verify; NOT installed"

if [ -e "$prefix" ]; then
  old="$prefix.old.$$"
  mv "$prefix" "$old"
  mv "$staging" "$prefix"
  rm -rf "$old"
  echo "Replaced the Enclave installation in $prefix."
else
  mv "$staging" "$prefix"
fi
trap - EXIT INT TERM

if [ "$links" = 1 ]; then
  mkdir -p "$bindir"
  for name in enclave assistant assistant-admin; do
    target="$bindir/$name"
    if [ -e "$target" ] && [ ! -L "$target" ]; then
      echo "install.sh: $target exists and is not a link; left alone (run $prefix/enclave directly)" >&2
      continue
    fi
    ln -sfn "$prefix/enclave" "$target"
  done
fi
if [ "$desktop" = 1 ]; then
  mkdir -p "$appdir"
  sed "s|@EXEC@|$prefix/enclave|" "$prefix/enclave.desktop" > "$appdir/enclave.desktop"
fi

# The window needs X11 libraries the bundle cannot carry: install them (root with apt-get) or
# say which; the command line works without them.
if [ "$(id -u)" = 0 ]; then
  "$prefix/enclave" --check-desktop --install || true
else
  "$prefix/enclave" --check-desktop || true
fi

version="$("$prefix/enclave" --version | head -n 1)"
echo "Installed $version in $prefix."
[ "$links" = 1 ] && echo "Commands: $bindir/enclave (window), $bindir/assistant, $bindir/assistant-admin."
echo "Check it:   $prefix/enclave --self-test"
echo "Verify it:  $prefix/enclave admin verify-install"
extra=""; [ "$bindir" = /usr/local/bin ] || [ "$bindir" = "$HOME/.local/bin" ] || extra=" --bindir $bindir"
echo "Uninstall:  $prefix/uninstall.sh$extra"
