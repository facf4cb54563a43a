"""The offline guard refuses the network and lets loopback through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from assistant import offline
from assistant.errors import NetworkBlockedError

# TEST-NET-1 (RFC 5737): documentation addresses that no real host answers on.
REMOTE = ("192.0.2.10", 443)


def test_guard_is_active_and_environment_forced() -> None:
    status = offline.status()
    assert status.active
    assert status.env_forced
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert "offline guard active" in status.describe()


def test_connect_to_remote_address_is_refused_and_named() -> None:
    with pytest.raises(NetworkBlockedError) as caught:
        socket.create_connection(REMOTE, timeout=1)
    assert "192.0.2.10:443" in str(caught.value)
    assert isinstance(caught.value, OSError)  # libraries see "no network", not a crash
    assert any("192.0.2.10" in entry for entry in offline.status().blocked_attempts)


def test_ipv6_remote_is_refused() -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with sock, pytest.raises(NetworkBlockedError, match="2001:db8::1"):
        sock.connect(("2001:db8::1", 80))


def test_name_lookup_is_refused_before_any_dns_query() -> None:
    with pytest.raises(NetworkBlockedError, match="huggingface.co"):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(NetworkBlockedError):
        socket.gethostbyname("example.com")


def test_udp_send_to_remote_is_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(NetworkBlockedError),
    ):
        sock.sendto(b"x", ("192.0.2.53", 53))


def test_binding_a_listener_on_all_interfaces_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(NetworkBlockedError, match="bind"):
        sock.bind(("0.0.0.0", 0))


def test_loopback_round_trip_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def echo() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(16))

        thread = threading.Thread(target=echo)
        thread.start()
        with socket.create_connection(("localhost", port), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(16) == b"ping"
        thread.join(5)


def test_unix_sockets_are_allowed() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"local")
        assert right.recv(16) == b"local"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("::ffff:127.0.0.1", True), ("10.0.0.1", False), ("8.8.8.8", False), ("example.com", False),
     ("localhost.evil.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, expected: bool) -> None:
    assert offline.is_loopback(host) is expected


def test_allowed_host_parsing() -> None:
    assert offline.AllowedHost.parse("gpu01.site.local:8080") == offline.AllowedHost(
        "gpu01.site.local", 8080
    )
    assert offline.AllowedHost.parse("[fd00::5]:9000") == offline.AllowedHost("fd00::5", 9000)
    with pytest.raises(ValueError, match="port"):
        offline.AllowedHost.parse("host:99999")


def test_fresh_interpreter_is_guarded_by_importing_the_module() -> None:
    code = (
        "import assistant.offline, socket\n"
        "try:\n    socket.create_connection(('203.0.113.7', 80), timeout=1)\n"
        "except OSError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "0"})  # fmt: skip
    assert "NetworkBlockedError" in result.stdout
    assert "203.0.113.7:80" in result.stdout


def test_an_allowed_on_prem_host_passes_in_a_fresh_interpreter() -> None:
    code = (
        "from assistant import offline\n"
        "offline.install(['192.0.2.99:8080'])\n"
        "offline.check_socket_address(2, ('192.0.2.99', 8080))\n"
        "try:\n    offline.check_socket_address(2, ('192.0.2.99', 22))\n"
        "except OSError:\n    print('other port refused')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "other port refused" in result.stdout


def test_core_modules_do_not_import_qt_or_llama() -> None:
    code = (
        "import sys, assistant.app, assistant.chat.session, assistant.config\n"
        "assert 'PySide6' not in sys.modules, 'Qt leaked into the core'\n"
        "assert 'llama_cpp' not in sys.modules, 'llama.cpp loaded before it was needed'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
