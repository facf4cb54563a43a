"""Start-up: launch to an interactive window, to a loaded model, and to the first answer.

Every figure is seconds from the benchmark's ``time.monotonic()`` just before it spawned the
process (on Linux one clock for every process) to a moment the process reports; each is the
median of ``--runs`` runs, the rows alternating in each round (the order reversed every other
round) with a warm page cache. Every process gets a fresh ``ASSISTANT_HOME``.

1. GUI: ``assistant-gui`` (``QT_QPA_PLATFORM=offscreen``) with its start-up probe
   (``ASSISTANT_STARTUP_PROBE``, see :class:`assistant.gui.app.StartupProbe`): ``interactive``
   (window shown and the event loop ran its first events), ``ready`` (model loaded, question box
   open), then the probe sends QUESTION through the window's Send path at once: ``first_token``
   (in the transcript) and ``complete``; also ``library_warm`` (the library warm-up that starts
   when the model is ready) and ``exit``. Reference, in the same rounds: a bare PySide6 program
   that shows an empty ``QMainWindow`` and reports the same interactive moment (the floor of
   Python + Qt start). A second GUI row sends the question only once the library warm-up has
   ended (``ASSISTANT_STARTUP_PROBE_ASK_AFTER=warm-up``), which isolates what the warm-up
   running beside the first answer costs it (``answer_*``: seconds from Send). ``--library``
   adds a GUI row whose home holds docs/*.md already imported.
2. First answer on the command line: ``assistant ask QUESTION`` (it streams): first visible
   byte on stdout, last byte, exit. Reference: a bare Python process that imports llama_cpp,
   loads the same GGUF with the same threads, context and batch, and decodes greedily with the
   app's sampler settings from the app's exact prompt tokens, printing the same way (the raw
   floor). Both sides decode greedily, so they give the same answer (``same_answer`` checks);
   the app also computes every token's log-probability and top-5 alternatives.
3. Where the app's extra time goes: ``python -X importtime`` of ``import assistant.gui.app``
   (the path to the window) and of whole runs of ``assistant ask`` and of the GUI (worker
   threads included), self time summed by top-level package; which heavy libraries each loads,
   and which were already loaded when the window became interactive.

On a machine whose cores other jobs use, ``--threads 1`` gives far steadier answer figures than
two llama.cpp threads, which stall each other whenever one loses its core.
4. ``--cold``: one more run of each row after ``echo 3 > /proc/sys/vm/drop_caches`` (root only;
   it empties the page cache of the whole machine, so other users' next reads are slower).

Usage: PYTHONPATH=. .venv/bin/python bench/bench_startup.py [--runs 5] [--max-tokens 48]
           [--threads 2] [--context 4096] [--library] [--cold] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import DEFAULT_SYSTEM_PROMPT, default_model_path, source_root
from assistant.engine.base import ChatMessage, Role
from bench.common import add_json_option, load_averages, median, report

QUESTION = "In two sentences, what is a lighthouse for?"
TIMEOUT_S = 600.0
#: Libraries that must not load on the way to the window (each takes seconds to import).
HEAVY = ("torch", "sentence_transformers", "transformers", "chromadb", "llama_cpp", "onnxruntime")

#: The window floor: Python + Qt, an empty main window, the same "interactive" moment.
REFERENCE_WINDOW = """
import json, sys, time
import assistant.offline
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1280, 800)
window.show()
def interactive():
    print(json.dumps({"interactive": time.monotonic()}), flush=True)
    app.quit()
QTimer.singleShot(0, interactive)
app.exec()
"""

#: The answer floor: llama-cpp-python alone, same file, threads, context, prompt and sampler.
REFERENCE_ANSWER = """
import json, sys, time
import assistant.offline
marks = {}
import llama_cpp
marks["imported"] = time.monotonic()
model, threads, context, max_tokens, prompt_file = sys.argv[1:6]
threads, context, max_tokens = int(threads), int(context), int(max_tokens)
prompt = json.loads(open(prompt_file).read())
llm = llama_cpp.Llama(model_path=model, n_ctx=context, n_batch=min(512, context),
                      n_threads=threads, n_threads_batch=threads, verbose=False)
