"""The window's system libraries: found with ldd before Qt starts, named with the package that
provides them, and a clear message (exit 2, in under two seconds) instead of Qt's abort."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import desktop
from tests.conftest import ROOT

FAKE_LDD = """#!/bin/sh
echo "	linux-vdso.so.1 (0x00007ffd)"
echo "	libxcb-cursor.so.0 => not found"
echo "	libxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f00)"
echo "	libxcb-icccm.so.4 => not found"
echo "	libstrange.so.9 => not found"
"""


def _fake_ldd(tmp_path: Path) -> str:
    script = tmp_path / "ldd"
    script.write_text(FAKE_LDD)
    script.chmod(0o755)
    return str(script)


def test_missing_libraries_are_named_with_their_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop, "_loadable", lambda soname: soname != "libxcb-cursor.so.0")
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"\x7fELF")
    missing = desktop.missing_libraries([plugin, plugin], ldd=_fake_ldd(tmp_path))
    assert [m.soname for m in missing] == [
        "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libstrange.so.9",
    ]  # fmt: skip
    assert [m.debian for m in missing[:2]] == ["libxcb-cursor0", "libxcb-icccm4"]
    # libxcb-cursor is opened at run time, so ldd cannot see it: it is checked by loading it
    monkeypatch.setattr(desktop, "_loadable", lambda soname: False)
    quiet = tmp_path / "quiet-ldd"
    quiet.write_text("#!/bin/sh\necho '	libxcb.so.1 => /lib/libxcb.so.1 (0x1)'\n")
    quiet.chmod(0o755)
    assert [m.soname for m in desktop.missing_libraries([plugin], ldd=str(quiet))] == [
        "libxcb-cursor.so.0"
    ]
    debian, fedora = desktop.install_commands(missing[:2])
    assert debian == "sudo apt-get install libxcb-cursor0 libxcb-icccm4"
    assert fedora == "sudo dnf install xcb-util-cursor xcb-util-wm"
    message = desktop.missing_message(missing[:2])
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in message
    assert debian in message
    assert "assistant chat" in message
    assert "Reinstalling" not in message


def test_no_display_and_other_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop, "missing_libraries", lambda: [desktop.Missing("x.so", "x", "x")])
    assert "no display" in (desktop.window_problem({}) or "")
    assert "assistant chat" in (desktop.window_problem({}) or "")
    assert desktop.window_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert desktop.window_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert "x.so" in (desktop.window_problem({"DISPLAY": ":0"}) or "")


def test_the_deb_depends_on_every_library_package() -> None:
    assert "libxcb-cursor0" in desktop.DEBIAN_PACKAGES
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libegl1", "libdbus-1-3"} <= set(
        desktop.DEBIAN_PACKAGES
    )


def _hidden_library() -> tuple[str, str] | None:
    """A library the xcb plugin links against, and the path the loader finds it at."""
    folder = desktop.qt_folder()
    ldd = shutil.which("ldd")
    if folder is None or ldd is None:
        return None
    done = subprocess.run([ldd, str(folder / desktop.QT_FILES[0])], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        name, arrow, where = line.strip().partition("=>")
        path = where.split("(")[0].strip()
        if arrow and "libxkbcommon-x11" in name and path.startswith("/"):
            return name.strip(), path
    return None


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="unshare -rm (user and mount namespaces) refused")
def test_assistant_gui_names_a_hidden_library_instead_of_aborting(tmp_path: Path) -> None:
    """In a private mount namespace an empty file is bound over one of the plugin's libraries:
    the command must say which package to install, exit 2, and not reach Qt."""
    found = _hidden_library()
    if found is None:
        pytest.skip("libxkbcommon-x11 is not installed here, so there is nothing to hide")
    soname, path = found
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    script = f"mount --bind {empty} {path} && exec {sys.executable} -m assistant.cli.main gui"
    env = {**os.environ, "DISPLAY": ":97"}
    env.pop("QT_QPA_PLATFORM", None)
    started = time.perf_counter()
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, timeout=60, env=env, cwd=ROOT)  # fmt: skip
    elapsed = time.perf_counter() - started
    assert done.returncode == desktop.EXIT_NO_WINDOW, done.stderr
    assert soname in done.stderr
    assert "sudo apt-get install libxkbcommon-x11-0" in done.stderr
    assert "Could not load the Qt platform plugin" not in done.stderr
    assert elapsed < 2 * 3  # two seconds on a quiet machine; this one is shared
    assert done.stderr.count("error:") == 1


def test_without_a_display_the_gui_suggests_the_terminal_chat() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                             "QT_QPA_PLATFORM")}  # fmt: skip
    command = [sys.executable, "-m", "assistant.cli.main", "gui"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 2
    assert "There is no display" in done.stderr
    assert "assistant chat" in done.stderr


def test_the_check_does_not_import_qt() -> None:
    code = (
        "import sys, assistant.desktop as d; d.window_problem({'DISPLAY': ':0'}); "
        "assert 'PySide6' not in sys.modules and 'PySide6.QtCore' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
