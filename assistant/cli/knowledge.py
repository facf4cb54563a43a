"""The knowledge-base commands: ``ingest``, ``docs list|show|remove|collections|check|rebuild``,
``search``.

:func:`register` adds them to the ``assistant`` parser. Each handler builds the application with
the ``ctx_factory`` it was given and uses its ``knowledge`` attribute when it has one (the
composition root's knowledge base), else opens ``paths.index_dir`` itself. Errors are
:class:`~assistant.errors.AssistantError` subclasses; :func:`assistant.cli.common.run_command`
prints them as one line and exits non-zero.

Commands that write the index (``ingest``, ``docs remove``, ``docs rebuild``) hold the instance
lock (:mod:`assistant.instance`) while they run, so a second writer, or the GUI, is told at once
that Enclave is already running. Notices about a damaged index that was repaired go to stderr.

Progress goes to stderr, results to stdout, so ``--json`` output can be piped.

Every command gives the same account of an import (:class:`ImportAccount`): a file is
**imported** (now searchable), **unchanged** (already imported, same bytes), **not a document**
(a type no loader reads: passed over, not recorded, not a failure) or **failed** with its reason
(recorded: ``docs list`` shows it, ``docs collections`` counts it); a named path that does not
exist, or whose name the index cannot record, is **not found**. Exit statuses are the constants
of :mod:`assistant.cli.common` (docs/exit-status.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.cli.common import EXIT_FAILED, EXIT_OK, command_started, plural
from assistant.instance import InstanceLock
from assistant.knowledge.base import DEFAULT_COLLECTION, KnowledgeBase
from assistant.knowledge.records import (
    CollectionInfo,
    DocumentRecord,
    DocumentStatus,
    FailedFile,
    FailureKind,
    IngestReport,
    IngestStage,
    ProgressEvent,
)
from assistant.knowledge.search import SearchHit

CtxFactory = Callable[[argparse.Namespace], Any]


def register(subparsers: Any, ctx_factory: CtxFactory) -> None:
    """Add the knowledge-base commands to the ``assistant`` parser.

    Args:
        subparsers: the object ``ArgumentParser.add_subparsers()`` returned.
        ctx_factory: builds the application from the parsed arguments; it must have ``paths``
            (a :class:`~assistant.config.Paths`) and may have ``knowledge`` (a ready
            :class:`KnowledgeBase`).
    """
    ingest = subparsers.add_parser(
        "ingest", help="import documents (files or folders) into a collection"
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive)")
    _collection_option(ingest)
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(handler=lambda args: cmd_ingest(args, ctx_factory))

    docs = subparsers.add_parser("docs", help="list, show or remove imported documents")
    actions = docs.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list documents and their status")
    listing.add_argument("--collection", metavar="NAME", help="only this collection")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="show one document and its passages")
    show.add_argument("document", metavar="DOC", help="id, id prefix, path or file name")
    show.add_argument("--collection", metavar="NAME")
    show.add_argument("--chunks", action="store_true", help="print every passage")
    show.add_argument("--json", action="store_true")
    remove = actions.add_parser("remove", help="remove documents from the index (files stay)")
    remove.add_argument("documents", nargs="+", metavar="DOC", help="id, path or file name")
    remove.add_argument("--collection", metavar="NAME")
    collections = actions.add_parser("collections", help="list collections")
    collections.add_argument("--json", action="store_true")
    actions.add_parser(
        "check", help="read the whole vector index in a child process and compare it"
    )
    actions.add_parser(
        "rebuild", help="rebuild the vector index from the imported passages (re-embed)"
    )
    docs.set_defaults(handler=lambda args: cmd_docs(args, ctx_factory))

    search = subparsers.add_parser("search", help="show the passages that match a query")
    search.add_argument("query")
    _collection_option(search)
    search.add_argument("--top-k", type=_positive, default=5, dest="top_k", metavar="N")
    search.add_argument("--document", metavar="DOC", help="only this document")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=lambda args: cmd_search(args, ctx_factory))


def _collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--collection",
        metavar="NAME",
        default=DEFAULT_COLLECTION,
        help=f"collection name (default: {DEFAULT_COLLECTION})",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


@contextmanager
def open_knowledge(
    args: argparse.Namespace, ctx_factory: CtxFactory, *, writer: str = ""
) -> Iterator[KnowledgeBase]:
    """The application's knowledge base, closed when the command ends.

    Args:
        writer: for a command that writes the index, its name: the instance lock is taken
            before anything loads, so a second writer fails at once instead of waiting.

    Raises:
        InstanceLockedError: ``writer`` is set and another Enclave process holds the lock.
    """
    app = ctx_factory(args)
    lock: InstanceLock | None = None
    knowledge: KnowledgeBase | None = None
    try:
        if writer:
            lock = InstanceLock.acquire(app.paths.lock_file, home=app.paths.home, purpose=writer)
        knowledge = app.knowledge
        yield knowledge
    finally:
        try:
            for notice in knowledge.notices if knowledge is not None else ():
                print(f"note: {notice}", file=sys.stderr)
            app.close()
        finally:
            if lock is not None:
                lock.release()


# --- ingest ------------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not one."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stderr
        self._live = bool(getattr(self._stream, "isatty", lambda: False)())
        self._width = 0

    def __call__(self, event: ProgressEvent) -> None:
        if not self._live:
            return
        if event.stage is IngestStage.DONE:
            self.clear()
            return
        columns = shutil.get_terminal_size((80, 20)).columns
        total = max(event.total, 1)
        filled = int(24 * event.done / total)
        name = event.current_file.name if event.current_file else ""
        line = f"[{'#' * filled}{'.' * (24 - filled)}] {event.done}/{event.total} "
        line += f"{event.stage.value} {name}"
        line = line[: columns - 1]
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self._live and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


@dataclass(frozen=True)
class ImportAccount:
    """What became of each file an import was given, in the categories every command uses.

    Attributes:
        report: the import's own report (pages, passages, times, removals).
        not_documents: files named on their own whose type no loader reads, with the reason
            (those found in folders are ``report.not_documents``).
        failed: documents that could not be imported, each recorded in the index with its
            reason: ``docs list`` shows them and ``docs collections`` counts them.
        not_found: named paths the index cannot record: they do not exist, or their name is
            not valid text.
        elapsed_s: the whole command's time, start-up (opening the index, loading the
            embedder) included.
    """

    report: IngestReport
    not_documents: tuple[FailedFile, ...]
    failed: tuple[FailedFile, ...]
    not_found: tuple[FailedFile, ...]
    elapsed_s: float

    @classmethod
    def of(
        cls, report: IngestReport, recorded: Iterable[DocumentRecord], *, elapsed_s: float
    ) -> ImportAccount:
        """Sort ``report.failed`` by what the index recorded (``recorded``: its documents)."""
        failed_rows = {d.path for d in recorded if d.status is DocumentStatus.FAILED}
        unsupported = tuple(f for f in report.failed if f.kind is FailureKind.UNSUPPORTED)
        rest = [f for f in report.failed if f.kind is not FailureKind.UNSUPPORTED]
        return cls(
            report,
            not_documents=unsupported,
            failed=tuple(f for f in rest if f.path in failed_rows),
            not_found=tuple(f for f in rest if f.path not in failed_rows),
            elapsed_s=max(elapsed_s, report.elapsed_s),
        )

    @property
    def not_documents_count(self) -> int:
        return len(self.report.not_documents) + len(self.not_documents)

    @property
    def usable(self) -> bool:
        """Something was imported, is already imported, or was removed as asked; or there was
        nothing wrong (an empty folder)."""
        report = self.report
        if report.imported or report.skipped or report.removed:
            return True
        return not (self.failed or self.not_found or self.not_documents_count)

    @property
    def startup_s(self) -> float:
        return max(0.0, self.elapsed_s - self.report.elapsed_s)


def cmd_ingest(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """Import files and folders; print the summary.

    Exit status 1 (``EXIT_FAILED``) when nothing was imported, unchanged or removed and some
    path failed, was not found or was not a document; else 0 (the summary lists any failures).
    """
    started = command_started()
    bar = ProgressBar()
    with open_knowledge(args, ctx_factory, writer="ingest") as kb:
        try:
            report = kb.ingest(
                [Path(p) for p in args.paths], collection=args.collection, on_progress=bar
            )
        finally:
            bar.clear()
        recorded = kb.documents(report.collection)
    account = ImportAccount.of(report, recorded, elapsed_s=time.perf_counter() - started)
    if args.json:
        _print_json(report_to_dict(account))
    else:
        print(format_report(account))
    return EXIT_OK if account.usable else EXIT_FAILED


def format_report(account: ImportAccount) -> str:
    """The human summary of an import."""
    report = account.report
    counts = [
        f"imported {len(report.imported)}",
        f"unchanged {len(report.skipped)}",
        f"failed {len(account.failed)}",
        f"not documents {account.not_documents_count}",
    ]
    if account.not_found:
        counts.append(f"not found {len(account.not_found)}")
    counts.append(f"removed {len(report.removed)}")
    lines = [
        f"Collection {report.collection!r}: {', '.join(counts)}; {plural(report.pages, 'page')}, "
        f"{plural(report.chunks, 'passage')} in {account.elapsed_s:.1f} s "
        f"({account.startup_s:.1f} s of it starting up)."
    ]
    if report.cancelled:
        lines.append("The import was stopped; run it again to finish (done work is kept).")
    if report.not_documents:
        lines.append(f"  {report.not_documents_summary}")
    for skipped in account.not_documents:
        lines.append(f"  not a document  {skipped.path}: {skipped.reason}")
    for failure in account.failed:
        lines.append(f"  failed  {failure.path}: {failure.reason}")
    for missing in account.not_found:
        lines.append(f"  not found  {missing.path}: {missing.reason}")
    for removed in report.removed:
        lines.append(f"  removed {removed.path} (no longer in the folder)")
    if account.failed:
        lines.append(
            f"  ('assistant docs list --collection {report.collection}' lists the failed files "
            "until they are fixed and imported again, or removed with 'assistant docs remove'.)"
        )
    return "\n".join(lines)


def report_to_dict(account: ImportAccount) -> dict[str, Any]:
    """The import as JSON: the same categories and counts as the summary."""
    report = account.report

    def failures(found: tuple[FailedFile, ...]) -> list[dict[str, str]]:
        return [{"path": str(f.path), "kind": f.kind.value, "reason": f.reason} for f in found]

    return {
        "collection": report.collection,
        "imported": [_doc_dict(d) for d in report.imported],
        "unchanged": [_doc_dict(d) for d in report.skipped],
        "failed": failures(account.failed),
        "not_documents": [
            *(
                {"path": str(p), "kind": "unsupported", "reason": "in a folder: not a document"}
                for p in report.not_documents
            ),
            *failures(account.not_documents),
        ],  # fmt: skip
        "not_found": failures(account.not_found),
        "removed": [_doc_dict(d) for d in report.removed],
        "pages": report.pages,
        "chunks": report.chunks,
        "elapsed_s": round(account.elapsed_s, 3),
        "import_s": round(report.elapsed_s, 3),
        "cancelled": report.cancelled,
    }


# --- docs --------------------------------------------------------------------------------------


def cmd_docs(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """``docs list|show|remove|collections|check|rebuild``."""
    if args.action in ("check", "rebuild"):
        return cmd_index_health(args, ctx_factory)
    writer = "docs remove" if args.action == "remove" else ""
    with open_knowledge(args, ctx_factory, writer=writer) as kb:
        if args.action == "list":
            documents = kb.documents(args.collection)
            if args.json:
                _print_json([_doc_dict(d) for d in documents])
            elif not documents:
                print("No documents yet. Import some with: assistant ingest PATH")
            else:
                print("\n".join(document_table(documents)))
        elif args.action == "show":
            record = kb.document(args.document, args.collection)
            chunks = kb.chunks(record) if args.chunks or args.json else []
            if args.json:
                _print_json({**_doc_dict(record), "chunks": [asdict(c) for c in chunks]})
            else:
                print(_doc_details(record))
                for chunk in chunks:
                    where = f"page {chunk.page}" if chunk.page is not None else "section"
                    heading = f" \u00b7 {chunk.heading}" if chunk.heading else ""
                    print(f"\n[{chunk.index}] {where}{heading} (chars {chunk.char_start}-"
                          f"{chunk.char_end})\n{chunk.text}")  # fmt: skip
        elif args.action == "remove":
            records = [kb.document(ref, args.collection) for ref in args.documents]
            for record in records:
                kb.remove(record)
                print(f"Removed {record.path} from {record.collection!r} (the file is untouched).")
        elif args.action == "collections":
            found = kb.collections()
            if args.json:
                _print_json([asdict(c) for c in found])
            elif not found:
                print("No collections yet. Import documents with: assistant ingest PATH")
            for c in found if not args.json else ():
                print(collection_line(c))
    return EXIT_OK


def cmd_index_health(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """``docs check``: exit 1 when the vector index is damaged or incomplete; ``docs rebuild``."""
    if args.action == "rebuild":
        with open_knowledge(args, ctx_factory, writer="docs rebuild") as kb:
            bar = ProgressBar()
            try:
                report = kb.rebuild_index(
                    on_progress=lambda done, total: bar(
                        ProgressEvent(done, total, None, IngestStage.EMBEDDING)
                    )
                )
            finally:
                bar.clear()
        print(f"Rebuilt the vector index: {plural(report.chunks, 'passage')} in "
              f"{plural(report.collections, 'collection')}, {report.elapsed_s:.1f} s.")  # fmt: skip
        if report.damage:
            print(f"The old index was damaged ({report.damage}); it is kept in "
                  f"{report.set_aside}: delete it once search works.")  # fmt: skip
        return EXIT_OK
    with open_knowledge(args, ctx_factory) as kb:
        check = kb.verify_index()
    if not check.probe.ok:
        print(f"The vector index cannot be read: {check.probe.problem}. Run 'assistant docs "
              "rebuild' to rebuild it from your imported documents.")  # fmt: skip
        return EXIT_FAILED
    for name in sorted(check.expected):
        print(f"{name}: {plural(check.expected[name], 'passage')}, "
              f"{check.missing.get(name, 0)} without a vector, "
              f"{plural(check.extra.get(name, 0), 'stray vector')}")  # fmt: skip
    if not check.ok:
        print("Some passages have no vector: run 'assistant docs rebuild'.")
        return EXIT_FAILED
    print(f"The vector index is sound (read in {check.probe.elapsed_s:.1f} s).")
    return EXIT_OK


def document_table(documents: Iterable[DocumentRecord]) -> list[str]:
    """``docs list``: a header and one line per document, in aligned columns.

    The name comes last so a long one shifts nothing; a failed document's reason follows it.
    """
    header = ("ID", "STATUS", "COLLECTION", "PAGES", "PASSAGES", "NAME")
    rows = [header]
    for d in documents:
        pages = str(d.pages) if d.kind == "pdf" and d.status is not DocumentStatus.FAILED else "-"
        passages = str(d.chunks) if d.status is not DocumentStatus.FAILED else "-"
        name = d.name
        if d.status is DocumentStatus.FAILED:
            name += f"  ({d.failure.value if d.failure else 'failed'}: {d.error})"
        rows.append((d.id[:8], d.status.value, d.collection, pages, passages, name))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in (3, 4) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]))
    return lines


def collection_line(c: CollectionInfo) -> str:
    """``docs collections``: one collection's counts, in the words ``ingest`` uses."""
    line = (
        f"{c.name}: {plural(c.indexed, 'document')} searchable, {c.failed} failed, "
        f"{plural(c.chunks, 'passage')}"
    )
    if c.failed:
        line += f" (the failed ones: assistant docs list --collection {c.name})"
    return line