marks["loaded"] = time.monotonic()
out, started, produced = sys.stdout.buffer, False, 0
for token in llm.generate(prompt, top_k=40, top_p=0.95, min_p=0.0, temp=0.0,
                          repeat_penalty=1.1):
    if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
        break
    piece = llm.detokenize([token])
    piece = piece if started else piece.lstrip()
    if piece:
        started = True
        out.write(piece)
        out.flush()
    produced += 1
    if produced >= max_tokens:
        break
out.write(b"\\n")
out.flush()
print(json.dumps({"marks": marks, "tokens": produced}), file=sys.stderr)
"""


@dataclass(frozen=True)
class Setup:
    """What every run shares."""

    model: Path
    threads: int
    context: int
    max_tokens: int
    question: str
    workdir: Path
    prompt_file: Path
    library_home: Path | None = None

    def settings_toml(self) -> str:
        # Greedy and seeded so every run, and the reference, decodes the same answer.
        return (
            f'[model]\npath = "{self.model}"\nthreads = {self.threads}\n'
            f"context_size = {self.context}\n"
            f"[generation]\ntemperature = 0.0\nseed = 0\nmax_tokens = {self.max_tokens}\n"
        )


class Homes:
    """A fresh ``ASSISTANT_HOME`` for every process (optionally a copy of a filled one)."""

    def __init__(self, setup: Setup) -> None:
        self._setup = setup
        self._count = 0

    def fresh(self, template: Path | None = None) -> Path:
        self._count += 1
        home = self._setup.workdir / f"home-{self._count}"
        if template is not None:
            shutil.copytree(template, home, ignore=shutil.ignore_patterns("enclave.lock", "*.log"))
        else:
            home.mkdir(parents=True)
        (home / "settings.toml").write_text(self._setup.settings_toml(), encoding="utf-8")
        return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_STARTUP_PROBE")}
    return {**env, "ASSISTANT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", **extra}


def _failed(what: str, proc: subprocess.Popen[bytes], log: Path) -> RuntimeError:
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
    return RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")


def _gui_command() -> list[str]:
    script = Path(sys.executable).with_name("assistant-gui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.gui"]


def run_gui(
    setup: Setup, home: Path, *, ask_after: str = "ready", heavy_seen: set[str] | None = None
) -> dict[str, float]:
    """One GUI start with the probe: seconds from spawn to each of the probe's marks.

    ``ask_after`` is "ready" (the question goes in the moment the model is ready) or "warm-up"
    (once the library warm-up that starts then has ended). The HEAVY libraries loaded by the
    time the window was interactive are added to ``heavy_seen``.
    """
    probe = home.parent / f"{home.name}-probe.json"
    log = home.parent / f"{home.name}-stderr.txt"
    env = _env(home, ASSISTANT_STARTUP_PROBE=str(probe),
               ASSISTANT_STARTUP_PROBE_QUESTION=setup.question,
               ASSISTANT_STARTUP_PROBE_ASK_AFTER=ask_after)  # fmt: skip
    with log.open("wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(_gui_command(), env=env, stdout=err, stderr=err)
        try:
            proc.wait(timeout=TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        ended = time.monotonic()
    if proc.returncode != 0 or not probe.exists():
        raise _failed("assistant-gui", proc, log)
    record = json.loads(probe.read_text(encoding="utf-8"))
    if record["error"]:
        raise RuntimeError(f"assistant-gui's probe reported: {record['error']}")
    marks = record["marks"]
    if heavy_seen is not None:
        heavy_seen.update(set(HEAVY) & set(record["modules_at_interactive"]))
    figures = {name: at - start for name, at in marks.items()}
    figures["exit"] = ended - start
    # The answer alone, from Send: what the warm-up running beside it costs shows here.
    figures["answer_first_token"] = marks["first_token"] - marks["asked"]
    figures["answer_complete"] = marks["complete"] - marks["asked"]
    figures["tokens"] = float(record["tokens"])
    return figures


def run_window_reference(setup: Setup, home: Path) -> dict[str, float]:
    """The bare PySide6 window: seconds from spawn to interactive, and to exit."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", REFERENCE_WINDOW], env=_env(home), capture_output=True,
        timeout=TIMEOUT_S, check=True,
    )  # fmt: skip
    ended = time.monotonic()
    marks = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return {"interactive": marks["interactive"] - start, "exit": ended - start}


