"""The shared index against a real ``chroma run`` on loopback: two desktops, one collection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import offline
from assistant.app import App
from assistant.config import Paths, settings_from_mapping
from assistant.engine.fake import ScriptedEngine
from assistant.engine.remote import ServerConfig
from assistant.errors import CollectionNotGrantedError, SharedIndexUnavailableError
from assistant.knowledge import HashEmbedder, KnowledgeBase, KnowledgeSettings
from assistant.knowledge.remote import SharedKnowledgeBase
from tests.knowledge.corpus import build_corpus
from tests.server.conftest import LOOPBACK, Server, free_port

pytestmark = [
    pytest.mark.slow,
    # chromadb's HttpClient keeps one httpx session per server in a process-wide cache and
    # offers no way to close it; its socket is collected late. Ours are closed.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

FAST = KnowledgeSettings(isolate_parsing=False, chunk_tokens=60, chunk_overlap_tokens=10)


def desktop(folder: Path, url: str, granted: list[str]) -> SharedKnowledgeBase:
    return SharedKnowledgeBase(
        folder,
        embedder=HashEmbedder(),
        settings=FAST,
        server=ServerConfig(url),
        granted=granted,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
def shared(
    chroma_server: Server, corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SharedKnowledgeBase, SharedKnowledgeBase]]:
    """Analyst A imports into 'team' (and 'secret'); analyst B is granted only 'team'."""
    base = tmp_path_factory.mktemp("desktops")
    a = desktop(base / "a", chroma_server.url, ["team", "secret"])
    b = desktop(base / "b", chroma_server.url, ["team"])
    report = a.ingest([corpus["report"], corpus["handbook"], corpus["note"]], collection="team")
    assert len(report.imported) == 3
    a.ingest([corpus["manual"]], collection="secret")
    yield a, b
    a.close()
    b.close()


@pytest.fixture(scope="module")
def local(
    corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KnowledgeBase]:
    folder = tmp_path_factory.mktemp("local")
    kb = KnowledgeBase.open(folder, embedder=HashEmbedder(), settings=FAST)
    kb.ingest([corpus["report"], corpus["handbook"], corpus["note"]], collection="team")
    yield kb
    kb.close()


def test_documents_imported_by_one_desktop_are_found_and_cited_by_another(
    shared: tuple[SharedKnowledgeBase, SharedKnowledgeBase], local: KnowledgeBase
) -> None:
    _, b = shared
    hits = b.search("What is the approved budget for 2024?", collection="team", top_k=3)
    assert hits[0].document_name == "nightjar-report.pdf"
    assert hits[0].page == 2
    assert "4.2 million euros" in hits[0].text
    # Same chunking, same embedder, same citation as the desktop's own index.
    mine = local.search("What is the approved budget for 2024?", collection="team", top_k=3)
    assert (mine[0].chunk_id, mine[0].page, mine[0].text) == (
        hits[0].chunk_id,
        hits[0].page,
        hits[0].text,
    )
    # An exact identifier is found by the lexical side too.
    code = b.search("AB-1234/X", collection="team", top_k=1)
    assert code[0].page == 4
    assert code[0].lexical_rank == 1


def test_answers_from_the_shared_index_cite_document_and_page(
    shared: tuple[SharedKnowledgeBase, SharedKnowledgeBase],
) -> None:
    _, b = shared
    engine = ScriptedEngine().enqueue("The approved budget is 4.2 million euros [1].")
    result = b.ask("What is the approved budget for 2024?", engine, collection="team")
    assert result.citations
    cited = result.citations[0]
    assert cited.cited
    assert cited.document_name == "nightjar-report.pdf"
    assert cited.page == 2
    assert "4.2 million euros" in cited.quote


def test_a_desktop_sees_only_the_collections_granted_to_it(
    shared: tuple[SharedKnowledgeBase, SharedKnowledgeBase],
) -> None:
    a, b = shared
    assert sorted(c.name for c in a.collections()) == ["secret", "team"]
    assert [c.name for c in b.collections()] == ["team"]
    assert {d.name for d in b.documents("team")} == {"nightjar-report.pdf", "handbook.docx",
                                                     "note.txt"}  # fmt: skip
    assert b.documents("secret") == []
    with pytest.raises(CollectionNotGrantedError, match="secret"):
        b.search("manual", collection="secret")
    with pytest.raises(CollectionNotGrantedError):
        b.ingest([], collection="secret")


def test_app_opens_the_shared_index_and_allows_only_its_address(
    chroma_server: Server, paths: Paths
) -> None:
    settings = settings_from_mapping(
        {"knowledge": {"server_url": chroma_server.url, "granted_collections": ["team"]}}
    )
    app = App.create(paths, settings=settings)
    try:
        assert isinstance(app.knowledge, SharedKnowledgeBase)
        assert f"{LOOPBACK}:{chroma_server.port}" in offline.status().allowed_hosts
    finally:
        app.close()


def test_an_unreachable_index_server_is_a_clear_error(tmp_path: Path) -> None:
    kb = desktop(tmp_path / "c", f"http://{LOOPBACK}:{free_port()}", ["team"])
    try:
        with pytest.raises(SharedIndexUnavailableError, match="not available"):
            kb.search("budget", collection="team")
    finally:
        kb.close()
