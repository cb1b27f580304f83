"""Test fixtures: ONE real embedded Weaviate per test session (temp dir, free ports).

If the server cannot start, every test that needs it fails loudly (no skips). Only the LLM is
ever replaced by a fake in these tests.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memos_integrations.config import Settings  # noqa: E402
from memos_integrations.core import embedded  # noqa: E402
from memos_integrations.core.store import MemoryStore  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def weaviate_settings() -> Iterator[Settings]:
    data_dir = Path(tempfile.mkdtemp(prefix="memos-test-"))
    settings = Settings(
        MEMOS_DATA_DIR=data_dir,
        MEMOS_EMBEDDED_HTTP_PORT=_free_port(),
        MEMOS_EMBEDDED_GRPC_PORT=_free_port(),
        MEMOS_EMBEDDED_STARTUP_TIMEOUT=60,
        WEAVIATE_URL=os.environ.get("MEMOS_TEST_WEAVIATE_URL") or None,
    )
    yield settings
    server = embedded._servers.get((str(settings.data_dir), settings.embedded_http_port))
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def weaviate_client(weaviate_settings: Settings):  # type: ignore[no-untyped-def]
    client = embedded.connect(weaviate_settings)  # raises (fails the test) when Weaviate can't start
    assert client.is_ready(), "Weaviate is not ready"
    yield client
    client.close()


@pytest.fixture(scope="session")
def store(weaviate_client) -> MemoryStore:  # type: ignore[no-untyped-def]
    s = MemoryStore(weaviate_client, prefix="Test", vector_dim=4)
    s.setup()
    return s


@pytest.fixture
def cube() -> str:
    """A fresh cube (tenant) per test."""
    return f"cube_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def hash_engine(weaviate_client):  # type: ignore[no-untyped-def]
    """An engine with the deterministic hashing embedder (ranking tests; no model download)."""
    from memos_integrations.core.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings

    store = MemoryStore(weaviate_client, prefix="Hash")
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), settings=Settings(), relativity_range=(0.0, 0.6))
    yield engine
    engine.tasks.close()
