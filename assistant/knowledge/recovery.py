"""Keeping the vector index trustworthy: detect damage at start, rebuild from stored passages.

Chroma's files (``index/chroma/``) can be torn by a crash or power cut during a write, damaged
on disk, or deleted. Peer apps then crash at every start (a crash loop); Enclave instead:

1. **checks before it opens**: :func:`quick_check` reads Chroma's SQLite file with Python's own
   ``sqlite3`` (which reports damage as an error, never a crash) in milliseconds. When the last
   writer did not finish (the ``dense_writing`` mark in ``knowledge.sqlite3`` is still set, as
   after a kill mid-import) or when asked, :func:`probe` also opens the index with Chroma **in a
   child process** and reads every collection; a native crash or a hang there costs only the
   child.
2. **sets a damaged index aside** (renamed ``chroma.damaged-<time>``, never deleted: it is the
   evidence) and records ``dense_rebuild=pending`` before anything else, so an interrupted
   rebuild resumes on the next start instead of trusting a half-built index.
3. **rebuilds it** by re-embedding the passages of every indexed document, which
   ``knowledge.sqlite3`` keeps verbatim with their deterministic ids, so the rebuilt index holds
   exactly the ids it held before and needs neither the source files nor a re-parse.

A rebuild someone asks for (``assistant docs rebuild``) first reads the index in the child
process too: a damaged one is set aside as above; a sound one is not called damaged: it waits
in ``chroma.previous-<time>`` while the new one is built and is deleted once that has finished
(every vector in it is re-made from the stored passages; a rebuild that fails leaves it there).

The user is told each time (:attr:`DenseGuard.notices`, shown by the CLI and the GUI).
``knowledge.sqlite3`` itself is the source of truth; it runs in WAL mode with
``synchronous=FULL`` (:mod:`~assistant.knowledge.db`).

This module imports chromadb only inside functions, through :mod:`~assistant.knowledge.store`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.errors import KnowledgeIndexError
from assistant.knowledge.db import Database
from assistant.knowledge.embedder import Embedder
from assistant.knowledge.importer import embedding_text
from assistant.knowledge.lexical import LexicalIndex

if TYPE_CHECKING:
    from assistant.knowledge.store import DenseStore

#: Meta key: the pid of a process writing to Chroma; left set when that process died mid-write.
WRITING_KEY = "dense_writing"
#: Meta key: "pending" while the vector index is owed a rebuild (set before the old one moves).
REBUILD_KEY = "dense_rebuild"
CHROMA_DATABASE = "chroma.sqlite3"
PROBE_TIMEOUT_S = 180.0
#: Suffixes of the folders an index is moved to: kept as evidence, or until a rebuild finishes.
DAMAGED_SUFFIX = "damaged"
PREVIOUS_SUFFIX = "previous"

RebuildProgress = Callable[[int, int], None]
"""Called with (passages embedded so far, passages in all) during a rebuild."""


@dataclass(frozen=True)
class ProbeResult:
    """What a child process found when it read the whole vector index.

    Attributes:
        ok: Chroma opened and read every collection.
        problem: why not, in words (a crash, a hang, Chroma's error).
        ids: every chunk id, by user collection (empty when not ``ok``).
        elapsed_s: how long the probe took.
    """

    ok: bool
    problem: str = ""
    ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class IndexCheck:
    """The vector index compared with the passages ``knowledge.sqlite3`` says are indexed.

    Attributes:
        probe: the child process's reading of the index.
        expected: passages of indexed documents, by collection.
        missing: passages with no vector, by collection.
        extra: vectors with no indexed passage (left by interrupted imports: harmless, search
            ignores them), by collection.
    """

    probe: ProbeResult
    expected: Mapping[str, int]
    missing: Mapping[str, int]
    extra: Mapping[str, int]

    @property
    def ok(self) -> bool:
        """The index opens and every indexed passage has its vector."""
        return self.probe.ok and not any(self.missing.values())


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did.

    Attributes:
        chunks: passages re-embedded.
        collections: collections in the knowledge base (as ``docs collections`` lists them),
            including those with no searchable passage.
        set_aside: where a damaged old index was kept, if there was one (a sound one is
            deleted once the rebuild has finished: ``None``).
        elapsed_s: wall time.
        damage: what was wrong with the old index (``""``: it was sound, or there was none).
    """

    chunks: int
    collections: int
    set_aside: Path | None
    elapsed_s: float
    damage: str = ""


def _plural(count: int, word: str) -> str:
    """``1 passage``, ``2 passages``, ``1,024 passages``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def quick_check(chroma_dir: Path) -> str | None:
    """A cheap, crash-free look at Chroma's SQLite file.

    Returns:
        ``None`` when it looks sound (or no index exists yet), else what is wrong.
    """
    database = chroma_dir / CHROMA_DATABASE
    if not chroma_dir.exists():
        return None
    if not database.is_file():
        return f"{database.name} is missing"
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{database.name} cannot be read ({exc})"
    if not verdict or verdict[0] != "ok":
        return f"{database.name} is damaged ({verdict[0] if verdict else 'no answer'})"
    if not {"collections", "segments", "embeddings"} <= tables:
        return f"{database.name} is not a complete Chroma database"
    return None


def _probe_child(conn: multiprocessing.connection.Connection, chroma_dir: str) -> None:
    """Child process: read the whole index and send back the ids, or the error."""
    import assistant.offline  # noqa: F401  (a fresh interpreter: guard it before chromadb loads)
    from assistant.knowledge.store import inventory

    try:
        conn.send(("ok", inventory(Path(chroma_dir))))
    except Exception as exc:  # noqa: BLE001 - any failure is the verdict the parent wants
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def probe(chroma_dir: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Open and read the vector index in a child process (``spawn``: it shares nothing).

    A crash in Chroma's native code, a hang past ``timeout_s`` or an exception there comes back
    as a failed result; this process never loads the damaged files.
    """
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(
        target=_probe_child, args=(child, str(chroma_dir)), name="enclave-index-probe",
        daemon=True,
    )  # fmt: skip
    process.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            return ProbeResult(False, f"reading it did not finish in {timeout_s:g} s")
        status, payload = parent.recv()
    except (EOFError, OSError):
        process.join(5)
        code = process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return ProbeResult(False, f"reading it crashed the vector store ({how})")
    finally:
        parent.close()
        if process.is_alive():
            process.kill()
        process.join(5)
        process.close()
    elapsed = time.perf_counter() - started
    if status != "ok":
        return ProbeResult(False, str(payload), elapsed_s=elapsed)
    ids = {name: frozenset(found) for name, found in payload.items()}
    return ProbeResult(True, ids=ids, elapsed_s=elapsed)


class DenseGuard:
    """Opens the vector index for a knowledge base, checking it first and repairing it.

    Args:
        chroma_dir: the Chroma folder (``index/chroma``).
        db: the knowledge database (ledger, passages, meta).
        lexical: the passages' store, read to re-embed them.
        embedder: embeds the passages.
        batch_size: passages per embedder call.
        open_store: builds the Chroma store (``DenseStore(path, embedder)``).
    """

    def __init__(
        self,
        chroma_dir: Path,
        *,
        db: Database,
        lexical: LexicalIndex,
        embedder: Embedder,
        batch_size: int,
        open_store: Callable[[], DenseStore],
    ) -> None:
        self.chroma_dir = chroma_dir
        self._db = db
        self._lexical = lexical
        self._embedder = embedder
        self._batch_size = max(1, batch_size)
        self._open_store = open_store
        self._checked = False
        #: Messages for the user about what was found and repaired, oldest first.
        self.notices: list[str] = []

    # --- detection ------------------------------------------------------------------------

    def expected_ids(self) -> dict[str, set[str]]:
        """Chunk ids of indexed documents, by collection: what the vector index must hold."""
        found: dict[str, set[str]] = {}
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT chunks.collection AS collection, chunks.id AS id FROM chunks "
                "JOIN documents ON documents.id = chunks.document_id "
                "WHERE documents.status = 'indexed'"
            )
            for row in rows:
                found.setdefault(row["collection"], set()).add(row["id"])
        return found

    def interrupted_writer(self) -> bool:
        """Whether a process died while writing to the vector index."""
        return bool(self._db.get_meta(WRITING_KEY))

    def rebuild_pending(self) -> bool:
        return self._db.get_meta(REBUILD_KEY) == "pending"

    def diagnose(self, *, force_probe: bool = False) -> str:
        """Look for damage without loading Chroma here; set a damaged index aside.

        The child-process probe runs when ``force_probe`` is set or the last writer was
        interrupted; the cheap check always runs.

        Returns:
            A message for the user when the index must be rebuilt (the rebuild itself happens
            when the index is next opened), else ``""``.
        """
        self._checked = True
        if self.rebuild_pending():
            return self._owed("A rebuild of the vector index was interrupted")
        problem = quick_check(self.chroma_dir)
        if problem is None and not self.chroma_dir.exists() and self.expected_ids():
            problem = "its folder is missing"
        if problem is None and (force_probe or self.interrupted_writer()):
            result = probe(self.chroma_dir)
            problem = None if result.ok else result.problem
        if problem is None:
            return ""
        moved = self._set_aside()
        where = f" The damaged copy was moved to {moved}." if moved else ""
        return self._owed(f"The vector index at {self.chroma_dir} is unusable: {problem}.{where}")

    def _owed(self, what: str) -> str:
        self._db.set_meta(REBUILD_KEY, "pending")
        count = sum(len(ids) for ids in self.expected_ids().values())
        message = (
            f"{what} It is being rebuilt from the {_plural(count, 'passage')} of your imported "
            "documents (no document is lost; search works again when it is done)."
        )
        self.notices.append(message)
        return message

    def _set_aside(self, suffix: str = DAMAGED_SUFFIX) -> Path | None:
        """Move the index folder out of the way; None when there is none.

        Args:
            suffix: :data:`DAMAGED_SUFFIX` for a damaged index (kept as evidence),
                :data:`PREVIOUS_SUFFIX` for a sound one that a rebuild replaces.
        """
        self._db.set_meta(REBUILD_KEY, "pending")  # first: a crash from here on still rebuilds
        if not self.chroma_dir.exists():
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = self.chroma_dir.with_name(f"{self.chroma_dir.name}.{suffix}-{stamp}")
        try:
            self.chroma_dir.rename(target)
        except OSError as exc:
            state = "is damaged and" if suffix == DAMAGED_SUFFIX else "is being rebuilt but"
            raise KnowledgeIndexError(
                f"The vector index at {self.chroma_dir} {state} could not be moved aside "
                f"({exc.strerror or exc}). Move or delete that folder yourself, then start "
                "Enclave again: it will be rebuilt from your imported documents."
            ) from exc
        return target

    def _damage(self) -> str:
        """What is wrong with the index on disk, read in a child process; ``""`` when sound."""
        problem = quick_check(self.chroma_dir)
        if problem is None and self.chroma_dir.exists():
            result = probe(self.chroma_dir)
            problem = None if result.ok else result.problem
        return problem or ""

    def _drop_previous(self) -> None:
        """Delete the sound copies a finished rebuild replaced (this one's and any left behind
        by a rebuild that was interrupted); a copy that cannot be deleted just stays."""
        for old in self.chroma_dir.parent.glob(f"{self.chroma_dir.name}.{PREVIOUS_SUFFIX}-*"):
            shutil.rmtree(old, ignore_errors=True)

    def collection_names(self) -> set[str]:
        """Every collection the knowledge base knows (those ``docs collections`` lists)."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT DISTINCT collection FROM documents").fetchall()
        return {row["collection"] for row in rows} | set(self.expected_ids())

    def check(self) -> IndexCheck:
        """Probe the index in a child process and compare it with the indexed passages."""
        result = probe(self.chroma_dir) if self.chroma_dir.exists() else ProbeResult(True)
        expected = self.expected_ids()
        missing: dict[str, int] = {}
        extra: dict[str, int] = {}
        for name in set(expected) | set(result.ids):
            want, have = expected.get(name, set()), result.ids.get(name, frozenset())
            missing[name] = len(want - have) if result.ok else len(want)
            extra[name] = len(have - want)
        return IndexCheck(
            result, {name: len(ids) for name, ids in expected.items()}, missing, extra
        )

    # --- opening and rebuilding -----------------------------------------------------------

    def open(self) -> DenseStore:
        """The Chroma store, after the first-open check and any rebuild it calls for.

        Raises:
            KnowledgeIndexError: the index cannot be opened even after a rebuild.
        """
        if not self._checked:
            self.diagnose()
        if self.rebuild_pending():
            return self._rebuild(set_aside=False)[0]
        return self._open_store()

    def rebuild(self, *, on_progress: RebuildProgress | None = None) -> RebuildReport:
        """Rebuild the index from the stored passages (always), as a person asked.

        The current index is read in a child process first: a damaged one is kept as
        ``chroma.damaged-<time>``; a sound one is moved to ``chroma.previous-<time>`` and
        deleted once the new one is complete. No notice is added: the caller reports.
        """
        started = time.perf_counter()
        damage = self._damage()
        moved = self._set_aside(DAMAGED_SUFFIX if damage else PREVIOUS_SUFFIX)
        report = self._rebuild(set_aside=False, on_progress=on_progress, notify=False)[1]
        return replace(
            report,
            set_aside=moved if damage else None,
            elapsed_s=time.perf_counter() - started,
            damage=damage,
        )

    def _rebuild(
        self,
        *,
        set_aside: bool,
        on_progress: RebuildProgress | None = None,
        notify: bool = True,
    ) -> tuple[DenseStore, RebuildReport]:
        started = time.perf_counter()
        moved = self._set_aside() if set_aside else None
        if not set_aside and self.chroma_dir.exists():
            # A rebuild that was interrupted left a partial index: start over from nothing.
            moved = self._set_aside()
        store = self._open_store()
        expected = self.expected_ids()
        total = sum(len(ids) for ids in expected.values())
        done = 0
        with self.writing():
            for collection, ids in sorted(expected.items()):
                ordered = sorted(ids)
                for start in range(0, len(ordered), self._batch_size):
                    stored = self._lexical.fetch(ordered[start : start + self._batch_size])
                    chunks = [s.chunk for s in stored.values()]
                    texts = [embedding_text(c) for c in chunks]  # what the importer embedded
                    vectors = np.asarray(self._embedder.embed(texts), dtype=np.float32)
                    store.add(collection, chunks, vectors)
                    done += len(chunks)
                    if on_progress is not None:
                        on_progress(done, total)
        self._db.set_meta(REBUILD_KEY, "")
        self._drop_previous()
        collections = len(self.collection_names())
        report = RebuildReport(done, collections, moved, time.perf_counter() - started)
        if notify:
            self.notices.append(
                f"The vector index was rebuilt: {_plural(done, 'passage')} in "
                f"{_plural(collections, 'collection')}, {report.elapsed_s:.1f} s."
                + (f" The old copy is in {moved}; delete it once search works." if moved else "")
            )
        return store, report

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Mark the vector index as being written for the duration (cleared on success only).

        A process killed inside leaves the mark, so the next start probes the index in a child
        process before trusting it.
        """
        self._db.set_meta(WRITING_KEY, str(os.getpid()))
        yield
        self._db.set_meta(WRITING_KEY, "")


__all__ = [
    "DenseGuard",
    "IndexCheck",
    "ProbeResult",
    "RebuildReport",
    "probe",
    "quick_check",
]
