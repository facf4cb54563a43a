"""Model administration commands for ``assistant-admin``: models, trusted keys, signing, audit.

On the air-gapped machine::

    models list | import PATH [--force] | verify [NAME] | remove NAME | set-default NAME
    keys list | add FILE | remove FINGERPRINT
    audit

On the connected machine that prepares the media::

    keygen OUT
    sign FOLDER --key KEYFILE --name NAME --version VERSION

:func:`register` adds them to the admin parser. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.catalog.audit import LOG_ACTION
from assistant.catalog.records import ProgressEvent, Stage
from assistant.catalog.service import Catalog, ImportOptions
from assistant.cli.common import paths_from, print_json
from assistant.errors import CatalogError, SignatureError

BuildApp = Callable[[argparse.Namespace], Any]


def register(subparsers: Any, build_app: BuildApp) -> None:
    """Add ``models``, ``keys``, ``sign``, ``keygen`` and ``audit`` to the admin parser."""

    def catalog(args: argparse.Namespace) -> Catalog:
        return Catalog(build_app(args).paths)

    models = subparsers.add_parser("models", help="list, import, verify, remove installed models")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="installed models, their adapters and the default")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=lambda a: cmd_list(a, catalog(a)))
    importing = actions.add_parser("import", help="verify and install a signed model folder")
    importing.add_argument("path", metavar="PATH", type=Path, help="the folder on the media")
    importing.add_argument(
        "--force", action="store_true", help="accept a version not newer than the installed one"
    )
    importing.add_argument(
        "--load-timeout",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="time limit of the test load (default 180)",
    )
    importing.set_defaults(handler=lambda a: cmd_import(a, catalog(a)))
    verify = actions.add_parser("verify", help="re-check installed files against their digests")
    verify.add_argument("name", nargs="?", metavar="NAME", help="NAME or NAME@VERSION (all)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=lambda a: cmd_verify(a, catalog(a)))
    remove = actions.add_parser("remove", help="uninstall a model version")
    remove.add_argument("name", metavar="NAME", help="NAME@VERSION (or NAME: the newest)")
    remove.set_defaults(handler=lambda a: cmd_remove(a, catalog(a)))
    default = actions.add_parser("set-default", help="make an installed model the default")
    default.add_argument("name", metavar="NAME", help="NAME@VERSION (or NAME: the newest)")
    default.add_argument("--adapter", metavar="ADAPTER", help="select one of its LoRA adapters")
    default.set_defaults(handler=lambda a: cmd_set_default(a, catalog(a)))

    keys = subparsers.add_parser("keys", help="the admin keys whose signatures are trusted")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    key_list = key_actions.add_parser("list", help="trusted keys and their fingerprints")
    key_list.add_argument("--json", action="store_true")
    key_list.set_defaults(handler=lambda a: cmd_keys_list(a, catalog(a)))
    key_add = key_actions.add_parser("add", help="trust a public key (.pub file from keygen)")
    key_add.add_argument("file", metavar="FILE", type=Path)
    key_add.add_argument("--comment", default="", help="who or what the key is for")
    key_add.set_defaults(handler=lambda a: cmd_keys_add(a, catalog(a)))
    key_remove = key_actions.add_parser("remove", help="stop trusting a key")
    key_remove.add_argument("fingerprint", metavar="FINGERPRINT", help="8 or more hex digits")
    key_remove.set_defaults(handler=lambda a: cmd_keys_remove(a, catalog(a)))

    sign = subparsers.add_parser("sign", help="sign a model folder (on the connected machine)")
    sign.add_argument("folder", metavar="FOLDER", type=Path)
    sign.add_argument(
        "--key",
        required=True,
        type=Path,
        metavar="KEYFILE",
        help="the private key file from keygen",
    )
    sign.add_argument("--name", required=True, help="the model's name, e.g. mistral-7b-instruct")
    sign.add_argument("--version", required=True, help="its version, e.g. 1.0 (newer is larger)")
    sign.add_argument(
        "--passphrase-env", metavar="VAR", help="environment variable holding the key's passphrase"
    )
    sign.set_defaults(handler=cmd_sign)

    keygen = subparsers.add_parser("keygen", help="make a signing key pair (OUT and OUT.pub)")
    keygen.add_argument("out", metavar="OUT", type=Path)
    keygen.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="environment variable holding a passphrase to encrypt the key",
    )
    keygen.set_defaults(handler=cmd_keygen)

    audit = subparsers.add_parser("audit", help="show the model administration audit log")
    audit.add_argument("--json", action="store_true")
    audit.add_argument("--limit", type=int, default=0, metavar="N", help="only the last N")
    audit.set_defaults(handler=lambda a: cmd_audit(a, Catalog(paths_from(a).ensure())))


# --- models --------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, catalog: Catalog) -> int:
    models = catalog.list_models()
    default = catalog.default_model()
    if args.json:
        print_json([
            {**m.to_json(), "path": str(catalog.registry.model_path(m)),
             "default": default is not None and default.key == m.key,
             "selected_adapter": str(catalog.registry.selected_adapter(m) or "") or None}
            for m in models
        ])  # fmt: skip
        return 0
    if not models:
        print("No models imported yet. Import one with 'assistant-admin models import PATH'.")
        return 0
    for model in models:
        mark = "*" if default is not None and default.key == model.key else " "
        print(f"{mark} {model.key:<32} {model.architecture:<10} {model.quantization:<8} "
              f"{model.model_file.size / 1e6:8.1f} MB  signed by {model.signer[:16]}")  # fmt: skip
        selected = catalog.registry.selected_adapter(model)
        for adapter in model.adapters:
            chosen = " (selected)" if selected and selected.name == Path(adapter.path).name else ""
            print(f"    └─ LoRA {adapter.path}{chosen}")
    if default is None:
        print("(* marks the default; the default is currently not an imported model)")
    return 0


def _progress_printer() -> Callable[[ProgressEvent], None]:
    shown: dict[tuple[str, str], int] = {}

    def show(event: ProgressEvent) -> None:
        if event.stage is Stage.COPY:
            step = int(event.fraction * 4)  # every quarter
            if shown.get((event.stage, event.file), -1) >= step:
                return
            shown[(event.stage, event.file)] = step
            print(f"  copy and hash {event.file}: {step * 25}%", file=sys.stderr, flush=True)
        elif (event.stage, event.file) not in shown:
            shown[(event.stage, event.file)] = 1
            print(f"  {event.stage.value}: {event.file}", file=sys.stderr, flush=True)

    return show


def cmd_import(args: argparse.Namespace, catalog: Catalog) -> int:
    options = ImportOptions(force=args.force, load_timeout_s=args.load_timeout)
    print(f"Verifying {args.path} ...", file=sys.stderr)
    result = catalog.import_folder(args.path, options=options, on_progress=_progress_printer())
    model = result.model
    print(f"Imported {model.key} ({model.architecture}, {model.quantization}) to {result.path}.")
    for adapter in model.adapters:
        print(f"  with LoRA adapter {adapter.path}")
    print(f"The default model is unchanged; to switch: assistant-admin models set-default "
          f"{model.key}")  # fmt: skip
    return 0


def cmd_verify(args: argparse.Namespace, catalog: Catalog) -> int:
    results = catalog.verify(args.name)
    if args.json:
        print_json([{"model": r.model.key, "ok": r.ok, "problems": list(r.problems)}
                    for r in results])  # fmt: skip
    elif not results:
        print("No models imported yet; nothing to verify.")
    for result in results if not args.json else ():
        print(f"{result.model.key}: {'ok' if result.ok else 'FAILED'}")
        for problem in result.problems:
            print(f"  - {problem}")
    return 0 if all(r.ok for r in results) else 1


def cmd_remove(args: argparse.Namespace, catalog: Catalog) -> int:
    """Uninstall a model version, and the folders it leaves empty (its name's, staging)."""
    model = catalog.remove(args.name)
    folder = catalog.registry.folder(model)  # models/NAME/VERSION
    _remove_empty(folder, below=catalog.paths.models_dir)
    _remove_empty(catalog.staging_dir, below=catalog.paths.home)
    print(f"Removed {model.key}.")
    return 0


def _remove_empty(folder: Path, *, below: Path) -> None:
    """Delete ``folder`` and then each parent while it is empty, stopping short of ``below``;
    a folder that holds anything, or cannot be deleted, stays (and so do its parents)."""
    top = below.resolve()
    current = folder.resolve()
    while top in current.parents:
        try:
            if current.exists():  # the version's own folder is already gone
                current.rmdir()  # only ever succeeds on an empty folder
        except OSError:
            return
        current = current.parent


def cmd_set_default(args: argparse.Namespace, catalog: Catalog) -> int:
    path = catalog.set_default(args.name, adapter=args.adapter)
    print(f"The default model is now {path}" + (f" with adapter {args.adapter}." if args.adapter
                                                else "."))  # fmt: skip
    return 0


# --- keys, signing, audit ------------------------------------------------------------------------


def cmd_keys_list(args: argparse.Namespace, catalog: Catalog) -> int:
    keys = catalog.keys.list()
    if args.json:
        print_json([k.to_json() for k in keys])
    elif not keys:
        print("No trusted keys: no model can be imported. Add one with 'keys add FILE'.")
    for key in keys if not args.json else ():
        print(f"{key.fingerprint}  {key.comment or '-'}  (added {key.added_at} by {key.added_by})")
    return 0


def cmd_keys_add(args: argparse.Namespace, catalog: Catalog) -> int:
    try:
        pem = Path(args.file).read_bytes()
    except OSError as exc:
        raise CatalogError(f"Cannot read the key file {args.file}: {exc.strerror}.") from exc
    key = catalog.add_key(pem, comment=args.comment, source=str(args.file))
    print(f"Trusted key {key.fingerprint} ({key.comment or 'no comment'}).")
    return 0


def cmd_keys_remove(args: argparse.Namespace, catalog: Catalog) -> int:
    key = catalog.remove_key(args.fingerprint)
    print(f"Removed trusted key {key.fingerprint}. Models it signed stay installed; "
          "'models verify' now reports them.")  # fmt: skip
    return 0


def _passphrase(variable: str | None) -> bytes | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise SignatureError(f"The environment variable {variable} holding the passphrase is "
                             "empty or not set.")  # fmt: skip
    return value.encode("utf-8")


def cmd_sign(args: argparse.Namespace) -> int:
    from assistant.catalog.authoring import sign_model_folder
    from assistant.signing import fingerprint, load_private_key

    try:
        pem = Path(args.key).read_bytes()
    except OSError as exc:
        raise SignatureError(f"Cannot read the key file {args.key}: {exc.strerror}.") from exc
    key = load_private_key(pem, passphrase=_passphrase(args.passphrase_env))
    target = sign_model_folder(args.folder, key, name=args.name, version=args.version)
    print(f"Signed {args.folder} as {args.name} {args.version} with key "
          f"{fingerprint(key.public_key())}: {target}")  # fmt: skip
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from assistant.catalog.storage import atomic_write
    from assistant.signing import generate_keypair

    out: Path = args.out
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise SignatureError(f"{path} already exists; choose another name (keys are never "
                                 "overwritten).")  # fmt: skip
    pair = generate_keypair(passphrase=_passphrase(args.passphrase_env))
    atomic_write(out, pair.private_pem, mode=0o600)
    atomic_write(public, pair.public_pem, mode=0o644)
    print(f"Private key: {out} (keep it offline and secret)\nPublic key:  {public} "
          f"(copy to each air-gapped machine: assistant-admin keys add {public.name})\n"
          f"Fingerprint: {pair.fingerprint}")  # fmt: skip
    return 0


def cmd_audit(args: argparse.Namespace, catalog: Catalog) -> int:
    """List the audit log and check it; exit status 1 when the check fails."""
    records = list(enumerate(catalog.audit.records(), start=1))
    if args.limit > 0:
        records = records[-args.limit :]
    chain = catalog.audit.check_chain()
    if args.json:
        print_json({
            "records": [r for _, r in records], "chain_ok": chain.ok, "broken_at": chain.broken_at,
            "problems": [{"line": p.line, "kind": p.kind, "message": p.message}
                         for p in chain.problems],
            "notices": list(chain.notices), "legacy_records": chain.legacy,
            "anchor": chain.head.to_json() if chain.head else None, "head_sha256": chain.tip,
            "journal": chain.journal,
        })  # fmt: skip
        return 0 if chain.ok else 1
    for number, record in records:
        what = " ".join(str(record[k]) for k in ("model", "version") if record.get(k))
        what = what or str(record.get("fingerprint", ""))[:16]
        if record.get("action") == LOG_ACTION:
            what = str(record.get("message", ""))
        why = f" [{record['reason']}]" if record.get("reason") else ""
        time, user = record.get("time", "?"), record.get("user", "?")
        action, result = record.get("action", "?"), record.get("result", "?")
        mark = "!" if number == chain.broken_at else " "
        print(f"{number:>5}{mark} {time}  {user:<10} {action:<12} {result:<9} {what}{why}")
    for notice in chain.notices:
        print(f"note: {notice}", file=sys.stderr)
    if not chain.ok:
        first, *others = chain.problems
        where = f"at line {first.line}" if first.line is not None else "at its head"
        print(f"WARNING: the audit log {catalog.audit.path} fails its check {where}: "
              f"{first.message}.", file=sys.stderr)  # fmt: skip
        for problem in others:
            print(f"  also: {problem.message}", file=sys.stderr)
        return 1
    anchor = (f"head anchored in catalog.json at record #{chain.head.seq}" if chain.head
              else "head not anchored yet")  # fmt: skip
    print(f"{chain.records} records; hash chain intact ({anchor}; journal: {chain.journal}).\n"
          f"Head: line {chain.records}, SHA-256 {chain.tip} (keep a copy off this machine to "
          "prove later that nothing up to it was rewritten).", file=sys.stderr)  # fmt: skip
    return 0
