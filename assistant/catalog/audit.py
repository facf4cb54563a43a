"""The append-only audit log of model administration: every import, refusal, switch and key change.

One JSON object per line in ``audit.log`` under the data directory, opened with ``O_APPEND`` and
``fsync``-ed before the action is reported done. Each record carries the time (UTC), the OS user,
the action, the result and, for imports, the file digests. Three things make it evidence rather
than a diary:

- each record holds its number (``seq``), the SHA-256 of the line before it (``prev``) and the
  SHA-256 of its own content (``hash``, over the canonical JSON of every other field), so an
  edited, deleted, inserted or reordered line is reported at the line where it happened;
- the head of the log (record count, digest of the last line) is *anchored* outside the file, in
  the catalog's ``catalog.json``, after every append, so a truncated or rewritten tail is caught;
- where systemd-journald runs, each record's digest also goes to the system journal
  (:mod:`~assistant.catalog.journal`), which ``audit`` cross-checks.

Logs written before records carried their own hash (``prev`` only) stay readable: such *legacy*
records are link-checked only, and the first new write records that the log is now anchored.
What this can and cannot prove against someone with root is in docs/admin-guide.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assistant.catalog.journal import Journal, JournalCopy
from assistant.catalog.storage import locked, os_user, utc_now
from assistant.errors import CatalogError

GENESIS = "0" * 64
LOG_ACTION = "audit-log"  # records Enclave writes about the log itself
_TAIL_CHUNK = 64 * 1024
# LOG_ACTION results that mean the log had been changed behind Enclave's back.
_TAMPER_RESULTS = frozenset({"mismatch", "anchor-missing"})


class Anchor(Protocol):
    """Where the log's head is kept outside the log (the registry implements it)."""

    def read_audit_head(self) -> Mapping[str, Any] | None: ...

    def write_audit_head(self, head: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Head:
    """The end of the log as the last append left it."""

    records: int
    sha256: str  # of the last line (what the next record's ``prev`` will be)
    size: int  # bytes
    seq: int  # the last record's number

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "sha256": self.sha256, "size": self.size,
                "seq": self.seq}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Head:
        """Raises: CatalogError: the stored head is malformed."""
        try:
            return cls(int(data["records"]), str(data["sha256"]), int(data["size"]),
                       int(data["seq"]))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"The audit log's anchor is malformed ({exc!r}).") from exc


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with the log: where (1-based line; None: no one line) and what."""

    line: int | None
    kind: str  # edited, unreadable, deleted, reordered, repeated, relinked, legacy-link,
    # downgraded, truncated, unanchored, rewritten, anchor-missing, anchor-unreadable,
    # found-changed, journal-differs, journal-ahead
    message: str


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking the log: ok, or the first failing line and why."""

    ok: bool
    records: int
    broken_at: int | None = None  # 1-based line number of the first problem
    problems: tuple[ChainProblem, ...] = ()
    notices: tuple[str, ...] = ()  # worth knowing, not a break (legacy records, a late anchor)
    legacy: int = 0  # records without their own hash (link-checked only)
    head: Head | None = None  # the anchored head; None: not anchored (yet)
    journal: str = "not checked"  # what the journal cross-check did, in words
    tip: str = GENESIS  # SHA-256 of the last line: the value to copy offline

    @property
    def reason(self) -> str:
        return self.problems[0].message if self.problems else ""


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of a record's canonical content: every field but ``hash``, keys sorted, compact."""
    content = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _note(result: str, message: str) -> dict[str, str]:
    return {"action": LOG_ACTION, "result": result, "message": message}


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _hashed(record: Mapping[str, Any] | None) -> bool:
    """Whether a record carries its own hash (written by this format, not a legacy one)."""
    return record is not None and "hash" in record


