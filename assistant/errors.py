"""The error hierarchy of Enclave, and the messages people read.

Every error the application raises on purpose derives from :class:`AssistantError`. Its ``str()``
is written for a person: what happened and what to do about it. The CLI and the GUI catch
``AssistantError`` and show ``str(exc)``; anything else is a bug and goes to the crash handler and
the log.

Adapters translate library exceptions at the boundary (``raise ModelLoadError(...) from exc``), so
no caller ever needs to know which library failed.

The tree::

    AssistantError
    ├── ConfigError                 settings file or value is wrong
    ├── NetworkBlockedError         the offline guard refused a connection (also an OSError)
    ├── ModelError
    │   ├── ModelNotFoundError      no file where the settings point
    │   ├── ModelFormatError        not a GGUF, truncated, or a header outside safe limits
    │   ├── ModelLoadError          llama.cpp could not load the file
    │   └── ChatTemplateError       the model's chat template failed or was refused
    ├── GenerationError
    │   ├── ContextOverflowError    the prompt cannot fit the model's context window
    │   ├── ServerUnavailableError  the on-prem inference server cannot be reached (issue 10)
    │   │   └── ServerTLSError      its certificate does not match the pinned one
    │   └── GrammarError            a grammar constraint could not be compiled
    │       ├── SchemaError             the JSON Schema itself is invalid or unreadable
    │       ├── UnsupportedSchemaError  a schema keyword the constraint engine cannot honour
    │       ├── OutputValidationError   the output still fails its schema after a retry
    │       └── MissingEvidenceError    the documents do not state a required field
    ├── StoreError                  the conversation database failed
    │   └── ConversationNotFoundError
    ├── InstanceLockedError         another Enclave process holds the data directory
    ├── CatalogError                model administration: import, trusted keys (issue 6)
    │   ├── SignatureError          a manifest or key failed Ed25519 verification
    │   ├── ManifestError           a manifest is malformed or disagrees with its folder
    │   ├── ImportRefusedError      a file failed a check before install (digest, header, ...)
    │   │   └── RollbackError       the version is not newer than the one installed
    │   ├── ImportCancelledError    the admin cancelled an import; nothing was left behind
    │   ├── IntegrityError          an installed model no longer matches its digests
    │   └── CatalogEntryNotFoundError  no installed model or trusted key by that name
    ├── KnowledgeError              the document index (issue 3)
    │   ├── KnowledgeIndexError     the index on disk cannot be opened, read or written
    │   │   └── EmbedderMismatchError  the index was built with a different embedder
    │   ├── EmbedderError           the embedding model is missing or failed
    │   ├── DocumentNotFoundError   no imported document matches what was asked for
    │   ├── PageRenderError         a PDF page cannot be drawn in the viewer (issue 15)
    │   ├── CollectionNotFoundError no collection has that name
    │   ├── SharedIndexUnavailableError  the site's Chroma server cannot be reached (issue 10)
    │   └── CollectionNotGrantedError    a shared collection not granted to this machine
    └── EvaluationError             a gold set is unreadable or malformed (issue 9)

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AssistantError(Exception):
    """Base of every error Enclave raises for a person to read."""

    #: Exit status the CLI uses when this error ends a command.
    exit_code: int = 1


class ConfigError(AssistantError):
    """The settings file or a setting's value is invalid."""

    exit_code = 2


class NetworkBlockedError(AssistantError, PermissionError):
    """The offline guard refused a network operation.

    It is also a :class:`PermissionError` (an ``OSError``), so libraries that treat a failed
    connection as "offline" degrade the way they would without a network.
    """

    def __init__(self, destination: str, operation: str = "connect") -> None:
        self.destination = destination
        self.operation = operation
        super().__init__(
            f"Blocked a network {operation} to {destination}: Enclave runs air-gapped and only "
            "talks to this machine. If this is your site's on-prem server, an admin can allow it "
            "with the [network] allowed_hosts setting."
        )

    def __str__(self) -> str:  # OSError's own __str__ would print the errno tuple
        return str(self.args[0])


