"""Trusted keys, the audit log, versions and names: the small parts the pipeline stands on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.catalog.audit import AuditLog
from assistant.catalog.records import Version, check_name
from assistant.catalog.service import Catalog
from assistant.config import Paths
from assistant.errors import CatalogEntryNotFoundError, CatalogError, ManifestError, SignatureError
from assistant.signing import fingerprint, generate_keypair, public_pem


def test_keys_add_list_remove(paths: Paths, site_key: Ed25519PrivateKey) -> None:
    catalog = Catalog(paths)
    assert catalog.keys.list() == ()
    key = catalog.add_key(public_pem(site_key.public_key()), comment="site")
    assert key.fingerprint == fingerprint(site_key.public_key())
    again = catalog.add_key(public_pem(site_key.public_key()), comment="twice")
    assert again == key  # adding again changes nothing
    other = generate_keypair()
    catalog.add_key(other.public_pem)
    assert [k.fingerprint for k in catalog.keys.list()] == [key.fingerprint, other.fingerprint]
    assert set(catalog.keys.mapping()) == {key.fingerprint, other.fingerprint}

    with pytest.raises(CatalogEntryNotFoundError, match="shorter than 8"):
        catalog.remove_key(key.fingerprint[:4])
    with pytest.raises(CatalogEntryNotFoundError, match="matches no trusted key"):
        catalog.remove_key("00000000")
    assert catalog.remove_key(key.fingerprint[:10].upper()) == key
    assert [k.fingerprint for k in catalog.keys.list()] == [other.fingerprint]
    actions = [(r["action"], r["result"]) for r in catalog.audit.records()]
    assert actions == [("keys-add", "ok"), ("keys-add", "unchanged"), ("keys-add", "ok"),
                       ("keys-remove", "ok")]  # fmt: skip


def test_a_private_key_is_not_a_trusted_key(paths: Paths) -> None:
    with pytest.raises(SignatureError, match="not a PEM public key"):
        Catalog(paths).add_key(generate_keypair().private_pem)


def test_hand_edited_key_file_is_refused(paths: Paths, site_key: Ed25519PrivateKey) -> None:
    catalog = Catalog(paths)
    catalog.add_key(public_pem(site_key.public_key()))
    data = json.loads(catalog.keys.path.read_text())
    data["keys"][0]["fingerprint"] = "ab" * 32  # an entry claiming another key's identity
    catalog.keys.path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="corrupt"):
        catalog.keys.mapping()


def test_audit_log_appends_and_chains(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    assert log.check_chain().ok
    for n in range(3):
        log.append("import", "ok", model=f"m{n}", files=[{"sha256": "ab" * 32}])
    records = log.records()
    assert [r["model"] for r in records] == ["m0", "m1", "m2"]
    assert all(r["time"] and r["user"] and r["prev"] for r in records)
    assert log.check_chain().ok
    assert log.check_chain().records == 3

    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(lines[0] + lines[2])  # someone deletes the middle record
    check = log.check_chain()
    assert not check.ok
    assert check.broken_at == 2


def test_audit_log_survives_concurrent_writers(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from assistant.catalog.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "for n in range(25): log.append('verify', 'ok', n=n)\n"
    )
    path = tmp_path / "audit.log"
    writers = [subprocess.Popen([sys.executable, "-c", script, str(path)]) for _ in range(3)]
    assert all(w.wait(timeout=60) == 0 for w in writers)
    assert len(AuditLog(path).records()) == 75
    assert AuditLog(path).check_chain().ok


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.0", "1.1"), ("1.9", "1.10"), ("1", "1.0.1"), ("v2", "3"), ("2024.05.01", "2024.12.1")],
)
def test_versions_order_numerically(older: str, newer: str) -> None:
    assert Version.parse(older) < Version.parse(newer)
    assert not Version.parse(newer) < Version.parse(older)


def test_equal_versions() -> None:
    assert Version.parse("1.0") == Version.parse("1.0.0") == Version.parse("v1")


@pytest.mark.parametrize("text", ["latest", "1.0-beta", "", "1..2", "1.0.0.0.0.0.0", 3])
def test_unorderable_versions_are_refused(text: object) -> None:
    with pytest.raises(ManifestError, match="version"):
        Version.parse(text)


@pytest.mark.parametrize("name", ["..", "a/b", "", "-x", "x" * 65, "name.", "a b"])
def test_names_that_could_be_paths_are_refused(name: str) -> None:
    with pytest.raises(ManifestError, match="model name"):
        check_name(name)


def test_catalog_does_not_import_qt_or_llama() -> None:
    code = (
        "import sys, assistant.cli.admin_models, assistant.catalog.service\n"
        "assert 'PySide6' not in sys.modules and 'llama_cpp' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_admin_guides_version_rule_is_the_codes() -> None:
    """docs/admin-guide.md's examples of versions all parse, and its equal pair is equal."""
    import re

    from tests.conftest import ROOT

    guide = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    rule = guide[guide.index("- **Version**") : guide.index("Copy the whole folder")]
    examples = re.findall(r"`([^`]+)`", rule)
    assert {"1.0", "2025-03-01", "v3"} <= set(examples)
    for text in examples:
        if text != "v":  # "optionally after a `v`"
            Version.parse(text)
    assert Version.parse("1.0") == Version.parse("1")