def compare_head(digests: list[str], head: Head) -> ChainProblem | None:
    """What is wrong with a log whose lines have ``digests`` against its anchored ``head``."""
    count, anchored = len(digests), head.records
    said = f"the log has {count} records but the anchor says {anchored}"
    if count < anchored:
        gone = anchored - count
        lost = "the last record was" if gone == 1 else f"the last {gone} records were"
        return ChainProblem(count + 1, "truncated", f"{said}: {lost} deleted, or the log was "
                            "replaced by an older copy")  # fmt: skip
    if count > anchored:
        if anchored == 0 or digests[anchored - 1] == head.sha256:
            return ChainProblem(anchored + 1, "unanchored", f"{said}: lines {anchored + 1} to "
                                f"{count} were added after the last anchored write (a write "
                                "interrupted by a crash, or lines added by hand)")  # fmt: skip
        return ChainProblem(anchored, "rewritten", f"{said}, and line {anchored} is not the "
                            "record the anchor holds: the log was rewritten")  # fmt: skip
    if count and digests[-1] != head.sha256:
        return ChainProblem(count, "rewritten", f"line {count} is not the record the anchor holds "
                            "(its digest differs): the end of the log was rewritten")  # fmt: skip
    return None


@dataclass
class _Walk:
    """The state of one pass over the log's lines."""

    digests: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # each line's record number (legacy: its line)
    problem: ChainProblem | None = None
    notices: list[str] = field(default_factory=list)
    legacy: int = 0

    def fail(self, line: int, kind: str, message: str) -> None:
        if self.problem is None:
            self.problem = ChainProblem(line, kind, message)


