"""The offline guard: Enclave's promise that no byte leaves the machine.

Every entry point imports this module first. Importing it does two things, in this order:

1. It sets the variables that switch libraries to offline mode *before* any of them is imported
   (huggingface_hub and transformers read theirs at import time; chromadb reads its telemetry
   flag when a client is made). Values are forced, not defaulted: a stray ``HF_HUB_OFFLINE=0`` in
   the user's shell must not reopen the network.
2. It installs a :func:`sys.addaudithook` hook that refuses every socket connection, datagram,
   bind and name lookup that is not loopback or a Unix socket, raising
   :class:`~assistant.errors.NetworkBlockedError`, which names the destination.

An audit hook cannot be removed once installed, so the guard is process-wide state by nature;
:func:`allow_host` is the one way to widen it, for an on-prem server an admin configured. Native
code (llama.cpp, onnxruntime, Chroma's Rust core) does not pass through Python's audit events; the
system-call trace in ``scripts/airgap_check.py`` covers that.

This module imports only the standard library and :mod:`assistant.errors`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.errors import NetworkBlockedError

#: Variables forced at import. Each one closes a door some library would otherwise open.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
    # ONNX Runtime's Linux wheels (1.32) carry a telemetry client that looks up its collector's
    # host name from a native thread, past the audit hook: seen as DNS queries by
    # scripts/airgap_check.py once the int8 embedder ran in ONNX Runtime.
    "ORT_DISABLE_TELEMETRY": "1",
}

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INET_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_SOCKET_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.bind",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)


@dataclass(frozen=True)
class AllowedHost:
    """One on-prem destination an admin allowed: a host name or address, and optionally a port."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedHost:
        """Parse ``host``, ``host:port`` or ``[v6addr]:port``.

        Raises:
            ValueError: the text is empty or the port is not a number in 1..65535.
        """
        text = text.strip()
        if not text:
            raise ValueError("an allowed host cannot be empty")
        host, port = text, None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = _parse_port(rest[1:], text)
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            port = _parse_port(port_text, text)
        return cls(host=host.lower(), port=port)

    def matches(self, host: str, port: int | None) -> bool:
        """Whether a destination falls under this entry (any port when none was given)."""
        return host.lower() == self.host and (
            self.port is None or port is None or port == self.port
        )


def _parse_port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{whole!r}: the port must be a number between 1 and 65535")
    return int(text)


@dataclass
class _GuardState:
    installed: bool = False
    allowed: list[AllowedHost] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _GuardState()


@dataclass(frozen=True)
class GuardStatus:
    """What the guard is doing, for ``assistant doctor`` and the GUI's status bar."""

    active: bool
    env_forced: bool
    allowed_hosts: tuple[str, ...]
    blocked_attempts: tuple[str, ...]

    def describe(self) -> str:
        """One line for a person."""
        if not self.active:
            return "offline guard NOT active"
        allowed = ", ".join(self.allowed_hosts) if self.allowed_hosts else "none"
        return (
            f"offline guard active (loopback only; on-prem hosts allowed: {allowed}; "
            f"blocked so far: {len(self.blocked_attempts)})"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or a literal address) is this machine's loopback."""
    name = host.strip().lower().rstrip(".")
    if name in _LOCAL_NAMES:
        return True
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.split("%", 1)[0]  # an IPv6 zone id does not change loopback-ness
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _host_allowed(host: str, port: int | None) -> bool:
    return is_loopback(host) or any(entry.matches(host, port) for entry in _state.allowed)


def _destination(host: object, port: object = None) -> str:
    host_text = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
    return f"{host_text}:{port}" if port not in (None, 0, "") else host_text


def _refuse(destination: str, operation: str) -> None:
    with _state.lock:
        _state.blocked.append(f"{operation} {destination}")
        del _state.blocked[:-100]  # keep the last hundred, enough for doctor and the audit log
    raise NetworkBlockedError(destination, operation)


