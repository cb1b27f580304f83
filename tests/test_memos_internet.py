"""Internet search (``internet_search`` on /product/search, chat and the playground stream, and
on the cloud chat) with a local stub provider configured through ``MEMOS_INTERNET_SEARCH``; off
(400 naming the field) when none is configured. Chat uses the stub chat model (fake LLM)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import _ThreadedUvicorn

from memos_integrations.server.sse import parse_frames

AUTH = {"Authorization": "Token key-admin"}


@pytest.fixture(scope="module")
def web_app(weaviate_client, server_env):  # type: ignore[no-untyped-def]
    """The app with the stub web retriever as its internet search provider."""
    from memos_integrations.config import Settings
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings
    from memos_integrations.server.app import create_app
    from memos_integrations.storage.store import MemoryStore

    # another spelling of the stub's address: langchain-openai caches one async HTTP client per base
    # URL, bound to the event loop of the server that first used it (here: the other app's)
    stub_url = server_env.stub.url.replace("127.0.0.1", "localhost")
    models = [{"backend": "openai", "api_base": f"{stub_url}/v1", "api_key": "stub",
               "model_name_or_path": "stub-model"}]
    settings = Settings(MEMOS_API_KEYS=server_env.keys, CHAT_MODEL_LIST=models,
                        MEMOS_INTERNET_SEARCH="internet_stub:retriever")
    store = MemoryStore(weaviate_client, prefix="Web")
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), settings=settings)
    with _ThreadedUvicorn(create_app(engine, settings)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    engine.tasks.close()


def test_search_merges_outer_memories(web_app) -> None:  # type: ignore[no-untyped-def]
    user = f"web_{uuid.uuid4().hex[:8]}"
    reply = web_app.post("/product/search", headers=AUTH, json={
        "user_id": user, "query": "Lisbon tram 28", "internet_search": True, "relativity": 0}).json()
    outer = next(b for b in reply["data"]["text_mem"] if b["cube_id"] == "internet")["memories"]
    assert outer[0]["memory"].startswith("The Lisbon tram 28")
    assert outer[0]["metadata"]["memory_type"] == "OuterMemory"
    assert outer[0]["metadata"]["info"]["url"] == "https://example.org/tram-28"
    plain = web_app.post("/product/search", headers=AUTH, json={"user_id": user, "query": "Lisbon tram 28"}).json()
    assert all(b["cube_id"] != "internet" for b in plain["data"]["text_mem"])


def test_chat_and_playground_use_internet(server_env, web_app) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: the results reach the prompt; the playground streams the internet frames."""
    user = f"web_{uuid.uuid4().hex[:8]}"
    reply = web_app.post("/product/chat/complete", headers=AUTH, json={
        "user_id": user, "query": "Where does tram 28 go?", "internet_search": True,
        "add_message_on_answer": False})
    assert reply.status_code == 200, reply.text
    sent = " ".join(str(m["content"]) for m in server_env.stub.requests[-1]["messages"])
    assert "Martim Moniz" in sent

    with web_app.stream("POST", "/product/chat/stream/playground", headers=AUTH, json={
            "user_id": user, "query": "Tell me about pasteis de nata", "internet_search": True,
            "add_message_on_answer": False}) as r:
        frames = parse_frames(r.read().decode())
    assert {"type": "status", "data": "start_internet_search"} in frames
    refs = next(f for f in frames if f["type"] == "internet_reference")["data"]
    assert {r["url"] for r in refs} == {"https://example.org/tram-28", "https://example.org/nata"}
    assert frames[-1] == {"type": "end"}

    cloud = web_app.post("/api/openmem/v1/chat", headers=AUTH, json={
        "user_id": user, "conversation_id": "c", "query": "nata history?", "internet_search": True,
        "add_message_on_answer": False})
    assert cloud.status_code == 200
    assert "Jeronimos" in " ".join(str(m["content"]) for m in server_env.stub.requests[-1]["messages"])


def test_internet_search_is_off_without_a_provider(server_env) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server_env.url, headers=AUTH, timeout=60) as http:
        reply = http.post("/product/search", json={"user_id": "nobody", "query": "q", "internet_search": True})
        assert reply.status_code == 400 and "internet_search" in reply.json()["message"]
        chat = http.post("/product/chat/complete", json={"user_id": "nobody", "query": "q", "internet_search": True})
        assert chat.status_code == 400 and "MEMOS_INTERNET_SEARCH" in chat.json()["message"]
