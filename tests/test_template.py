"""Chat templates render in the sandbox; one that reaches for Python internals is refused."""

from __future__ import annotations

import os

import pytest

from assistant.engine.base import ChatMessage, Role
from assistant.engine.template import (
    CHATML_TEMPLATE,
    GEMMA_TEMPLATE,
    ChatTemplate,
    fallback_template,
)
from assistant.errors import ChatTemplateError

MESSAGES = [ChatMessage(Role.SYSTEM, "Be brief."), ChatMessage(Role.USER, "Hi")]

HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% set x = messages.append({'role': 'user'}) %}{{ x }}",
    "{{ self._TemplateReference__context }}",
    "{{ raise_exception.__globals__ }}",
    "{{ lipsum.__globals__['os'].system('touch /tmp/pwned-by-template') }}",
]


def test_chatml_renders_with_generation_prompt() -> None:
    text = ChatTemplate.compile(CHATML_TEMPLATE).render(MESSAGES)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_gemma_fallback_folds_the_system_prompt_into_the_first_turn() -> None:
    text = ChatTemplate.compile(GEMMA_TEMPLATE, bos_token="<bos>").render(MESSAGES)
    assert text == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert fallback_template("gemma3") == GEMMA_TEMPLATE
    assert fallback_template("mystery") == CHATML_TEMPLATE


@pytest.mark.parametrize("source", HOSTILE)
def test_templates_reaching_python_internals_are_refused(source: str) -> None:
    template = ChatTemplate.compile(source)
    with pytest.raises(ChatTemplateError) as caught:
        template.render(MESSAGES)
    assert "hostile" in str(caught.value) or "failed" in str(caught.value)
    assert not os.path.exists("/tmp/pwned-by-template")  # the payload never ran


def test_raise_exception_becomes_a_clear_error() -> None:
    template = ChatTemplate.compile("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        template.render(MESSAGES)


def test_invalid_jinja_is_refused_at_compile() -> None:
    with pytest.raises(ChatTemplateError, match="not valid Jinja"):
        ChatTemplate.compile("{% for %}")


def test_oversized_template_is_refused() -> None:
    with pytest.raises(ChatTemplateError, match="limit"):
        ChatTemplate.compile("x" * 300_000)
