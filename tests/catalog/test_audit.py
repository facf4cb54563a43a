"""The audit log as evidence: every edit, deletion, reordering and truncation is found where it is.

The log is real (a file in ``tmp_path``) and so is its anchor (the registry's ``catalog.json``).
journald is stood in for by a real Unix datagram socket that receives the native-protocol entries
the log sends; ``assistant-admin audit`` runs in a fresh interpreter, as an admin runs it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.audit import LOG_ACTION, AuditLog, record_hash
from assistant.catalog.journal import Journal, decode_entry, encode_entry
from assistant.catalog.registry import Registry
from assistant.catalog.service import Catalog
from assistant.config import Paths
from assistant.errors import CatalogError
from assistant.signing import generate_keypair, public_pem
from tests.conftest import run_cli

RECORDS = 5
Lines = list[bytes]


def anchored_log(folder: Path, *, records: int = RECORDS, **options: object) -> AuditLog:
    """A log of ``records`` imports, anchored in a real registry file."""
    registry = Registry(folder / "catalog.json", folder / "models")
    log = AuditLog(folder / "audit.log", anchor=registry, **options)  # type: ignore[arg-type]
    for n in range(1, records + 1):
        log.append("import", "ok", model=f"m{n}", version="1.0", files=[{"sha256": "ab" * 32}])
    return log


def read_lines(log: AuditLog) -> Lines:
    return log.path.read_bytes().splitlines()


def write_lines(log: AuditLog, lines: Lines) -> None:
    log.path.write_bytes(b"".join(line + b"\n" for line in lines))


def set_user(line: bytes, user: str, *, rehash: bool = False) -> bytes:
    """The line with another user; ``rehash``: as a careful forger would, with a fresh hash."""
    record = json.loads(line)
    record["user"] = user
    if rehash:
        record["hash"] = record_hash(record)
    return json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")


def forge_from(lines: Lines, start: int) -> Lines:
    """Rewrite every record from line ``start`` on, recomputing links and hashes: the chain is
    self-consistent again, so only the anchor (or the journal) can tell."""
    out = lines[: start - 1]
    for line in lines[start - 1 :]:
        record = json.loads(line)
        record["user"] = "mallory"
        record["prev"] = hashlib.sha256(out[-1]).hexdigest() if out else "0" * 64
        record["hash"] = record_hash(record)
        out.append(json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return out


# --- every kind of change, at the start, in the middle and at the end ----------------------------

POSITIONS = {"start": 1, "middle": 3, "end": RECORDS}


def edit(lines: Lines, k: int) -> Lines:
    return [set_user(line, "mallory") if n == k else line for n, line in enumerate(lines, 1)]


def delete(lines: Lines, k: int) -> Lines:
    return lines[: k - 1] + lines[k:]


def reorder(lines: Lines, k: int) -> Lines:
    k = min(k, len(lines) - 1)  # at the end: the last two swap
    return [*lines[: k - 1], lines[k], lines[k - 1], *lines[k + 1 :]]


def truncate(lines: Lines, k: int) -> Lines:
    if k == 1:  # the head of the file cut off: its first two records gone
        return lines[2:]
    if k == len(lines):  # the tail cut off: the last two records gone
        return lines[:-2]
    cut = lines[k - 1][: len(lines[k - 1]) // 2]  # cut short inside line k, the rest gone
    return [*lines[: k - 1], cut]


Tamper = Callable[[Lines, int], Lines]

# (change, position) -> (first failing line, kind of problem)
EXPECTED: dict[tuple[str, str], tuple[int, str]] = {
    ("edit", "start"): (1, "edited"),
    ("edit", "middle"): (3, "edited"),
    ("edit", "end"): (5, "edited"),
    ("delete", "start"): (1, "deleted"),
    ("delete", "middle"): (3, "deleted"),
    ("delete", "end"): (5, "truncated"),
    ("reorder", "start"): (1, "reordered"),
    ("reorder", "middle"): (3, "reordered"),
    ("reorder", "end"): (4, "reordered"),
    ("truncate", "start"): (1, "deleted"),
    ("truncate", "middle"): (3, "unreadable"),
    ("truncate", "end"): (4, "truncated"),
}
CHANGES: dict[str, Tamper] = {"edit": edit, "delete": delete, "reorder": reorder,
                              "truncate": truncate}  # fmt: skip


def test_an_untouched_log_is_intact(tmp_path: Path) -> None:
    log = anchored_log(tmp_path)
    check = log.check_chain()
    assert check.ok, check.problems
    assert (check.records, check.broken_at, check.legacy) == (RECORDS, None, 0)
    assert check.head is not None
    assert check.head.records == RECORDS
    assert check.tip == hashlib.sha256(read_lines(log)[-1]).hexdigest() == check.head.sha256
    assert [r["seq"] for r in log.records()] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_is_found_at_its_line(tmp_path: Path, change: str, position: str) -> None:
    log = anchored_log(tmp_path)
    write_lines(log, CHANGES[change](read_lines(log), POSITIONS[position]))
    check = log.check_chain()
    line, kind = EXPECTED[(change, position)]
    assert not check.ok
    assert (check.broken_at, check.problems[0].kind) == (line, kind), check.problems
    assert f"line {line}" in check.reason or f"has {check.records} records" in check.reason


def test_the_issue_cases(tmp_path: Path) -> None:
    """The cases the old chain missed: the last user changed, the last line deleted, and an edit
    on line 3 reported at line 4."""
    log = anchored_log(tmp_path)
    original = read_lines(log)
    write_lines(log, edit(original, RECORDS))
    assert log.check_chain().broken_at == RECORDS
    write_lines(log, original[:-1])
    check = log.check_chain()
    assert check.reason.startswith(f"the log has {RECORDS - 1} records but the anchor says 5")
    write_lines(log, edit(original, 3))
    assert log.check_chain().broken_at == 3
    write_lines(log, original)
    assert log.check_chain().ok


def test_own_hash_finds_an_edit_even_without_an_anchor(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    for n in range(3):
        log.append("verify", "ok", n=n)
    write_lines(log, edit(read_lines(log), 3))
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (3, "edited")
    assert check.head is None


def test_a_recomputed_hash_shows_as_a_broken_link(tmp_path: Path) -> None:
    log = anchored_log(tmp_path)
    lines = read_lines(log)
    lines[2] = set_user(lines[2], "mallory", rehash=True)
    write_lines(log, lines)
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (3, "relinked")


def test_a_forged_tail_is_caught_by_the_anchor(tmp_path: Path) -> None:
    log = anchored_log(tmp_path)
    write_lines(log, forge_from(read_lines(log), 3))
    check = log.check_chain()
    assert [p.kind for p in check.problems] == ["rewritten"]
    assert check.broken_at == RECORDS  # without the journal, the anchor knows only the head


def test_an_inserted_copy_of_a_record_is_found(tmp_path: Path) -> None:
    log = anchored_log(tmp_path)
    lines = read_lines(log)
    write_lines(log, [*lines[:3], lines[1], *lines[3:]])
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (4, "repeated")


# --- the anchor ----------------------------------------------------------------------------------


class FailingAnchor:
    """An anchor whose writes fail after ``ok`` of them (a full disk, a crash in between)."""

    def __init__(self, registry: Registry, ok: int) -> None:
        self.registry, self.ok = registry, ok

    def read_audit_head(self) -> dict[str, object] | None:
        return self.registry.read_audit_head()

    def write_audit_head(self, head: dict[str, object]) -> None:
        if self.ok <= 0:
            raise CatalogError("disk full")
        self.ok -= 1
        self.registry.write_audit_head(head)


def test_a_write_whose_anchor_failed_is_reported_then_caught_up(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "catalog.json", tmp_path / "models")
    log = AuditLog(tmp_path / "audit.log", anchor=FailingAnchor(registry, ok=2))  # type: ignore[arg-type]
    log.append("verify", "ok")
    log.append("verify", "ok")
    with pytest.raises(CatalogError, match="anchor could not be saved"):
        log.append("verify", "ok")
    assert len(log.records()) == 3  # the record itself is kept
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (3, "unanchored")
    assert check.reason.startswith("the log has 3 records but the anchor says 2")

    healthy = AuditLog(log.path, anchor=registry)
    healthy.append("verify", "ok")
    records = healthy.records()
    assert (records[3]["action"], records[3]["result"]) == (LOG_ACTION, "behind")
    check = healthy.check_chain()
    assert check.ok, check.problems
    assert any("anchor says 2" in n for n in check.notices)


def test_an_append_after_truncation_keeps_the_evidence(tmp_path: Path) -> None:
    log = anchored_log(tmp_path)
    write_lines(log, read_lines(log)[:-1])  # the last record deleted...
    log.append("verify", "ok")  # ...and a new one written over the gap
    records = log.records()
    assert (records[4]["action"], records[4]["result"]) == (LOG_ACTION, "mismatch")
    assert "the log has 4 records but the anchor says 5" in records[4]["message"]
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (5, "found-changed")


def test_a_lost_anchor_is_a_problem_and_is_recorded(tmp_path: Path) -> None:
    log = anchored_log(tmp_path, records=2)
    catalog_file = tmp_path / "catalog.json"
    data = json.loads(catalog_file.read_text())
    del data["audit_head"]
    catalog_file.write_text(json.dumps(data))
    check = log.check_chain()
    assert [(p.line, p.kind) for p in check.problems] == [(None, "anchor-missing")]
    log.append("verify", "ok")
    assert log.records()[2]["result"] == "anchor-missing"
    assert not log.check_chain().ok


def test_a_log_moved_aside_starts_a_new_chain(tmp_path: Path) -> None:
    log = anchored_log(tmp_path, records=3)
    log.path.rename(tmp_path / "audit.log.2024")
    assert log.check_chain().problems[0].kind == "truncated"
    log.append("verify", "ok")
    check = log.check_chain()
    assert check.ok, check.problems
    assert log.records()[0]["result"] == "new-log"
    assert any("anchor held 3 records of an earlier one" in n for n in check.notices)


def test_the_anchor_lives_in_the_catalog_and_leaves_the_models_alone(
    paths: Paths, site_key: Ed25519PrivateKey
) -> None:
    catalog = Catalog(paths)
    catalog.add_key(public_pem(site_key.public_key()), comment="site")
    head = catalog.registry.read_audit_head()
    assert head is not None
    assert head["records"] == 1
    assert catalog.list_models() == ()  # the registry still reads
    assert catalog.audit.check_chain().ok


# --- legacy logs ---------------------------------------------------------------------------------


def write_legacy(path: Path, records: int) -> Lines:
    """A log as the previous format wrote it: each record links to the line before, no own hash."""
    lines: Lines = []
    for n in range(records):
        prev = hashlib.sha256(lines[-1]).hexdigest() if lines else "0" * 64
        record = {"time": "2024-01-01T00:00:00+00:00", "user": "alice", "action": "import",
                  "result": "ok", "model": f"old{n}", "prev": prev}  # fmt: skip
        lines.append(json.dumps(record, sort_keys=True).encode("utf-8"))
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return lines


def test_a_legacy_log_is_read_and_link_checked(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write_legacy(path, 3)
    log = AuditLog(path, anchor=Registry(tmp_path / "catalog.json", tmp_path / "models"))
    check = log.check_chain()
    assert check.ok
    assert check.legacy == 3
    assert check.notices[0].startswith("3 legacy records")
    assert check.notices[0].endswith("link-checked only")
    path.write_bytes(b"".join(line + b"\n" for line in edit(lines, 2)))
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (3, "legacy-link")
    assert "link-checked only" in check.reason


def test_the_first_write_anchors_a_legacy_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_legacy(path, 3)
    log = AuditLog(path, anchor=Registry(tmp_path / "catalog.json", tmp_path / "models"))
    log.append("verify", "ok")
    records = log.records()
    assert [r.get("seq") for r in records] == [None, None, None, 4, 5]
    assert (records[3]["action"], records[3]["result"]) == (LOG_ACTION, "anchored")
    check = log.check_chain()
    assert check.ok, check.problems
    assert check.legacy == 3
    assert check.head is not None
    assert check.head.records == 5

    lines = read_lines(log)
    stripped = json.loads(lines[4])
    del stripped["hash"]  # pass a new record off as a legacy one
    lines[4] = json.dumps(stripped, sort_keys=True).encode("utf-8")
    write_lines(log, lines)
    check = log.check_chain()
    assert (check.broken_at, check.problems[0].kind) == (5, "downgraded")


# --- the journal copy ----------------------------------------------------------------------------


class FakeJournald:
    """A real datagram socket where journald's would be; it keeps what it receives."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "socket"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        self.entries: list[dict[str, str]] = []

    def read(self, log: Path) -> list[dict[str, str]]:
        while True:
            try:
                self.entries.append(decode_entry(self.sock.recv(1 << 20)))
            except BlockingIOError:
                return list(self.entries)


