"""Chat templates, rendered only in Jinja's immutable sandbox.

A GGUF's ``tokenizer.chat_template`` is code written by whoever made the file. llama-cpp-python
before 0.2.72 rendered it in a plain Jinja environment, which let a crafted model run Python
(CVE-2024-34359). Here every template, the model's or our own fallback, is compiled by
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting with an underscore,
no mutation of lists or dicts, no unsafe callables. A template that tries to reach Python
internals raises :class:`~assistant.errors.ChatTemplateError` naming the reason.

Models without a template (Gemma 3 270M's GGUF has none) get a built-in one chosen by
architecture, and the engine reports that it did so.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assistant.engine.base import ChatMessage
from assistant.errors import ChatTemplateError

MAX_TEMPLATE_BYTES = 256 * 1024

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Gemma has no system role: the system text opens the first user turn, as Google's template does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% set system = namespace(text='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set system.text = message['content'] + '\\n\\n' %}"
    "{% else %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{% if role == 'user' %}{{ system.text }}{% set system.text = '' %}{% endif %}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

_FALLBACKS = {"gemma": GEMMA_TEMPLATE, "gemma2": GEMMA_TEMPLATE, "gemma3": GEMMA_TEMPLATE}


class _RefusingSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than a silent blank.

    Jinja's sandbox answers ``obj.__globals__`` with an undefined value, which renders as an empty
    string: the template would pass unnoticed. A chat template has no reason to look there, so
    the attempt itself marks the model file as hostile.
    """

    def unsafe_undefined(self, obj: object, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )


def fallback_template(architecture: str) -> str:
    """Our own template for a model that ships none (ChatML unless the family is known)."""
    return _FALLBACKS.get(architecture, CHATML_TEMPLATE)


def _raise_exception(message: str) -> None:
    # Templates call raise_exception() to reject a conversation shape (e.g. roles out of order).
    raise ChatTemplateError(f"The model's chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return _dt.datetime.now().strftime(fmt)


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled, sandboxed chat template.

    Attributes:
        source: the template text.
        builtin: True when the model shipped none and ours is used.
    """

    source: str
    bos_token: str
    eos_token: str
    builtin: bool
    _template: jinja2.Template

    @classmethod
    def compile(
        cls, source: str, *, bos_token: str = "", eos_token: str = "", builtin: bool = False
    ) -> ChatTemplate:
        """Compile ``source`` in the sandbox.

        Raises:
            ChatTemplateError: the template is too large or not valid Jinja.
        """
        if len(source.encode()) > MAX_TEMPLATE_BYTES:
            raise ChatTemplateError(
                f"The model's chat template is {len(source.encode())} bytes, over the "
                f"{MAX_TEMPLATE_BYTES}-byte limit; the model file is not trustworthy."
            )
        environment = _RefusingSandbox(
            trim_blocks=True, lstrip_blocks=True, autoescape=False, undefined=jinja2.Undefined
        )
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        try:
            template = environment.from_string(source)
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(
                f"The model's chat template is not valid Jinja ({exc}); the model file may be "
                "damaged. Set a different model, or ask an admin to check the file."
            ) from exc
        return cls(source, bos_token, eos_token, builtin, template)

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """Render the conversation into prompt text.

        Raises:
            ChatTemplateError: the template failed or tried to leave the sandbox.
        """
        try:
            return self._template.render(
                messages=[{"role": m.role.value, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except ChatTemplateError:
            raise
        except SecurityError as exc:
            raise ChatTemplateError(
                f"The model's chat template tried to reach Python internals and was stopped "
                f"({exc}). Treat this model file as hostile; do not use it."
            ) from exc
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ChatTemplateError(
                f"The model's chat template failed to render: {exc}. "
                "Try another model or ask an admin to check this one."
            ) from exc
