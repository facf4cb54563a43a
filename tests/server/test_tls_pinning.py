"""TLS to the inference server: the pinned certificate is accepted, any other one refused."""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from assistant.engine.remote import RemoteEngine, ServerConfig
from assistant.errors import ConfigError, ServerTLSError
from tests.server.conftest import LOOPBACK


class _Models(BaseHTTPRequestHandler):
    requests_seen = 0

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        type(self).requests_seen += 1
        body = json.dumps({"data": [{"id": "pinned-model", "max_model_len": 1024}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enclave-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_file, key_file, fingerprint


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    cert_file, key_file, fingerprint = _self_signed(tmp_path_factory.mktemp("tls"))
    server = ThreadingHTTPServer((LOOPBACK, 0), _Models)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://{LOOPBACK}:{server.server_address[1]}", fingerprint
    server.shutdown()
    server.server_close()


def test_the_pinned_certificate_is_accepted(tls_server: tuple[str, str]) -> None:
    url, fingerprint = tls_server
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    engine = RemoteEngine.connect(ServerConfig(url, tls_fingerprint=colons))
    assert engine.info.name == "pinned-model"
    assert engine.context_size == 1024
    engine.close()


def test_another_certificate_is_refused_before_any_request(tls_server: tuple[str, str]) -> None:
    url, _ = tls_server
    before = _Models.requests_seen
    with pytest.raises(ServerTLSError, match="pinned fingerprint"):
        RemoteEngine.connect(ServerConfig(url, tls_fingerprint="00" * 32))
    assert _Models.requests_seen == before  # no request reached the impostor
    # Without a pin or the site CA, a self-signed certificate fails the ordinary check.
    with pytest.raises(ServerTLSError):
        RemoteEngine.connect(ServerConfig(url))


def test_a_malformed_fingerprint_is_a_config_error(tls_server: tuple[str, str]) -> None:
    with pytest.raises(ConfigError, match="64 hex digits"):
        RemoteEngine.connect(ServerConfig(tls_server[0], tls_fingerprint="abc"))
