"""``assistant``: the analyst's command line.

Commands: ``chat`` (interactive; the default), ``ask``, ``conversations``, ``doctor``. Every
command builds the application through :class:`assistant.app.App` and reports errors as one line.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import assistant.offline  # noqa: F401, I001 - first: forces offline mode before any library import
from assistant import __version__
from assistant.app import App
from assistant.chat.session import Answer
from assistant.chat.store import shown_time
from assistant.cli.common import add_global_options, paths_from, print_json, run_command
from assistant.config import with_value
from assistant.engine.base import CancelToken, FinishReason, GenerationOptions, Token
from assistant.errors import AssistantError


def build_app(args: argparse.Namespace) -> App:
    app = App.create(paths_from(args))
    if getattr(args, "model", None):
        app.settings = with_value(app.settings, "model.path", str(Path(args.model).resolve()))
    return app


def options_from(app: App, args: argparse.Namespace) -> GenerationOptions:
    options = app.chat.options
    overrides = {
        key: getattr(args, key)
        for key in ("max_tokens", "temperature", "seed")
        if getattr(args, key, None) is not None
    }
    return replace(options, **overrides)


@contextmanager
def ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """While answering, Ctrl-C stops the answer instead of the program."""

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _printer() -> Callable[[Token], None]:
    started = False

    def on_token(token: Token) -> None:
        nonlocal started
        text = token.text if started else token.text.lstrip()
        if text:
            started = True
            sys.stdout.write(text)
            sys.stdout.flush()

    return on_token


# --- commands ------------------------------------------------------------------------------------


def library_collection(app: App, args: argparse.Namespace) -> str | None:
    """The collection to answer from, or None for the model alone.

    ``--collection`` names one; ``--no-library`` forces the model alone; otherwise the default
    collection is used when it holds documents, so a newcomer who imported a folder gets cited
    answers without another flag.
    """
    if getattr(args, "no_library", False):
        return None
    if getattr(args, "collection", None):
        return str(args.collection)
    from assistant.knowledge.base import DEFAULT_COLLECTION

    return DEFAULT_COLLECTION if app.knowledge.documents(DEFAULT_COLLECTION) else None


def answer_question(
    app: App,
    args: argparse.Namespace,
    question: str,
    *,
    conversation_id: int | None,
    cancel: CancelToken,
    on_token: Callable[[Token], None] | None,
) -> tuple[Answer, float]:
    """Answer from the library or the model alone; returns the answer and retrieval seconds."""
    options = options_from(app, args)
    collection = library_collection(app, args)
    if collection is None and not getattr(args, "no_library", False):
        elsewhere = [c.name for c in app.knowledge.collections() if c.indexed]
        if elsewhere:
            named = ", ".join(repr(name) for name in elsewhere)
            print(
                f"note: answering from the model alone; your documents are in the collection "
                f"{named}, not in 'default' (ask with --collection {elsewhere[0]}).",
                file=sys.stderr,
            )
    if collection is None:
        return app.chat.ask(
            question, conversation_id=conversation_id, options=options, cancel=cancel,
            on_token=on_token,
        ), 0.0  # fmt: skip
    top_k = getattr(args, "top_k", None) or app.settings.knowledge.top_k
    answer = app.chat.ask_documents(
        question, app.knowledge, collection=collection, top_k=top_k,
        conversation_id=conversation_id, options=options, cancel=cancel, on_token=on_token,
    )  # fmt: skip
    timings = answer.result.timings if answer.result else None
    return answer, (timings.prompt_s if timings else 0.0)


def _print_quotes(answer: Answer) -> None:
    """The verbatim quotes under the answer, each with where it stands."""
    for quote in answer.quotes:
        mark = "" if quote.verified else "  (not found word for word in the source: check it)"
        print(f"\n  \u201c{quote.text}\u201d\n    \u2014 {quote.location} [{quote.source}]{mark}")
    if answer.supported is False:
        print(
            "\n  No sentence of the sources says this; check the passages below before "
            "relying on it."
        )
    if answer.refused:
        print("\n(To ask the model without your documents, add --no-library.)")


def _print_sources(answer: Answer) -> None:
    if answer.refused or not answer.citations:
        return
    print("\nSources:")
    for citation in answer.citations:
        quote = " ".join(citation.quote.split())
        quote = quote if len(quote) <= 160 else quote[:157] + "..."
        marker = "" if citation.cited else " (not cited by number; the answer drew on it)"
        print(f"  [{citation.number}] {citation.location}{marker}\n      “{quote}”")


def cmd_ask(args: argparse.Namespace) -> int:
    app = build_app(args)
    cancel = CancelToken()
    started = time.perf_counter()
    with ctrl_c_cancels(cancel):
        answer, retrieval_s = answer_question(
            app, args, args.question, conversation_id=args.conversation, cancel=cancel,
            on_token=None if args.json else _printer(),
        )  # fmt: skip
    stats = answer.stats
    if args.json:
        result = answer.result
        print_json(
            {
                "answer": answer.text,
                "conversation_id": answer.conversation_id,
                "model": app.engine.info.name,
                "tokens": stats.completion_tokens,
                "prompt_tokens": stats.prompt_tokens,
                "tokens_per_second": round(stats.tokens_per_second, 2),
                "time_to_first_token": round(stats.time_to_first_token or 0.0, 4),
                "total_seconds": round(time.perf_counter() - started, 3),
                "finish_reason": stats.finish_reason.value if stats.finish_reason else None,
                "library": result is not None,
                "refused": answer.refused,
                "abstained": answer.abstained,
                "supported": answer.supported,
                "quotes": [_quote_json(q) for q in answer.quotes],
                "citations": [c.to_meta() for c in answer.citations],
                "retrieval": [_hit_json(rank, hit) for rank, hit in
                              enumerate(result.hits, start=1)] if result else [],  # fmt: skip
                "timings": {"prompt_and_retrieval_s": round(retrieval_s, 4),
                            **({k: v for k, v in vars(result.timings).items()} if result else {})},
            }
        )  # fmt: skip
    else:
        sys.stdout.write("\n")
        _print_quotes(answer)
        _print_sources(answer)
    return 0


def _quote_json(quote: Any) -> dict[str, Any]:
    return {
        "source": quote.source,
        "document": quote.document_name,
        "page": quote.page,
        "text": quote.text,
        "verified": quote.verified,
        "passage_start": quote.start,
        "passage_end": quote.end,
    }


def _hit_json(rank: int, hit: Any) -> dict[str, Any]:
    return {
        "rank": rank,
        "document": hit.document_name,
        "page": hit.page,
        "heading": hit.heading,
        "score": round(hit.score, 5),
        "dense_similarity": hit.dense_similarity,
        "dense_rank": hit.dense_rank,
        "lexical_rank": hit.lexical_rank,
        "passage": hit.text,
    }


def cmd_chat(args: argparse.Namespace) -> int:
    app = build_app(args)
    print(f"Enclave {__version__} — offline. Loading {app.settings.model_path().name} ...")
    engine = app.engine
    for note in engine.info.notes:
        print(f"note: {note}")
    conversation_id: int | None = args.conversation
    if conversation_id is not None:
        app.store.get(conversation_id)
    print("Type a question. Ctrl-C stops an answer; /new starts over; /history; /quit or Ctrl-D.")
    while True:
        try:
            line = input("\nyou> ").strip()
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\n(Ctrl-D or /quit to leave)")
            continue
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/new":
            conversation_id = None
            print("Started a new conversation.")
            continue
        if line == "/history":
            _print_history(app, conversation_id)
            continue
        if line.startswith("/"):
            print("Commands: /new, /history, /quit")
            continue
        cancel = CancelToken()
        sys.stdout.write("enclave> ")
        try:
            with ctrl_c_cancels(cancel):
                answer, _ = answer_question(
                    app, args, line, conversation_id=conversation_id, cancel=cancel,
                    on_token=_printer(),
                )  # fmt: skip
        except AssistantError as exc:  # one failed answer does not end the session
            print(f"\nerror: {exc}")
            continue
        conversation_id = answer.conversation_id
        _print_quotes(answer)
        _print_sources(answer)
        if answer.finish_reason is FinishReason.CANCELLED:
            print("\n[stopped]")
        else:
            print(f"\n[{answer.stats.completion_tokens} tokens, "
                  f"{answer.stats.tokens_per_second:.1f} tokens/s]")  # fmt: skip


def _print_history(app: App, conversation_id: int | None) -> None:
    if conversation_id is None:
        print("(no messages yet in this conversation)")
        return
    for message in app.store.messages(conversation_id):
        marker = " [partial]" if message.status == "partial" else ""
        print(f"{message.role.value}{marker}: {message.content}")


def cmd_conversations(args: argparse.Namespace) -> int:
    app = build_app(args)
    store = app.store
    if args.action == "list":
        found = store.conversations(search=args.search or "")
        if args.json:
            print_json([c.__dict__ for c in found])
        elif not found:
            print("No conversations yet. Start one with: assistant chat")
        for c in found if not args.json else ():
            print(f"{c.id:>5}  {shown_time(c.updated_at)}  {c.message_count:>3} msgs  {c.title}")
    elif args.action == "show":
        conversation = store.get(args.id)
        print(
            f"# {conversation.title}  (id {conversation.id}, {shown_time(conversation.created_at)})"
        )
        for message in store.messages(args.id):
            marker = " [partial]" if message.status == "partial" else ""
            print(f"\n{message.role.value}{marker}:\n{message.content}")
    elif args.action == "export":
        data = store.export(args.id)
        if args.format == "markdown":
            lines = [f"# {data['title']}", ""]
            for m in data["messages"]:
                lines += [f"**{m['role']}**{' (partial)' if m['status'] == 'partial' else ''}:",
                          "", m["content"], ""]  # fmt: skip
            text = "\n".join(lines)
        else:
            import json

            text = json.dumps(data, indent=2, ensure_ascii=False)
        if args.output:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
            print(f"Exported conversation {args.id} to {args.output}")
        else:
            print(text)
    elif args.action == "delete":
        conversation = store.get(args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise AssistantError("Refusing to delete without confirmation; pass --yes.")
            reply = input(f"Delete '{conversation.title}' and its messages? [y/N] ")
            if reply.strip().lower() not in ("y", "yes"):
                print("Kept.")
                return 1
        store.delete(args.id)
        print(f"Deleted conversation {args.id}.")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from assistant.doctor import diagnose, render

    report = diagnose(build_app(args), load_model=not args.no_model)
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Enclave: an offline assistant. Nothing you type leaves this machine.",
    )
    parser.add_argument("--version", action="version", version=f"Enclave {__version__}")
    add_global_options(parser)
    parser.add_argument("--model", metavar="GGUF", help="use this model file for this run")
    # No command: the interactive chat, answering from the library when it has documents.
    parser.set_defaults(handler=cmd_chat, conversation=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def decoding(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--max-tokens", type=int, dest="max_tokens")
        sub.add_argument("--temperature", type=float)
        sub.add_argument("--seed", type=int, help="fixed seed for repeatable answers")

    def library(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--collection", metavar="NAME", help="answer from this document collection"
        )
        sub.add_argument(
            "--no-library",
            action="store_true",
            dest="no_library",
            help="answer from the model alone, even when documents are imported",
        )
        sub.add_argument(
            "--top-k",
            type=int,
            dest="top_k",
            metavar="N",
            help="passages to retrieve (default: the knowledge.top_k setting)",
        )

    chat = commands.add_parser("chat", help="interactive chat (the default)")
    chat.add_argument("--conversation", type=int, metavar="ID", help="continue a conversation")
    library(chat)
    chat.set_defaults(handler=cmd_chat)

    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print a JSON result with timings")
    ask.add_argument("--conversation", type=int, metavar="ID", help="ask within a conversation")
    library(ask)
    decoding(ask)
    ask.set_defaults(handler=cmd_ask)

    conv = commands.add_parser("conversations", help="list, show, export or delete")
    conv_actions = conv.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = conv_actions.add_parser("list", help="list conversations, newest first")
    listing.add_argument("--search", help="only titles containing this text")
    listing.add_argument("--json", action="store_true")
    for name, text in (("show", "print one conversation"), ("delete", "delete a conversation")):
        sub = conv_actions.add_parser(name, help=text)
        sub.add_argument("id", type=int)
        if name == "delete":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    export = conv_actions.add_parser("export", help="export as JSON or Markdown")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=("json", "markdown"), default="json")
    export.add_argument("-o", "--output", metavar="FILE")
    conv.set_defaults(handler=cmd_conversations)

    doctor = commands.add_parser("doctor", help="check the installation and the offline guard")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--no-model", action="store_true", help="do not test-load the model")
    doctor.set_defaults(handler=cmd_doctor)

    for module_name in EXTENSIONS:
        importlib.import_module(module_name).register(commands, build_app)
    _global_options_after(commands)
    return parser


def _global_options_after(commands: Any) -> None:
    """Accept ``--model``, ``--home`` and ``--debug`` after the command as well as before it
    (``assistant ask --model FILE "..."``, ``assistant docs list --home DIR``).

    ``SUPPRESS`` as the default: a command's parser that does not see the option leaves the
    value given before the command alone; one that sees it overrides it.
    """
    for parser in commands.choices.values():
        parser.add_argument(
            "--model", metavar="GGUF", default=argparse.SUPPRESS, help="use this model file"
        )
        parser.add_argument(
            "--home", metavar="DIR", default=argparse.SUPPRESS, help="data directory"
        )
        parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        for action in parser._actions:  # nested commands: docs list, conversations show, ...
            if isinstance(action, argparse._SubParsersAction):
                _global_options_after(action)


#: Command groups that live in their own modules; each exposes
#: ``register(subparsers, build_app: Callable[[argparse.Namespace], App]) -> None``.
EXTENSIONS: tuple[str, ...] = (
    "assistant.cli.knowledge",
    "assistant.cli.structured",
    "assistant.cli.gui",
    "assistant.cli.evaluate",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
