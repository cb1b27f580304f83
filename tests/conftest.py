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

from memos_integrations.config import Settings
from memos_integrations.storage import embedded
from memos_integrations.storage.store import MemoryStore


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cluster`` (a 3-node Weaviate cluster, minutes) are deselected, not skipped,
    unless ``MEMOS_TEST_CLUSTER=1``; ``python benchmarks/cluster.py`` runs them."""
    if os.environ.get("MEMOS_TEST_CLUSTER") == "1":
        return
    cluster = [item for item in items if item.get_closest_marker("cluster")]
    if cluster:
        config.hook.pytest_deselected(items=cluster)
        items[:] = [item for item in items if not item.get_closest_marker("cluster")]


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
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings

    store = MemoryStore(weaviate_client, prefix="Hash")
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), settings=Settings())
    yield engine
    engine.tasks.close()


# --------------------------------------------------------------------------------------------
# HTTP server fixtures (tests/test_server_*.py): the app on a real port over the session Weaviate,
# an OpenAI-compatible stub chat model (fake LLM) on another port.


from typing import Self

from starlette.requests import Request as StubRequest


class _ThreadedUvicorn:
    """uvicorn serving an ASGI app in a daemon thread on a free loopback port."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import threading

        import uvicorn

        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def llm_stub():  # type: ignore[no-untyped-def]
    """A tiny OpenAI-compatible chat model (fake LLM): answers '<think>..</think>Stub answer: ...'
    (streamed word by word with stream=true) and records every request body in ``.requests``."""
    import json as _json
    import time as _time

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    stub = FastAPI()
    stub.state.requests = []
    # scripted answers (fake LLM): (marker, answer) pairs; a request whose messages contain the
    # marker gets that answer verbatim (e.g. a JSON plan), the newest rule first
    stub.state.script = []

    def answer_for(body: dict) -> str:  # type: ignore[type-arg]
        seen = "\n".join(str(m.get("content") or "") for m in body["messages"])
        for marker, scripted in reversed(stub.state.script):
            if marker in seen:
                return str(scripted)
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        return f"<think>thinking about it</think>Stub answer to: {user[:60]}"

    @stub.post("/v1/chat/completions")
    async def completions(request: StubRequest):  # type: ignore[no-untyped-def]
        body = await request.json()
        stub.state.requests.append(body)
        text = answer_for(body)
        base = {"id": "chatcmpl-stub", "created": int(_time.time()), "model": body.get("model", "stub")}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

        async def chunks():  # type: ignore[no-untyped-def]
            pieces = ["<thi", "nk>thinking ", "about it</th", "ink>"] + [w + " " for w in text.split("</think>")[-1].split()]
            for i, piece in enumerate(pieces):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                yield "data: " + _json.dumps({**base, "object": "chat.completion.chunk", "choices": [
                    {"index": 0, "delta": delta, "finish_reason": None}]}) + "\n\n"
            yield "data: " + _json.dumps({**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {}, "finish_reason": "stop"}]}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    with _ThreadedUvicorn(stub) as server:
        server.requests = stub.state.requests  # type: ignore[attr-defined]
        server.script = stub.state.script  # type: ignore[attr-defined]
        yield server


@pytest.fixture(scope="session")
def server_env(weaviate_client, llm_stub):  # type: ignore[no-untyped-def]
    """The app on a real port: keys for alice/bob/admin, chat models from the stub (fake LLM)."""
    from types import SimpleNamespace

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings
    from memos_integrations.server.app import create_app
    from memos_integrations.server.limits import ServerLimits

    run = uuid.uuid4().hex[:8]
    alice, bob, public = f"alice_{run}", f"bob_{run}", f"public_{run}"
    keys = {
        "key-alice": {"users": [alice], "cubes": [public]},
        "key-bob": {"users": [bob]},
        "key-admin": {"users": ["*"]},
    }
    models = [{"backend": "openai", "api_base": f"{llm_stub.url}/v1", "api_key": "stub",
               "model_name_or_path": "stub-model", "support_models": ["stub-model", "stub-model-2"]}]
    settings = Settings(MEMOS_API_KEYS=keys, CHAT_MODEL_LIST=models)
    store = MemoryStore(weaviate_client, prefix="Srv")
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), settings=settings)
    app = create_app(engine, settings, limits=ServerLimits(MEMOS_MAX_BODY_BYTES=256 * 1024, MEMOS_MAX_MESSAGES=50))
    with _ThreadedUvicorn(app) as server:
        yield SimpleNamespace(url=server.url, engine=engine, app=app, alice=alice, bob=bob, public=public,
                              stub=llm_stub, keys=keys)
    engine.tasks.close()
