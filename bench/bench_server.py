"""Server throughput: concurrent answers through the on-prem engine, against one desktop's engine.

Starts ``python -m llama_cpp.server`` with the GGUF on a free loopback port (nothing else is
contacted), then sends batches of concurrent streaming requests through
:class:`assistant.engine.remote.RemoteEngine` at each concurrency level, and reports the
aggregate tokens per second, the median time to the first token and the median request time.
The reference, measured in the same run on the same machine, is the desktop path: the same
requests one after another through the in-process :class:`~assistant.engine.llama.LlamaEngine`.

Bounded: at most ``--requests`` per level, each ``--tokens`` long, and a wall-clock ``--budget``
after which no new batch starts.

Usage: .venv/bin/python bench/bench_server.py [--levels 1,2,4] [--requests 4] [--tokens 32]
       [--threads 2] [--budget 240] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import assistant.offline  # noqa: F401, I001 - benchmarks obey the air gap too
from assistant.config import default_model_path
from assistant.engine.base import ChatMessage, Engine, GenerationOptions, GenerationStats, Role
from assistant.engine.llama import LlamaEngine
from assistant.engine.remote import RemoteEngine, ServerConfig
from assistant.errors import ServerUnavailableError

LOOPBACK = "127.0.0.1"
QUESTIONS = [
    "Write a long, detailed story about a lighthouse keeper.",
    "Explain how a radar station detects ships at night.",
    "Describe the seasons in a northern fjord town.",
    "List the steps to service a diesel generator.",
]


def one_request(engine: Engine, index: int, tokens: int) -> tuple[int, float, float]:
    """Stream one answer; return (tokens, time to first token, total seconds)."""
    stats = GenerationStats()
    options = GenerationOptions(max_tokens=tokens, temperature=0.7, seed=index, top_logprobs=1)
    messages = [ChatMessage(Role.USER, QUESTIONS[index % len(QUESTIONS)])]
    started = time.perf_counter()
    count = sum(1 for _ in engine.stream(messages, options, stats=stats))
    return count, stats.time_to_first_token or 0.0, time.perf_counter() - started


def run_level(engine: Engine, concurrency: int, requests: int, tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda i: one_request(engine, i, tokens), range(requests)))
    wall = time.perf_counter() - started
    produced = sum(r[0] for r in results)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "tokens": produced,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(produced / wall, 2),
        "median_ttft_s": round(statistics.median(r[1] for r in results), 3),
        "median_request_s": round(statistics.median(r[2] for r in results), 2),
    }


def start_server(model: Path, threads: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = int(probe.getsockname()[1])
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", LOOPBACK,
        "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
        "--interrupt_requests", "False",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://{LOOPBACK}:{port}"


def connect(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> RemoteEngine:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return RemoteEngine.connect(ServerConfig(url, context_size=2048))
        except ServerUnavailableError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--levels", default="1,2,4", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=4, help="requests per level (max 16)")
    parser.add_argument("--tokens", type=int, default=32, help="tokens per answer (max 256)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=240.0, help="seconds; no batch after")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    requests = max(1, min(args.requests, 16))
    tokens = max(1, min(args.tokens, 256))
    levels = [max(1, int(x)) for x in args.levels.split(",") if x.strip()]
    began = time.monotonic()

    local = LlamaEngine.load(args.model, context_size=2048, threads=args.threads)
    reference = run_level(local, 1, requests, tokens)
    local.close()
    print(f"desktop (in-process, sequential): {json.dumps(reference)}", flush=True)

    log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "server.log"
    process, url = start_server(args.model, args.threads, log)
    rows: list[dict[str, float]] = []
    try:
        engine = connect(url, process)
        one_request(engine, 0, 4)  # warm the server (first-request allocations)
        for level in levels:
            if time.monotonic() - began > args.budget:
                print(f"budget of {args.budget:.0f} s spent; skipping concurrency {level}")
                continue
            row = run_level(engine, level, requests, tokens)
            rows.append(row)
            ratio = row["tokens_per_s"] / reference["tokens_per_s"]
            print(f"server, concurrency {level}: {json.dumps(row)} ({ratio:.2f}x desktop)",
                  flush=True)  # fmt: skip
        engine.close()
    finally:
        process.terminate()
        process.wait(timeout=15)
    if args.json:
        args.json.write_text(json.dumps({"reference": reference, "server": rows}, indent=2))


if __name__ == "__main__":
    main()
