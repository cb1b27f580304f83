"""A data directory written by the previous pinned Weaviate (1.35.22, the classic searchable BM25
index) opens under the pinned version: memories written before the upgrade are read, found by
recall and deleted after it. Real servers of both versions (``scripts/test.sh`` installs both)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from memos_integrations.config import WEAVIATE_VERSION, Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.storage import embedded
from memos_integrations.storage.store import MemoryStore

PREVIOUS_VERSION = "1.35.22"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _engine(settings: Settings) -> MemoryEngine:
    store = MemoryStore(embedded.connect(settings), prefix="Upg", owns_client=True)
    store.setup()
    return MemoryEngine(store, HashEmbeddings(dim=64), settings=settings, start_tasks=False)


def _stop(settings: Settings, engine: MemoryEngine) -> None:
    engine.close()
    server = embedded._servers.pop((str(settings.data_dir), settings.embedded_http_port), None)
    if server is not None:
        server.stop()


def test_data_written_by_the_previous_version_opens_under_the_pinned_one() -> None:
    assert WEAVIATE_VERSION != PREVIOUS_VERSION
    data_dir = Path(tempfile.mkdtemp(prefix="memos-upgrade-"))
    old = Settings(MEMOS_DATA_DIR=data_dir, MEMOS_EMBEDDED_HTTP_PORT=_free_port(),
                   MEMOS_EMBEDDED_GRPC_PORT=_free_port(), MEMOS_WEAVIATE_VERSION=PREVIOUS_VERSION)
    engine = _engine(old)
    try:
        engine.memorize(MemorizeRequest(user_id="ada", messages=[
            {"role": "user", "content": "I moved to Lisbon last spring", "chat_time": "2025-04-02T10:00:00Z"},
            {"role": "user", "content": "我最喜欢的茶是乌龙茶"},
        ]))
        before = engine.list_memories("ada")
        assert len(before) == 2
    finally:
        _stop(old, engine)

    # same ports: the embedded node's name (and so its raft identity) derives from the HTTP port
    new = old.model_copy(update={"weaviate_version": WEAVIATE_VERSION})
    engine = _engine(new)
    try:
        assert {m.id for m in engine.list_memories("ada")} == {m.id for m in before}
        found = engine.recall(RecallRequest(user_id="ada", query="Where did I move? Lisbon", relativity=0))
        assert found.facts and "Lisbon" in found.facts[0].record.memory
        zh = engine.recall(RecallRequest(user_id="ada", query="乌龙茶", relativity=0))
        assert zh.facts and "乌龙茶" in zh.facts[0].record.memory
        engine.memorize(MemorizeRequest(user_id="ada", messages=[{"role": "user", "content": "I adopted a cat"}]))
        assert engine.count_memories("ada") == 3
        assert engine.delete_where(["ada"], None, user_id="ada") == 3
    finally:
        _stop(new, engine)
