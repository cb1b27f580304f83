"""Auth, isolation, error envelopes, limits and schemathesis fuzzing of the HTTP server
(real port, real Weaviate)."""

from __future__ import annotations

import httpx
import pytest

from memos_integrations.config import Settings
from memos_integrations.errors import ConfigurationError
from memos_integrations.server.chat import ThinkSplitter, split_think
from memos_integrations.server.limits import estimate_tokens
from memos_integrations.server.run import check_binding


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def http(server_env):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server_env.url, timeout=60) as client:
        yield client


@pytest.fixture
def bob_memory(server_env, http) -> str:  # type: ignore[no-untyped-def]
    reply = http.post("/product/add", headers=auth("key-bob"), json={
        "user_id": server_env.bob, "async_mode": "sync", "mode": "fast", "info": {"secret": "yes"},
        "messages": [{"role": "user", "content": "My bank PIN hint is the blue door"}]})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["data"][0]["memory_id"])


def test_missing_and_wrong_keys_are_401_in_each_envelope(http) -> None:  # type: ignore[no-untyped-def]
    product = http.post("/product/search", json={"user_id": "x", "query": "q"})
    assert product.status_code == 401 and product.json()["code"] == 401 and product.json()["data"] is None
    cloud = http.post("/api/openmem/v1/search/memory", headers={"Authorization": "Token nope"},
                      json={"query": "q", "user_id": "x"})
    assert cloud.status_code == 401 and cloud.json() == {"code": 40100, "message": "invalid API key", "data": None}
    memnet = http.post("/v1/recall", headers={"Authorization": "Basic abc"}, json={"memoryAgentName": "a", "query": "q"})
    assert memnet.status_code == 401 and set(memnet.json()) == {"code", "msg"} and memnet.json()["code"] == "401"
    assert http.get("/health").status_code == 200  # no key needed


def test_user_a_cannot_read_user_b_through_any_route(server_env, http, bob_memory) -> None:  # type: ignore[no-untyped-def]
    alice, bob, a = server_env.alice, server_env.bob, auth("key-alice")
    forbidden = [
        http.post("/product/search", headers=a, json={"user_id": bob, "query": "bank PIN"}),
        http.post("/product/search", headers=a, json={"user_id": alice, "query": "bank PIN", "readable_cube_ids": [bob]}),
        http.post("/product/get_memory", headers=a, json={"mem_cube_id": bob}),
        http.post("/product/add", headers=a, json={"user_id": alice, "writable_cube_ids": [bob], "messages": "hi"}),
        http.post("/product/chat/complete", headers=a, json={"user_id": alice, "query": "q", "readable_cube_ids": [bob]}),
        http.post("/product/chat/stream", headers=a, json={"user_id": bob, "query": "bank PIN"}),
        http.post("/product/delete_memory", headers=a, json={"user_id": bob}),
        http.get("/product/scheduler/status", headers=a, params={"user_id": bob}),
        http.post("/api/openmem/v1/search/memory", headers=a, json={"query": "bank PIN", "user_id": bob}),
        http.post("/api/openmem/v1/get/memory", headers=a, json={"user_id": bob}),
        http.post("/api/openmem/v1/get/message", headers=a, json={"user_id": bob, "conversation_id": "default_session"}),
        http.post("/api/openmem/v1/delete/memory", headers=a, json={"user_id": bob}),
        http.post("/v1/recall", headers=a, json={"memoryAgentName": bob, "query": "bank PIN"}),
        http.post("/v1/memories", headers=a, json={"memoryAgentName": bob, "messages": [{"role": "user", "content": "x"}]}),
    ]
    for reply in forbidden:
        assert reply.status_code == 403, (reply.request.url, reply.text)
        assert "bank" not in reply.text
    hidden = [
        http.get(f"/product/get_memory/{bob_memory}", headers=a),
        http.get(f"/api/openmem/v1/get/memory/{bob_memory}", headers=a),
    ]
    for reply in hidden:
        assert reply.status_code == 404 and "blue door" not in reply.text
    # deleting someone else's memory by id is a no-op
    http.post("/product/delete_memory", headers=a, json={"memory_ids": [bob_memory]})
    http.post("/api/openmem/v1/delete/memory", headers=a, json={"memory_ids": [bob_memory]})
    assert server_env.engine.get_memory(bob_memory) is not None
    # the public cube granted to alice's key is usable
    ok = http.post("/product/search", headers=a, json={"user_id": alice, "query": "q",
                                                        "readable_cube_ids": [alice, server_env.public]})
    assert ok.status_code == 200
    admin = http.get(f"/product/get_memory/{bob_memory}", headers=auth("key-admin"))
    assert admin.status_code == 200 and admin.json()["data"]["metadata"]["info"] == {"secret": "yes"}