def _doc_details(d: DocumentRecord) -> str:
    rows = [
        ("id", d.id),
        ("collection", d.collection),
        ("path", str(d.path)),
        ("type", d.kind),
        ("size", f"{d.size:,} bytes"),
        ("status", d.status.value),
        ("pages", str(d.pages)),
        ("passages", str(d.chunks)),
        ("sha256", d.sha256),
        ("imported", d.imported_at),
    ]
    if d.error:
        rows.append(("problem", d.error))
    return "\n".join(f"{name:<11}{value}" for name, value in rows)


def _doc_dict(d: DocumentRecord) -> dict[str, Any]:
    data = asdict(d)
    data["path"] = str(d.path)
    data["name"] = d.name
    data["status"] = d.status.value
    data["failure"] = d.failure.value if d.failure else None
    return data


# --- search ------------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """Print the passages that best match a query (no generation)."""
    with open_knowledge(args, ctx_factory) as kb:
        hits = kb.search(
            args.query, collection=args.collection, top_k=args.top_k, document=args.document
        )
    if args.json:
        _print_json([hit_to_dict(h) for h in hits])
        return EXIT_OK
    if not hits:
        print(f"Nothing in collection {args.collection!r} matches {args.query!r}.")
        return EXIT_OK
    for rank, hit in enumerate(hits, start=1):
        print(f"[{rank}] {hit.location}  (score {hit.score:.4f}; {_signals(hit)})")
        print("    " + hit.text.replace("\n", "\n    "))
        print()
    return EXIT_OK


def _signals(hit: SearchHit) -> str:
    parts = []
    if hit.dense_rank is not None and hit.dense_similarity is not None:
        parts.append(f"meaning #{hit.dense_rank}, similarity {hit.dense_similarity:.2f}")
    if hit.lexical_rank is not None:
        parts.append(f"words #{hit.lexical_rank}")
    return "; ".join(parts) or "no signal"


def hit_to_dict(hit: SearchHit) -> dict[str, Any]:
    data = asdict(hit)
    data["path"] = str(hit.path)
    return data


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