def _streamed(command: list[str], env: dict[str, str], log: Path) -> tuple[dict[str, float], str]:
    """Run ``command``; seconds to its first visible stdout byte, last byte and exit."""
    chunks: list[bytes] = []
    first = last = 0.0
    with log.open("wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        assert proc.stdout is not None
        deadline = start + TIMEOUT_S
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                now = time.monotonic()
                if not first and chunk.strip():
                    first = now
                last = now
                chunks.append(chunk)
                if now > deadline:
                    raise TimeoutError(f"{command[0]} ran past {TIMEOUT_S:.0f} s")
            proc.wait(timeout=TIMEOUT_S)
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        ended = time.monotonic()
    if proc.returncode != 0 or not first:
        raise _failed(command[0], proc, log)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return {"first_token": first - start, "complete": last - start, "exit": ended - start}, text


def run_cli(setup: Setup, home: Path) -> tuple[dict[str, float], str]:
    """``assistant ask QUESTION`` as a user types it."""
    script = Path(sys.executable).with_name("assistant")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli.main"]
    log = home.parent / f"{home.name}-stderr.txt"
    return _streamed([*command, "ask", setup.question], _env(home), log)


def run_answer_reference(setup: Setup, home: Path) -> tuple[dict[str, float], str]:
    """Raw llama-cpp-python: import, load, decode the same prompt, print like the CLI."""
    log = home.parent / f"{home.name}-stderr.txt"
    command = [sys.executable, "-c", REFERENCE_ANSWER, str(setup.model), str(setup.threads),
               str(setup.context), str(setup.max_tokens), str(setup.prompt_file)]  # fmt: skip
    start = time.monotonic()
    figures, text = _streamed(command, _env(home), log)
    extra = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
    figures.update({name: at - start for name, at in extra["marks"].items()})
    figures["tokens"] = float(extra["tokens"])
    return figures, text


def prompt_tokens(setup_model: Path, context: int, question: str) -> list[int]:
    """The app's exact prompt for a new conversation: system prompt, then the question."""
    from assistant.engine.llama import LlamaEngine  # llama.cpp only for this, in the parent

    engine = LlamaEngine.load(setup_model, context_size=context, threads=1)
    try:
        messages = [
            ChatMessage(Role.SYSTEM, DEFAULT_SYSTEM_PROMPT),
            ChatMessage(Role.USER, question),
        ]
        return engine.prompt_tokens(messages)
    finally:
        engine.close()


def fill_library(setup: Setup, home: Path) -> dict[str, Any]:
    """Import docs/*.md into ``home`` with the real CLI (real embedder, Chroma on disk)."""
    script = Path(sys.executable).with_name("assistant")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli.main"]
    files = [str(p) for p in sorted((source_root() / "docs").glob("*.md"))]
    started = time.monotonic()
    out = subprocess.run([*command, "ingest", *files, "--json"], env=_env(home),
                         capture_output=True, timeout=TIMEOUT_S, check=True)  # fmt: skip
    imported = json.loads(out.stdout)
    return {"documents": len(imported["imported"]), "chunks": imported["chunks"],
            "seconds": round(time.monotonic() - started, 1)}  # fmt: skip


_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)")


