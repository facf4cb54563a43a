"""Before Qt starts: can this machine show Enclave's window?

PySide6's wheels carry Qt but not the X11 libraries its xcb platform plugin links against, and a
fresh desktop often lacks some (``libxcb-cursor0``, ``libxcb-icccm4``, ``libxcb-keysyms1`` ...).
Qt then aborts inside ``QApplication`` with "Could not load the Qt platform plugin "xcb"" and
advice that does not help. Here ``ldd`` is asked which libraries of the plugin (and of the Qt
libraries it needs) cannot be found, each missing one is mapped to the Debian/Ubuntu and
Fedora/RHEL package that provides it, and the person gets one message that names the command to
run. ``assistant gui``, ``assistant-gui`` and the frozen bundle's launcher call
:func:`window_problem` before anything imports Qt; ``scripts/setup.sh`` calls this module to
install the packages when it runs as root with ``apt-get`` (``python -m assistant.desktop
--install``), else to print the command; ``assistant doctor`` lists the result.

Imports only the standard library: it must run where Qt cannot.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Exit status of the GUI when the window cannot open on this machine (as for a usage error).
EXIT_NO_WINDOW = 2

#: Each library the xcb plugin or Qt's GUI libraries may need: (Debian/Ubuntu, Fedora/RHEL).
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}

#: What the desktop packages (.deb Depends, install.sh) declare: every library above, by package.
DEBIAN_PACKAGES: tuple[str, ...] = tuple(sorted({debian for debian, _ in PACKAGES.values()}))

_LOAD_ERROR = re.compile(r"error while loading shared libraries: ([^:\s]+):")

#: Libraries Qt's xcb plugin opens at run time rather than links against, so ldd cannot see
#: them; since Qt 6.5 the plugin refuses to load without libxcb-cursor.
DLOPENED = ("libxcb-cursor.so.0",)

#: The Qt files whose libraries are checked, relative to PySide6's ``Qt`` folder.
QT_FILES = ("plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6", "lib/libQt6Gui.so.6")


@dataclass(frozen=True)
class Missing:
    """A library the window needs that this machine does not have."""

    soname: str
    debian: str
    fedora: str


def qt_folder() -> Path | None:
    """PySide6's ``Qt`` folder (in the virtual environment or the frozen bundle), without
    importing PySide6; ``None`` when it is not installed."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    return folder if folder.is_dir() else None


def missing_libraries(
    files: Sequence[Path] | None = None, *, ldd: str | None = None
) -> list[Missing]:
    """The libraries that ``files`` (default: Qt's xcb plugin and its Qt libraries) need and
    the dynamic loader cannot find, in the order ``ldd`` names them.

    Returns an empty list when ``ldd`` is not there (not Linux): nothing can be said then.
    """
    if files is None:
        folder = qt_folder()
        files = [folder / name for name in QT_FILES] if folder else []
    program = ldd or shutil.which("ldd")
    if program is None:
        return []
    found: list[Missing] = []
    for file in files:
        if not file.is_file():
            continue
        try:
            done = subprocess.run(
                [program, str(file)], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        sonames = []
        for line in done.stdout.splitlines():
            name, arrow, where = line.strip().partition("=>")
            if arrow and "not found" in where:
                sonames.append(name.strip())
        # A library that is there but cannot be loaded (truncated, the wrong architecture) stops
        # the loader with "error while loading shared libraries: PATH: reason".
        output = done.stdout + done.stderr
        sonames += [Path(m.group(1)).name for m in _LOAD_ERROR.finditer(output)]
        for soname in sonames:
            if all(m.soname != soname for m in found):
                debian, fedora = PACKAGES.get(soname, (f"(the package with {soname})", "?"))
                found.append(Missing(soname, debian, fedora))
    if files_checked(files):
        for soname in DLOPENED:
            if not _loadable(soname) and all(m.soname != soname for m in found):
                debian, fedora = PACKAGES[soname]
                found.append(Missing(soname, debian, fedora))
    return found


def files_checked(files: Sequence[Path]) -> bool:
    return any(file.is_file() and file.name == "libqxcb.so" for file in files)


def _loadable(soname: str) -> bool:
    """Whether the dynamic loader can load ``soname`` (loading a library runs no code of ours
    and nothing of its own beyond its initialisers, which these X11 helpers do not have)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def install_commands(missing: Sequence[Missing]) -> tuple[str, str]:
    """The commands that install ``missing``: (Debian/Ubuntu, Fedora/RHEL)."""
    debian = sorted({m.debian for m in missing})
    fedora = sorted({m.fedora for m in missing if m.fedora != "?"})
    return (
        "sudo apt-get install " + " ".join(debian),
        "sudo dnf install " + " ".join(fedora) if fedora else "",
    )


def missing_message(missing: Sequence[Missing]) -> str:
    """One message for a person: what is missing and the command that fixes it."""
    names = ", ".join(m.soname for m in missing)
    debian, fedora = install_commands(missing)
    text = (
        "Enclave's window cannot open: Qt's X11 platform plugin (xcb) needs system libraries "
        f"this computer does not have: {names}.\nInstall them with:\n  {debian}"
    )
    if fedora:
        text += f"\n(Fedora, RHEL: {fedora})"
    return text + "\nThe command line works without them: assistant chat."


def window_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the window cannot open here, for a person; ``None`` when it can (or Qt will not use
    X11: ``QT_QPA_PLATFORM`` names another platform, or a Wayland session has no X display)."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    if platform and not platform.startswith("xcb"):
        return None
    if not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY") and not platform:
            return None  # Qt picks its Wayland plugin
        return (
            "There is no display to open Enclave's window on (DISPLAY is not set: a terminal "
            "over SSH, or a server). Use the chat in this terminal instead: assistant chat"
        )
    missing = missing_libraries()
    return missing_message(missing) if missing else None


def check_window() -> int | None:
    """Run :func:`window_problem`; on a problem print it and return the exit status."""
    problem = window_problem()
    if problem is None:
        return None
    print(f"error: {problem}", file=sys.stderr)
    return EXIT_NO_WINDOW


def gui_main(argv: Sequence[str] | None = None) -> int:
    """The ``assistant-gui`` entry point: the check, then the window (Qt loads only then)."""
    status = check_window()
    if status is not None:
        return status
    from assistant.gui.app import main as window

    return window(argv)


def report() -> dict[str, object]:
    """What ``assistant doctor`` shows: the Qt files checked and any library they lack."""
    folder = qt_folder()
    missing = missing_libraries()
    debian, fedora = install_commands(missing)
    return {
        "qt": str(folder) if folder else None,
        "ldd": shutil.which("ldd"),
        "missing": [m.__dict__ for m in missing],
        "install_debian": debian if missing else "",
        "install_fedora": fedora if missing else "",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m assistant.desktop [--install] [--json]``: set-up's check of the GUI's system
    libraries. Exit 0 when none is missing (or they were installed), 1 when some are."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--install", action="store_true", help="install what is missing with apt-get (as root)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    missing = missing_libraries()
    if args.json:
        print(json.dumps(report(), indent=2))
        return 1 if missing else 0
    if not missing:
        print("desktop: the window's system libraries are all present")
        return 0
    packages = sorted({m.debian for m in missing})
    can_install = args.install and os.geteuid() == 0 and shutil.which("apt-get")
    if can_install:
        print(f"desktop: installing {' '.join(packages)} (Qt's window needs them)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        if subprocess.run(command, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(command, env=env, check=False)
        missing = missing_libraries()
        if not missing:
            print("desktop: installed; the window can open")
            return 0
    print("desktop: " + missing_message(missing).replace("\n", "\ndesktop: "), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