@pytest.fixture
def journald() -> Iterator[FakeJournald]:
    folder = Path(tempfile.mkdtemp(prefix="jd", dir="/tmp"))  # Unix socket paths are short
    fake = FakeJournald(folder)
    yield fake
    fake.sock.close()
    shutil.rmtree(folder)


def reanchor(log: AuditLog, lines: Lines) -> None:
    """Point the anchor at the log as it is now, as someone who can write both would."""
    assert log.anchor is not None
    head = {"records": len(lines), "sha256": hashlib.sha256(lines[-1]).hexdigest(),
            "size": log.path.stat().st_size, "seq": json.loads(lines[-1])["seq"]}  # fmt: skip
    log.anchor.write_audit_head(head)


def journaled_log(folder: Path, journald: FakeJournald) -> AuditLog:
    return anchored_log(folder, journal=Journal(journald.path, reader=journald.read))


def test_each_record_goes_to_the_journal(tmp_path: Path, journald: FakeJournald) -> None:
    log = journaled_log(tmp_path, journald)
    entries = journald.read(log.path)
    assert [e["ENCLAVE_AUDIT_SEQ"] for e in entries] == ["1", "2", "3", "4", "5"]
    lines = read_lines(log)
    assert [e["ENCLAVE_AUDIT_SHA256"] for e in entries] == [
        hashlib.sha256(line).hexdigest() for line in lines
    ]
    assert entries[0]["SYSLOG_IDENTIFIER"] == "enclave-audit"
    assert entries[2]["ENCLAVE_AUDIT_RECORD"].encode("utf-8") == lines[2]
    check = log.check_chain()
    assert check.ok
    assert check.journal == "5 records cross-checked with the system journal"


