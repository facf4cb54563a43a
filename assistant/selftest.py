"""``enclave --self-test``: prove, headless, that a built bundle does the whole job offline.

The installer's smoke test and IT (after installing on a machine with no network) run it. It
works in a temporary ``ASSISTANT_HOME`` that it deletes afterwards, so it never touches a real
profile, and checks, in order:

1. the offline guard is active and the offline switches are forced;
2. the bundled files match their pins (``doctor``: the models' manifest, the embedder);
3. the bundled chat model loads in llama.cpp;
4. what runs is what is configured (:func:`check_backends`): the embedding backend
   (``knowledge.embedding_backend``, ``onnx-int8`` by default, not a silent fallback to torch),
   the chat model (the file the installed app loads by default) and the constraint engine
   (llguidance, proved by a constrained generation that must validate);
5. a small PDF it writes itself is imported into the knowledge base (the parsing child process,
   the embedder it just checked, Chroma on disk, the full-text index);
6. a question about that PDF is answered by the model from the retrieved passage, with a
   citation naming the document and its page;
7. the offline guard is still active and blocked no connection during the run.

Each step prints one line (``[ok  ]`` or ``[FAIL]``); the exit status is 0 only when every
step passed. A step that fails stops the steps that depend on it.

Heavy libraries load inside the steps, so importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import __version__, offline
from assistant.config import ModelSettings, Paths, Settings, default_models_dir
from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.app import App
    from assistant.engine.base import Engine
    from assistant.grammar.compile import GrammarCompiler
    from assistant.knowledge.embedder import Embedder

DOCUMENT_NAME = "harbor-point-lighthouse.pdf"
DOCUMENT_LINES = (
    "Harbor Point Lighthouse",
    "The Harbor Point lighthouse was built in 1887 by the engineer Maria Velasquez.",
    "Its lamp can be seen from 22 nautical miles out at sea.",
    "The keeper's cottage beside the tower is now a small maritime museum.",
)
QUESTION = "When was the Harbor Point lighthouse built?"
EXPECTED_FACT = "1887"
EXIT_FAILED = 1
#: The constrained generation that proves which constraint engine runs: two possible outputs,
#: a handful of tokens, so it finishes in any model within its token budget.
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
PROBE_PROMPT = "Is sea water salty? Answer yes or no."


@dataclass
class Step:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Report:
    """Every step, in order."""

    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


@dataclass(frozen=True)
class Backends:
    """What answers run on: configured (what the installed app uses) or found running.

    Attributes:
        embedding: the embedding backend, ``onnx-int8`` or ``torch``.
        chat_model: the chat model's GGUF, as a resolved path.
        constraint: the constraint engine structured output uses, ``llguidance`` or ``gbnf``
            (``none`` when the engine cannot constrain at all).
    """

    embedding: str
    chat_model: str
    constraint: str


def configured_backends(settings: Settings) -> Backends:
    """The backends ``settings`` ask for (the constraint engine is the product's default)."""
    from assistant.grammar.compile import DEFAULT_BACKEND  # llguidance: import when run

    return Backends(
        embedding=str(settings.knowledge.embedding_backend),
        chat_model=str(settings.model_path().resolve()),
        constraint=DEFAULT_BACKEND.value,
    )


@dataclass(frozen=True)
class Found:
    """The backends found running, and what each one said about itself."""

    backends: Backends
    embedder_name: str
    why: dict[str, str] = field(default_factory=dict)  # by Backends field name
    probe_output: str = ""


def running_backends(*, embedder: Embedder, engine: Engine, compiler: GrammarCompiler) -> Found:
    """The backends that actually run: asked of the embedder and engine, and measured.

    The constraint engine is the one a real constrained generation used (the answer must
    validate against :data:`PROBE_SCHEMA`), not the one a setting names.

    Raises:
        AssistantError: the embedder cannot be opened, or the constrained output is invalid.
    """
    from assistant.engine.base import GenerationOptions
    from assistant.grammar.extract import build_messages, generate_structured

    why: dict[str, str] = {}
    # Backend and note are MiniLMEmbedder's; any other embedder is named for what it is.
    backend = getattr(embedder, "backend", None)
    embedding = str(getattr(backend, "value", backend or embedder.name))
    note = getattr(embedder, "note", "")
    if note:
        why["embedding"] = str(note)
    options = GenerationOptions(max_tokens=24, temperature=0.0, seed=7, top_logprobs=0)
    result = generate_structured(
        engine,
        PROBE_SCHEMA,
        build_messages(PROBE_PROMPT, target=PROBE_SCHEMA),
        options=options,
        compiler=compiler,
        retries=0,
    )
    constraint = result.backend.value if result.backend is not None else "none"
    if constraint != compiler.backend.value:
        why["constraint"] = (
            "the engine cannot apply llguidance's token masks"
            if constraint == "gbnf"
            else "the engine has no grammar support"
        )
    model = engine.info.path
    chat_model = str(Path(model).resolve()) if model and not model.startswith("<") else model
    found = Backends(embedding=embedding, chat_model=chat_model, constraint=constraint)
    return Found(found, embedder.name, why, result.text)


def check_backends(expected: Backends, found: Found) -> list[str]:
    """One sentence per backend that is not the configured one (empty: all as configured)."""
    labels = {
        "embedding": "embedding backend",
        "chat_model": "chat model",
        "constraint": "constraint engine",
    }
    problems = []
    for name, label in labels.items():
        want, got = getattr(expected, name), getattr(found.backends, name)
        if want != got:
            reason = found.why.get(name, "")
            problems.append(
                f"{label}: configured {want}, found {got}" + (f" ({reason})" if reason else "")
            )
    return problems


def tiny_pdf(lines: Sequence[str]) -> bytes:
    """A valid one-page PDF showing ``lines`` in Helvetica (no PDF library needed).

    Args:
        lines: text lines, ASCII without parentheses or backslashes.
    """
    text = " T* ".join(f"({line}) Tj" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td 16 TL {text} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def bundled_model() -> Path:
    """The default chat model shipped in ``models/`` (the manifest's "default chat model")."""
    manifest = default_models_dir() / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        name = str(next(m["file"] for m in data["models"] if m.get("role") == "default chat model"))
    except (OSError, ValueError, KeyError, StopIteration):
        return Settings().model_path()
    return default_models_dir() / name


class SelfTest:
    """Runs the steps against one temporary data directory."""

    def __init__(
        self,
        home: Path,
        *,
        model: Path,
        out: Callable[[str], None],
        expected: Backends | None = None,
    ) -> None:
        """Args:
        home: the temporary data directory.
        model: the chat model to load.
        out: where each step's line goes.
        expected: the configured backends (default: those of the default settings with
            ``model``).
        """
        self.paths = Paths(home=home).ensure()
        self.model = model
        self.out = out
        self.expected = expected
        self.report = Report()

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the body appends its detail and raises to fail it."""
        detail: list[str] = []
        started = time.perf_counter()
        try:
            yield detail
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never a traceback
            kind = "" if isinstance(exc, AssistantError) else f"{type(exc).__name__}: "
            self._record(Step(name, False, f"{kind}{exc}", time.perf_counter() - started))
            raise _StepFailed from exc
        self._record(Step(name, True, "; ".join(detail), time.perf_counter() - started))

    def _record(self, step: Step) -> None:
        self.report.steps.append(step)
        mark = "ok  " if step.ok else "FAIL"
        self.out(f"[{mark}] {step.name} ({step.seconds:.1f} s): {step.detail}")

    def run(self) -> Report:
        """Run every step; stop at the first failure (the later steps depend on it)."""
        try:
            self._run()
        except _StepFailed:
            pass
        return self.report

    def _run(self) -> None:
        from assistant.app import App

        with self.step("offline guard") as detail:
            guard = offline.status()
            detail.append(guard.describe())
            if not (guard.active and guard.env_forced):
                raise AssistantError("the offline guard is not fully active")

        from assistant.knowledge.embedder import MiniLMEmbedder

        settings = Settings(model=ModelSettings(path=str(self.model), context_size=2048))
        expected = self.expected or configured_backends(settings)
        app = App.create(self.paths, settings=settings)
        # The one embedder of the run: checked below, then used for the import.
        embedder = MiniLMEmbedder(backend=settings.knowledge.embedding_backend)
        try:
            with self.step("bundled files") as detail:
                from assistant.doctor import diagnose

                report = diagnose(app, load_model=False)
                pinned = [m["file"] for m in report["default_models"] if m["digest_ok"]]
                detail.append(f"models match their pins: {', '.join(pinned) or 'none'}")
                detail.append("embedder matches its pin" if report["embedder"]["digest_ok"] else "")
                # Which backend runs is the next steps' check, with found and expected side by side.
                problems = [p for p in report["problems"] if "offline guard" not in p
                            and not p.startswith("the embedding backend is")]  # fmt: skip
                if problems:
                    raise AssistantError("; ".join(problems))

            with self.step("model loads") as detail:
                engine = app.engine
                info = engine.info
                detail.append(f"{self.model.name} ({info.context_size}-token context)")

            with self.step("configured backends") as detail:
                found = running_backends(
                    embedder=embedder, engine=engine, compiler=app.grammar_compiler
                )
                mismatches = check_backends(expected, found)
                if mismatches:
                    raise AssistantError("not the configured backends: " + "; ".join(mismatches))
                detail.append(
                    f"embedding {found.backends.embedding} ({found.embedder_name}); chat model "
                    f"{Path(found.backends.chat_model).name}; constraint engine "
                    f"{found.backends.constraint} ({found.probe_output!r} validates)"
                )

            self._knowledge(app, settings, embedder)
        finally:
            app.close()

        with self.step("offline guard after the run") as detail:
            guard = offline.status()
            detail.append(guard.describe())
            if not guard.active or guard.blocked_attempts:
                blocked = ", ".join(guard.blocked_attempts) or "none"
                raise AssistantError(f"the guard is inactive or blocked connections: {blocked}")

    def _knowledge(self, app: App, settings: Settings, embedder: Embedder) -> None:
        from assistant.app import knowledge_settings
        from assistant.engine.base import GenerationOptions
        from assistant.knowledge import KnowledgeBase

        engine = app.engine
        documents = self.paths.home / "documents"
        documents.mkdir()
        pdf = documents / DOCUMENT_NAME
        pdf.write_bytes(tiny_pdf(DOCUMENT_LINES))
        with KnowledgeBase.open(
            self.paths.index_dir, embedder=embedder, settings=knowledge_settings(settings)
        ) as knowledge:
            with self.step("document imported") as detail:
                report = knowledge.ingest([pdf])
                if report.failed:
                    raise AssistantError(
                        "; ".join(f"{f.path.name} {f.reason}" for f in report.failed)
                    )
                if len(report.imported) != 1:
                    raise AssistantError(
                        f"expected 1 imported document, got {len(report.imported)}"
                    )
                detail.append(f"{DOCUMENT_NAME}: {report.pages} page(s), {report.chunks} chunk(s)")

            with self.step("answer with a citation") as detail:
                options = GenerationOptions(max_tokens=64, temperature=0.0, seed=7, top_logprobs=0)
                result = knowledge.ask(QUESTION, engine, options=options, top_k=3)
                text = " ".join(result.text.split())
                detail.append(f"Q: {QUESTION} A: {text!r}")
                if result.refused or not text:
                    raise AssistantError(f"no answer from the document ({text!r})")
                cited = [c for c in result.citations if c.document_name == DOCUMENT_NAME]
                if not cited:
                    raise AssistantError(f"the answer cites no passage of {DOCUMENT_NAME}")
                first = cited[0]
                how = "cited by the model" if first.cited else "the source the answer used"
                quote = " ".join(first.quote.split())[:70]
                detail.append(f"[{first.number}] {first.location} ({how}): {quote!r}")
                if EXPECTED_FACT not in text:
                    detail.append(f"note: the answer does not state {EXPECTED_FACT}")


class _StepFailed(Exception):
    """Stops the run after a failed step (already reported)."""


def _bundle_line() -> str:
    if getattr(sys, "frozen", False):
        return f"frozen bundle at {Path(sys.executable).resolve().parent}"
    return f"from source at {default_models_dir().parent}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the self-test; returns 0 only when every step passed."""
    parser = argparse.ArgumentParser(
        prog="enclave --self-test", description="Check this copy of Enclave end to end, offline."
    )
    parser.add_argument("--model", type=Path, help="GGUF to test (default: the bundled model)")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="use DIR and keep it afterwards")
    args = parser.parse_args(argv)

    from assistant.release_key import describe_release_key

    started = time.perf_counter()
    print(f"Enclave {__version__} self-test, {_bundle_line()}", flush=True)
    print(describe_release_key(), flush=True)
    model = args.model or bundled_model()
    # What the installed app runs by default (or the model asked for): the self-test must load
    # that, not merely some bundled file.
    configured = Settings(model=ModelSettings(path=str(args.model))) if args.model else Settings()
    expected = configured_backends(configured)

    def out(line: str) -> None:
        print(line, flush=True)

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = SelfTest(args.keep.resolve(), model=model, out=out, expected=expected).run()
    else:
        with tempfile.TemporaryDirectory(prefix="enclave-self-test-") as home:
            report = SelfTest(Path(home), model=model, out=out, expected=expected).run()
    passed = sum(step.ok for step in report.steps)
    elapsed = time.perf_counter() - started
    if report.ok:
        print(f"Self-test passed ({passed} steps) in {elapsed:.1f} s.", flush=True)
        return 0
    print(f"Self-test FAILED ({passed} of {len(report.steps)} steps passed, later steps skipped) "
          f"in {elapsed:.1f} s.", flush=True)  # fmt: skip
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