class AuditLog:
    """The audit log file, its anchor and its journal copy."""

    def __init__(
        self, path: Path, *, anchor: Anchor | None = None, journal: Journal | None = None
    ) -> None:
        """Args:
        path: the log file.
        anchor: where the head is kept (None: nowhere; only the chain itself is checked).
        journal: where each record is mirrored (None: nowhere).
        """
        self.path = path
        self.anchor = anchor
        self.journal = journal
        self._lock = path.with_name(path.name + ".lock")

    # --- writing ---------------------------------------------------------------------------------

    def append(self, action: str, result: str, **details: Any) -> dict[str, Any]:
        """Write one record, make it durable and move the anchor to it.

        If the log no longer ends where the anchor says (truncated, rewritten, the anchor gone),
        a record saying so is written first, so the next append cannot hide what happened.

        Args:
            action: what was attempted (``import``, ``remove``, ``set-default``, ``keys-add``...).
            result: ``ok``, ``refused``, ``cancelled`` or ``failed``.
            details: anything else worth keeping (model, version, files, reason, message...).

        Returns:
            The record as written.

        Raises:
            CatalogError: the log or its anchor cannot be written (the action must then not be
                reported done).
        """
        who: dict[str, Any] = {
            "time": utc_now(),
            "user": os_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        record = {**who, "action": action, "result": result, **details}
        written: list[tuple[int, str, bytes]] = []
        unanchored: CatalogError | None = None
        try:
            with locked(self._lock):
                tail = _Tail.read(self.path)
                head = self._read_head() if self.anchor is not None else None
                note = self._anchor_note(tail, head) if self.anchor is not None else None
                if note is not None:
                    written.append(self._write(tail, {**who, **note}))
                written.append(self._write(tail, record))
                if self.anchor is not None:
                    try:
                        self.anchor.write_audit_head(tail.head().to_json())
                    except CatalogError as exc:
                        unanchored = exc
        except OSError as exc:
            raise CatalogError(
                f"Cannot write the audit log {self.path}: {exc}. Nothing was changed; free some "
                "disk space or fix the folder's permissions and try again."
            ) from exc
        if self.journal is not None:
            for seq, sha256, line in written:
                self.journal.send(log=self.path.resolve(), seq=seq, sha256=sha256,
                                  chain=tail.chain, line=line.decode("utf-8"))  # fmt: skip
        if unanchored is not None:
            raise CatalogError(
                f"The audit record was written but its anchor could not be saved ({unanchored}). "
                "'assistant-admin audit' reports the log ahead of its anchor until the next "
                "write succeeds."
            ) from unanchored
        return json.loads(written[-1][2])  # type: ignore[no-any-return]

    def _read_head(self) -> Head | None:
        assert self.anchor is not None
        stored = self.anchor.read_audit_head()
        return Head.from_json(stored) if stored is not None else None

    def _write(self, tail: _Tail, record: dict[str, Any]) -> tuple[int, str, bytes]:
        content: dict[str, Any] = json.loads(json.dumps(record, default=str))  # as it will read
        content["seq"] = tail.next_seq()
        content["prev"] = tail.last_digest
        content["hash"] = record_hash(content)
        line = json.dumps(content, ensure_ascii=False, sort_keys=True).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        tail.add(line, content["seq"])
        return content["seq"], tail.last_digest, line

    def _anchor_note(self, tail: _Tail, head: Head | None) -> dict[str, str] | None:
        """The fields of a record about the log itself, when it is not as the anchor left it."""
        if head is None:
            if tail.size == 0:
                return None  # a new log: its first record anchors it
            if not _hashed(_parse(tail.last)):
                return _note("anchored", f"The {tail.count()} records before this one were "
                             "written by an older Enclave without their own hash: they are "
                             "link-checked only. From here on each record carries its hash and "
                             "the log's head is anchored outside the file.")  # fmt: skip
            missing = f"The log held {tail.count()} records but its anchor was missing"
            return _note("anchor-missing", f"{missing} (catalog.json was replaced or edited).")
        if tail.size == head.size and tail.last_digest == head.sha256:
            tail.known_count(head.records)  # as anchored: no need to read the whole file
            return None
        if not tail.exists:
            return _note("new-log", f"A new log was started; the anchor held {head.records} "
                         "records of an earlier one (moved aside or deleted).")  # fmt: skip
        problem = compare_head(tail.digests(), head)
        if problem is None:  # the same lines but another size: bytes were edited in place
            problem = ChainProblem(None, "rewritten", "the log's size differs from the anchor's")
        result = "behind" if problem.kind == "unanchored" else "mismatch"
        return _note(result, f"Before this write {problem.message}.")

    # --- reading ---------------------------------------------------------------------------------

    def lines(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as handle:
                for line in handle:
                    yield line.rstrip(b"\n")
        except FileNotFoundError:
            return

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a line that is not JSON shows as ``{"corrupt": ...}``)."""
        result: list[dict[str, Any]] = []
        for line in self.lines():
            record = _parse(line)
            if record is None:
                record = {"corrupt": line.decode("utf-8", errors="replace")}
            result.append(record)
        return result

    def check_chain(self) -> ChainCheck:
        """Check every record, the anchored head and the journal copy; report the first failure.

        Raises nothing: an unreadable anchor or journal is reported, not raised.
        """
        lines = list(self.lines())
        walk = _walk(lines)
        problems = [walk.problem] if walk.problem is not None else []
        notices = list(walk.notices)
        if walk.legacy:
            notices.insert(0, f"{walk.legacy} legacy records (written before records carried "
                           "their own hash): link-checked only")  # fmt: skip
        head: Head | None = None
        if self.anchor is not None:
            try:
                head = self._read_head()
            except CatalogError as exc:
                problems.append(ChainProblem(None, "anchor-unreadable", str(exc)))
            else:
                if head is not None:
                    mismatch = compare_head(walk.digests, head)
                    if mismatch is not None:
                        problems.append(mismatch)
                elif any(_hashed(_parse(line)) for line in lines):
                    problems.append(ChainProblem(None, "anchor-missing", f"the log has "
                                    f"{len(lines)} records but no anchor: catalog.json was "
                                    "replaced or edited"))  # fmt: skip
        journal = "not configured"
        if self.journal is not None:
            journal, differs = _cross_check(self.journal, self.path.resolve(), lines, walk)
            problems.extend(differs)
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        return ChainCheck(
            ok=not problems,
            records=len(lines),
            broken_at=problems[0].line if problems else None,
            problems=tuple(problems),
            notices=tuple(notices),
            legacy=walk.legacy,
            head=head,
            journal=journal,
            tip=walk.digests[-1] if walk.digests else GENESIS,
        )


@dataclass
class _Tail:
    """The end of the log, read once per append and kept current as records are added."""

    path: Path
    exists: bool
    size: int
    first: bytes | None
    last: bytes
    last_seq: int | None  # None: unknown (legacy or unreadable last line, or empty)
    _count: int | None = None

    @classmethod
    def read(cls, path: Path) -> _Tail:
        try:
            with path.open("rb") as handle:
                first = handle.readline().rstrip(b"\n") or None
                end = handle.seek(0, os.SEEK_END)
                position, chunk = end, b""
                while position > 0:
                    step = min(_TAIL_CHUNK, position)
                    position -= step
                    handle.seek(position)
                    chunk = handle.read(step) + chunk
                    if chunk.rstrip(b"\n").rfind(b"\n") >= 0:
                        break
        except FileNotFoundError:
            return cls(path, False, 0, None, b"", None, 0)
        last = chunk.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        record = _parse(last)
        seq = record.get("seq") if _hashed(record) and record is not None else None
        return cls(path, True, end, first, last, seq if isinstance(seq, int) else None,
                   0 if end == 0 else None)  # fmt: skip

    @property
    def last_digest(self) -> str:
        return _digest(self.last) if self.last else GENESIS

    @property
    def chain(self) -> str:
        """The SHA-256 of the first line: which log this is, for the journal copy."""
        return _digest(self.first) if self.first else GENESIS

    def digests(self) -> list[str]:
        return [_digest(line) for line in AuditLog(self.path).lines()]

    def count(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in AuditLog(self.path).lines())
        return self._count

    def known_count(self, count: int) -> None:
        self._count = count

    def next_seq(self) -> int:
        return self.last_seq + 1 if self.last_seq is not None else self.count() + 1

    def add(self, line: bytes, seq: int) -> None:
        # counted after the write (the file holds the line), or carried on from a known count
        self._count = self._count + 1 if self._count is not None else self.count()
        self.size += len(line) + 1
        self.first = self.first or line
        self.last, self.last_seq, self.exists = line, seq, True

    def head(self) -> Head:
        return Head(self.count(), self.last_digest, self.size, self.last_seq or self.count())


def _walk(lines: list[bytes]) -> _Walk:
    """Check each record's own hash, its number and its link to the line before."""
    walk = _Walk()
    parsed = [_parse(line) for line in lines]
    where: dict[int, list[int]] = {}  # record number -> the lines that hold it
    for number, record in enumerate(parsed, start=1):
        if _hashed(record) and record is not None and isinstance(record.get("seq"), int):
            where.setdefault(record["seq"], []).append(number)
    previous_seq, previous_ok, hashed_seen = 0, True, False
    for number, (line, record) in enumerate(zip(lines, parsed, strict=True), start=1):
        prev = walk.digests[-1] if walk.digests else GENESIS
        walk.digests.append(_digest(line))
        if record is None:
            walk.fail(number, "unreadable", f"line {number} is not a JSON record: it was edited "
                      "or cut short")  # fmt: skip
            walk.seqs.append(number)
            previous_seq, previous_ok = number, False
            continue
        if not _hashed(record):
            walk.legacy += 1
            walk.seqs.append(number)
            if hashed_seen:
                walk.fail(number, "downgraded", f"line {number} has no hash of its own but "
                          "follows records that do: it was edited (its hash removed) or "
                          "inserted")  # fmt: skip
            elif record.get("prev") != prev:
                where_ = f"follow line {number - 1}" if number > 1 else "start the chain"
                walk.fail(number, "legacy-link", f"line {number} does not {where_}: a line "
                          "before it was edited, deleted or reordered (legacy records are "
                          "link-checked only)")  # fmt: skip
            previous_seq, previous_ok = number, True
            continue
        hashed_seen = True
        seq, expected = record.get("seq"), previous_seq + 1
        walk.seqs.append(seq if isinstance(seq, int) else number)
        own_ok = record.get("hash") == record_hash(record)
        if not own_ok:
            walk.fail(number, "edited", f"line {number} was edited: its content no longer "
                      "matches the hash it was written with")  # fmt: skip
        elif not isinstance(seq, int):
            walk.fail(number, "edited", f"line {number} has no record number")
        elif seq != expected:
            walk.fail(number, *_misplaced(number, seq, expected, where))
        elif record.get("prev") != prev:
            if previous_ok and number > 1:
                walk.fail(number - 1, "relinked", f"line {number - 1} is not the record line "
                          f"{number} was written after: one of them was rewritten and its hash "
                          "recomputed to hide it")  # fmt: skip
            else:
                walk.fail(number, "relinked", f"line {number} does not follow the line before "
                          "it")  # fmt: skip
        if record.get("action") == LOG_ACTION:
            message = str(record.get("message", ""))
            if record.get("result") in _TAMPER_RESULTS:
                walk.fail(number, "found-changed", f"line {number} records that the log had been "
                          f"changed behind Enclave's back: {message}")  # fmt: skip
            else:
                walk.notices.append(f"line {number}: {message}")
        previous_seq, previous_ok = (seq if isinstance(seq, int) else number), own_ok
    return walk


def _misplaced(
    number: int, seq: int, expected: int, where: dict[int, list[int]]
) -> tuple[str, str]:
    """Why line ``number`` holds record ``seq`` where record ``expected`` belongs."""
    here = f"line {number} holds record #{seq} where record #{expected} belongs"
    if where.get(seq, [number])[0] < number:
        return "repeated", f"line {number} repeats record #{seq} (also at line {where[seq][0]})"
    if expected in where:
        return "reordered", (f"{here} (it is at line {where[expected][0]}): the lines were "
                             "reordered")  # fmt: skip
    if seq > expected:
        missing = f"record #{expected} is" if seq == expected + 1 else (
            f"records #{expected} to #{seq - 1} are")  # fmt: skip
        return "deleted", f"{missing} missing before line {number}: deleted"
    return "reordered", f"{here}: the lines were reordered or edited"


def _cross_check(
    journal: Journal, log: Path, lines: list[bytes], walk: _Walk
) -> tuple[str, list[ChainProblem]]:
    """Compare the log with the copies the system journal received; (what was done, problems)."""
    if not journal.available():
        return "no systemd journal on this machine (not cross-checked)", []
    copies: list[JournalCopy] | None = journal.copies(log)
    if copies is None:
        return "the system journal could not be read (not cross-checked)", []
    chain = _digest(lines[0]) if lines else GENESIS
    mine = [c for c in copies if c.chain == chain]
    if not mine:
        return "the system journal holds no copies of this log's records", []
    line_of = {seq: number for number, seq in enumerate(walk.seqs, start=1)}
    problems = []
    last = max(walk.seqs, default=0)
    for copy in sorted(mine, key=lambda c: c.seq):
        number = line_of.get(copy.seq)
        if number is not None and walk.digests[number - 1] != copy.sha256:
            problems.append(ChainProblem(number, "journal-differs", f"line {number} differs from "
                            f"the copy of record #{copy.seq} in the system journal"))  # fmt: skip
            break
    ahead = [c.seq for c in mine if c.seq > last]
    if ahead:
        problems.append(ChainProblem(len(lines) + 1, "journal-ahead", f"the system journal holds "
                        f"record #{max(ahead)}, but the log ends at record #{last}: records were "
                        "deleted from its end"))  # fmt: skip
    return f"{len(mine)} records cross-checked with the system journal", problems
