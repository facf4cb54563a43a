"""Prove the air gap: run Enclave's whole flow with no network and trace every socket call.

Each step is a real ``assistant`` command run in a fresh process inside a private network
namespace (``unshare -rn``: the process sees only a loopback interface that is down) and under
``strace -f``, which records every ``connect``, ``sendto``, ``sendmsg`` and ``bind`` system call of
the process and all its threads and children. Native code (llama.cpp, Chroma's Rust core,
onnxruntime, torch) is invisible to Python's audit hooks; the kernel-level trace is the proof.

The flow: doctor (loads the model), import a PDF, a DOCX and an HTML file, ask with retrieval,
extract a JSON record, ask without retrieval. The run fails if any step fails or if any traced call
names an AF_INET or AF_INET6 address. It writes a short report an auditor can read.

Usage:
    .venv/bin/python scripts/airgap_check.py [--report FILE] [--keep]

Needs ``strace`` and ``unshare`` (Debian: ``apt-get install strace util-linux``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSCALL = re.compile(r"^(?P<pid>\d+)\s+(?P<call>connect|sendto|sendmsg|bind)\((?P<args>.*)$")
FAMILY = re.compile(r"sa_family=(AF_[A-Z0-9]+)")

QUESTION = "What is the total approved budget for fiscal year 2024?"
SCHEMA = {
    "type": "object",
    "properties": {"project": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["project", "year"],
    "additionalProperties": False,
}


@dataclass
class Step:
    name: str
    argv: list[str]
    returncode: int = -1
    calls: dict[str, int] = field(default_factory=dict)
    inet: list[str] = field(default_factory=list)
    output_tail: str = ""

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.inet


def write_corpus(folder: Path) -> None:
    """A PDF, a DOCX and an HTML file, each with facts the questions ask about."""
    from docx import Document
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pages = (
        "Project Nightjar overview. The programme began in 2019 to replace coastal radars.",
        "Budget. The total approved budget for fiscal year 2024 is 4.2 million euros.",
    )
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(folder / "nightjar-report.pdf"))
    document = Document()
    document.add_heading("Safety procedures", level=1)
    document.add_paragraph("Staff must wear a personal dosimeter in the reactor hall.")
    document.save(str(folder / "safety.docx"))
    (folder / "archive.html").write_text(
        "<html><body><h1>Opening hours</h1><p>The reading room opens at nine on weekdays.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    (folder / "memo.md").write_text(
        "# Memo\n\nProject Nightjar was approved for the year 2024.\n", encoding="utf-8"
    )


def traced(step: Step, workdir: Path, env: dict[str, str]) -> Step:
    """Run one step isolated and traced; fill in its calls and any internet attempt."""
    trace = workdir / f"{step.name}.strace"
    command = [
        "unshare", "-rn",
        "strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,bind", "-o", str(trace),
        *step.argv,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=900)  # fmt: skip
    step.returncode = result.returncode
    step.output_tail = (result.stdout + result.stderr)[-1500:]
    for line in trace.read_text(errors="replace").splitlines():
        match = SYSCALL.match(line.strip())
        if not match:
            continue
        family_match = FAMILY.search(match["args"])
        family = family_match.group(1) if family_match else "no address"
        key = f"{match['call']} {family}"
        step.calls[key] = step.calls.get(key, 0) + 1
        if family in ("AF_INET", "AF_INET6"):
            step.inet.append(line.strip()[:300])
    return step


def steps(python: str, corpus: Path) -> list[Step]:
    assistant = [python, "-m", "assistant"]
    schema = corpus.parent / "record.schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    return [
        Step("doctor-and-model-load", [*assistant, "doctor", "--json"]),
        Step("import-pdf-docx-html", [*assistant, "ingest", str(corpus)]),
        Step("ask-with-retrieval", [*assistant, "ask", "--json", "--seed", "1", QUESTION]),
        Step("structured-extraction", [*assistant, "extract", "--schema", str(schema), "--doc",
                                       str(corpus / "memo.md"), "--seed", "1"]),  # fmt: skip
        Step("ask-without-retrieval", [*assistant, "ask", "--json", "--seed", "1",
                                       "--no-library", "What is the capital of France?"]),
    ]  # fmt: skip


def render(results: list[Step], started: str, home: Path) -> str:
    verdict = "PASS" if all(s.passed for s in results) else "FAIL"
    strace_version = subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout
    lines = [
        "# Enclave air-gap check",
        "",
        f"- Result: **{verdict}**",
        f"- Started: {started} UTC on {platform.node()} ({platform.platform()})",
        "- Isolation: each step ran in a private network namespace (`unshare -rn`)",
        f"- Trace: `strace -f` of connect/sendto/sendmsg/bind in every process and thread "
        f"({strace_version.splitlines()[0] if strace_version else 'strace'})",
        f"- Data directory used: {home}",
        "",
        "| step | exit | socket calls seen (by address family) | internet attempts |",
        "| --- | --- | --- | --- |",
    ]
    for step in results:
        calls = ", ".join(f"{k}: {v}" for k, v in sorted(step.calls.items())) or "none"
        lines.append(f"| {step.name} | {step.returncode} | {calls} | {len(step.inet)} |")
    failures = [s for s in results if not s.passed]
    if failures:
        lines += ["", "## Failures", ""]
        for step in failures:
            lines += [f"### {step.name}", "", "```", *step.inet[:20], step.output_tail, "```", ""]
    lines += [
        "",
        "AF_UNIX and AF_NETLINK calls stay on this machine (local sockets, the kernel's own "
        "interface queries); an AF_INET or AF_INET6 call would be an attempt to reach a network.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="where to write the Markdown report")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)
    for tool in ("strace", "unshare"):
        if shutil.which(tool) is None:
            print(f"airgap_check: '{tool}' is required (apt-get install strace util-linux)",
                  file=sys.stderr)  # fmt: skip
            return 2
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        print("airgap_check: this kernel does not allow 'unshare -rn' (user namespaces)",
              file=sys.stderr)  # fmt: skip
        return 2
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    workdir = Path(tempfile.mkdtemp(prefix="enclave-airgap-"))
    home = workdir / "home"
    env = {**os.environ, "ASSISTANT_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    corpus = workdir / "corpus"
    write_corpus(corpus)
    results = [traced(step, workdir, env) for step in steps(sys.executable, corpus)]
    report = render(results, started, home)
    target = args.report or workdir / "airgap-report.md"
    target.write_text(report, encoding="utf-8")
    print(report)
    if args.json:
        print(json.dumps([step.__dict__ for step in results], indent=2))
    print(f"Report written to {target}")
    if not args.keep and args.report:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(step.passed for step in results) else 1


if __name__ == "__main__":
    sys.exit(main())
