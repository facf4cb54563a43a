#!/bin/sh
# Uninstall the Enclave installation this script belongs to: its folder, the command links that
# point into it, and its desktop entry. The users' data (ASSISTANT_HOME, by default
# ~/.local/share/enclave: settings, conversations, document index, imported models, logs) is
# left alone; remove it by hand if wanted.
#
# Usage: <prefix>/uninstall.sh [--bindir DIR] [--yes]
set -eu

die() { echo "uninstall.sh: $*" >&2; exit 1; }

prefix="$(cd "$(dirname "$0")" && pwd -P)"
[ -f "$prefix/release/manifest.json" ] && [ -x "$prefix/enclave" ] \
  || die "$prefix does not look like an Enclave installation; nothing removed"
bindirs="/usr/local/bin /usr/bin $HOME/.local/bin"
appfiles="/usr/local/share/applications/enclave.desktop ${XDG_DATA_HOME:-$HOME/.local/share}/applications/enclave.desktop"
yes=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bindir) [ $# -ge 2 ] || die "--bindir needs a folder"; bindirs="$2 $bindirs"; shift 2 ;;
    --yes|-y) yes=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ "$yes" != 1 ]; then
  printf 'Remove Enclave from %s? [y/N] ' "$prefix"
  read -r answer || answer=""
  case "$answer" in y|Y|yes|YES) ;; *) echo "Nothing removed."; exit 0 ;; esac
fi

for dir in $bindirs; do
  for name in enclave assistant assistant-admin; do
    link="$dir/$name"
    # Only links that point at this installation: another copy's links stay.
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/enclave" ]; then
      rm -f "$link" && echo "removed $link"
    fi
  done
done
for file in $appfiles; do
  if [ -f "$file" ] && grep -q "^Exec=$prefix/enclave" "$file"; then
    rm -f "$file" && echo "removed $file"
  fi
done
rm -rf "$prefix"
echo "Enclave removed from $prefix. User data (ASSISTANT_HOME, default ~/.local/share/enclave) was kept."
