"""One instance per data directory: a second writer is told at once, a crash frees the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.config import Paths
from assistant.errors import InstanceLockedError
from assistant.instance import InstanceLock
from tests.conftest import ROOT, run_cli

_HOLD = (
    "import sys, time; from pathlib import Path; from assistant.instance import InstanceLock; "
    "lock = InstanceLock.acquire(Path(sys.argv[1]), purpose='test'); print('held', flush=True); "
    "time.sleep(120)"
)


def test_a_second_lock_fails_at_once_and_names_the_holder(paths: Paths) -> None:
    with InstanceLock.acquire(paths.lock_file, home=paths.home) as first:
        started = time.monotonic()
        with pytest.raises(InstanceLockedError) as caught:
            InstanceLock.acquire(paths.lock_file, home=paths.home)
        assert time.monotonic() - started < 1.0
        assert caught.value.pid == os.getpid()
        assert "already running" in str(caught.value)
        assert str(paths.home) in str(caught.value)
        assert first.held
    with InstanceLock.acquire(paths.lock_file) as again:  # released: free to take
        assert again.held


def test_another_process_writing_the_index_is_refused_at_once(paths: Paths, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(paths.lock_file)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        note = tmp_path / "note.txt"
        note.write_text("hello", encoding="utf-8")
        started = time.monotonic()
        result = run_cli("--home", str(paths.home), "ingest", str(note), timeout=60)
        elapsed = time.monotonic() - started
        assert result.returncode == 1, result.stderr
        assert "Enclave is already running" in result.stderr
        assert f"(process {holder.pid})" in result.stderr
        assert "Traceback" not in result.stderr
        assert elapsed < 30  # no waiting on the lock (the time is interpreter start-up)
        assert not paths.index_dir.exists()  # refused before it opened anything
        listing = run_cli("--home", str(paths.home), "docs", "list", timeout=60)
        assert listing.returncode == 0, listing.stderr  # reading is not blocked
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel frees the lock
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
    with InstanceLock.acquire(paths.lock_file) as after:
        assert after.held
