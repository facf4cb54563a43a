"""Every Chroma collection uses our embedding function, and every Chroma client has telemetry off.

Chroma's default embedding function downloads an ONNX model on first use, and its client sends
product telemetry unless told not to. Three views: the source (every call that opens a client or
a collection, in every module that imports chromadb), the files an import leaves (each
collection's persisted configuration), and a fresh process after an import and a search (no
onnxruntime loaded, every live Chroma system with telemetry off).
"""

from __future__ import annotations

import ast
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import assistant
from tests.conftest import ROOT

PACKAGE = Path(assistant.__file__).parent
COLLECTION_CALLS = {"get_or_create_collection", "get_collection", "create_collection"}
CLIENT_CALLS = {"PersistentClient", "HttpClient", "Client", "EphemeralClient", "AsyncHttpClient",
                "CloudClient"}  # fmt: skip


def chroma_modules() -> list[Path]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(n == "chromadb" or n.startswith("chromadb.") for n in names):
                found.append(path)
                break
    return found


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _telemetry_off(value: ast.expr, assigned: dict[str, ast.expr]) -> bool:
    """``Settings(anonymized_telemetry=False, ...)``, at the call or in a variable set to it."""
    if isinstance(value, ast.Name) and value.id in assigned:
        value = assigned[value.id]
    return (
        isinstance(value, ast.Call)
        and _called(value).endswith("Settings")  # also an import alias like ChromaSettings
        and any(
            k.arg == "anonymized_telemetry"
            and isinstance(k.value, ast.Constant)
            and k.value.value is False
            for k in value.keywords
        )
    )


def test_every_collection_and_client_call_in_the_source_is_safe() -> None:
    modules = chroma_modules()
    assert modules, "no module imports chromadb: this test lost its subject"
    collection_calls = client_calls = 0
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            keywords = {k.arg: k.value for k in node.keywords}
            if _called(node) in COLLECTION_CALLS:
                collection_calls += 1
                assert "embedding_function" in keywords, f"{where}: no embedding_function="
            if _called(node) in CLIENT_CALLS:
                client_calls += 1
                assert "settings" in keywords, f"{where}: a Chroma client without settings="
                assert _telemetry_off(keywords["settings"], assigned), (
                    f"{where}: a Chroma client must get settings=Settings(anonymized_telemetry"
                    "=False, ...), at the call or through a variable"
                )
    assert collection_calls >= 2
    assert client_calls >= 1


def test_persisted_collections_name_our_embedding_function(clean_index: Path) -> None:
    conn = sqlite3.connect(clean_index / "chroma" / "chroma.sqlite3")
    try:
        rows = conn.execute("SELECT name, schema_str FROM collections").fetchall()
    finally:
        conn.close()
    assert rows
    for name, schema in rows:
        functions = []
        stack = [json.loads(schema)]
        while stack:  # every embedding_function entry, wherever the schema nests it
            item = stack.pop()
            if isinstance(item, dict):
                if "embedding_function" in item:
                    functions.append(item["embedding_function"])
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        dense = [f for f in functions if f.get("type") == "known"]
        assert dense, (name, functions)
        assert {f["name"] for f in dense} == {"enclave"}, (name, dense)


_AFTER_USE = """
import sys
from pathlib import Path
import assistant.offline
from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings
from chromadb.api.shared_system_client import SharedSystemClient

kb = KnowledgeBase.open(Path(sys.argv[1]), embedder=HashEmbedder(),
                        settings=KnowledgeSettings(isolate_parsing=False))
note = Path(sys.argv[2])
note.write_text("The generator needs new fuel filters.", encoding="utf-8")
kb.ingest([note], collection="fresh")
assert kb.search("fuel filters", collection="fresh")
systems = list(SharedSystemClient._identifier_to_system.values())
assert systems, "no live Chroma system to inspect"
print("telemetry", sorted({s.settings.anonymized_telemetry for s in systems}))
print("onnxruntime" in sys.modules, "chromadb default function loaded")
kb.close()
"""


def test_a_fresh_process_never_loads_chromas_default_embedder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _AFTER_USE, str(tmp_path / "index"), str(tmp_path / "n.txt")],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "telemetry [False]" in result.stdout
    assert "False chromadb default function loaded" in result.stdout
