"""The real knowledge-base commands in a process of their own, with the fast fake embedder.

``python -m tests.robustness.ingest_driver --home HOME ingest PATH...`` parses and runs the
``ingest`` / ``docs`` commands through :func:`assistant.cli.knowledge.register` and
:func:`assistant.cli.common.run_command`, exactly as ``assistant`` does, except that the
knowledge base embeds with :class:`~assistant.knowledge.HashEmbedder` and small batches (many
batch boundaries to kill the process at). The crash tests SIGKILL this process.
"""

from __future__ import annotations

import argparse
import sys

import assistant.offline  # noqa: F401, I001 - first, as in every entry point
from assistant.app import App
from assistant.cli import knowledge as knowledge_commands
from assistant.cli.common import add_global_options, paths_from, run_command
from assistant.config import Settings
from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings

#: Small chunks and batches: the corpus crosses many batch boundaries.
DRIVER_SETTINGS = KnowledgeSettings(
    isolate_parsing=False, chunk_tokens=40, chunk_overlap_tokens=5, embed_batch_size=4
)


def build_app(args: argparse.Namespace) -> App:
    paths = paths_from(args).ensure()
    knowledge = KnowledgeBase.open(
        paths.index_dir, embedder=HashEmbedder(), settings=DRIVER_SETTINGS
    )
    return App(paths=paths, settings=Settings(), _knowledge=knowledge)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ingest-driver")
    add_global_options(parser)
    knowledge_commands.register(parser.add_subparsers(dest="command", required=True), build_app)
    args = parser.parse_args(argv)
    return run_command(args.handler, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
