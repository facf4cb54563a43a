"""The on-prem server engine: an OpenAI-compatible inference server on the site's network.

It speaks ``/v1/chat/completions`` with server-sent events to llama.cpp's ``llama-server``,
llama-cpp-python's ``python -m llama_cpp.server`` or vLLM, so a site can run one GPU server for
many desktops while each desktop keeps the same :class:`~assistant.engine.base.Engine` interface.
The chat template is applied by the server. Per-token log-probabilities come from the server's
``logprobs``/``top_logprobs`` when it gives them; a GBNF grammar goes in the request field the
server reads (``grammar`` for llama.cpp, ``guided_grammar`` for vLLM), and the caller validates
the result either way (:mod:`assistant.grammar.extract`).

This module and :mod:`assistant.knowledge.remote` are the only ones that open network
connections, and only to the host and port an admin configured: the offline guard
(:mod:`assistant.offline`) allows exactly that destination and refuses every other one. TLS can
be checked against the site CA or pinned to one certificate's SHA-256 fingerprint; a bearer
token is read from a file so it never sits in ``settings.toml``.

Every wait is bounded: a short connect timeout, and a read timeout between two tokens. A server
that is down, refuses the token or dies mid-answer becomes a
:class:`~assistant.errors.ServerUnavailableError` that says so and offers the local model.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from assistant import offline
from assistant.engine.base import (
    Alternative,
    CancelToken,
    ChatMessage,
    FinishReason,
    GenerationOptions,
    GenerationStats,
    ModelInfo,
    Token,
)
from assistant.errors import (
    ConfigError,
    ContextOverflowError,
    GenerationError,
    NetworkBlockedError,
    ServerTLSError,
    ServerUnavailableError,
)

#: Context assumed when the server does not say (llama-cpp-python's server does not).
DEFAULT_CONTEXT = 4096
#: Characters per token when the server cannot count: low, so estimates err towards "too long".
_CHARS_PER_TOKEN = 3.0
_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH, "eos": FinishReason.STOP}


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one server, from the ``[server]`` settings.

    Attributes:
        url: ``http://host:port`` or ``https://host:port`` (a path prefix such as ``/v1`` is
            dropped; the engine adds its own).
        token: the bearer token, ``""`` for none.
        ca_file: PEM file of the CA that signed the server's certificate.
        tls_fingerprint: SHA-256 of the server's certificate (hex; colons and case ignored).
            When set, that one certificate is accepted, whoever signed it.
        connect_timeout_s: how long to wait for a connection.
        read_timeout_s: the longest silence between two pieces of an answer.
        context_size: the server's context window; 0 asks the server.
        grammar_param: the request field that carries a GBNF grammar.
    """

    url: str
    token: str = ""
    ca_file: str = ""
    tls_fingerprint: str = ""
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 120.0
    context_size: int = 0
    grammar_param: str = "grammar"

    @classmethod
    def from_settings(
        cls,
        url: str,
        *,
        token_file: str = "",
        ca_file: str = "",
        tls_fingerprint: str = "",
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 120.0,
        context_size: int = 0,
        grammar_param: str = "grammar",
    ) -> ServerConfig:
        """Build the config, reading the token file.

        Raises:
            ConfigError: the URL is malformed or the token file cannot be read.
        """
        address(url)  # validates
        token = ""
        if token_file:
            try:
                token = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"Cannot read the server token file {token_file}: {exc.strerror or exc}. "
                    "Check server.token_file in settings.toml and the file's permissions."
                ) from exc
        return cls(
            url=url,
            token=token,
            ca_file=ca_file,
            tls_fingerprint=tls_fingerprint,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            context_size=context_size,
            grammar_param=grammar_param or "grammar",
        )