def test_the_journal_pinpoints_a_forged_tail(tmp_path: Path, journald: FakeJournald) -> None:
    log = journaled_log(tmp_path, journald)
    forged = forge_from(read_lines(log), 3)
    write_lines(log, forged)
    reanchor(log, forged)  # the forger rewrites the anchor too
    check = log.check_chain()
    assert [(p.line, p.kind) for p in check.problems] == [(3, "journal-differs")]


def test_the_journal_knows_a_tail_was_cut(tmp_path: Path, journald: FakeJournald) -> None:
    log = journaled_log(tmp_path, journald)
    kept = read_lines(log)[:3]
    write_lines(log, kept)
    reanchor(log, kept)
    check = log.check_chain()
    assert [p.kind for p in check.problems] == ["journal-ahead"]
    assert "record #5, but the log ends at record #3" in check.reason


def test_no_journald_is_said_and_never_fails(tmp_path: Path) -> None:
    log = anchored_log(tmp_path, records=2, journal=Journal(tmp_path / "no-such-socket"))
    check = log.check_chain()
    assert check.ok
    assert check.journal == "no systemd journal on this machine (not cross-checked)"


def test_native_protocol_round_trip() -> None:
    fields = {"MESSAGE": "one\ntwo", "ENCLAVE_AUDIT_SEQ": "7", "ENCLAVE_AUDIT_RECORD": "{}"}
    assert decode_entry(encode_entry(fields)) == fields


