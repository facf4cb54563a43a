"""The seams: one module per heavy library, and importing the package stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import assistant.knowledge

PACKAGE = Path(assistant.knowledge.__file__).parent


def importers_of(library: str) -> set[str]:
    pattern = re.compile(rf"^\s*(import|from)\s+{library}\b", re.MULTILINE)
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }


def test_each_heavy_library_has_one_seam() -> None:
    # store.py opens the embedded index; remote.py the site's Chroma server (the shared index).
    assert importers_of("chromadb") == {"store.py", "remote.py"}
    assert importers_of("sentence_transformers") == {"embedder.py"}
    assert importers_of("pypdf") == {"loaders/pdf.py"}
    assert importers_of("docx") == {"loaders/docx.py"}
    assert importers_of("PySide6") == set()


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import assistant.knowledge, assistant.cli.knowledge, sys; "
        "heavy = {'chromadb', 'torch', 'sentence_transformers', 'pypdf', 'docx', 'PySide6'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent.parent,
    ).stdout.strip()  # fmt: skip
    assert out == "[]"