def address(url: str) -> tuple[str, int, bool]:
    """The host, port and whether TLS is used, from a server URL.

    Raises:
        ConfigError: not an ``http``/``https`` URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{url!r} is not a server address: use http://HOST:PORT or https://HOST:PORT, "
            "for example https://gpu01.site.local:8443."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"{url!r}: the port must be a number between 1 and 65535.") from exc
    return parts.hostname, port, parts.scheme == "https"


def guard_entry(url: str) -> str:
    """The offline guard's ``host:port`` entry for a server URL (``[v6]:port`` for IPv6)."""
    host, port, _ = address(url)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allow_server(url: str) -> None:
    """Open the offline guard for exactly this server's host and port.

    A host given by name is allowed by name (its DNS lookup) and, once resolved, by each
    address it resolved to on that port only: the guard compares the connect() address, not
    the name. Nothing else is opened.

    Raises:
        ConfigError: the URL is malformed.
    """
    host, port, _ = address(url)
    offline.allow_host(guard_entry(url))
    if offline.is_loopback(host) or _is_ip(host):
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # the connection attempt will report the unknown name, with the URL
    for info in infos:
        ip = str(info[4][0])
        offline.allow_host(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


class _PinnedContext(ssl.SSLContext):
    """A TLS context that accepts exactly one certificate, by its SHA-256 fingerprint.

    The check runs right after the handshake, inside ``wrap_socket`` (which httpcore's sync
    backend calls), so no request byte reaches a server with another certificate.
    """

    pin: bytes = b""

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        wrapped = super().wrap_socket(*args, **kwargs)
        der = wrapped.getpeercert(binary_form=True) or b""
        if hashlib.sha256(der).digest() != self.pin:
            wrapped.close()
            raise ssl.SSLCertVerificationError(
                "the server's certificate does not match the pinned fingerprint "
                f"(it presented sha256 {hashlib.sha256(der).hexdigest()})"
            )
        return wrapped


def tls_context(config: ServerConfig) -> ssl.SSLContext | bool:
    """The ``verify`` value for httpx: a pinned context, a site-CA context, or the default.

    Raises:
        ConfigError: the fingerprint is not 64 hex digits or the CA file cannot be read.
    """
    if config.tls_fingerprint:
        pin = config.tls_fingerprint.replace(":", "").strip().lower()
        try:
            digest = bytes.fromhex(pin)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ConfigError(
                f"server.tls_fingerprint {config.tls_fingerprint!r} is not a SHA-256 "
                "fingerprint: give 64 hex digits (colons allowed), as printed by "
                "'openssl x509 -noout -fingerprint -sha256 -in server.pem'."
            )
        context = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        # The pin replaces chain and name checks: a self-signed server certificate is the
        # common case inside an enclave, and the fingerprint is stricter than either.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.pin = digest
        return context
    if config.ca_file:
        try:
            return ssl.create_default_context(cafile=str(Path(config.ca_file).expanduser()))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"Cannot use server.ca_file {config.ca_file}: {exc}. Give the PEM file of the "
                "CA that signed the server's certificate."
            ) from exc
    return True