def import_profile(args: list[str], env: dict[str, str], *, top: int = 8) -> dict[str, Any]:
    """Run ``python -X importtime ARGS``; what its imports cost, summed by top-level package.

    Self times are summed, so imports in worker threads (the model loader, the library
    warm-up) count as well as the main thread's.
    """
    out = subprocess.run([sys.executable, "-X", "importtime", *args], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} exited with {out.returncode}:\n"
                           f"{out.stderr[-2000:]}")  # fmt: skip
    by_package: dict[str, int] = defaultdict(int)
    by_module: dict[str, int] = {}
    for line in out.stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if found:
            self_us, _cumulative, name = found.groups()
            by_package[name.split(".")[0]] += int(self_us)
            by_module[name] = int(self_us)

    def ranked(table: dict[str, int]) -> dict[str, float]:
        best = sorted(table.items(), key=lambda item: -item[1])[:top]
        return {name: round(us / 1e6, 3) for name, us in best}

    return {
        "total_s": round(sum(by_package.values()) / 1e6, 3),
        "modules": len(by_module),
        "top_packages_s": ranked(by_package),
        "top_modules_s": ranked(by_module),
        "heavy_loaded": [name for name in HEAVY if name in by_package],
    }


def import_profiles(setup: Setup, homes: Homes, *, whole_gui: bool = True) -> dict[str, Any]:
    """Where the imports go: the GUI's start path, whole runs of the CLI and the GUI."""
    home = homes.fresh()
    profiles = {
        "bare_window_module": import_profile(["-c", "import PySide6.QtWidgets"], _env(home)),
        "gui_module": import_profile(["-c", "import assistant.gui.app"], _env(home)),
        "cli_ask_whole_run": import_profile(
            ["-m", "assistant.cli.main", "ask", setup.question], _env(homes.fresh())
        ),
    }
    if whole_gui:  # the model loader's and the library warm-up's imports too
        probe = home.parent / f"{home.name}-probe.json"
        gui_env = _env(home, ASSISTANT_STARTUP_PROBE=str(probe),
                       ASSISTANT_STARTUP_PROBE_QUESTION=setup.question)  # fmt: skip
        profiles["gui_whole_run"] = import_profile(["-m", "assistant.gui"], gui_env)
    return profiles


