"""The child process that meets an untrusted model first.

Run as ``python -m assistant.catalog.probe template PATH`` or ``... load PATH --context N``. It
prints one JSON line on stdout and exits 0 when the check passed, 3 when it refused the file with
a reason (an :class:`~assistant.errors.AssistantError`). Anything else (a signal, a native crash,
a hang the parent kills) means the file is hostile or broken, and only this process pays for it.

``template`` renders the model's chat template, in Jinja's sandbox, on a few test conversations,
under a memory and CPU limit (a template is code and could loop or allocate without end).
``load`` loads the model with :class:`~assistant.engine.llama.LlamaEngine` at a small context and
generates one token.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import assistant.offline  # noqa: F401, I001 - a fresh interpreter: guard the network first
from assistant.engine.base import ChatMessage, GenerationOptions, Role
from assistant.errors import AssistantError, ChatTemplateError

EXIT_REFUSED = 3
TEMPLATE_MEMORY_BYTES = 1 << 30

#: Conversations a chat template must accept at least one of. Some templates refuse a system
#: role or a conversation not ending with the user (with raise_exception), which is legitimate.
TEST_CONVERSATIONS: tuple[tuple[ChatMessage, ...], ...] = (
    (
        ChatMessage(Role.SYSTEM, "You are a careful assistant."),
        ChatMessage(Role.USER, "What is the capital of France?"),
        ChatMessage(Role.ASSISTANT, "Paris."),
        ChatMessage(Role.USER, "And of Italy?"),
    ),
    (ChatMessage(Role.USER, "What is the capital of France?"),),
)


def _limit_resources(memory: int, cpu_seconds: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    except (ImportError, ValueError, OSError):  # not on this platform: the parent's timeout stays
        pass


def check_template(path: Path) -> dict[str, Any]:
    """Render the model's chat template on the test conversations, in the sandbox.

    Raises:
        ModelFormatError: the header fails the bounded check.
        ChatTemplateError: the template is invalid, tried to leave the sandbox, or refused every
            test conversation.
    """
    from assistant.catalog.checks import IMPORT_LIMITS
    from assistant.engine.gguf_header import read_header
    from assistant.engine.template import ChatTemplate

    header = read_header(path, limits=IMPORT_LIMITS)
    source = header.chat_template
    if source is None:
        return {"template": "builtin"}
    template = ChatTemplate.compile(source, bos_token="<s>", eos_token="</s>")
    last: ChatTemplateError | None = None
    rendered = 0
    for conversation in TEST_CONVERSATIONS:
        try:
            text = template.render(conversation)
        except ChatTemplateError as exc:
            if exc.__cause__ is not None and "SecurityError" in type(exc.__cause__).__name__:
                raise  # reaching for Python internals is never a conversation-shape problem
            last = exc
            continue
        question = [m for m in conversation if m.role is Role.USER][-1].content
        if question not in text:
            raise ChatTemplateError(
                "The model's chat template drops the user's words from the prompt; the model "
                "would never see the question."
            )
        rendered += 1
    if rendered == 0 and last is not None:
        raise last
    return {"template": "model", "rendered": rendered}


def load_and_answer(path: Path, context_size: int) -> dict[str, Any]:
    """Load the model in llama.cpp and generate one token.

    Raises:
        ModelError: the header check, the template or llama.cpp refused the file.
        GenerationError: the first token could not be generated.
    """
    from assistant.engine.llama import LlamaEngine, default_threads

    # Half the CPUs: the app (and the admin's other work) keep running while a model is checked.
    threads = max(1, default_threads() // 2)
    engine = LlamaEngine.load(path, context_size=context_size, threads=threads)
    try:
        options = GenerationOptions(max_tokens=1, temperature=0.0, top_logprobs=0)
        tokens = list(engine.stream(TEST_CONVERSATIONS[1], options))
        info = engine.info
        return {
            "name": info.name,
            "architecture": info.architecture,
            "context_size": info.context_size,
            "tokens": len(tokens),
            "notes": list(info.notes),
        }
    finally:
        engine.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant.catalog.probe")
    parser.add_argument("mode", choices=("template", "load"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--cpu-seconds", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        if args.mode == "template":
            _limit_resources(TEMPLATE_MEMORY_BYTES, args.cpu_seconds)
            result = check_template(args.path)
        else:
            result = load_and_answer(args.path, args.context)
    except AssistantError as exc:
        print(json.dumps({"ok": False, "error": str(exc), "type": type(exc).__name__}))
        return EXIT_REFUSED
    except MemoryError:
        print(json.dumps({"ok": False, "error": "it exhausted the memory limit"}))
        return EXIT_REFUSED
    print(json.dumps({"ok": True, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