def _translate(exc: BaseException, url: str) -> Exception:
    """Turn an httpx failure into the error a person reads (the guard's own error passes)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NetworkBlockedError):
            return cause
        if isinstance(cause, ssl.SSLError):
            return ServerTLSError(url, f"the TLS check failed ({cause})")
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerUnavailableError(url, "it did not accept a connection in time")
    if isinstance(exc, httpx.ConnectError):
        return ServerUnavailableError(url, f"the connection failed ({exc})")
    if isinstance(exc, httpx.ReadTimeout):
        return ServerUnavailableError(url, "it stopped answering (read timeout)")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ServerUnavailableError(
            url, "the connection closed in the middle of the answer (the part received is kept)"
        )
    return ServerUnavailableError(url, f"the request failed ({exc})")


class RemoteEngine:
    """An engine backed by an OpenAI-compatible server. Create it with :meth:`connect`."""

    supports_grammar = True
    supports_logprobs = True
    supports_llguidance = False  # grammars go to the server as GBNF text

    def __init__(self, config: ServerConfig, client: httpx.Client, info: ModelInfo) -> None:
        self._config = config
        self._client = client
        self._info = info
        self._model_id = info.name
        self._tokenizer: str | None = None  # which tokenize endpoint works; "" = none
        self._counts = lru_cache(maxsize=512)(self._count_uncached)

    @classmethod
    def connect(cls, config: ServerConfig) -> RemoteEngine:
        """Reach the server, learn its model and context size, and return the engine.

        Raises:
            ServerUnavailableError: the server cannot be reached or refuses the token.
            ServerTLSError: its certificate does not pass the TLS check.
            NetworkBlockedError: the offline guard does not allow the address.
            ConfigError: the TLS or token settings are invalid.
        """
        host, port, _ = address(config.url)
        parts = urlsplit(config.url)
        base = f"{parts.scheme}://{parts.netloc}"
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        client = httpx.Client(
            base_url=base,
            headers=headers,
            verify=tls_context(config),
            timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            trust_env=False,  # a proxy from the environment must never see enclave traffic
            follow_redirects=False,
        )
        try:
            models = cls._probe(client, config, "/v1/models")
            data = (models or {}).get("data") or [{}]
            model_id = str(data[0].get("id", "server"))
            context = config.context_size or int(data[0].get("max_model_len") or 0)
            if not context:
                props = cls._probe(client, config, "/props", optional=True) or {}
                settings = props.get("default_generation_settings") or {}
                context = int(settings.get("n_ctx") or props.get("n_ctx") or 0)
        except BaseException:
            client.close()
            raise
        notes = [f"Answers come from the inference server at {base}."]
        if not context:
            context = DEFAULT_CONTEXT
            notes.append(
                f"The server does not report its context size; assuming {context} tokens "
                "(set server.context_size to the server's --n_ctx)."
            )
        info = ModelInfo(
            path=f"{base}/v1 ({host}:{port})",
            name=model_id,
            architecture="remote",
            context_size=context,
            trained_context=context,
            gpu_layers=0,
            gpu_available=False,
            notes=tuple(notes),
        )
        return cls(config, client, info)

    @staticmethod
    def _probe(
        client: httpx.Client, config: ServerConfig, path: str, *, optional: bool = False
    ) -> dict[str, Any] | None:
        try:
            # The probe must not wait on a busy server's queue for minutes.
            response = client.get(path, timeout=min(config.read_timeout_s, 10.0))
        except httpx.HTTPError as exc:
            raise _translate(exc, config.url) from exc
        if response.status_code in (401, 403):
            raise ServerUnavailableError(
                config.url,
                f"it refused this computer's token (HTTP {response.status_code}); check "
                "server.token_file",
            )
        if response.status_code >= 400:
            if optional:
                return None
            raise ServerUnavailableError(
                config.url,
                f"{path} answered HTTP {response.status_code}; is it an OpenAI-compatible "
                "server (llama-server, llama_cpp.server, vLLM)?",
            )
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # --- the Engine protocol ---------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def context_size(self) -> int:
        return self._info.context_size

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """An approximation of the prompt (ChatML): the server applies the model's own template.

        Only used to measure how long a conversation is; the markers make the estimate a few
        tokens long rather than short.
        """
        turns = [f"<|im_start|>{m.role.value}\n{m.content}<|im_end|>\n" for m in messages]
        return "".join(turns) + "<|im_start|>assistant\n"

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the server's tokenizer, or a cautious estimate without one."""
        if not text:
            return 0
        return int(self._counts(text))

    def _count_uncached(self, text: str) -> int:
        if self._tokenizer is None:
            self._tokenizer = self._find_tokenizer()
        if self._tokenizer:
            count = self._tokenize(self._tokenizer, text)
            if count is not None:
                return count
        return math.ceil(len(text) / _CHARS_PER_TOKEN)

    def _find_tokenizer(self) -> str:
        for endpoint in ("/extras/tokenize/count", "/tokenize"):
            if self._tokenize(endpoint, "probe") is not None:
                return endpoint
        return ""

    def _tokenize(self, endpoint: str, text: str) -> int | None:
        # llama_cpp.server reads "input"; llama-server "content"; vLLM "prompt" and "model".
        body: dict[str, Any] = {
            "input": text,
            "content": text,
            "prompt": text,
            "model": self._model_id,
        }
        if endpoint == "/tokenize":
            body["add_special"] = False
            body["add_special_tokens"] = False
        try:
            response = self._client.post(endpoint, json=body, timeout=10.0)
        except httpx.HTTPError as exc:
            raise _translate(exc, self._config.url) from exc
        if response.status_code >= 400:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        if isinstance(data.get("count"), int):
            return int(data["count"])
        tokens = data.get("tokens")
        return len(tokens) if isinstance(tokens, list) else None

    def request_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> dict[str, Any]:
        """The JSON body of a streaming chat completion for ``messages`` and ``options``."""
        body: dict[str, Any] = {
            "model": self._model_id,
            "messages": [{"role": m.role.value, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "top_k": options.top_k,
            "repeat_penalty": options.repeat_penalty,
        }
        if options.seed >= 0:
            body["seed"] = options.seed
        if options.stop:
            body["stop"] = list(options.stop)
        if self.supports_logprobs and options.top_logprobs >= 0:
            body["logprobs"] = True
            body["top_logprobs"] = options.top_logprobs
        if options.grammar is not None:
            if not options.grammar.gbnf:
                raise GenerationError(
                    "This grammar exists only in llguidance form, which the inference server "
                    "cannot take; compile it with the GBNF backend."
                )
            body[self._config.grammar_param] = options.grammar.gbnf
        return body

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        *,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[Token]:
        body = self.request_body(messages, options)
        return self._run(messages, body, cancel, stats or GenerationStats())

    def _run(
        self,
        messages: Sequence[ChatMessage],
        body: dict[str, Any],
        cancel: CancelToken | None,
        stats: GenerationStats,
    ) -> Iterator[Token]:
        url = self._config.url
        start = time.perf_counter()
        stats.finish_reason = FinishReason.LENGTH
        finished = False
        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._refusal(response)
                for data in _events(response.iter_lines()):
                    if cancel is not None and cancel.cancelled:
                        # Leaving the with-block closes the stream; the server stops generating.
                        stats.finish_reason = FinishReason.CANCELLED
                        break
                    usage = data.get("usage")
                    if isinstance(usage, dict):
                        stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    for choice in data.get("choices") or []:
                        for token in self._tokens_of(choice):
                            if stats.time_to_first_token is None:
                                stats.time_to_first_token = time.perf_counter() - start
                            stats.completion_tokens += 1
                            stats.elapsed = time.perf_counter() - start
                            yield token
                        reason = choice.get("finish_reason")
                        if reason:
                            finished = True
                            stats.finish_reason = _FINISH.get(str(reason), FinishReason.STOP)
                    if cancel is not None and cancel.cancelled:
                        stats.finish_reason = FinishReason.CANCELLED
                        break
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from exc
        finally:
            stats.elapsed = time.perf_counter() - start
        if not finished and stats.finish_reason is not FinishReason.CANCELLED:
            # llama_cpp.server cuts a running answer short when another request arrives,
            # unless it runs with --interrupt_requests False (docs/scale-out.md).
            raise ServerUnavailableError(
                url, "it ended the answer before finishing it (the part received is kept)"
            )
        if not stats.prompt_tokens:  # the server sent no usage: count it (cached from fitting)
            stats.prompt_tokens = self.count_tokens(self.render_chat(messages))

    def _refusal(self, response: httpx.Response) -> Exception:
        url = self._config.url
        try:
            detail = response.json()
            message = str((detail.get("error") or {}).get("message") or detail.get("detail") or "")
        except (ValueError, AttributeError):
            message = response.text[:300]
        if response.status_code in (401, 403):
            return ServerUnavailableError(
                url, f"it refused this computer's token (HTTP {response.status_code})"
            )
        if "context" in message.lower() and "exceed" in message.lower():
            return ContextOverflowError(
                f"The prompt does not fit the server model's context window ({message}). "
                "Start a new conversation or shorten the question."
            )
        if response.status_code >= 500:
            return ServerUnavailableError(url, f"it failed (HTTP {response.status_code}) {message}")
        return GenerationError(
            f"The inference server at {url} refused the request (HTTP {response.status_code}): "
            f"{message}"
        )

    def _tokens_of(self, choice: dict[str, Any]) -> list[Token]:
        content = (choice.get("delta") or {}).get("content") or ""
        entries = (choice.get("logprobs") or {}).get("content") or []
        if not content:
            return []
        if not entries:
            # No logprobs from this server: say so once, rather than show certainty we lack.
            self.supports_logprobs = False
            return [Token(text=content, id=0, logprob=0.0)]
        tokens = [_token(entry) for entry in entries]
        if "".join(t.text for t in tokens) == content:
            return tokens
        # The server cut a stop string or joined bytes: the text is authoritative.
        first = tokens[0]
        return [Token(content, first.id, sum(t.logprob for t in tokens), first.top)]

    def close(self) -> None:
        self._client.close()


def _token(entry: dict[str, Any]) -> Token:
    top = tuple(
        Alternative(str(alt.get("token", "")), float(alt.get("logprob", -math.inf)))
        for alt in entry.get("top_logprobs") or []
    )
    return Token(
        text=str(entry.get("token", "")),
        id=int(entry.get("id", 0) or 0),
        logprob=float(entry.get("logprob", 0.0)),
        top=top,
    )


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments (": ping"), event names and blank separators
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if isinstance(data, dict):
            if "error" in data and not data.get("choices"):
                error = data["error"]
                message = error.get("message") if isinstance(error, dict) else error
                raise GenerationError(f"The inference server reported an error: {message}")
            yield data