def drop_caches() -> str:
    """Empty the page cache; returns "" or why it could not."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return ""
    except OSError as exc:
        return f"cannot drop the page cache: {exc.strerror or exc}"


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = samples[0].keys() if samples else ()
    return {f"{key}_s" if key != "tokens" else key: median([s[key] for s in samples if key in s])
            for key in keys}  # fmt: skip


def _ratio(top: float, bottom: float) -> float:
    return round(top / bottom, 2) if bottom > 0 else 0.0


def measure(
    setup: Setup, homes: Homes, runs: int, *, cold: bool, warm_round: bool = True
) -> dict[str, Any]:
    samples: dict[str, list[dict[str, float]]] = defaultdict(list)
    texts: dict[str, set[str]] = defaultdict(set)
    heavy: set[str] = set()

    def answer_row(
        name: str, run: Callable[[Setup, Path], tuple[dict[str, float], str]]
    ) -> Callable[[], dict[str, float]]:
        def go() -> dict[str, float]:
            figures, text = run(setup, homes.fresh())
            texts[name].add(" ".join(text.split()))
            return figures

        return go

    rows: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("window_reference", lambda: run_window_reference(setup, homes.fresh())),
        ("gui", lambda: run_gui(setup, homes.fresh(), heavy_seen=heavy)),
        (
            "gui_ask_after_warm_up",
            lambda: run_gui(setup, homes.fresh(), ask_after="warm-up", heavy_seen=heavy),
        ),
        ("cli", answer_row("cli", run_cli)),
        ("answer_reference", answer_row("answer_reference", run_answer_reference)),
    ]
    if setup.library_home is not None:
        library = setup.library_home
        rows.insert(
            3, ("gui_library", lambda: run_gui(setup, homes.fresh(library), heavy_seen=heavy))
        )
    for _name, row in rows if warm_round else ():  # untimed: fills the page cache
        row()
    for round_number in range(runs):
        for name, row in rows if round_number % 2 == 0 else list(reversed(rows)):
            samples[name].append(row())
    result: dict[str, Any] = {name: _medians(values) for name, values in samples.items()}
    result["samples"] = {name: [{k: round(v, 3) for k, v in s.items()} for s in values]
                         for name, values in samples.items()}  # fmt: skip
    # Greedy decoding on both sides: one text, and as many tokens in the GUI as in the floor.
    result["same_answer"] = len(texts["cli"] | texts["answer_reference"]) == 1
    result["same_token_count"] = result["gui"]["tokens"] == result["answer_reference"]["tokens"]
    result["heavy_loaded_at_gui_interactive"] = sorted(heavy)
    if cold:
        reason = ""
        cold_rows: dict[str, Any] = {}
        for name, row in rows:
            reason = drop_caches()
            if reason:
                break
            cold_rows[name] = {k: round(v, 3) for k, v in row().items()}
        result["cold"] = cold_rows if not reason else {"unavailable": reason}
    return result


def summarise(result: dict[str, Any]) -> dict[str, float]:
    """The ratios the issue asks for: app over the reference measured in the same run."""
    window, gui = result["window_reference"], result["gui"]
    raw, cli = result["answer_reference"], result["cli"]
    late = result["gui_ask_after_warm_up"]
    return {
        "gui_interactive_over_bare_window": _ratio(gui["interactive_s"], window["interactive_s"]),
        "gui_ready_over_raw_loaded": _ratio(gui["ready_s"], raw["loaded_s"]),
        "gui_first_token_over_raw_first_token": _ratio(gui["first_token_s"], raw["first_token_s"]),
        "cli_first_token_over_raw_first_token": _ratio(cli["first_token_s"], raw["first_token_s"]),
        "cli_complete_over_raw_complete": _ratio(cli["complete_s"], raw["complete_s"]),
        "gui_answer_first_token_at_ready_over_after_warm_up": _ratio(
            gui["answer_first_token_s"], late["answer_first_token_s"]
        ),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=48, dest="max_tokens")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--library", action="store_true", help="add a GUI row with docs/*.md")
    parser.add_argument("--cold", action="store_true", help="one run each with a cold cache")
    parser.add_argument("--workdir", type=Path, help="where the homes go (default: a temp dir)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="no untimed first round, no whole-GUI import profile: to check the benchmark itself",
    )
    add_json_option(parser)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        model = args.model.resolve()
        prompt_file = workdir / "prompt.json"
        tokens = prompt_tokens(model, args.context, args.question)
        prompt_file.write_text(json.dumps(tokens), encoding="utf-8")
        setup = Setup(model=model, threads=args.threads, context=args.context,
                      max_tokens=args.max_tokens, question=args.question, workdir=workdir,
                      prompt_file=prompt_file)  # fmt: skip
        load_before = load_averages()
        library: dict[str, Any] = {}
        if args.library:
            library_home = workdir / "library"
            library_home.mkdir()
            setup = replace(setup, library_home=library_home)
            library = fill_library(setup, library_home)
        homes = Homes(setup)
        measured = measure(setup, homes, args.runs, cold=args.cold, warm_round=not args.quick)
        result: dict[str, Any] = {
            "model": model.name,
            "threads": args.threads,
            "context": args.context,
            "max_tokens": args.max_tokens,
            "question": args.question,
            "prompt_tokens": len(tokens),
            "runs": args.runs,
            "ratios": summarise(measured),
            **measured,
            "imports": import_profiles(setup, homes, whole_gui=not args.quick),
            **({"library": library} if library else {}),
            "load_average": {
                "before": load_before,
                "after": load_averages(),
            },  # fmt: skip
        }
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report(result, args.json)
    return result


if __name__ == "__main__":
    main()