# --- assistant-admin audit ------------------------------------------------------------------------


def admin_audit(*args: str):  # type: ignore[no-untyped-def]
    return run_cli("audit", *args, program="assistant.cli.admin", timeout=120)


def three_records(paths: Paths) -> Catalog:
    catalog = Catalog(paths)
    for n in range(3):
        catalog.add_key(generate_keypair().public_pem, comment=f"key {n}")
    return catalog


def test_cli_reports_intact_log_and_its_head(paths: Paths) -> None:
    catalog = three_records(paths)
    done = admin_audit()
    assert done.returncode == 0, done.stderr
    assert "3 records; hash chain intact (head anchored in catalog.json" in done.stderr
    tip = catalog.audit.check_chain().tip
    assert f"Head: line 3, SHA-256 {tip}" in done.stderr
    # the guide's way to check a noted head later, with standard tools
    shell = f"sed -n '3p' {catalog.audit.path} | tr -d '\\n' | sha256sum"
    assert (
        subprocess.run(shell, shell=True, capture_output=True, text=True).stdout.split()[0] == tip
    )
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["1", "2", "3"]


def test_cli_names_the_edited_line_and_fails(paths: Paths) -> None:
    catalog = three_records(paths)
    original = read_lines(catalog.audit)
    write_lines(catalog.audit, edit(original, 3))
    done = admin_audit()
    assert done.returncode == 1
    assert "fails its check at line 3: line 3 was edited" in done.stderr
    assert "hash chain intact" not in done.stderr
    assert done.stdout.splitlines()[2].startswith("    3! ")
    assert "mallory" in done.stdout.splitlines()[2]

    write_lines(catalog.audit, original[:-1])
    done = admin_audit("--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["chain_ok"] is False
    assert report["broken_at"] == 3
    assert report["problems"][0]["kind"] == "truncated"
    assert report["problems"][0]["message"].startswith(
        "the log has 2 records but the anchor says 3"
    )
    assert report["anchor"]["records"] == 3


def test_concurrent_writers_keep_chain_and_anchor_in_step(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from assistant.catalog.audit import AuditLog\n"
        "from assistant.catalog.registry import Registry\n"
        "home = Path(sys.argv[1])\n"
        "log = AuditLog(home / 'audit.log', anchor=Registry(home / 'catalog.json', home / 'm'))\n"
        "for n in range(20): log.append('verify', 'ok', n=n)\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(3)]
    assert all(w.wait(timeout=60) == 0 for w in writers)
    log = AuditLog(tmp_path / "audit.log", anchor=Registry(tmp_path / "catalog.json", tmp_path))
    check = log.check_chain()
    assert check.ok, check.problems
    assert [r["seq"] for r in log.records()] == list(range(1, 61))