class ModelError(AssistantError):
    """A model file could not be used."""

    exit_code = 3


class ModelNotFoundError(ModelError):
    """No model file exists where the settings point."""


class ModelFormatError(ModelError):
    """The file is not a usable GGUF (wrong magic, truncated, header outside safe limits)."""


class ModelLoadError(ModelError):
    """llama.cpp refused or failed to load the model."""


class ChatTemplateError(ModelError):
    """The model's chat template failed to render or tried something the sandbox refuses."""


class GenerationError(AssistantError):
    """Generation could not start or failed part-way."""


class ContextOverflowError(GenerationError):
    """The prompt does not fit the model's context window even after trimming."""


class GrammarError(GenerationError):
    """A grammar constraint could not be compiled or applied."""


class StoreError(AssistantError):
    """The conversation database could not be read or written."""


class ConversationNotFoundError(StoreError):
    """No conversation has the requested id."""

    def __init__(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        super().__init__(
            f"No conversation with id {conversation_id}. "
            "Run 'assistant conversations list' to see the ids."
        )


class InstanceLockedError(AssistantError):
    """Another Enclave process is already using the same data directory."""

    def __init__(self, home: str, pid: int | None = None) -> None:
        self.home = home
        self.pid = pid
        who = f" (process {pid})" if pid else ""
        super().__init__(
            f"Enclave is already running{who} with data directory {home}. "
            "Switch to that window, or close it and try again."
        )


class KnowledgeError(AssistantError):
    """The knowledge base (imported documents, their index, retrieval) failed."""

    exit_code = 4


class KnowledgeIndexError(KnowledgeError):
    """The index on disk cannot be opened, read or written."""


class EmbedderMismatchError(KnowledgeIndexError):
    """The index was built with a different embedding model than the one loaded."""

    def __init__(self, index_dir: str, built_with: str, loaded: str) -> None:
        self.built_with = built_with
        self.loaded = loaded
        super().__init__(
            f"The document index at {index_dir} was built with the embedder {built_with!r}, but "
            f"{loaded!r} is loaded. Use the original embedder, or move that folder away and "
            "import your documents again."
        )


class EmbedderError(KnowledgeError):
    """The embedding model is missing or failed to load or run."""


class DocumentNotFoundError(KnowledgeError):
    """No imported document matches the name, path or id that was asked for."""

    def __init__(self, reference: str, collection: str | None = None) -> None:
        self.reference = reference
        self.collection = collection
        where = f" in collection {collection!r}" if collection else ""
        super().__init__(
            f"No imported document matches {reference!r}{where}. "
            "Run 'assistant docs list' to see the documents and their ids."
        )


class PageRenderError(KnowledgeError):
    """A PDF page cannot be drawn for the document viewer (missing, changed or hostile file)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"The page of {path} cannot be shown: {reason}.")


class CollectionNotFoundError(KnowledgeError):
    """No collection has the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listed = ", ".join(repr(k) for k in known) if known else "none yet"
        super().__init__(
            f"There is no collection named {name!r} (collections: {listed}). "
            "Import documents into it first with 'assistant ingest PATH --collection NAME'."
        )


class SchemaError(GrammarError):
    """The JSON Schema is not valid JSON Schema, or cannot be read."""

    exit_code = 2


class UnsupportedSchemaError(GrammarError):
    """A schema keyword that the constraint engine can neither enforce nor leave to validation.

    Attributes:
        keyword: the keyword, for example ``"patternProperties"``.
        path: where it sits, as a JSON Pointer into the schema (``"#/properties/tags"``).
    """

    exit_code = 2

    def __init__(self, keyword: str, path: str, reason: str) -> None:
        self.keyword = keyword
        self.path = path
        self.reason = reason
        super().__init__(
            f"The schema keyword {keyword!r} at {path} is not supported: {reason} "
            "Remove it or rewrite that part of the schema."
        )


class OutputValidationError(GrammarError):
    """Generated output did not validate against its schema, even after a retry.

    Attributes:
        message: the validation message of the last attempt.
        output: the text the model produced on the last attempt.
    """

    exit_code = 5

    def __init__(self, message: str, output: str, attempts: int) -> None:
        self.message = message
        self.output = output
        self.attempts = attempts
        super().__init__(
            f"The model's output did not validate against the schema after {attempts} "
            f"attempts: {message}. Simplify the schema, raise --max-tokens, or use a larger model."
        )


class MissingEvidenceError(GrammarError):
    """A grounded extraction found no value in the sources for fields the schema requires.

    Attributes:
        fields: the required fields the sources do not state.
        partial: the rest of the record, for the user to see (it is not a valid result).
        output: what the model wrote.
    """

    exit_code = 5

    def __init__(self, fields: Sequence[str], partial: Any, output: str) -> None:
        self.fields = tuple(fields)
        self.partial = partial
        self.output = output
        names = ", ".join(self.fields)
        super().__init__(
            f"The documents do not state the required field{'s' if len(fields) > 1 else ''} "
            f"{names}, so no record was produced. Give a document that holds "
            f"{'them' if len(fields) > 1 else 'it'}, or use --free to let the model write "
            "values (and check each one against its citation)."
        )


class CatalogError(AssistantError):
    """Model administration failed: import, trusted keys, the installed-models registry.

    Attributes:
        reason: a short code for the audit log (``"signature"``, ``"digest"``, ``"header"``...).
    """

    exit_code = 6
    reason: str = "catalog"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class SignatureError(CatalogError):
    """A manifest is not signed by a trusted key, its signature does not match, or a key is bad."""

    reason = "signature"


class ManifestError(CatalogError):
    """A manifest is malformed, or the folder holds files it does not list (or lacks some)."""

    reason = "manifest"


class ImportRefusedError(CatalogError):
    """A model file failed a check before install: digest, header, chat template or test load."""

    reason = "refused"


class RollbackError(ImportRefusedError):
    """The manifest's version is not newer than the installed one (``--force`` overrides)."""

    reason = "rollback"


class ImportCancelledError(CatalogError):
    """The admin cancelled an import; nothing it copied was left behind."""

    reason = "cancelled"


class IntegrityError(CatalogError):
    """An installed model's files no longer match the digests they were imported with."""

    reason = "integrity"


class CatalogEntryNotFoundError(CatalogError):
    """No installed model, adapter or trusted key matches the name or fingerprint given."""

    reason = "not-found"


class EvaluationError(AssistantError):
    """A gold set for ``assistant eval`` cannot be read or has an invalid line."""

    exit_code = 2


class ServerUnavailableError(GenerationError):
    """The on-prem inference server cannot be reached, refused the request or went away.

    Attributes:
        url: the server's address, from ``[server] url``.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(
            f"The inference server at {url} is not available: {problem}. Check that the server "
            "is running and reachable, or use the local model on this computer instead: "
            "'assistant-admin settings set server.url \"\"'."
        )


class ServerTLSError(ServerUnavailableError):
    """The server's TLS certificate is not the pinned one (or not signed by the site CA)."""


class SharedIndexUnavailableError(KnowledgeIndexError):
    """The site's shared document index (a Chroma server) cannot be reached or failed."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        super().__init__(
            f"The shared document index at {url} is not available: {problem}. Check that the "
            "Chroma server is running and reachable; to use this computer's own index instead: "
            "'assistant-admin settings set knowledge.server_url \"\"'."
        )


class CollectionNotGrantedError(KnowledgeError):
    """A shared collection exists but was not granted to this machine by the admin."""

    def __init__(self, name: str, granted: list[str]) -> None:
        self.name = name
        listed = ", ".join(repr(g) for g in granted) if granted else "none"
        super().__init__(
            f"The shared collection {name!r} is not available on this computer (granted here: "
            f"{listed}). Ask your admin to add it to knowledge.granted_collections."
        )