def test_validation_and_limits(server_env, http) -> None:  # type: ignore[no-untyped-def]
    a = auth("key-alice")
    bad = http.post("/product/search", headers=a, json={"user_id": server_env.alice, "query": "q", "top_k": 26})
    assert bad.status_code == 422
    body = bad.json()
    assert body["code"] == 422 and body["data"] is None and "top_k" in body["message"] and body["detail"]
    cloud = http.post("/api/openmem/v1/search/memory", headers=a,
                      json={"query": "q", "user_id": server_env.alice, "memory_limit_number": 100})
    assert cloud.status_code == 422 and cloud.json()["data"] is None and "memory_limit_number" in cloud.json()["message"]
    memnet = http.post("/v1/recall", headers=a, json={"memoryAgentName": server_env.alice, "query": "q",
                                                       "isUsingAssociativeThinking": 5})
    assert memnet.status_code == 422 and "isUsingAssociativeThinking" in memnet.json()["msg"]
    bad_mode = http.post("/product/search", headers=a, json={"user_id": server_env.alice, "query": "q", "mode": "x"})
    assert bad_mode.status_code == 422

    huge = http.post("/product/add", headers=a, json={"user_id": server_env.alice, "messages": "x" * 300_000})
    assert huge.status_code == 413 and huge.json()["code"] == 413
    many = http.post("/product/add", headers=a, json={
        "user_id": server_env.alice, "messages": [{"role": "user", "content": "m"}] * 60})
    assert many.status_code == 413 and "MEMOS_MAX_MESSAGES" in many.json()["message"]
    long_query = http.post("/product/search", headers=a, json={"user_id": server_env.alice, "query": "字" * 20_001})
    assert long_query.status_code == 413 and "MEMOS_MAX_QUERY_TOKENS" in long_query.json()["message"]

    bad_filter = http.post("/product/search", headers=a, json={
        "user_id": server_env.alice, "query": "q", "filter": {"no_such_field": {"gt": 1}}})
    assert bad_filter.status_code == 400 and bad_filter.json()["data"] is None
    bad_time = http.post("/product/search", headers=a, json={
        "user_id": server_env.alice, "query": "q", "reference_time": "not a time at all"})
    assert bad_time.status_code == 400
    not_json = http.post("/product/add", headers={**a, "Content-Type": "application/json"}, content=b"{oops")
    assert not_json.status_code == 422 and "Traceback" not in not_json.text
    no_user = http.post("/product/add", headers=a, json={"messages": "hello"})
    assert no_user.status_code == 422
    unknown_task = http.get("/memories/task/detail", headers=a, params={"taskId": "nope"})
    assert unknown_task.status_code == 404 and unknown_task.json()["code"] == "404"


def test_serve_refuses_public_bind_without_keys() -> None:
    with pytest.raises(ConfigurationError, match="MEMOS_API_KEYS"):
        check_binding("0.0.0.0", Settings())
    check_binding("127.0.0.1", Settings())
    check_binding("0.0.0.0", Settings(MEMOS_API_KEYS={"k": {"users": ["a"]}}))


def test_think_splitting_and_token_estimate() -> None:
    splitter = ThinkSplitter()
    out = [*splitter.feed("<th"), *splitter.feed("ink>why</thi"), *splitter.feed("nk>Hello <b"), *splitter.flush()]
    assert [k for k, _ in out if k == "reasoning"] and "".join(t for k, t in out if k == "reasoning") == "why"
    assert "".join(t for k, t in out if k == "text") == "Hello <b"
    assert split_think("<think>a</think> b") == ("b", "a")
    assert estimate_tokens("我住在柏林") == 5 and estimate_tokens("abcd" * 10) == 10


def test_schemathesis_memory_routes_never_500(server_env) -> None:  # type: ignore[no-untyped-def]
    """Schema-driven fuzzing (bounded: a few examples per memory route) finds no 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{server_env.url}/openapi.json",
                                           headers={"Authorization": "Token key-admin"})  # keys set: schema needs one
    # routes whose answer comes from the chat model (the stub's prose is no JSON plan: 502, rightly)
    schema = schema.exclude(path_regex=r"chat|scheduler/wait|feedback|extract/memory")
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=server_env.url, headers={"Authorization": "Token key-admin"}, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} {case.body!r:.200} -> {response.status_code} {response.text[:200]}")
            assert "Traceback" not in response.text

        run()
        checked += 1
    assert checked >= 15
    assert not failures, "\n".join(failures[:10])
