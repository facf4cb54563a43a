"""The checks a staged model file passes before it is installed: header, template, test load.

The header check runs here, in Python, with limits tighter than the app's everyday ones. The
chat-template check and the test load run in a child process (:mod:`assistant.catalog.probe`)
with a time limit: a template that loops forever or a file that crashes llama.cpp costs that
child, never this process. Each failure is an :class:`~assistant.errors.ImportRefusedError` whose
``reason`` (``header``, ``template``, ``test-load``) goes to the audit log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import assistant
from assistant.catalog.records import KIND_LORA, KIND_MODEL
from assistant.engine.gguf_header import GGUFInfo, Limits, read_header
from assistant.errors import ImportRefusedError, ModelError

#: Bounds for files arriving on removable media: every real model we know fits comfortably
#: (Gemma 3 has a 262k-token vocabulary, large MoE models ~2k tensors), hostile headers do not.
IMPORT_LIMITS = Limits(
    max_tensors=65_536,
    max_kv=2_048,
    max_key_bytes=1_024,
    max_string_bytes=1 << 20,
    max_array_items=1 << 20,
    max_dims=4,
    max_dim_size=1 << 32,
    max_alignment=1 << 16,
)
_POLL_S = 0.05
_OUTPUT_TAIL = 400


@dataclass(frozen=True)
class ChildResult:
    """What a probe child reported."""

    ok: bool
    data: dict[str, Any]


def check_header(path: Path, *, kind: str, display: str) -> GGUFInfo:
    """Bounded header check of a staged file; its kind must match what the manifest says.

    Raises:
        ImportRefusedError: the header is malformed, outside the limits, or the wrong kind.
    """
    try:
        info = read_header(path, limits=IMPORT_LIMITS)
    except ModelError as exc:
        raise ImportRefusedError(
            f"{display} failed the header check: {exc}", reason="header"
        ) from exc
    is_adapter = info.metadata.get("general.type") == "adapter"
    if kind == KIND_MODEL and is_adapter:
        raise ImportRefusedError(
            f"{display} is listed as a model but is a LoRA adapter; sign it as kind 'lora'.",
            reason="header",
        )
    if kind == KIND_LORA and not is_adapter:
        raise ImportRefusedError(
            f"{display} is listed as a LoRA adapter but its header says it is not one.",
            reason="header",
        )
    if info.architecture == "unknown":
        raise ImportRefusedError(
            f"{display} does not say which architecture it is; llama.cpp could not run it.",
            reason="header",
        )
    return info


#: The argument a frozen (PyInstaller) executable's entry point must route to
#: :func:`assistant.catalog.probe.main`: a frozen app has no ``-m``.
FROZEN_PROBE_FLAG = "--enclave-catalog-probe"


def probe_command() -> list[str]:
    """How to start the probe child: this interpreter running the probe module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_PROBE_FLAG]
    return [sys.executable, "-m", "assistant.catalog.probe"]


def run_probe(
    args: list[str], *, timeout_s: float, cancelled: Callable[[], bool] = lambda: False
) -> ChildResult:
    """Run the probe child and wait for its one-line JSON answer.

    Raises:
        ImportRefusedError: it crashed, timed out, or printed no answer (reason ``test-load``;
            the caller re-labels it).
        ImportCancelledError: via ``cancelled`` raising, after the child is killed.
    """
    package_root = str(Path(assistant.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
    )}  # fmt: skip
    # Files, not pipes: a child that writes a lot must not block on a full pipe while we wait.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [*probe_command(), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,  # a signal aimed at the child's group stays there
        )
        deadline = time.monotonic() + timeout_s
        try:
            while child.poll() is None:
                cancelled()  # raises to cancel; the finally kills the child
                if time.monotonic() > deadline:
                    raise ImportRefusedError(
                        f"it did not finish within {timeout_s:g} seconds", reason="timeout"
                    )
                time.sleep(_POLL_S)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        out.seek(0)
        stdout = out.read(1 << 20)
        err.seek(max(0, err.seek(0, os.SEEK_END) - (1 << 16)))  # the tail is what explains
        stderr = err.read()
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise ImportRefusedError(
            f"it crashed the checking process (signal {name}){_tail(stderr)}", reason="crash"
        )
    try:
        answer = json.loads(stdout.decode("utf-8", errors="replace").strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        raise ImportRefusedError(
            f"the checking process exited with status {child.returncode} and no answer"
            f"{_tail(stderr)}",
            reason="crash",
        )
    return ChildResult(ok=bool(answer.get("ok")), data=answer)


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    return f" ({text[-_OUTPUT_TAIL:]})" if text else ""


def check_template(
    path: Path, *, display: str, timeout_s: float, cancelled: Callable[[], bool]
) -> None:
    """Render the chat template of a staged file in the sandboxed child.

    Raises:
        ImportRefusedError: the template is invalid, tried to reach Python internals, or the
            child crashed, ran out of memory or time (reason ``template``).
    """
    try:
        result = run_probe(
            ["template", str(path), "--cpu-seconds", str(max(1, int(timeout_s)))],
            timeout_s=timeout_s,
            cancelled=cancelled,
        )
    except ImportRefusedError as exc:
        raise ImportRefusedError(
            f"The chat template of {display} could not be checked: {exc}. A template is code; "
            "this one is not safe to use.",
            reason="template",
        ) from exc
    if not result.ok:
        raise ImportRefusedError(
            f"The chat template of {display} was refused: {result.data.get('error')}",
            reason="template",
        )


def trial_load(
    path: Path,
    *,
    display: str,
    timeout_s: float,
    context_size: int,
    cancelled: Callable[[], bool],
) -> dict[str, Any]:
    """Load a staged model in the child with llama.cpp and generate one token.

    Returns:
        What the child reported (name, architecture, context size).

    Raises:
        ImportRefusedError: llama.cpp refused or crashed on it, or it ran past the time limit
            (reason ``test-load``).
    """
    try:
        result = run_probe(
            ["load", str(path), "--context", str(context_size)],
            timeout_s=timeout_s,
            cancelled=cancelled,
        )
    except ImportRefusedError as exc:
        raise ImportRefusedError(
            f"The test load of {display} failed: {exc}. The file is damaged, hostile, or needs "
            "a newer llama.cpp; do not use it.",
            reason="test-load",
        ) from exc
    if not result.ok:
        raise ImportRefusedError(
            f"The test load of {display} failed: {result.data.get('error')}", reason="test-load"
        )
    return result.data
