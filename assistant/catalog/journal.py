"""A second copy of each audit record's digest in the system journal, where systemd-journald runs.

The audit log and its anchor both live in the data directory, so one account can rewrite both.
journald keeps its files elsewhere, owned by the system, and a record sent there cannot be taken
back by the user who sent it. So after each append :class:`Journal` sends one entry (the record's
number, the SHA-256 of its line, the line itself) over journald's native datagram socket, and
``assistant-admin audit`` reads those entries back with ``journalctl`` to compare.

Everything here is best effort: no journald (containers, other systems, the socket missing) means
no copy, never a failed admin action. The socket is a local Unix socket; nothing leaves the machine.

Imports only the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "enclave-audit"

#: Reads the journal entries that belong to one log: ``None`` when the journal cannot be read.
Reader = Callable[[Path], Iterable[Mapping[str, str]] | None]


@dataclass(frozen=True)
class JournalCopy:
    """What the journal received when one record was written."""

    seq: int
    sha256: str  # of the record's line in the log
    chain: str  # SHA-256 of the log's first line: which log (and which start of it) this was


def encode_entry(fields: Mapping[str, str]) -> bytes:
    """One datagram in journald's native protocol (``KEY=value`` lines, or length-prefixed)."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8")
        if b"\n" in data:
            out += key.encode("ascii") + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode("ascii") + b"=" + data + b"\n"
    return bytes(out)


def decode_entry(datagram: bytes) -> dict[str, str]:
    """The fields of one native-protocol datagram (the inverse of :func:`encode_entry`)."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(datagram):
        end = datagram.index(b"\n", position)
        head = datagram[position:end]
        if b"=" in head:
            key, _, value = head.partition(b"=")
            position = end + 1
        else:
            (size,) = struct.unpack("<Q", datagram[end + 1 : end + 9])
            key, value = head, datagram[end + 9 : end + 9 + size]
            position = end + 9 + size + 1
        fields[key.decode("ascii")] = value.decode("utf-8", errors="replace")
    return fields


def _journalctl(log: Path) -> list[dict[str, str]] | None:
    program = shutil.which("journalctl")
    if program is None:
        return None
    command = [program, "--no-pager", "--output=json", f"SYSLOG_IDENTIFIER={IDENTIFIER}",
               f"ENCLAVE_AUDIT_LOG={log}"]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    entries = []
    for line in done.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append({k: v for k, v in entry.items() if isinstance(v, str)})
    return entries


class Journal:
    """journald, reached through its native socket; every method is safe where it is absent."""

    def __init__(self, socket_path: Path = JOURNAL_SOCKET, *, reader: Reader = _journalctl) -> None:
        """Args:
        socket_path: journald's native socket (tests bind their own).
        reader: how to read entries back (default: ``journalctl --output=json``).
        """
        self.socket_path = socket_path
        self._reader = reader

    def available(self) -> bool:
        """Whether journald's socket is there to receive entries."""
        return self.socket_path.is_socket()

    def send(self, *, log: Path, seq: int, sha256: str, chain: str, line: str) -> bool:
        """Send one record's entry; False (and nothing raised) when it could not be sent."""
        if not self.available():
            return False
        record = json.loads(line)
        summary = " ".join(str(record.get(k, "?")) for k in ("action", "result", "user"))
        fields = {
            "MESSAGE": f"Enclave audit record #{seq}: {summary}",
            "PRIORITY": "6",
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "ENCLAVE_AUDIT_LOG": str(log),
            "ENCLAVE_AUDIT_SEQ": str(seq),
            "ENCLAVE_AUDIT_SHA256": sha256,
            "ENCLAVE_AUDIT_CHAIN": chain,
            "ENCLAVE_AUDIT_RECORD": line,
        }
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(encode_entry(fields), os.fspath(self.socket_path))
        except OSError:  # full queue, oversized entry, journald restarting: the log still holds it
            return False
        return True

    def copies(self, log: Path) -> list[JournalCopy] | None:
        """The entries the journal holds for ``log``, oldest first; None: it cannot be read."""
        entries = self._reader(log)
        if entries is None:
            return None
        found = []
        for entry in entries:
            if entry.get("ENCLAVE_AUDIT_LOG") != str(log):
                continue
            try:
                seq = int(entry["ENCLAVE_AUDIT_SEQ"])
                found.append(JournalCopy(seq, entry["ENCLAVE_AUDIT_SHA256"],
                                         entry.get("ENCLAVE_AUDIT_CHAIN", "")))  # fmt: skip
            except (KeyError, ValueError):
                continue
        return found