def check_socket_address(family: int, address: object, operation: str = "connect") -> None:
    """Refuse an address a socket is about to connect, send or bind to, unless it is local.

    Unix sockets and non-IP families (netlink, for example) never leave the machine and pass.
    An IPv4 or IPv6 address passes when it is loopback or an allowed on-prem host. Binding to the
    wildcard address is refused: it would accept connections from the network.

    Raises:
        NetworkBlockedError: the destination is not local and not allowed.
    """
    if family not in _INET_FAMILIES:
        return
    if not isinstance(address, tuple) or not address:
        _refuse(repr(address), operation)
        return
    host, port = address[0], address[1] if len(address) > 1 else None
    host_text = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
    port_number = port if isinstance(port, int) else None
    if operation == "bind":
        # A listener on the wildcard or an external interface would accept the network's calls.
        if not is_loopback(host_text):
            _refuse(_destination(host_text or "0.0.0.0", port), operation)
    elif not _host_allowed(host_text, port_number):
        _refuse(_destination(host_text, port), operation)


def check_lookup(host: object, port: object = None, operation: str = "name lookup") -> None:
    """Refuse a name lookup for anything but loopback or an allowed host.

    A DNS query is itself network traffic (and can leak what the app is about to contact), so it
    is refused before it is sent. ``None`` and ``""`` stand for the local wildcard and pass.

    Raises:
        NetworkBlockedError: the name is not local and not allowed.
    """
    if host is None or host == "" or host == b"":
        return
    host_text = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
    port_number = port if isinstance(port, int) else None
    if not _host_allowed(host_text, port_number):
        _refuse(_destination(host_text, port), operation)


def _audit_hook(event: str, args: tuple[object, ...]) -> None:
    if event not in _SOCKET_EVENTS:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        sock, address = args[0], args[1]
        if address is None:  # sendmsg on a connected socket: connect() was already checked
            return
        family = getattr(sock, "family", socket.AF_INET)
        operation = {"socket.bind": "bind", "socket.connect": "connect"}.get(event, "send")
        check_socket_address(family, address, operation)
    elif event == "socket.getaddrinfo":
        check_lookup(args[0], args[1])
    elif event == "socket.getnameinfo":
        sockaddr = args[0]
        if isinstance(sockaddr, tuple) and sockaddr:
            check_lookup(sockaddr[0], None, "reverse lookup")
    else:  # gethostbyname, gethostbyaddr
        check_lookup(args[0], None, "name lookup")


def force_offline_environment() -> None:
    """Set every offline variable, overriding what the caller's environment had."""
    os.environ.update(OFFLINE_ENV)


def install(allowed_hosts: Iterable[str] = ()) -> None:
    """Force the offline variables and install the socket hook (idempotent).

    Args:
        allowed_hosts: on-prem destinations (``host`` or ``host:port``) to allow besides
            loopback. Empty by default: Enclave needs none.

    Raises:
        ValueError: an allowed host is malformed.
    """
    force_offline_environment()
    for entry in allowed_hosts:
        allow_host(entry)
    with _state.lock:
        if _state.installed:
            return
        _state.installed = True
    sys.addaudithook(_audit_hook)


def allow_host(entry: str) -> AllowedHost:
    """Allow one on-prem host (from the admin's ``[network] allowed_hosts`` setting).

    Raises:
        ValueError: the entry is malformed.
    """
    parsed = AllowedHost.parse(entry)
    with _state.lock:
        if parsed not in _state.allowed:
            _state.allowed.append(parsed)
    return parsed


def status() -> GuardStatus:
    """The guard's current state."""
    env_forced = all(os.environ.get(key) == value for key, value in OFFLINE_ENV.items())
    with _state.lock:
        return GuardStatus(
            active=_state.installed,
            env_forced=env_forced,
            allowed_hosts=tuple(f"{a.host}:{a.port}" if a.port else a.host for a in _state.allowed),
            blocked_attempts=tuple(_state.blocked),
        )


install()
