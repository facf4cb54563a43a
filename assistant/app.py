"""The composition root: builds the engine, the stores and the services from settings.

Entry points (the CLIs, the GUI) create one :class:`App` and pass its parts on; nothing else in
the package creates a store or loads a model by itself, and there are no module-level singletons.
Heavy parts load on first use, so ``assistant conversations list`` never loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import offline
from assistant.chat.session import ChatService
from assistant.chat.store import ConversationStore
from assistant.config import Paths, Settings, load_settings
from assistant.engine.base import Engine, GenerationOptions
from assistant.errors import ConfigError

if TYPE_CHECKING:
    from assistant.catalog.service import Catalog
    from assistant.grammar.compile import GrammarCompiler
    from assistant.knowledge import records
    from assistant.knowledge.base import KnowledgeBase


def generation_options(settings: Settings) -> GenerationOptions:
    """Decoding options from the ``[generation]`` settings."""
    g = settings.generation
    return GenerationOptions(
        max_tokens=g.max_tokens,
        temperature=g.temperature,
        top_p=g.top_p,
        top_k=g.top_k,
        repeat_penalty=g.repeat_penalty,
        seed=g.seed,
        top_logprobs=g.top_logprobs,
    )


def load_engine(settings: Settings, *, lora_path: Path | None = None) -> Engine:
    """Load the configured GGUF in llama.cpp, or connect to the on-prem server if one is set.

    Args:
        settings: model and decoding settings; ``[server] url`` selects the server.
        lora_path: an adapter to apply (the one an admin selected for this model).

    Raises:
        ModelError: the file is missing, malformed or refused by llama.cpp.
        ServerUnavailableError: the configured server cannot be reached (the message offers
            the local model).
    """
    if settings.server.url:
        from assistant.engine.remote import RemoteEngine, ServerConfig  # httpx loads on demand

        s = settings.server
        return RemoteEngine.connect(
            ServerConfig.from_settings(
                s.url,
                token_file=s.token_file,
                ca_file=s.ca_file,
                tls_fingerprint=s.tls_fingerprint,
                connect_timeout_s=s.connect_timeout_s,
                read_timeout_s=s.read_timeout_s,
                context_size=s.context_size,
                grammar_param=s.grammar_param,
            )
        )
    from assistant.engine.llama import LlamaEngine  # llama.cpp loads only when a model is needed

    m = settings.model
    return LlamaEngine.load(
        settings.model_path(),
        context_size=m.context_size,
        threads=m.threads,
        gpu_layers=m.gpu_layers,
        batch_size=m.batch_size,
        prompt_lookup=m.prompt_lookup,
        seed=settings.generation.seed,
        lora_path=lora_path,
    )


def knowledge_settings(settings: Settings) -> records.KnowledgeSettings:
    """The knowledge base's limits and sizes from the ``[knowledge]`` settings."""
    from assistant.knowledge import records

    k = settings.knowledge
    return records.KnowledgeSettings(
        max_file_bytes=k.max_file_mb * 1024 * 1024,
        parse_timeout_s=float(k.parse_timeout_s),
        chunk_tokens=k.chunk_tokens,
        chunk_overlap_tokens=k.chunk_overlap_tokens,
        embedding_backend=k.embedding_backend,
        ocr_images=k.ocr_images,
    )


@dataclass
class App:
    """The application's parts, built once per process."""

    paths: Paths
    settings: Settings
    _engine: Engine | None = None
    _store: ConversationStore | None = None
    _chat: ChatService | None = field(default=None, repr=False)
    _catalog: Catalog | None = field(default=None, repr=False)
    _grammar_compiler: GrammarCompiler | None = field(default=None, repr=False)
    _knowledge: KnowledgeBase | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        paths: Paths | None = None,
        *,
        settings: Settings | None = None,
        engine: Engine | None = None,
    ) -> App:
        """Resolve paths, read settings and widen the offline guard for allowed on-prem hosts.

        Raises:
            ConfigError: the settings are invalid or the data directory cannot be created.
        """
        paths = (paths or Paths.from_env()).ensure()
        settings = settings or load_settings(paths)
        try:
            offline.install(settings.network.allowed_hosts)
        except ValueError as exc:
            raise ConfigError(f"{paths.settings_file}: network.allowed_hosts: {exc}") from exc
        servers = [url for url in (settings.server.url, settings.knowledge.server_url) if url]
        if servers:  # exactly the configured host:port of each server, nothing more
            from assistant.engine.remote import allow_server

            for url in servers:
                allow_server(url)
        return cls(paths=paths, settings=settings, _engine=engine)

    @property
    def knowledge(self) -> KnowledgeBase:
        """The document index under ``ASSISTANT_HOME/index`` (opened on first use).

        Raises:
            KnowledgeError: the index cannot be opened.
        """
        if self._knowledge is None and self.settings.knowledge.server_url:
            from assistant.knowledge.remote import open_shared  # the site's Chroma server

            self._knowledge = open_shared(
                self.paths.index_dir, self.settings, knowledge=knowledge_settings(self.settings)
            )
        if self._knowledge is None:
            from assistant.knowledge.base import KnowledgeBase  # Chroma loads on first use

            self._knowledge = KnowledgeBase.open(
                self.paths.index_dir, settings=knowledge_settings(self.settings)
            )
        return self._knowledge

    @property
    def grammar_compiler(self) -> GrammarCompiler:
        """One cache of compiled grammars for every structured-output caller."""
        if self._grammar_compiler is None:
            from assistant.grammar.compile import GrammarCompiler  # llguidance loads on demand

            self._grammar_compiler = GrammarCompiler()
        return self._grammar_compiler

    @property
    def catalog(self) -> Catalog:
        """Models an admin imported, trusted keys and the audit log."""
        if self._catalog is None:
            # Loaded on first use: it brings in cryptography, ~80 ms off the way to the window.
            from assistant.catalog.service import Catalog

            self._catalog = Catalog(self.paths)
        return self._catalog

    def selected_adapter(self) -> Path | None:
        """The LoRA adapter an admin selected for the configured model, if it is a catalog one."""
        installed = self.catalog.registry.find_by_path(self.settings.model_path())
        return self.catalog.registry.selected_adapter(installed) if installed else None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = load_engine(self.settings, lora_path=self.selected_adapter())
        return self._engine

    @property
    def engine_loaded(self) -> bool:
        return self._engine is not None

    @property
    def store(self) -> ConversationStore:
        if self._store is None:
            self._store = ConversationStore(self.paths.conversations_db)
        return self._store

    @property
    def chat(self) -> ChatService:
        if self._chat is None:
            self._chat = ChatService(
                self.engine,
                self.store,
                system_prompt=self.settings.generation.system_prompt,
                options=generation_options(self.settings),
            )
        return self._chat

    def close(self) -> None:
        if self._knowledge is not None:
            self._knowledge.close()
        if self._store is not None:
            self._store.close()
        if self._engine is not None:
            self._engine.close()
